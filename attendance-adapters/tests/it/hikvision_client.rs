//! The Hikvision adapter against the fake terminal over real sockets: digest auth, paging by
//! what the terminal returned under its page cap, the `serialNo` cursor, every fault as a typed
//! error and exactly-once delivery after recovery; and the push receiver fed by the fake's pusher.

use std::collections::HashSet;
use std::time::Duration;

use attendance_adapters::hikvision::codec::{PERSON_MINORS, info_to_scan};
use attendance_adapters::hikvision::fake::{self, FakeHikConfig, FakeHikHandle, HikFault};
use attendance_adapters::hikvision::{HikPushConfig, HikPushHub, HikvisionAdapter, push_router};
use attendance_adapters::{AdapterError, BaseMachineAdapter};
use attendance_core::machine::{Machine, NewMachine};
use attendance_core::scan::ScanData;
use attendance_core::store::MachineCursor;
use chrono::{TimeDelta, Utc};
use futures::StreamExt;

const ZONE: chrono_tz::Tz = chrono_tz::Asia::Kolkata;

/// A terminal whose events happened yesterday, so the adapter's default window covers them.
fn terminal(events: usize) -> FakeHikConfig {
    FakeHikConfig {
        events,
        first_time: (Utc::now() - TimeDelta::days(1))
            .with_timezone(&ZONE)
            .naive_local(),
        time_zone: ZONE,
        ..FakeHikConfig::default()
    }
}

fn machine(port: u16, password: &str, page_size: u32) -> Machine {
    Machine::parse(
        &NewMachine {
            machine_id: "HIK-GATE-1".into(),
            name: "Gate".into(),
            machine_type: "hikvision".into(),
            ip_address: "127.0.0.1".into(),
            port: Some(port),
            time_zone: Some("Asia/Kolkata".into()),
            config: Some(serde_json::json!({
                "username": "admin",
                "password": password,
                "page_size": page_size,
                "timeout_secs": 1,
            })),
            ..NewMachine::default()
        },
        ZONE,
    )
    .unwrap()
}

fn person_scans(config: &FakeHikConfig, after: u64) -> Vec<ScanData> {
    let machine = attendance_core::scan::MachineId::parse("HIK-GATE-1").unwrap();
    config
        .all_events()
        .iter()
        .filter(|e| e.serial_no.unwrap() > after)
        .filter_map(|e| info_to_scan(e, &PERSON_MINORS, &machine, ZONE).ok())
        .collect()
}

async fn start(config: &FakeHikConfig) -> FakeHikHandle {
    fake::spawn(config.clone(), 0).await.unwrap()
}

#[tokio::test]
async fn pages_under_the_cap_and_resumes_from_the_serial_cursor() {
    let config = terminal(100);
    let fake = start(&config).await;
    let mut adapter =
        HikvisionAdapter::new(machine(fake.local_addr().port(), "hik12345", 50)).unwrap();
    let report = adapter.test_connection(Utc::now()).await.unwrap();
    assert!(report.reachable && report.authenticated);
    let fetch = adapter.fetch_scans(None).await.unwrap();
    // Asked for 50 per page, served at most 30: four pages, every person event once.
    assert_eq!(fake.searches(), [50, 50, 50, 50]);
    assert_eq!(fetch.scans, person_scans(&config, 0));
    assert_eq!(fetch.scans.len(), 80);
    assert_eq!(fetch.cursor, Some(MachineCursor("1100".into())));
    assert_eq!(fetch.skipped, 0);
    let verify: HashSet<_> = fetch.scans.iter().map(|s| s.verify_mode).collect();
    assert_eq!(verify.len(), 3, "fingerprint, face and card");

    let again = adapter.fetch_scans(fetch.cursor.as_ref()).await.unwrap();
    assert!(again.scans.is_empty());
    assert_eq!(again.cursor, Some(MachineCursor("1100".into())));
    let tail = adapter
        .fetch_scans(Some(&MachineCursor("1090".into())))
        .await
        .unwrap();
    assert_eq!(tail.scans, person_scans(&config, 1090));
    adapter.disconnect().await.unwrap();
    assert!(matches!(
        adapter.fetch_scans(None).await,
        Err(AdapterError::NotConnected { .. })
    ));
    fake.shutdown();
}

