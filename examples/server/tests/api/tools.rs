//! The command-line tools (`users …`, `import employees`) run as the built binary against the
//! store of a running server: SQLite (the server binary on a data directory) and PostgreSQL
//! (an in-process server on a fresh database).

use std::io::Write;
use std::process::{Output, Stdio};
use std::time::Duration;

use futures::StreamExt;
use reqwest::Method;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::cli::{Running, binary, listening_url, temp_dir};
use crate::helpers::{PASSWORD, TestApp};
use attendance_store_postgres::testkit as pg_common;

/// Where the tools find the store: `--data-dir DIR` or `--database-url URL`.
#[derive(Clone)]
pub enum Target {
    DataDir(std::path::PathBuf),
    Database(String),
}

/// The operating-system user the tools run as here: their audit entries name `cli:auditor`.
const OS_USER: &str = "auditor";

/// Runs the binary with `args` against `target` (as [`OS_USER`]), writing `stdin` (if any) to
/// its standard input; it must exit within 60 s.
pub async fn tool(target: &Target, args: &[&str], stdin: Option<&str>) -> Output {
    let mut command = binary();
    command.args(args).env("USER", OS_USER);
    match target {
        Target::DataDir(dir) => command.arg("--data-dir").arg(dir),
        Target::Database(url) => command.args(["--database-url", url]),
    };
    command.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let input = stdin.map(str::to_owned);
    tokio::time::timeout(
        Duration::from_secs(60),
        tokio::task::spawn_blocking(move || {
            let mut child = command.spawn().unwrap();
            if let Some(input) = input {
                let mut pipe = child.stdin.take().unwrap();
                pipe.write_all(input.as_bytes()).unwrap();
            }
            child.wait_with_output().unwrap()
        }),
    )
    .await
    .expect("the tool exits within 60 s")
    .unwrap()
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts the tool succeeded and returns its stdout.
pub fn ok(output: &Output) -> String {
    assert!(
        output.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        output.status.code(),
        stdout(output),
        stderr(output)
    );
    stdout(output)
}

/// Asserts the tool failed with `needle` in its stderr.
pub fn refused(output: &Output, needle: &str) {
    assert!(
        !output.status.success(),
        "expected a refusal\nstdout: {}",
        stdout(output)
    );
    assert!(stderr(output).contains(needle), "{}", stderr(output));
}

pub async fn login(base: &str, user: &str, password: &str) -> Option<String> {
    let response = reqwest::Client::new()
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"username": user, "password": password}))
        .send()
        .await
        .unwrap();
    if response.status() != 200 {
        return None;
    }
    let body: Value = response.json().await.unwrap();
    body["access_token"].as_str().map(str::to_owned)
}

/// `attendance-server serve` as a child process on a fresh SQLite `--data-dir`, with `admin`;
/// answers the process (killed when dropped) and its base URL.
pub async fn serve_sqlite_child(data: &std::path::Path) -> (Running, String) {
    let mut child = Running(
        binary()
            .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
            .arg(data)
            .env("ATTENDANCE_ADMIN_USER", "admin")
            .env("ATTENDANCE_ADMIN_PASSWORD", PASSWORD)
            .spawn()
            .unwrap(),
    );
    let base = listening_url(&mut child).await;
    (child, base)
}

/// The server started in this process on the PostgreSQL database `url` (and `data` as its
/// data directory), with `admin`; and a client for it.
pub async fn serve_postgres(
    url: &str,
    data: &std::path::Path,
) -> (attendance_server::cli::Server, TestApp) {
    let cli = <attendance_server::cli::Cli as clap::Parser>::try_parse_from([
        "attendance-server",
        "serve",
        "--bind",
        "127.0.0.1:0",
        "--database-url",
        url,
        "--data-dir",
        data.to_str().unwrap(),
        "--admin-user",
        "admin",
        "--admin-password",
        PASSWORD,
    ])
    .unwrap();
    let server = attendance_server::cli::Server::start(&cli).await.unwrap();
    let app = TestApp {
        base: format!("http://{}", server.addr),
        client: reqwest::Client::new(),
        store: server.state.store.clone(),
    };
    (server, app)
}

async fn status_of(base: &str, path: &str, token: &str) -> u16 {
    reqwest::Client::new()
        .get(format!("{base}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// Whether the socket is closed with code 1008 within `limit`.
async fn closed_for_policy(socket: &mut crate::realtime::Socket, limit: Duration) -> Option<u16> {
    tokio::time::timeout(limit, async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                Some(Ok(_)) => continue,
                _ => return None,
            }
        }
    })
    .await
    .ok()
    .flatten()
}

