//! A real third-party client accepts our Hikvision fake: the `hikvisionapi` Python package logs in
//! (Basic refused, then digest after the 401), reads `AcsEvent` pages under the fake's page cap by
//! `numOfMatches`, and gets every event once; with a wrong password it is refused.
//!
//! The test runs the Python in `PYZK_PYTHON` (the venv `.ci/run` makes holds pyzk and
//! hikvisionapi). Without it the test prints that it was skipped, unless `CI` is set, where it
//! fails.

use std::path::PathBuf;
use std::time::Duration;

use attendance_adapters::hikvision::fake::{self, FakeHikConfig};
use serde_json::Value;
use tokio::process::Command;

fn python() -> Option<String> {
    match std::env::var("PYZK_PYTHON") {
        Ok(path) if !path.is_empty() => Some(path),
        _ if std::env::var_os("CI").is_some() => {
            panic!(
                "PYZK_PYTHON is not set under CI: .ci/run must create the venv with hikvisionapi"
            )
        }
        _ => {
            eprintln!(
                "skipped: set PYZK_PYTHON to a Python with hikvisionapi installed to run this test"
            );
            None
        }
    }
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/hikvisionapi/check_hik_fake.py")
}

async fn run(python: &str, port: u16, password: &str, max_results: u32) -> Value {
    let output = Command::new(python)
        .arg(script())
        .args([
            port.to_string(),
            "admin".into(),
            password.into(),
            max_results.to_string(),
        ])
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(60), output)
        .await
        .expect("hikvisionapi finished within 60 s")
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stdout)))
}

#[tokio::test]
async fn hikvisionapi_reads_every_event_from_the_fake_terminal() {
    let Some(python) = python() else { return };
    let config = FakeHikConfig {
        events: 75,
        page_cap: 30,
        ..FakeHikConfig::default()
    };
    let fake = fake::spawn(config.clone(), 0).await.unwrap();
    let answer = run(&python, fake.local_addr().port(), "hik12345", 100).await;
    assert_eq!(answer["pages"], 3, "{answer}");
    assert_eq!(answer["status"], "OK");
    let events = answer["events"].as_array().unwrap();
    let want = config.all_events();
    assert_eq!(events.len(), want.len());
    for (got, want) in events.iter().zip(&want) {
        assert_eq!(got[0], want.serial_no.unwrap());
        assert_eq!(got[1].as_str(), want.employee_no_string.as_deref());
        assert_eq!(got[2], want.minor);
        assert_eq!(got[3], want.time.as_str());
    }
    assert_eq!(fake.searches(), [100, 100, 100]);

    let refused = run(&python, fake.local_addr().port(), "wrong", 10).await;
    assert!(
        refused["refused"]
            .as_str()
            .is_some_and(|m| m.contains("401")),
        "{refused}"
    );
    fake.shutdown();
}
