//! The ZKTeco adapter against the fake terminal over real 127.0.0.1 sockets: fetching all,
//! fetching since a cursor after the device recorded more, a cleared or replaced log, the
//! connection test, live scans and comm-key failures.

use std::time::Duration;

use attendance_adapters::zk::adapter::{ZkAdapter, ZkCursor};
use attendance_adapters::zk::fake::{FakeConfig, FakeDevice, FakeHandle};
use attendance_adapters::{AdapterError, BaseMachineAdapter};
use attendance_core::machine::{Machine, NewMachine};
use attendance_core::store::MachineCursor;
use attendance_core::time::local_to_utc;
use chrono::{DateTime, TimeDelta, Utc};
use futures::StreamExt;

const TZ: chrono_tz::Tz = chrono_tz::Asia::Dhaka;

fn machine(port: u16, config: serde_json::Value) -> Machine {
    Machine::parse(
        &NewMachine {
            machine_id: "FAKE0000000001".into(),
            name: "Fake gate".into(),
            machine_type: "zkteco".into(),
            ip_address: "127.0.0.1".into(),
            port: Some(port),
            time_zone: Some("Asia/Dhaka".into()),
            config: Some(config),
            ..NewMachine::default()
        },
        TZ,
    )
    .unwrap()
}

fn adapter(handle: &FakeHandle, config: serde_json::Value) -> ZkAdapter {
    ZkAdapter::new(machine(handle.local_addr().port(), config)).unwrap()
}

/// (user, instant) of the fake's records `from..`.
fn expected(config: &FakeConfig, from: usize) -> Vec<(String, DateTime<Utc>)> {
    config.attendance()[from..]
        .iter()
        .map(|r| (r.user_id.clone(), local_to_utc(TZ, r.local_time().unwrap())))
        .collect()
}

fn got(scans: &[attendance_core::scan::ScanData]) -> Vec<(String, DateTime<Utc>)> {
    scans
        .iter()
        .map(|s| (s.device_user_id.as_str().to_owned(), s.timestamp))
        .collect()
}

/// Replaces the device on `port` by one with `config` (same address, new log).
async fn swap(old: FakeHandle, config: FakeConfig) -> FakeHandle {
    let port = old.local_addr().port();
    old.shutdown().await;
    FakeDevice::spawn_tcp(config, port).await.unwrap()
}

#[tokio::test]
async fn fetches_all_then_only_new_records_and_rereads_a_cleared_log() {
    let first = FakeConfig {
        records: 100,
        ..FakeConfig::default()
    };
    let handle = FakeDevice::spawn_tcp(first.clone(), 0).await.unwrap();
    let mut zk = adapter(&handle, serde_json::json!({"timeout_ms": 2000}));

    // Not connected yet: a typed error, not a panic.
    assert!(matches!(
        zk.fetch_scans(None).await,
        Err(AdapterError::NotConnected { .. })
    ));
    zk.connect().await.unwrap();
    let all = zk.fetch_scans(None).await.unwrap();
    assert_eq!(got(&all.scans), expected(&first, 0));
    assert_eq!(all.skipped, 0);
    let cursor = all.cursor.unwrap();
    assert_eq!(ZkCursor::parse(&cursor).unwrap().count, 100);

    // Nothing new on the same device.
    let again = zk.fetch_scans(Some(&cursor)).await.unwrap();
    assert!(again.scans.is_empty());
    assert_eq!(again.cursor.as_ref(), Some(&cursor));
    zk.disconnect().await.unwrap();

    // The device recorded 30 more punches: only those come back.
    let more = FakeConfig {
        records: 130,
        ..first.clone()
    };
    let handle = swap(handle, more.clone()).await;
    zk.connect().await.unwrap();
    let new = zk.fetch_scans(Some(&cursor)).await.unwrap();
    assert_eq!(got(&new.scans), expected(&more, 100));
    let cursor = new.cursor.unwrap();
    zk.disconnect().await.unwrap();

    // The log was cleared and 20 punches recorded since: the whole log is read again.
    let cleared = FakeConfig {
        records: 20,
        ..first.clone()
    };
    let handle = swap(handle, cleared.clone()).await;
    zk.connect().await.unwrap();
    let reread = zk.fetch_scans(Some(&cursor)).await.unwrap();
    assert_eq!(got(&reread.scans), expected(&cleared, 0));
    zk.disconnect().await.unwrap();

    // Cleared and refilled past the old count with other punches: detected by the last record.
    let replaced = FakeConfig {
        records: 150,
        first_record: first.first_record + TimeDelta::days(1),
        ..first.clone()
    };
    let handle = swap(handle, replaced.clone()).await;
    zk.connect().await.unwrap();
    let reread = zk.fetch_scans(Some(&cursor)).await.unwrap();
    assert_eq!(got(&reread.scans), expected(&replaced, 0));

    // A cursor from another adapter is ignored (everything is read), not an error.
    let foreign = zk
        .fetch_scans(Some(&MachineCursor("sim1:whatever".into())))
        .await
        .unwrap();
    assert_eq!(foreign.scans.len(), 150);
    zk.disconnect().await.unwrap();
    handle.shutdown().await;
}

