//! The BioStar adapter against the fake BioStar server over real sockets: login and session
//! header, paging with events that share a second across page boundaries, the cursor, re-login
//! after an expired session, every fault as a typed error and exactly-once delivery after
//! recovery.

use std::collections::HashSet;
use std::time::Duration;

use attendance_adapters::biostar::BioStarAdapter;
use attendance_adapters::biostar::codec::{DEFAULT_PUNCH_FAMILIES, row_to_scan};
use attendance_adapters::biostar::fake::{self, BioStarFault, FakeBioStarConfig};
use attendance_adapters::{AdapterError, BaseMachineAdapter};
use attendance_core::machine::{Machine, NewMachine};
use attendance_core::scan::{MachineId, ScanData};
use chrono::{TimeDelta, Utc};

fn server(events: usize) -> FakeBioStarConfig {
    FakeBioStarConfig {
        events,
        first: Utc::now() - TimeDelta::days(2),
        ..FakeBioStarConfig::default()
    }
}

fn machine(port: u16, password: &str, page_size: u32) -> Machine {
    Machine::parse(
        &NewMachine {
            machine_id: "BIOSTAR-1".into(),
            name: "BioStar".into(),
            machine_type: "suprema".into(),
            ip_address: "127.0.0.1".into(),
            port: Some(port),
            config: Some(serde_json::json!({
                "scheme": "http",
                "login_id": "admin",
                "password": password,
                "page_size": page_size,
                "timeout_secs": 1,
                "device_id": "541531029",
            })),
            ..NewMachine::default()
        },
        chrono_tz::Asia::Dhaka,
    )
    .unwrap()
}

fn punches(config: &FakeBioStarConfig) -> Vec<ScanData> {
    let machine = MachineId::parse("BIOSTAR-1").unwrap();
    config
        .all_events()
        .iter()
        .filter_map(|r| row_to_scan(r, &DEFAULT_PUNCH_FAMILIES, &machine).ok())
        .collect()
}

fn without_raw(scans: &[ScanData]) -> Vec<ScanData> {
    scans
        .iter()
        .cloned()
        .map(|mut s| {
            s.raw = None;
            s
        })
        .collect()
}

#[tokio::test]
async fn pages_across_shared_seconds_and_resumes_from_the_cursor() {
    let config = server(60);
    let fake = fake::spawn(config.clone(), 0).await.unwrap();
    // An odd page size splits the pairs of events that share a second across pages.
    let mut adapter =
        BioStarAdapter::new(machine(fake.local_addr().port(), "qwer1234", 7)).unwrap();
    let report = adapter.test_connection(Utc::now()).await.unwrap();
    assert!(report.authenticated);
    let fetch = adapter.fetch_scans(None).await.unwrap();
    let want = punches(&config);
    assert_eq!(want.len(), 48, "four of every five events are punches");
    assert_eq!(without_raw(&fetch.scans), without_raw(&want));
    assert_eq!(fetch.skipped, 0);
    assert!(fake.searches() >= 7, "{} searches", fake.searches());
    let cursor = fetch.cursor.unwrap();
    assert!(cursor.0.ends_with("|59"), "{}", cursor.0);

    // Nothing new: nothing returned, same cursor.
    let again = adapter.fetch_scans(Some(&cursor)).await.unwrap();
    assert!(again.scans.is_empty());
    assert_eq!(again.cursor.as_ref(), Some(&cursor));

    // A cursor in the middle of a shared second returns exactly the rest.
    let pair_time = config.event(20).datetime;
    let mid = attendance_core::store::MachineCursor(format!(
        "{}|21",
        attendance_adapters::biostar::codec::format_datetime(
            attendance_adapters::biostar::codec::parse_datetime(&pair_time).unwrap()
        )
    ));
    let rest = adapter.fetch_scans(Some(&mid)).await.unwrap();
    let machine = MachineId::parse("BIOSTAR-1").unwrap();
    let want_rest: Vec<ScanData> = config.all_events()[21..]
        .iter()
        .filter_map(|r| row_to_scan(r, &DEFAULT_PUNCH_FAMILIES, &machine).ok())
        .collect();
    assert_eq!(without_raw(&rest.scans), without_raw(&want_rest));
    fake.shutdown();
}

#[tokio::test]
async fn faults_are_typed_an_expired_session_relogs_and_recovery_delivers_once() {
    let config = server(40);
    let fake = fake::spawn(config.clone(), 0).await.unwrap();
    let mut adapter =
        BioStarAdapter::new(machine(fake.local_addr().port(), "qwer1234", 10)).unwrap();
    adapter.connect().await.unwrap();
    let first = adapter.fetch_scans(None).await.unwrap();
    let mut seen = first.scans;
    let mut cursor = first.cursor;

    // An expired session is refused once, then the adapter logs in again by itself.
    fake.set_fault(Some(BioStarFault::ExpireSession));
    let fetch = adapter.fetch_scans(cursor.as_ref()).await.unwrap();
    assert!(fetch.scans.is_empty());
    assert_eq!(fake.logins(), 2);
    assert_eq!(adapter.logins(), 2);

    for (fault, check) in [
        (
            BioStarFault::Drop,
            (|e: &AdapterError| matches!(e, AdapterError::Protocol { .. }))
                as fn(&AdapterError) -> bool,
        ),
        (BioStarFault::Garbage, |e| {
            matches!(e, AdapterError::Protocol { .. })
        }),
        (BioStarFault::Stall, |e| {
            matches!(e, AdapterError::Timeout { .. })
        }),
    ] {
        fake.set_fault(Some(fault));
        let err = adapter.fetch_scans(cursor.as_ref()).await.unwrap_err();
        assert!(check(&err), "{fault:?} gave {err:?}");
        assert!(err.is_transient());
        fake.set_fault(None);
        let fetch = adapter.fetch_scans(cursor.as_ref()).await.unwrap();
        seen.extend(fetch.scans);
        cursor = fetch.cursor;
    }
    assert_eq!(without_raw(&seen), without_raw(&punches(&config)));
    let keys: HashSet<_> = seen.iter().map(|s| s.dedupe_key()).collect();
    assert_eq!(keys.len(), seen.len());
    fake.shutdown();
}

#[tokio::test]
async fn wrong_passwords_dead_ports_and_bad_configs_are_typed() {
    let fake = fake::spawn(server(3), 0).await.unwrap();
    let port = fake.local_addr().port();
    let mut adapter = BioStarAdapter::new(machine(port, "wrong", 10)).unwrap();
    let err = adapter.connect().await.unwrap_err();
    assert!(matches!(err, AdapterError::Auth { .. }), "{err:?}");
    assert!(!err.is_transient());
    let mut adapter = BioStarAdapter::new(machine(port, "qwer1234", 10)).unwrap();
    assert!(matches!(
        adapter.fetch_scans(None).await,
        Err(AdapterError::NotConnected { .. })
    ));
    fake.shutdown();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let err = adapter.connect().await.unwrap_err();
    assert!(matches!(err, AdapterError::Unreachable { .. }), "{err:?}");
    let bad = Machine {
        config: serde_json::json!({"page_size": 1}),
        ..machine(port, "x", 10)
    };
    assert!(matches!(
        BioStarAdapter::new(bad),
        Err(AdapterError::Config { .. })
    ));
}