#[tokio::test]
async fn every_fault_is_a_typed_error_and_recovery_delivers_each_event_once() {
    let config = terminal(40);
    let fake = start(&config).await;
    let mut adapter =
        HikvisionAdapter::new(machine(fake.local_addr().port(), "hik12345", 30)).unwrap();
    adapter.connect().await.unwrap();
    let first = adapter.fetch_scans(None).await.unwrap();
    let mut cursor = first.cursor.clone();
    let mut seen: Vec<ScanData> = first.scans;
    for (fault, check) in [
        (
            HikFault::Drop,
            (|e: &AdapterError| matches!(e, AdapterError::Protocol { .. }))
                as fn(&AdapterError) -> bool,
        ),
        (HikFault::Stall, |e| {
            matches!(e, AdapterError::Timeout { .. })
        }),
        (HikFault::Garbage, |e| {
            matches!(e, AdapterError::Protocol { .. })
        }),
        (HikFault::RejectAuth, |e| {
            matches!(e, AdapterError::Auth { .. })
        }),
    ] {
        fake.set_fault(Some(fault));
        let err = adapter.fetch_scans(cursor.as_ref()).await.unwrap_err();
        assert!(check(&err), "{fault:?} gave {err:?}");
        assert_eq!(
            err.is_transient(),
            fault != HikFault::RejectAuth,
            "{fault:?}"
        );
        fake.set_fault(None);
        let fetch = adapter.fetch_scans(cursor.as_ref()).await.unwrap();
        seen.extend(fetch.scans);
        cursor = fetch.cursor;
    }
    assert_eq!(seen, person_scans(&config, 0));
    let keys: HashSet<_> = seen.iter().map(|s| s.dedupe_key()).collect();
    assert_eq!(keys.len(), seen.len());
    fake.shutdown();
}

#[tokio::test]
async fn wrong_passwords_and_dead_ports_are_typed() {
    let config = terminal(5);
    let fake = start(&config).await;
    let mut adapter =
        HikvisionAdapter::new(machine(fake.local_addr().port(), "wrong", 30)).unwrap();
    let err = adapter.connect().await.unwrap_err();
    assert!(matches!(err, AdapterError::Auth { .. }), "{err:?}");
    assert!(!err.is_transient());
    let port = fake.local_addr().port();
    fake.shutdown();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut adapter = HikvisionAdapter::new(machine(port, "hik12345", 30)).unwrap();
    let err = adapter.connect().await.unwrap_err();
    assert!(matches!(err, AdapterError::Unreachable { .. }), "{err:?}");
    let bad = Machine {
        config: serde_json::json!({"scheme": "ftp"}),
        ..machine(port, "x", 1)
    };
    assert!(matches!(
        HikvisionAdapter::new(bad),
        Err(AdapterError::Config { .. })
    ));
}

#[tokio::test]
async fn the_push_receiver_takes_the_fakes_quirky_multipart() {
    let config = terminal(10);
    let (tx, rx) = attendance_adapters::engine::ingest_channel(8);
    let mut rx = rx.acknowledging(8);
    let hub = HikPushHub::new(HikPushConfig::default(), tx);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/hikvision/events/HIK-GATE-1",
        listener.local_addr().unwrap()
    );
    let app: axum::Router = push_router(hub.clone());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    // An adapter given the hub streams what the terminal pushes (and allows the machine).
    let mut adapter = HikvisionAdapter::new(machine(1, "x", 30)).unwrap();
    assert!(!adapter.supports_live());
    assert!(matches!(
        adapter.live_scans().await,
        Err(AdapterError::Unsupported { .. })
    ));
    let mut adapter = adapter.with_push(hub.clone());
    assert!(adapter.supports_live());
    let mut live = adapter.live_scans().await.unwrap();

    let mut envelopes = vec![config.heartbeat()];
    envelopes.extend((0..10).map(|k| config.push_envelope(k)));
    assert_eq!(fake::push_events(&url, &envelopes).await.unwrap(), 200);
    let batch = rx.recv().await.unwrap();
    assert_eq!(batch.scans, {
        // Pushed scans carry the envelope as raw; compare everything else.
        let mut want = person_scans(&config, 0);
        for (w, got) in want.iter_mut().zip(&batch.scans) {
            w.raw.clone_from(&got.raw);
        }
        want
    });
    assert_eq!(batch.cursor, Some(MachineCursor("1010".into())));
    for want in &batch.scans {
        let got = tokio::time::timeout(Duration::from_secs(5), live.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(&got, want);
    }
    let status = hub.status("HIK-GATE-1").unwrap();
    assert_eq!((status.heartbeats, status.scans, status.ignored), (1, 8, 2));
    server.abort();
}