#[tokio::test]
async fn fetches_over_udp_and_empty_logs() {
    let config = FakeConfig {
        records: 700,
        ..FakeConfig::default()
    };
    let handle = FakeDevice::spawn_udp(config.clone(), 0).await.unwrap();
    let mut zk = adapter(&handle, serde_json::json!({"transport": "udp"}));
    zk.connect().await.unwrap();
    let all = zk.fetch_scans(None).await.unwrap();
    assert_eq!(got(&all.scans), expected(&config, 0));
    zk.disconnect().await.unwrap();
    handle.shutdown().await;

    let empty = FakeDevice::spawn_tcp(
        FakeConfig {
            records: 0,
            ..FakeConfig::default()
        },
        0,
    )
    .await
    .unwrap();
    let mut zk = adapter(&empty, serde_json::json!({}));
    zk.connect().await.unwrap();
    let none = zk.fetch_scans(None).await.unwrap();
    assert!(none.scans.is_empty());
    assert_eq!(none.cursor.unwrap().0, "zk1:0:");
    zk.disconnect().await.unwrap();
    empty.shutdown().await;
}

#[tokio::test]
async fn test_connection_reports_the_device() {
    let config = FakeConfig::default();
    let handle = FakeDevice::spawn_tcp(config.clone(), 0).await.unwrap();
    let mut zk = adapter(&handle, serde_json::json!({}));
    let now = local_to_utc(TZ, config.clock) - TimeDelta::seconds(90);
    let report = zk.test_connection(now).await.unwrap();
    assert!(report.reachable && report.authenticated);
    assert_eq!(report.serial.as_deref(), Some("FAKE0000000001"));
    assert_eq!(report.firmware.as_deref(), Some("Ver 6.60 Apr 28 2017"));
    assert_eq!(report.device_time, Some(config.clock));
    assert_eq!(report.clock_drift_seconds, Some(90));
    assert_eq!(report.record_count, Some(100));
    zk.disconnect().await.unwrap();
    // The same through the registry, as a server's "test connection" does.
    let m = machine(handle.local_addr().port(), serde_json::json!({}));
    let again = attendance_adapters::test_machine(&m, now).await.unwrap();
    assert_eq!(
        (again.serial, again.clock_drift_seconds),
        (report.serial, Some(90))
    );
    handle.shutdown().await;
}

#[tokio::test]
async fn live_scans_arrive_as_a_stream() {
    let config = FakeConfig {
        event_ack_timeout: Duration::from_millis(50),
        ..FakeConfig::default()
    };
    let handle = FakeDevice::spawn_tcp(config.clone(), 0).await.unwrap();
    let mut zk = adapter(&handle, serde_json::json!({}));
    assert!(zk.supports_live());
    zk.connect().await.unwrap();
    let mut stream = zk.live_scans().await.unwrap();
    for n in 0..3 {
        handle.push_event(config.live_event(n));
    }
    for n in 0..3 {
        let scan = tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .expect("a live scan in time")
            .unwrap()
            .unwrap();
        let event = config.live_event(n);
        assert_eq!(scan.device_user_id.as_str(), event.user_id);
        assert_eq!(
            scan.timestamp,
            local_to_utc(TZ, event.local_time().unwrap())
        );
    }
    // The device going away ends the stream with a typed error.
    handle.shutdown().await;
    let end = tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .expect("the stream ends");
    assert!(
        matches!(end, Some(Err(AdapterError::Unreachable { .. })) | None),
        "{end:?}"
    );
}

#[tokio::test]
async fn comm_key_failures_are_auth_errors() {
    let handle = FakeDevice::spawn_tcp(
        FakeConfig {
            comm_key: Some(12),
            ..FakeConfig::default()
        },
        0,
    )
    .await
    .unwrap();
    for config in [serde_json::json!({"comm_key": 13}), serde_json::json!({})] {
        let mut zk = adapter(&handle, config);
        let err = zk.connect().await.unwrap_err();
        assert!(matches!(err, AdapterError::Auth { .. }), "{err}");
        assert!(!err.is_transient());
    }
    let mut zk = adapter(&handle, serde_json::json!({"comm_key": 12}));
    zk.connect().await.unwrap();
    assert_eq!(zk.fetch_scans(None).await.unwrap().scans.len(), 100);
    zk.disconnect().await.unwrap();
    handle.shutdown().await;

    // Nobody listening: unreachable, transient.
    let port = handle_free_port().await;
    let mut zk = ZkAdapter::new(machine(port, serde_json::json!({"timeout_ms": 500}))).unwrap();
    let err = zk.connect().await.unwrap_err();
    assert!(matches!(err, AdapterError::Unreachable { .. }), "{err}");
    assert!(err.is_transient());
}

async fn handle_free_port() -> u16 {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap().port()
}
