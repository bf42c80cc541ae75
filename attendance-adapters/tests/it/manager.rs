//! The MachineManager over real 127.0.0.1 sockets: every fault the fake ZKTeco terminal can
//! inject ends in a typed error, a reconnect with backoff, and after recovery every record
//! received exactly once; the circuit breaker opens and recovers; a consumer that does not read
//! holds the producer back; machines come and go at runtime; shutdown ends every task.

use crate::common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use attendance_adapters::generic_tcp::fake::{GenericFakeHandle, LineFault};
use attendance_adapters::generic_tcp::{Field, GenericLine, LineFormat};
use attendance_adapters::manager::{
    Backoff, BreakerPolicy, ConnectionState, ManagerError, MemoryCursors,
};
use attendance_adapters::zk::fake::{FakeConfig, FakeDevice, FakeHandle, Fault};
use attendance_adapters::{
    AdapterError, MachineEventKind, MachineHealth, MachineManager, ManagerConfig,
};
use attendance_core::machine::{Machine, NewMachine};
use attendance_core::scan::MachineId;
use attendance_core::store::ScanBatch;
use attendance_core::time::local_to_utc;
use chrono::{DateTime, NaiveDate, Utc};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

const TZ: chrono_tz::Tz = chrono_tz::Asia::Dhaka;
const WAIT: Duration = Duration::from_secs(10);

