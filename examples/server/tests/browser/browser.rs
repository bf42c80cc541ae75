//! A headless Chromium through a chromedriver started for the test, and the waits the
//! scenarios use.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use futures::FutureExt;
use serde_json::{Value, json};

/// How long any single wait may take before the test fails (a hang guard, not a timing
/// assertion: the machine is shared).
pub const HANG_GUARD: Duration = Duration::from_secs(15);

/// One browser at a time across the tests of this binary (each is a whole Chromium).
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn binary(variable: &str, default: &str) -> PathBuf {
    std::env::var_os(variable)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default))
}

/// The Chromium and chromedriver binaries, or `None` (after saying so) when either is missing
/// and `CI` is not set.
fn binaries() -> Option<(PathBuf, PathBuf)> {
    let chromium = binary("CHROMIUM", "/usr/bin/chromium");
    let driver = binary("CHROMEDRIVER", "/usr/bin/chromedriver");
    if chromium.exists() && driver.exists() {
        return Some((chromium, driver));
    }
    let missing = format!(
        "{} or {} is missing (apt-get install chromium chromium-driver)",
        chromium.display(),
        driver.display()
    );
    assert!(std::env::var_os("CI").is_none(), "CI: {missing}");
    eprintln!("skipped: {missing}");
    None
}

/// Where the screenshots go: `$CARGO_TARGET_DIR/browser-screenshots`, else the workspace's
/// `target/browser-screenshots`.
pub fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    target.join("browser-screenshots")
}

/// A browser session.
pub struct Browser {
    pub client: Client,
    pub base: String,
}

