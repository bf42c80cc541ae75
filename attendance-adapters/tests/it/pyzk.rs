//! A real third-party client accepts our ZKTeco fake: the `pyzk` Python package connects with
//! `ommit_ping=True`, authenticates with the comm key, reads the users and 10,000 forty-byte
//! attendance records, receives live events, and is refused with a wrong key.
//!
//! The test runs the Python in `PYZK_PYTHON` (a venv with pyzk; `.ci/run` makes one). Without it
//! the test prints that it was skipped, unless `CI` is set, where it fails.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use attendance_adapters::zk::codec::{EventLayout, RecordLayout};
use attendance_adapters::zk::fake::{FakeConfig, FakeDevice};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

const KEY: u32 = 1234;

fn python() -> Option<String> {
    match std::env::var("PYZK_PYTHON") {
        Ok(path) if !path.is_empty() => Some(path),
        _ if std::env::var_os("CI").is_some() => {
            panic!("PYZK_PYTHON is not set under CI: .ci/run must create the pyzk venv")
        }
        _ => {
            eprintln!("skipped: set PYZK_PYTHON to a Python with pyzk installed to run this test");
            None
        }
    }
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/pyzk/check_zk_fake.py")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pyzk_reads_users_records_and_live_events_from_the_fake() {
    let Some(python) = python() else { return };
    let config = FakeConfig {
        records: 10_000,
        record_layout: RecordLayout::Text40,
        users: 50,
        comm_key: Some(KEY),
        event_layout: EventLayout::Text32,
        ..FakeConfig::default()
    };
    let expected = config.attendance();
    let users = config.user_table();
    let fake = FakeDevice::spawn_tcp(config.clone(), 0).await.unwrap();
    let mut child = Command::new(&python)
        .arg(script())
        .args([
            fake.local_addr().port().to_string(),
            KEY.to_string(),
            "read".into(),
            "3".into(),
        ])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let read = async {
        let line = lines
            .next_line()
            .await
            .unwrap()
            .expect("pyzk printed its download summary");
        let summary: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(summary["serial"], config.serial.as_str());
        assert_eq!(summary["users"], 50);
        assert_eq!(summary["first_user"], users[0].user_id.as_str());
        assert_eq!(summary["records"], 10_000);
        let first = &expected[0];
        let last = &expected[expected.len() - 1];
        assert_eq!(summary["first"]["user_id"], first.user_id.as_str());
        assert_eq!(
            summary["first"]["time"],
            first.local_time().unwrap().to_string()
        );
        assert_eq!(summary["first"]["punch"], first.punch_state);
        assert_eq!(summary["last"]["user_id"], last.user_id.as_str());
        assert_eq!(
            summary["last"]["time"],
            last.local_time().unwrap().to_string()
        );

        // Live events: push one every 200 ms until pyzk has printed three (it registers for
        // events only after the download, and unregistered connections drop what is pushed).
        let mut received = Vec::new();
        let mut n = 0;
        while received.len() < 3 {
            fake.push_event(config.live_event(n));
            n += 1;
            if let Ok(line) =
                tokio::time::timeout(Duration::from_millis(200), lines.next_line()).await
            {
                let line = line.unwrap().expect("pyzk ended before three live events");
                let event: Value = serde_json::from_str(&line).unwrap();
                received.push(event["live"].clone());
            }
        }
        for event in &received {
            let user = event["user_id"].as_str().unwrap();
            let pushed = (0..n)
                .map(|i| config.live_event(i))
                .find(|e| e.user_id == user);
            assert!(
                pushed.is_some(),
                "pyzk got an event we never pushed: {event}"
            );
        }
        assert_eq!(lines.next_line().await.unwrap().as_deref(), Some("done"));
    };
    tokio::time::timeout(Duration::from_secs(60), read)
        .await
        .expect("pyzk finished within 60 s");
    let status = child.wait().await.unwrap();
    assert!(status.success(), "pyzk exited with {status}");
    fake.shutdown().await;
}

#[tokio::test]
async fn pyzk_is_refused_with_a_wrong_comm_key() {
    let Some(python) = python() else { return };
    let config = FakeConfig {
        comm_key: Some(KEY),
        ..FakeConfig::default()
    };
    let fake = FakeDevice::spawn_tcp(config, 0).await.unwrap();
    let output = Command::new(&python)
        .arg(script())
        .args([
            fake.local_addr().port().to_string(),
            "4321".into(),
            "wrong-key".into(),
        ])
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(30), output)
        .await
        .unwrap()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let answer: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(
        answer["refused"]
            .as_str()
            .is_some_and(|m| m.contains("Unauthenticated")),
        "{answer}"
    );
    fake.shutdown().await;
}