fn machine(id: &str, kind: &str, port: u16, config: serde_json::Value) -> Machine {
    Machine::parse(
        &NewMachine {
            machine_id: id.into(),
            name: id.into(),
            machine_type: kind.into(),
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

fn fast_config() -> ManagerConfig {
    ManagerConfig {
        poll_interval: Duration::from_millis(50),
        live: false,
        backoff: Backoff {
            initial: Duration::from_millis(10),
            max: Duration::from_millis(80),
            multiplier: 2.0,
            jitter: 0.5,
        },
        breaker: BreakerPolicy {
            failure_threshold: 1000,
            cool_down: Duration::from_millis(200),
        },
        output_capacity: 8,
        disconnect_timeout: Duration::from_millis(200),
        ..ManagerConfig::default()
    }
}

type Received = Arc<Mutex<Vec<(String, DateTime<Utc>)>>>;

/// The test's ingest stage: takes every batch, "stores" its scans and then its cursor.
fn consume(
    mut rx: mpsc::Receiver<ScanBatch>,
    cursors: Arc<MemoryCursors>,
) -> (Received, JoinHandle<()>) {
    let received: Received = Arc::default();
    let sink = received.clone();
    let task = tokio::spawn(async move {
        while let Some(batch) = rx.recv().await {
            let mut all = sink.lock().unwrap();
            all.extend(
                batch
                    .scans
                    .iter()
                    .map(|s| (s.device_user_id.as_str().to_owned(), s.timestamp)),
            );
            if let Some(c) = batch.cursor {
                cursors.set(&batch.machine_id, c);
            }
        }
    });
    (received, task)
}

async fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn health(manager: &MachineManager, id: &str) -> MachineHealth {
    manager.health_of(&MachineId::parse(id).unwrap()).unwrap()
}

fn expected(config: &FakeConfig) -> Vec<(String, DateTime<Utc>)> {
    let mut all: Vec<_> = config
        .attendance()
        .iter()
        .map(|r| (r.user_id.clone(), local_to_utc(TZ, r.local_time().unwrap())))
        .collect();
    all.sort();
    all
}

fn sorted(received: &Received) -> Vec<(String, DateTime<Utc>)> {
    let mut all = received.lock().unwrap().clone();
    all.sort();
    all
}

/// Runs one ZK machine against a faulty fake, checks the typed error and the reconnects, then
/// replaces the fake by a healthy one on the same port and checks every record arrives once.
async fn fault_then_recovery(fault: Fault, expected_kind: &str) {
    let healthy = FakeConfig {
        records: 300,
        comm_key: Some(7),
        ..FakeConfig::default()
    };
    let faulty = FakeConfig {
        fault: Some(fault),
        ..healthy.clone()
    };
    let device = FakeDevice::spawn_tcp(faulty, 0).await.unwrap();
    let port = device.local_addr().port();
    let cursors = Arc::new(MemoryCursors::new());
    let (manager, rx) = MachineManager::new(fast_config(), cursors.clone());
    let (received, consumer) = consume(rx, cursors.clone());
    let mut events = manager.subscribe();
    manager
        .add_machine(machine(
            "ZK-1",
            "zkteco",
            port,
            serde_json::json!({"comm_key": 7, "timeout_ms": 300}),
        ))
        .unwrap();

    // The fault is reported with its kind, and the manager keeps trying (backoff).
    wait_for("two failures", || {
        health(&manager, "ZK-1").consecutive_failures >= 2
    })
    .await;
    let h = health(&manager, "ZK-1");
    assert_eq!(h.last_error_kind.as_deref(), Some(expected_kind), "{h:?}");
    let error = loop {
        let e = tokio::time::timeout(WAIT, events.recv())
            .await
            .unwrap()
            .unwrap();
        if let MachineEventKind::Error { kind, .. } = e.kind {
            break kind;
        }
    };
    assert_eq!(error, expected_kind);

    // Recovery: the same address now answers properly.
    let device = swap(device, healthy.clone()).await;
    let want = expected(&healthy);
    wait_for("every record", || {
        received.lock().unwrap().len() >= want.len()
    })
    .await;
    // A few more polls must not bring anything twice.
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(sorted(&received), want, "fault {fault:?}");
    let h = health(&manager, "ZK-1");
    assert_eq!(h.consecutive_failures, 0);
    assert_eq!(h.state, ConnectionState::Connected);
    assert!(h.connections >= 1);
    assert_eq!(h.scans_total, want.len() as u64);

    manager.shutdown().await;
    assert!(manager.machines().is_empty());
    consumer.abort();
    device.shutdown().await;
}

async fn swap(old: FakeHandle, config: FakeConfig) -> FakeHandle {
    let port = old.local_addr().port();
    old.shutdown().await;
    FakeDevice::spawn_tcp(config, port).await.unwrap()
}

#[tokio::test]
async fn drop_mid_transfer_reconnects_and_delivers_once() {
    fault_then_recovery(Fault::DropMidTransfer, "unreachable").await;
}

#[tokio::test]
async fn stall_times_out_reconnects_and_delivers_once() {
    fault_then_recovery(Fault::Stall, "timeout").await;
}

#[tokio::test]
async fn garbage_is_a_protocol_error_then_delivers_once() {
    fault_then_recovery(Fault::Garbage, "protocol").await;
}

#[tokio::test]
async fn rejected_auth_is_an_auth_error_then_delivers_once() {
    fault_then_recovery(Fault::RejectAuth, "auth").await;
}

#[tokio::test]
async fn circuit_opens_after_repeated_failures_and_recovers() {
    // A port with nobody behind it.
    let port = {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap().port()
    };
    let config = ManagerConfig {
        breaker: BreakerPolicy {
            failure_threshold: 3,
            cool_down: Duration::from_millis(300),
        },
        ..fast_config()
    };
    let cursors = Arc::new(MemoryCursors::new());
    let (manager, rx) = MachineManager::new(config, cursors.clone());
    let (received, consumer) = consume(rx, cursors);
    let mut events = manager.subscribe();
    manager
        .add_machine(machine(
            "ZK-2",
            "zkteco",
            port,
            serde_json::json!({"timeout_ms": 300}),
        ))
        .unwrap();

    let (failures, errors) = {
        let mut errors = 0;
        loop {
            let e = tokio::time::timeout(WAIT, events.recv())
                .await
                .unwrap()
                .unwrap();
            match e.kind {
                MachineEventKind::Error {
                    ref kind,
                    transient,
                    ..
                } => {
                    assert_eq!((kind.as_str(), transient), ("unreachable", true));
                    errors += 1;
                }
                MachineEventKind::CircuitOpen { failures, .. } => break (failures, errors),
                _ => {}
            }
        }
    };
    assert_eq!((failures, errors), (3, 3));
    assert_eq!(health(&manager, "ZK-2").state, ConnectionState::CircuitOpen);

    // The device comes up during the cool-down: the trial succeeds and the circuit closes.
    let config = FakeConfig {
        records: 50,
        ..FakeConfig::default()
    };
    let device = FakeDevice::spawn_tcp(config.clone(), port).await.unwrap();
    let want = expected(&config);
    wait_for("every record after recovery", || {
        received.lock().unwrap().len() >= want.len()
    })
    .await;
    assert_eq!(sorted(&received), want);
    let h = health(&manager, "ZK-2");
    assert_eq!(
        (h.state, h.consecutive_failures),
        (ConnectionState::Connected, 0)
    );
    manager.shutdown().await;
    consumer.abort();
    device.shutdown().await;
}

#[tokio::test]
async fn a_consumer_that_does_not_read_holds_the_producer_back() {
    let config = FakeConfig {
        records: 0,
        event_ack_timeout: Duration::from_millis(10),
        ..FakeConfig::default()
    };
    let device = FakeDevice::spawn_tcp(config.clone(), 0).await.unwrap();
    let manager_config = ManagerConfig {
        live: true,
        output_capacity: 1,
        ..fast_config()
    };
    let (manager, mut rx) = MachineManager::new(manager_config, Arc::new(MemoryCursors::new()));
    manager
        .add_machine(machine(
            "ZK-3",
            "zkteco",
            device.local_addr().port(),
            serde_json::json!({}),
        ))
        .unwrap();
    wait_for("live", || health(&manager, "ZK-3").live).await;
    for n in 0..5 {
        device.push_event(config.live_event(n));
    }
    // The first batch (the empty log's cursor) fills the channel; the first live scan waits.
    wait_for("back-pressure", || {
        health(&manager, "ZK-3").waiting_on_output
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let h = health(&manager, "ZK-3");
    assert!(h.waiting_on_output);
    assert_eq!(
        (h.batches_sent, h.scans_total, h.output_waits),
        (1, 0, 1),
        "{h:?}"
    );

    // Reading again lets everything through, in order, once.
    let first = rx.recv().await.unwrap();
    assert!(first.scans.is_empty() && first.cursor.is_some());
    let mut live = Vec::new();
    while live.len() < 5 {
        let batch = tokio::time::timeout(WAIT, rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert!(batch.cursor.is_none());
        live.extend(
            batch
                .scans
                .into_iter()
                .map(|s| s.device_user_id.as_str().to_owned()),
        );
    }
    let want: Vec<String> = (0..5).map(|n| config.live_event(n).user_id).collect();
    assert_eq!(live, want);
    wait_for("drained", || !health(&manager, "ZK-3").waiting_on_output).await;
    manager.shutdown().await;
    device.shutdown().await;
}

#[tokio::test]
async fn machines_come_and_go_at_runtime_and_shutdown_stops_every_task() {
    let device = FakeDevice::spawn_tcp(FakeConfig::default(), 0)
        .await
        .unwrap();
    let cursors = Arc::new(MemoryCursors::new());
    let (manager, rx) = MachineManager::new(
        ManagerConfig {
            live: true,
            ..fast_config()
        },
        cursors.clone(),
    );
    let (received, consumer) = consume(rx, cursors);
    let mut events = manager.subscribe();
    let zk = machine(
        "ZK-4",
        "zkteco",
        device.local_addr().port(),
        serde_json::json!({}),
    );
    let sim = machine(
        "SIM-1",
        "simulated",
        0,
        serde_json::json!({"seed": 3, "employees": 20, "speed_up": 3600.0, "start": "2026-01-05T07:30:00"}),
    );
    manager.add_machine(zk.clone()).unwrap();
    manager.add_machine(sim).unwrap();
    assert!(matches!(
        manager.add_machine(zk.clone()),
        Err(ManagerError::AlreadyRunning(_))
    ));
    let adms = machine("ADMS-1", "zkteco_adms", 80, serde_json::json!({}));
    assert!(matches!(
        manager.add_machine(adms),
        Err(ManagerError::Adapter(AdapterError::Unsupported { .. }))
    ));
    let mut disabled = machine("ZK-5", "zkteco", 1, serde_json::json!({}));
    disabled.enabled = false;
    assert!(matches!(
        manager.add_machine(disabled),
        Err(ManagerError::Disabled(_))
    ));

    wait_for("both connected", || {
        manager
            .health()
            .iter()
            .all(|h| h.state == ConnectionState::Connected && h.live)
    })
    .await;
    let connected: Vec<MachineId> = {
        let mut seen = Vec::new();
        while seen.len() < 2 {
            let e = tokio::time::timeout(WAIT, events.recv())
                .await
                .unwrap()
                .unwrap();
            if matches!(e.kind, MachineEventKind::Connected { live: true }) {
                seen.push(e.machine_id);
            }
        }
        seen.sort();
        seen
    };
    assert_eq!(connected, manager.machines());
    // The simulator (an hour of factory morning per real second) produces scans live.
    wait_for("simulated scans", || {
        health(&manager, "SIM-1").scans_total > 0
    })
    .await;
    assert_eq!(
        health(&manager, "ZK-4").serial.as_deref(),
        Some("FAKE0000000001")
    );

    assert!(
        manager
            .remove_machine(&MachineId::parse("SIM-1").unwrap())
            .await
    );
    assert!(
        !manager
            .remove_machine(&MachineId::parse("SIM-1").unwrap())
            .await
    );
    assert_eq!(manager.machines(), vec![MachineId::parse("ZK-4").unwrap()]);
    // ZK-4 is still running.
    assert!(matches!(
        manager.add_machine(zk.clone()),
        Err(ManagerError::AlreadyRunning(_))
    ));
    manager.shutdown().await;
    assert!(manager.machines().is_empty());
    let mut stopped = 0;
    while let Ok(e) = events.try_recv() {
        if e.kind == MachineEventKind::Stopped {
            stopped += 1;
        }
    }
    assert_eq!(stopped, 2);
    // After shutdown nothing more arrives.
    let count = received.lock().unwrap().len();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(received.lock().unwrap().len(), count);
    // The manager takes machines again after a shutdown.
    manager.add_machine(zk).unwrap();
    manager.shutdown().await;
    consumer.abort();
    device.shutdown().await;
}

fn line(user: u32, minute: u32) -> GenericLine {
    GenericLine {
        user: user.to_string(),
        local_time: NaiveDate::from_ymd_opt(2026, 1, 5)
            .unwrap()
            .and_hms_opt(8, minute, 0)
            .unwrap(),
        punch: Some(0),
        verify: Some(1),
    }
}

#[tokio::test]
async fn generic_tcp_faults_reconnect_and_good_lines_arrive_once() {
    let format = LineFormat::new(
        ",",
        vec![Field::User, Field::Timestamp, Field::Punch, Field::Verify],
        "%Y-%m-%d %H:%M:%S",
    )
    .unwrap();
    let device = GenericFakeHandle::spawn(format, 0).await.unwrap();
    let mut good = Vec::new();
    let mut push = |n: u32| {
        device.push(&line(n, n)).unwrap();
        good.push(n);
    };
    push(1);
    push(2);
    device
        .inject(LineFault::DropMidLine, &line(90, 30))
        .unwrap();
    push(3);
    push(4);
    device.inject(LineFault::Stall, &line(91, 31)).unwrap();
    push(5);
    device.inject(LineFault::Garbage, &line(92, 32)).unwrap();
    push(6);

    let cursors = Arc::new(MemoryCursors::new());
    let (manager, rx) = MachineManager::new(
        ManagerConfig {
            live: true,
            ..fast_config()
        },
        cursors.clone(),
    );
    let (received, consumer) = consume(rx, cursors);
    manager
        .add_machine(machine(
            "LINE-1",
            "generic_tcp",
            device.local_addr().port(),
            serde_json::json!({"partial_line_timeout_ms": 200}),
        ))
        .unwrap();
    wait_for("every good line", || {
        received.lock().unwrap().len() >= good.len()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut users: Vec<u32> = received
        .lock()
        .unwrap()
        .iter()
        .map(|(u, _)| u.parse().unwrap())
        .collect();
    users.sort_unstable();
    assert_eq!(users, good);
    // Connection 1 was dropped mid-line, connection 2 stalled: three sessions in all.
    assert_eq!(device.connections(), 3);
    let h = health(&manager, "LINE-1");
    assert_eq!(h.connections, 3);
    manager.shutdown().await;
    consumer.abort();
    device.shutdown().await;
}

#[tokio::test]
async fn a_restarted_manager_resumes_from_the_core_store_cursor() {
    use attendance_adapters::manager::StoreCursors;
    use attendance_core::store::ScanStore;
    use attendance_core::store::memory::MemoryStore;

    let store = Arc::new(MemoryStore::new());
    let first = FakeConfig {
        records: 100,
        ..FakeConfig::default()
    };
    let mut device = FakeDevice::spawn_tcp(first.clone(), 0).await.unwrap();
    let port = device.local_addr().port();
    for (round, records) in [(0, 100usize), (1, 150)] {
        if round == 1 {
            // The terminal recorded 50 more punches while the server was down.
            device = swap(
                device,
                FakeConfig {
                    records,
                    ..first.clone()
                },
            )
            .await;
        }
        // Round 0 reads cursors through the blanket impl, round 1 through a `dyn ScanStore`.
        let cursors: Arc<dyn attendance_adapters::CursorSource> = if round == 0 {
            store.clone()
        } else {
            Arc::new(StoreCursors(store.clone()))
        };
        let (manager, mut rx) = MachineManager::new(fast_config(), cursors);
        manager
            .add_machine(machine("ZK-6", "zkteco", port, serde_json::json!({})))
            .unwrap();
        let mut inserted = 0;
        let mut duplicates = 0;
        while store.count_scans().await.unwrap() < records as u64 {
            let batch = tokio::time::timeout(WAIT, rx.recv())
                .await
                .unwrap()
                .unwrap();
            let outcome = store.record_scans(batch).await.unwrap();
            inserted += outcome.inserted.len();
            duplicates += outcome.duplicates;
        }
        manager.shutdown().await;
        let expected_new = if round == 0 { 100 } else { 50 };
        assert_eq!((inserted, duplicates), (expected_new, 0), "round {round}");
    }
    device.shutdown().await;
}

#[tokio::test]
async fn a_quiet_live_session_is_refreshed_without_counting_a_failure() {
    let device = FakeDevice::spawn_tcp(FakeConfig::default(), 0)
        .await
        .unwrap();
    let cursors = Arc::new(MemoryCursors::new());
    let (manager, rx) = MachineManager::new(
        ManagerConfig {
            live: true,
            live_idle_refresh: Some(Duration::from_millis(100)),
            ..fast_config()
        },
        cursors.clone(),
    );
    let (received, consumer) = consume(rx, cursors);
    manager
        .add_machine(machine(
            "ZK-7",
            "zkteco",
            device.local_addr().port(),
            serde_json::json!({}),
        ))
        .unwrap();
    wait_for("three sessions", || {
        health(&manager, "ZK-7").connections >= 3
    })
    .await;
    let h = health(&manager, "ZK-7");
    assert_eq!((h.consecutive_failures, h.last_error.as_deref()), (0, None));
    // Every record once, whatever the number of catch-up fetches.
    assert_eq!(sorted(&received), expected(&FakeConfig::default()));
    manager.shutdown().await;
    consumer.abort();
    device.shutdown().await;
}

/// A punch made between a session's log read and its live registration is in neither: the
/// session ends at its first quiet moment and the reconnect's fetch reads it, once, without a
/// disconnected/connected pair; the session opened by that catch-up does not catch up again.
#[tokio::test]
async fn a_punch_missed_between_the_fetch_and_the_live_stream_is_caught_up() {
    let device = FakeDevice::spawn_tcp(FakeConfig::default(), 0)
        .await
        .unwrap();
    let cursors = Arc::new(MemoryCursors::new());
    let (manager, rx) = MachineManager::new(
        ManagerConfig {
            live: true,
            live_catch_up: Some(Duration::from_millis(1500)),
            ..fast_config()
        },
        cursors.clone(),
    );
    let mut events = manager.subscribe();
    let (received, consumer) = consume(rx, cursors);
    manager
        .add_machine(machine(
            "ZK-8",
            "zkteco",
            device.local_addr().port(),
            serde_json::json!({}),
        ))
        .unwrap();
    wait_for("the first live session", || health(&manager, "ZK-8").live).await;
    // The log was read; the punch's live event reaches nobody.
    let at = NaiveDate::from_ymd_opt(2026, 12, 7)
        .unwrap()
        .and_hms_opt(8, 1, 2)
        .unwrap();
    device.punch_unseen("4242", at).unwrap();
    let missed = |r: &Received| {
        r.lock()
            .unwrap()
            .iter()
            .filter(|(user, _)| user == "4242")
            .count()
    };
    wait_for("the missed punch", || missed(&received) == 1).await;
    // The catch-up's session has the same gap: a punch in it is caught up by the next
    // catch-up, five times later (7.5 s of quiet).
    wait_for("live after the catch-up", || health(&manager, "ZK-8").live).await;
    let sessions = health(&manager, "ZK-8").connections;
    device
        .punch_unseen("4242", at + chrono::TimeDelta::seconds(1))
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        health(&manager, "ZK-8").connections,
        sessions,
        "the second catch-up waits longer than the first"
    );
    assert_eq!(missed(&received), 1);
    wait_for("the punch of the catch-up's gap", || missed(&received) == 2).await;
    assert_eq!(health(&manager, "ZK-8").connections, sessions + 1);
    let mut connected = 0;
    while let Ok(event) = events.try_recv() {
        match event.kind {
            MachineEventKind::Connected { .. } => connected += 1,
            MachineEventKind::Disconnected { .. } => panic!("a catch-up reported a disconnect"),
            _ => {}
        }
    }
    assert_eq!(connected, 1, "one connected event for the machine");
    manager.shutdown().await;
    consumer.abort();
    device.shutdown().await;
}

/// A manager with `config` feeding an engine on a memory store whose scan writes fail until
/// the [`common::Flaky`] heals.
fn into_a_store_that_is_down(
    config: ManagerConfig,
) -> (
    Arc<attendance_core::store::memory::MemoryStore>,
    Arc<common::Flaky>,
    attendance_adapters::engine::EngineHandle,
    MachineManager,
) {
    use attendance_adapters::engine::{Engine, EngineConfig};
    use attendance_adapters::manager::StoreCursors;
    use attendance_core::store::ScanStore;
    use attendance_core::store::memory::MemoryStore;

    let store = Arc::new(MemoryStore::new());
    let (service, flaky) = common::flaky_service(&store, u32::MAX);
    let engine = Engine::start(
        service,
        EngineConfig {
            retry_delay: Duration::from_millis(10),
            max_retry_delay: Duration::from_millis(50),
            close_interval: None,
            ..EngineConfig::default()
        },
    );
    let scans: Arc<dyn ScanStore> = store.clone();
    let manager = MachineManager::into_engine(
        config,
        Arc::new(StoreCursors(scans)),
        Arc::new(attendance_adapters::adapter_for),
        engine.sender(),
    );
    (store, flaky, engine, manager)
}

#[tokio::test]
async fn the_live_stream_opens_before_the_logs_scans_wait_for_their_commit() {
    use attendance_core::store::ScanStore;

    let config = FakeConfig {
        records: 5,
        ..FakeConfig::default()
    };
    let device = FakeDevice::spawn_tcp(config.clone(), 0).await.unwrap();
    // The store is down when the machine starts: the log's scans wait for their commit. No
    // catch-up and no idle refresh: a punch the live stream misses is never read.
    let (store, flaky, engine, manager) = into_a_store_that_is_down(ManagerConfig {
        live: true,
        live_catch_up: None,
        live_idle_refresh: None,
        commit_timeout: Duration::from_secs(20),
        ..fast_config()
    });
    manager
        .add_machine(machine(
            "ZK-G",
            "zkteco",
            device.local_addr().port(),
            serde_json::json!({}),
        ))
        .unwrap();
    // The log was read long since and its scans are still waiting for the store.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(store.count_scans().await.unwrap(), 0);
    let at = NaiveDate::from_ymd_opt(2026, 12, 7)
        .unwrap()
        .and_hms_opt(9, 0, 0)
        .unwrap();
    device.punch("4343", at).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    flaky.heal();
    // The punch came through the live stream, opened before the wait.
    let want = expected(&config).len() as u64 + 1;
    let deadline = tokio::time::Instant::now() + WAIT;
    while store.count_scans().await.unwrap() < want {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the punch made while the log's scans waited for their commit was not read: {} of {want} stored",
            store.count_scans().await.unwrap()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(health(&manager, "ZK-G").connections, 1, "one session");
    manager.shutdown().await;
    engine.shutdown().await;
    device.shutdown().await;
}

#[tokio::test]
async fn into_the_engine_a_pull_cursor_advances_only_with_the_commit_that_stores_its_scans() {
    use attendance_core::store::ScanStore;

    let config = FakeConfig {
        records: 300,
        ..FakeConfig::default()
    };
    let device = FakeDevice::spawn_tcp(config.clone(), 0).await.unwrap();
    // The store is down when the machine starts.
    let (store, flaky, engine, manager) = into_a_store_that_is_down(ManagerConfig {
        commit_timeout: Duration::from_millis(200),
        ..fast_config()
    });
    manager
        .add_machine(machine(
            "ZK-E",
            "zkteco",
            device.local_addr().port(),
            serde_json::json!({"timeout_ms": 300}),
        ))
        .unwrap();
    // Its batch is not confirmed: the session fails as a store failure, and nothing moved.
    wait_for("a store failure", || {
        health(&manager, "ZK-E").last_error_kind.as_deref() == Some("store")
    })
    .await;
    let id = MachineId::parse("ZK-E").unwrap();
    assert_eq!(store.machine_cursor(&id).await.unwrap(), None);
    assert_eq!(store.count_scans().await.unwrap(), 0);
    assert!(flaky.failing());
    // The store comes back: every record is stored once, and the cursor with them.
    flaky.heal();
    let want = expected(&config).len() as u64;
    let deadline = tokio::time::Instant::now() + WAIT;
    while store.count_scans().await.unwrap() < want {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not every record stored"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(store.count_scans().await.unwrap(), want);
    assert!(store.machine_cursor(&id).await.unwrap().is_some());
    manager.shutdown().await;
    engine.shutdown().await;
    device.shutdown().await;
}