/// The chromedriver process, killed when dropped.
struct Driver(std::process::Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `scenario` in a fresh headless Chromium of `width` × `height` pointed at `base`, one
/// browser at a time; closes the browser whatever happens. Skips (returns) when Chromium is
/// not installed, outside CI. Whether it ran: a skipped test checks nothing more.
#[must_use = "a skipped scenario's test must stop there"]
pub async fn with_browser<F, Fut>(base: &str, width: u32, height: u32, scenario: F) -> bool
where
    F: FnOnce(Browser) -> Fut,
    Fut: Future<Output = Browser>,
{
    let Some((chromium, driver)) = binaries() else {
        return false;
    };
    let _turn = ONE_AT_A_TIME.lock().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Driver(
        std::process::Command::new(&driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts"),
    );
    let url = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let started = Instant::now();
    while !http
        .get(format!("{url}/status"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(
            started.elapsed() < HANG_GUARD,
            "chromedriver never answered"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut options = json!({
        "binary": chromium,
        "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-extensions", "--no-first-run", format!("--window-size={width},{height}")],
    });
    if width < 600 {
        // A desktop window is at least 500 pixels wide: a phone's viewport is emulated.
        options["mobileEmulation"] = json!({
            "deviceMetrics": {"width": width, "height": height, "pixelRatio": 1, "mobile": true, "touch": true},
        });
    }
    let mut capabilities = serde_json::Map::new();
    capabilities.insert("goog:chromeOptions".into(), options);
    let client = ClientBuilder::rustls()
        .unwrap()
        .capabilities(capabilities)
        .connect(&url)
        .await
        .expect("a Chromium session");
    let browser = Browser {
        client: client.clone(),
        base: base.to_owned(),
    };
    let outcome = AssertUnwindSafe(scenario(browser)).catch_unwind().await;
    // The session ends (and Chromium with it) before chromedriver is stopped, panic or not.
    let _ = client.close().await;
    drop(child);
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
    true
}

impl Browser {
    /// Opens `path` of the server (a full page load).
    pub async fn open(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap();
    }

    /// Runs `script` (a function body; `return` what is wanted) in the page.
    pub async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.client.execute(script, args).await.unwrap()
    }

    /// Polls `script` until it returns something truthy (not null, false, 0 or ""), then
    /// returns it; panics after [`HANG_GUARD`] naming `what`.
    pub async fn wait_for(&self, what: &str, script: &str, args: Vec<Value>) -> Value {
        let started = Instant::now();
        loop {
            let value = self.js(script, args.clone()).await;
            let truthy = match &value {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::Number(n) => n.as_f64() != Some(0.0),
                Value::String(s) => !s.is_empty(),
                _ => true,
            };
            if truthy {
                return value;
            }
            if started.elapsed() > HANG_GUARD {
                let text = self
                    .js("return document.body.innerText.slice(0, 2000)", vec![])
                    .await;
                self.screenshot(&format!("failed-{}", what.replace(' ', "-")))
                    .await;
                panic!("waited {HANG_GUARD:?} for {what}; the page reads: {text}");
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Waits until the page `page` has rendered (`main[data-ready]`).
    pub async fn wait_page(&self, page: &str) {
        self.wait_for(
            &format!("page {page}"),
            "return document.querySelector('#main').dataset.ready === arguments[0]",
            vec![json!(page)],
        )
        .await;
    }

    /// Waits until the message box says something containing `needle` (and is not an error).
    pub async fn wait_message(&self, needle: &str) -> String {
        let text = self
            .wait_for(
                &format!("a message with {needle}"),
                "const m = document.querySelector('#message');
                 if (m.classList.contains('error') && !m.hidden) return 'ERROR: ' + m.textContent;
                 return !m.hidden && m.textContent.includes(arguments[0]) ? m.textContent : null;",
                vec![json!(needle)],
            )
            .await;
        let text = text.as_str().unwrap().to_owned();
        assert!(!text.starts_with("ERROR: "), "{text}");
        text
    }

    /// Clicks the element `css` (a real click).
    pub async fn click(&self, css: &str) {
        self.client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"))
            .click()
            .await
            .unwrap();
    }

    /// Types `text` into the element `css`.
    pub async fn type_into(&self, css: &str, text: &str) {
        let element = self
            .client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"));
        element.clear().await.unwrap();
        element.send_keys(text).await.unwrap();
    }

    /// Sets the value of the input or select `css` (dates and months, whose typing depends on
    /// the locale) and fires `input` and `change` as a user's edit would.
    pub async fn set_value(&self, css: &str, value: &str) {
        let done = self
            .js(
                "const el = document.querySelector(arguments[0]);
                 if (!el) return false;
                 el.value = arguments[1];
                 el.dispatchEvent(new Event('input', {bubbles: true}));
                 el.dispatchEvent(new Event('change', {bubbles: true}));
                 return el.value === arguments[1];",
                vec![json!(css), json!(value)],
            )
            .await;
        assert_eq!(done, json!(true), "set {css} to {value}");
    }

    /// Signs in as `username` on the sign-in page and waits for the dashboard.
    pub async fn sign_in(&self, username: &str, password: &str) {
        self.open("/").await;
        self.wait_for(
            "the sign-in form",
            "return document.querySelector('#login-username')",
            vec![],
        )
        .await;
        self.type_into("#login-username", username).await;
        self.type_into("#login-password", password).await;
        self.click("#login-submit").await;
        self.wait_page("dashboard").await;
    }

    /// Signs out with the header's button and waits for the sign-in form.
    pub async fn sign_out(&self) {
        self.click("#signout").await;
        self.wait_for(
            "the sign-in form after signing out",
            "return document.body.dataset.page === 'login' && !!document.querySelector('#login-username')",
            vec![],
        )
        .await;
    }

    /// Follows the navigation link of `page` and waits for it to render.
    pub async fn go(&self, page: &str) {
        self.click(&format!("#nav a[data-page='{page}']")).await;
        self.wait_page(page).await;
    }

    /// The pages the navigation offers.
    pub async fn nav(&self) -> Vec<String> {
        let pages = self
            .js(
                "return [...document.querySelectorAll('#nav a')].map(a => a.dataset.page)",
                vec![],
            )
            .await;
        serde_json::from_value(pages).unwrap()
    }

    /// Scrolls the element `css` to the top of the window (before a screenshot).
    pub async fn scroll_to(&self, css: &str) {
        let found = self
            .js(
                "const el = document.querySelector(arguments[0]);
                 if (el) el.scrollIntoView({block: 'start'});
                 return !!el;",
                vec![json!(css)],
            )
            .await;
        assert_eq!(found, json!(true), "{css}");
    }

    /// Saves a PNG of the window as `name.png` under [`screenshot_dir`] and returns its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.unwrap();
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        println!("screenshot: {}", path.display());
        path
    }

    /// The paint timings of the current page (`first-paint`, `first-contentful-paint`), in ms.
    pub async fn paint_timings(&self) -> Vec<(String, f64)> {
        let entries = self
            .js(
                "return performance.getEntriesByType('paint').map(e => [e.name, e.startTime])",
                vec![],
            )
            .await;
        serde_json::from_value(entries).unwrap()
    }

    /// `fetch(path)` from the page with its own token; the status.
    pub async fn fetch_status(&self, path: &str) -> u16 {
        let status = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 fetch(arguments[0], {headers: {Authorization: 'Bearer ' + sessionStorage.getItem('attendance.token')}})
                   .then(r => done(r.status), e => done(String(e)));",
                vec![json!(path)],
            )
            .await
            .unwrap();
        u16::try_from(
            status
                .as_u64()
                .unwrap_or_else(|| panic!("{path}: {status}")),
        )
        .unwrap()
    }
}