/// The scenario both stores run: accounts and an import made by the tools while the server at
/// `base` runs on the same store.
async fn tools_work_beside_a_running_server(base: &str, target: &Target, data: &std::path::Path) {
    // `users add`, the password from standard input; the server accepts the login at once.
    let out = ok(&tool(
        target,
        &["users", "add", "clerk", "--role", "hr_staff"],
        Some("clerk password 1\n"),
    )
    .await);
    assert!(out.contains("created the hr_staff account clerk"), "{out}");
    let clerk = login(base, "clerk", "clerk password 1")
        .await
        .expect("the new account logs in on the running server");
    // The same rules as the API, each a non-zero exit with the reason.
    refused(
        &tool(
            target,
            &["users", "add", "shorty", "--role", "hr_staff"],
            Some("short\n"),
        )
        .await,
        "at least 10 characters",
    );
    refused(
        &tool(
            target,
            &["users", "add", "w1", "--role", "employee"],
            Some(&format!("{PASSWORD}\n")),
        )
        .await,
        "employee_id",
    );
    refused(
        &tool(
            target,
            &[
                "users",
                "add",
                "w1",
                "--role",
                "employee",
                "--employee",
                "EMP404",
            ],
            Some(&format!("{PASSWORD}\n")),
        )
        .await,
        "EMP404",
    );
    refused(
        &tool(
            target,
            &["users", "add", "w1", "--role", "boss"],
            Some(&format!("{PASSWORD}\n")),
        )
        .await,
        "role",
    );
    refused(
        &tool(target, &["users", "add", "w1", "--role", "hr_staff"], None).await,
        "no password on standard input",
    );
    refused(
        &tool(target, &["users", "disable", "admin"], None).await,
        "last active super admin",
    );
    refused(
        &tool(
            target,
            &["users", "passwd", "ghost"],
            Some(&format!("{PASSWORD}\n")),
        )
        .await,
        "ghost",
    );

    // `import employees`: a bad file stores nothing and names every bad line.
    let bad = data.join("bad.csv");
    std::fs::write(
        &bad,
        "employee_id,employee_name,department,designation,level_of_work\n\
         EMP500,Rahima,Sewing,Operator,Worker\n\
         EMP501,,Sewing,Operator,Worker\n\
         EMP500,Again,Sewing,Operator,Worker\n",
    )
    .unwrap();
    let output = tool(
        target,
        &["import", "employees", bad.to_str().unwrap()],
        None,
    )
    .await;
    refused(&output, "2 rows refused; nothing was stored");
    assert!(stderr(&output).contains("line 3:"), "{}", stderr(&output));
    assert!(stderr(&output).contains("line 4:"), "{}", stderr(&output));
    assert_eq!(
        status_of(base, "/api/attendance/employees/EMP500/", &clerk).await,
        404
    );
    let good = data.join("staff.json");
    std::fs::write(
        &good,
        json!([
            {"employee_id": "EMP500", "employee_name": "Rahima", "department": "Sewing",
             "designation": "Operator", "level_of_work": "Worker"},
            {"employee_id": "EMP501", "employee_name": "Karim", "department": "Sewing",
             "designation": "Operator", "level_of_work": "Worker", "joined_on": "2026-01-05"},
        ])
        .to_string(),
    )
    .unwrap();
    let output = tool(
        target,
        &["import", "employees", good.to_str().unwrap()],
        None,
    )
    .await;
    let out = ok(&output);
    assert!(out.contains("imported 2 employees"), "{out}");
    // Not a terminal: plain progress lines.
    assert!(
        stderr(&output).contains("stored 2/2 employees"),
        "{}",
        stderr(&output)
    );
    assert_eq!(
        status_of(base, "/api/attendance/employees/EMP501/", &clerk).await,
        200
    );

    // An employee account for an imported employee; `users list` shows it all.
    ok(&tool(
        target,
        &[
            "users",
            "add",
            "rahima",
            "--role",
            "employee",
            "--employee",
            "EMP500",
        ],
        Some(&format!("{PASSWORD}\n")),
    )
    .await);
    let list = ok(&tool(target, &["users", "list"], None).await);
    for needle in [
        "admin",
        "super_admin",
        "clerk",
        "hr_staff",
        "rahima",
        "EMP500",
    ] {
        assert!(list.contains(needle), "{needle}: {list}");
    }

    // `users passwd` on the clerk: the running server refuses the old token at the next request,
    // and the clerk's WebSocket closes within the periodic check (5 s).
    let ws_url = format!("{}/ws?token={clerk}", base.replace("http://", "ws://"));
    let (mut socket, _) = tokio_tungstenite::connect_async(ws_url).await.unwrap();
    ok(&tool(
        target,
        &["users", "passwd", "clerk"],
        Some("clerk password 2\n"),
    )
    .await);
    assert_eq!(status_of(base, "/api/auth/me", &clerk).await, 401);
    assert_eq!(
        closed_for_policy(&mut socket, Duration::from_secs(12)).await,
        Some(1008)
    );
    assert!(login(base, "clerk", "clerk password 1").await.is_none());
    let clerk = login(base, "clerk", "clerk password 2")
        .await
        .expect("the new password works");
    // `users disable`: the next request is refused, and so is the login.
    let out = ok(&tool(target, &["users", "disable", "clerk"], None).await);
    assert!(out.contains("deactivated clerk"), "{out}");
    assert_eq!(status_of(base, "/api/auth/me", &clerk).await, 401);
    assert!(login(base, "clerk", "clerk password 2").await.is_none());
    let list = ok(&tool(target, &["users", "list"], None).await);
    let clerk_line = list.lines().find(|l| l.starts_with("clerk ")).unwrap();
    assert!(clerk_line.contains(" no "), "{clerk_line}");

    // Every change the tools stored is in the audit trail by `cli:auditor`, no password in it;
    // the refusals left nothing.
    let admin = login(base, "admin", PASSWORD).await.unwrap();
    let trail = |query: &'static str| {
        let admin = admin.clone();
        async move {
            let page: Value = reqwest::Client::new()
                .get(format!(
                    "{base}/api/attendance/audit-log/?{query}&page_size=100"
                ))
                .bearer_auth(&admin)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            page["results"].as_array().unwrap().clone()
        }
    };
    let actor = format!("cli:{OS_USER}");
    let created = trail("action=account_created&actor=cli:auditor").await;
    let mut targets: Vec<&str> = created
        .iter()
        .map(|e| e["target"].as_str().unwrap())
        .collect();
    targets.sort_unstable();
    assert_eq!(targets, ["account:clerk", "account:rahima"], "{created:?}");
    let clerk = created
        .iter()
        .find(|e| e["target"] == "account:clerk")
        .unwrap();
    assert_eq!(clerk["actor"], actor.as_str());
    assert_eq!(clerk["after"]["role"], "hr_staff");
    let first_admin = trail("action=account_created&target=account:admin").await;
    assert_eq!(first_admin.len(), 1, "{first_admin:?}");
    assert_eq!(first_admin[0]["actor"], "system");
    let imported = trail("action=employee_import").await;
    assert_eq!(imported.len(), 1, "{imported:?}");
    assert_eq!(imported[0]["actor"], actor.as_str());
    assert_eq!(
        imported[0]["after"],
        json!({"count": 2, "codes": ["EMP500", "EMP501"]})
    );
    for query in [
        "action=password_reset&target=account:clerk",
        "action=account_deactivated&target=account:clerk",
    ] {
        let found = trail(query).await;
        assert_eq!(found.len(), 1, "{query}: {found:?}");
        assert_eq!(found[0]["actor"], actor.as_str(), "{query}");
    }
    let everything = serde_json::to_string(&trail("page=1").await).unwrap();
    for secret in ["clerk password 1", "clerk password 2", PASSWORD, "argon2"] {
        assert!(!everything.contains(secret), "{secret} in {everything}");
    }
}

