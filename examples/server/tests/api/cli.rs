//! The binary: `serve` with the first admin from the environment, refusal without one, and the
//! in-process server's orderly stop.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::Duration;

use attendance_server::cli::{Cli, Command, Server};
use clap::Parser;
use serde_json::{Value, json};

/// Kills the child when the test ends, passing or not.
pub struct Running(pub Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("attendance-cli-{name}-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The server binary, with none of its environment variables inherited.
pub fn binary() -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_attendance-server"));
    command
        .env_remove("ATTENDANCE_ADMIN_USER")
        .env_remove("ATTENDANCE_ADMIN_PASSWORD")
        .env_remove("ATTENDANCE_BIND")
        .env_remove("ATTENDANCE_CONFIG")
        .env_remove("ATTENDANCE_CORS_ORIGINS")
        .env_remove("ATTENDANCE_DATA_DIR")
        .env_remove("ATTENDANCE_DATABASE_URL")
        .env_remove("ATTENDANCE_JWT_SECRET")
        .env_remove("ATTENDANCE_WS_PORT")
        .env_remove("ATTENDANCE_INSTANCE_NAME")
        .env_remove("ATTENDANCE_LEASE_MS")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// The URL the child prints once it listens; panics if it ends or takes over 30 s. The rest of
/// its output is read (and dropped) until it ends, so its writes never meet a closed pipe.
pub async fn listening_url(child: &mut Running) -> String {
    let stdout = child.0.stdout.take().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(url) = line.strip_prefix("attendance-server listening on ")
                && let Some(tx) = tx.take()
            {
                let _ = tx.send(url.trim().to_owned());
            }
        }
    });
    tokio::time::timeout(Duration::from_secs(30), rx)
        .await
        .expect("the server did not start within 30 s")
        .expect("the server ended before listening")
}

/// Runs `command` to its end (it must exit by itself within 30 s) and returns its output.
pub async fn run_to_exit(mut command: std::process::Command) -> std::process::Output {
    tokio::time::timeout(
        Duration::from_secs(30),
        tokio::task::spawn_blocking(move || command.output()),
    )
    .await
    .expect("the server should exit by itself")
    .unwrap()
    .unwrap()
}

#[tokio::test]
async fn serve_creates_the_first_admin_from_the_environment_and_answers_logins() {
    let data = temp_dir("serve");
    let mut child = Running(
        binary()
            .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
            .arg(&data)
            .env("ATTENDANCE_ADMIN_USER", "root")
            .env("ATTENDANCE_ADMIN_PASSWORD", "a long enough password")
            .spawn()
            .unwrap(),
    );
    let base = listening_url(&mut child).await;
    let client = reqwest::Client::new();
    let response = client
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"username": "root", "password": "a long enough password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["user"]["role"], "super_admin");
    // The secret was generated and kept private.
    let secret = data.join("jwt-secret");
    assert!(secret.exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&secret).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    drop(child);
    let _ = std::fs::remove_dir_all(&data);
}

#[tokio::test]
async fn serve_refuses_to_start_without_users_or_an_admin() {
    let data = temp_dir("refuse");
    let mut command = binary();
    command
        .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(&data);
    let output = run_to_exit(command).await;
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--admin-user"), "{stderr}");

    let output = binary()
        .args([
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--database-url",
            "mysql://nowhere/db",
            "--data-dir",
        ])
        .arg(&data)
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("--database-url"));
    let _ = std::fs::remove_dir_all(&data);
}

#[tokio::test]
async fn the_demo_runs_its_machines_and_stops_in_order() {
    let data = temp_dir("demo");
    let cli = Cli::try_parse_from([
        "attendance-server",
        "--bind",
        "127.0.0.1:0",
        "--ws-port",
        "0",
        "--jwt-secret",
        "a test secret of at least thirty-two chars",
        "--data-dir",
        data.to_str().unwrap(),
    ])
    .unwrap();
    assert!(cli.is_demo());
    assert_eq!(
        Cli::try_parse_from(["attendance-server", "serve"])
            .unwrap()
            .command,
        Some(Command::Serve)
    );
    let server = Server::start(&cli).await.unwrap();
    let banner = server.banner();
    assert!(banner.contains("hr-demo-2026"), "{banner}");
    let base = format!("http://{}", server.addr);
    let client = reqwest::Client::new();
    let login: Value = client
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"username": "hr", "password": "hr-demo-2026"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["access_token"].as_str().unwrap().to_owned();
    // The dedicated WebSocket port serves at `/`.
    let ws_url = format!("ws://{}/?token={token}", server.ws_addr.unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(ws_url).await.unwrap();
    // Both demo machines connect and scans flow in.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let status: Value = client
            .get(format!("{base}/api/attendance/system-status/"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if status["machines"]["connected"] == 2
            && status["engine"]["scans_stored"].as_u64() > Some(0)
        {
            assert_eq!(status["counts"]["employees"], 200);
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "demo machines not running: {status}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let stopping = tokio::spawn(server.stop());
    // The WebSocket is closed by the shutdown.
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        use futures::StreamExt;
        loop {
            match socket.next().await {
                Some(Ok(tokio_tungstenite::tungstenite::Message::Close(_))) | None => return,
                Some(_) => continue,
            }
        }
    })
    .await;
    assert!(closed.is_ok());
    tokio::time::timeout(Duration::from_secs(20), stopping)
        .await
        .expect("the server stops within 20 s")
        .unwrap();
    let _ = std::fs::remove_dir_all(&data);
}
