//! The `attendance-server` binary under benchmark: found or built ([`server_binary`]), run as a
//! process on a loopback port ([`ServerProcess`]), and logged into ([`login`]). Benchmark
//! plumbing: anything unexpected stops the run with a message, hence the panics.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

/// The super admin every benchmark server is started with.
pub const ADMIN: &str = "admin";
/// Its password.
pub const PASSWORD: &str = "bench password 2026";

/// The server binary: `ATT_E2E_SERVER_BIN`, else built (or found up to date) by cargo in the
/// target directory and profile this benchmark runs from.
pub fn server_binary() -> PathBuf {
    if let Ok(path) = std::env::var("ATT_E2E_SERVER_BIN") {
        return PathBuf::from(path);
    }
    // <target>/<profile dir>/deps/adms_end_to_end-<hash>
    let exe = std::env::current_exe().expect("the benchmark's own path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the benchmark runs from <target>/<profile>/deps")
        .to_path_buf();
    let target_dir = profile_dir
        .parent()
        .expect("a target directory")
        .to_path_buf();
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("release") => "bench",
        Some("debug") => "dev",
        Some(other) => other,
        None => "bench",
    }
    .to_owned();
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .to_path_buf();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!(
        "benchmarks: building the server (cargo build --profile {profile} -p attendance-server)"
    );
    let status = Command::new(cargo)
        .args([
            "build",
            "--profile",
            &profile,
            "-p",
            "attendance-server",
            "--bin",
        ])
        .arg("attendance-server")
        .arg("--manifest-path")
        .arg(workspace.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        .status()
        .expect("running cargo to build the server");
    assert!(status.success(), "building attendance-server failed");
    let binary = profile_dir.join(format!("attendance-server{}", std::env::consts::EXE_SUFFIX));
    assert!(binary.exists(), "no server binary at {}", binary.display());
    binary
}

/// The running server; killed (and reaped) when dropped, panic or not.
#[derive(Debug)]
pub struct ServerProcess {
    /// The process.
    pub child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ServerProcess {
    /// Starts `binary serve` on a free loopback port with `data_dir` (and `database_url`);
    /// waits (at most 60 s) for the address it prints. Its log goes to `<data_dir>/server.log`.
    pub fn start(binary: &Path, data_dir: &Path, database_url: Option<&str>) -> Self {
        Self::start_with(binary, data_dir, database_url, &[])
    }

    /// [`ServerProcess::start`] with `extra` arguments after `serve`'s own (`--lease-ms`, …).
    pub fn start_with(
        binary: &Path,
        data_dir: &Path,
        database_url: Option<&str>,
        extra: &[&str],
    ) -> Self {
        let log = std::fs::File::create(data_dir.join("server.log")).unwrap();
        let mut command = Command::new(binary);
        command
            .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(["--admin-user", ADMIN, "--admin-password", PASSWORD]);
        if let Some(url) = database_url {
            command.args(["--database-url", url]);
        }
        command.args(extra);
        for var in [
            "ATTENDANCE_CONFIG",
            "ATTENDANCE_BIND",
            "ATTENDANCE_DATA_DIR",
            "ATTENDANCE_DATABASE_URL",
            "ATTENDANCE_JWT_SECRET",
            "ATTENDANCE_WS_PORT",
            "ATTENDANCE_CORS_ORIGINS",
        ] {
            command.env_remove(var);
        }
        let mut child = command
            .env(
                "RUST_LOG",
                std::env::var("ATT_E2E_RUST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("starting the server");
        let stdout = child.stdout.take().unwrap();
        let mut server = Self {
            child,
            base: String::new(),
        };
        let (tx, rx) = std::sync::mpsc::channel();
        let log_path = data_dir.join("server.log");
        // Reads the banner, then copies the rest of stdout (the log) to the log file, so the
        // server never writes into a full pipe.
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            let mut copy = std::fs::OpenOptions::new().append(true).open(log_path).ok();
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(url) = line.strip_prefix("attendance-server listening on ")
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(url.trim().to_owned());
                } else if let Some(file) = copy.as_mut() {
                    use std::io::Write;
                    let _ = writeln!(file, "{line}");
                }
            }
        });
        server.base = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the server did not print its address within 60 s");
        server
    }

    /// `VmHWM` of the process (its peak resident memory), in bytes.
    pub fn peak_rss(&self) -> Option<u64> {
        self.proc_status("VmHWM:")
    }

    /// `VmRSS` of the process (its resident memory now), in bytes.
    pub fn rss(&self) -> Option<u64> {
        self.proc_status("VmRSS:")
    }

    /// A `kB` field of `/proc/<pid>/status`, in bytes.
    fn proc_status(&self, field: &str) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kb| kb * 1024)
    }

    /// CPU time the process used so far (user + system).
    pub fn cpu_time(&self) -> Option<Duration> {
        cpu_time(&self.child.id().to_string())
    }
}

/// CPU time (user + system) process `pid` used so far (`self`: this one), from
/// `/proc/<pid>/stat`.
pub fn cpu_time(pid: &str) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command name (which may hold spaces) in parentheses.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    // The kernel's clock ticks: 100 a second on Linux everywhere this runs.
    Some(Duration::from_millis((utime + stime) * 10))
}

/// POSTs `body` as JSON to `url` with bearer `token`; panics unless it answers 201 Created.
pub async fn post_created(client: &reqwest::Client, url: String, token: &str, body: Value) {
    let response = client
        .post(&url)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    if status != 201 {
        let text = response.text().await.unwrap_or_default();
        panic!("POST {url} {body}: {status} {text}");
    }
}

/// Logs [`ADMIN`] in and returns the access token.
pub async fn login(client: &reqwest::Client, base: &str) -> String {
    let response = client
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"username": ADMIN, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "login");
    let body: Value = response.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}