#[tokio::test]
async fn the_tools_work_on_sqlite_while_the_server_runs() {
    let data = temp_dir("tools-sqlite");
    let (child, base) = serve_sqlite_child(&data).await;
    // The data directory is its owner's only, and so is every file in it.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&data), 0o700);
        let files: Vec<_> = std::fs::read_dir(&data)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert!(
            files.iter().any(|f| f.ends_with("attendance.sqlite-wal")),
            "{files:?}"
        );
        for file in files {
            assert_eq!(mode(&file), 0o600, "{}", file.display());
        }
    }
    let target = Target::DataDir(data.clone());
    tools_work_beside_a_running_server(&base, &target, &data).await;
    drop(child);
    let _ = std::fs::remove_dir_all(&data);
}

#[tokio::test]
async fn the_tools_work_on_postgres_while_the_server_runs() {
    let Some(pg) = pg_common::server().await else {
        return;
    };
    let url = pg.database().await;
    let data = temp_dir("tools-pg");
    let (server, app) = serve_postgres(&url, &data).await;
    let target = Target::Database(url.clone());
    tools_work_beside_a_running_server(&app.base, &target, &data).await;
    // The admin still manages everything through the API.
    let admin = app.token("admin").await;
    let users = app
        .call_json(Method::GET, "/api/auth/users/", &admin, None, 200)
        .await;
    assert_eq!(users["count"], 3, "{users}");
    server.stop().await;
    pg.cleanup().await;
    let _ = std::fs::remove_dir_all(&data);
}

#[tokio::test]
async fn users_add_creates_the_first_admin_before_the_first_start() {
    let data = temp_dir("tools-first");
    let target = Target::DataDir(data.clone());
    ok(&tool(
        &target,
        &["users", "add", "root", "--role", "super_admin"],
        Some("the very first password\n"),
    )
    .await);
    // `serve` then starts without --admin-user.
    let mut child = Running(
        binary()
            .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
            .arg(&data)
            .spawn()
            .unwrap(),
    );
    let base = listening_url(&mut child).await;
    assert!(
        login(&base, "root", "the very first password")
            .await
            .is_some()
    );
    drop(child);
    // The in-memory store is refused: a tool's changes would vanish with it.
    refused(
        &tool(
            &Target::Database("memory:".into()),
            &["users", "list"],
            None,
        )
        .await,
        "in-memory",
    );
    let _ = std::fs::remove_dir_all(&data);
}
