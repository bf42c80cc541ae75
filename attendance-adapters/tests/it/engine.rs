//! The real-time engine over the in-memory store: batching, events and their audience, retries,
//! refused batches, back-pressure and a draining shutdown.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use attendance_adapters::engine::{Engine, EngineConfig, EngineEvent, IngestError, Published};
use attendance_core::prelude::*;
use attendance_core::service::AttendanceService;
use attendance_core::store::memory::MemoryStore;
use attendance_core::store::{
    DailyRecordStore, EmployeeStore, MachineCursor, ScanBatch, ScanStore,
};
use chrono::{DateTime, TimeDelta, Utc};
use tokio::sync::broadcast;
use tokio::time::timeout;

fn config() -> EngineConfig {
    EngineConfig {
        queue_capacity: 64,
        max_batch_scans: 500,
        max_batch_delay: Duration::from_millis(50),
        status_interval: Duration::from_millis(100),
        retry_delay: Duration::from_millis(5),
        max_retry_delay: Duration::from_millis(20),
        event_capacity: 10_000,
        drain_timeout: Duration::from_millis(200),
        // Only the test of the window-closing pass runs it.
        close_interval: None,
        ..EngineConfig::default()
    }
}

fn employee(code: &str, user: &str, department: &str) -> Employee {
    Employee::parse(&NewEmployee {
        employee_id: code.into(),
        employee_name: format!("Name of {code}"),
        department: department.into(),
        designation: "Operator".into(),
        level_of_work: "Worker".into(),
        device_user_id: Some(user.into()),
        ..NewEmployee::default()
    })
    .unwrap()
}

fn base() -> DateTime<Utc> {
    // 08:00 in Dhaka, a few days ago, so the day's window has opened.
    let today = Utc::now().date_naive() - TimeDelta::days(3);
    today.and_hms_opt(2, 0, 0).unwrap().and_utc()
}

fn batch(machine: &str, user: &str, from_second: i64, count: i64, cursor: &str) -> ScanBatch {
    let machine_id = MachineId::parse(machine).unwrap();
    ScanBatch {
        machine_id: machine_id.clone(),
        scans: (0..count)
            .map(|i| ScanData {
                machine_id: machine_id.clone(),
                device_user_id: DeviceUserId::parse(user).unwrap(),
                timestamp: base() + TimeDelta::seconds(from_second + i),
                punch_state: PunchState::CheckIn,
                verify_mode: VerifyMode::Fingerprint,
                raw: None,
            })
            .collect(),
        cursor: Some(MachineCursor(cursor.into())),
    }
}

async fn store_with_people() -> Arc<MemoryStore> {
    let store = Arc::new(MemoryStore::new());
    store
        .create_employee(&employee("EMP001", "1", "Sewing"))
        .await
        .unwrap();
    store
        .create_employee(&employee("EMP002", "2", "Cutting"))
        .await
        .unwrap();
    store
}

async fn next_event(
    events: &mut broadcast::Receiver<Published>,
    wanted: impl Fn(&EngineEvent) -> bool,
) -> Published {
    timeout(Duration::from_secs(5), async {
        loop {
            let published = events.recv().await.unwrap();
            if wanted(&published.event) {
                return published;
            }
        }
    })
    .await
    .expect("the event within 5 s")
}

#[tokio::test]
async fn scans_become_events_for_the_right_audience() {
    let store = store_with_people().await;
    let engine = Engine::start(AttendanceService::new(store.clone()), config());
    let mut events = engine.subscribe();
    let sender = engine.sender();
    sender.send(batch("GATE-1", "1", 0, 2, "c1")).await.unwrap();
    sender
        .send(batch("GATE-1", "99", 100, 1, "c2"))
        .await
        .unwrap();

    let mut received = Vec::new();
    while received.len() < 3 {
        let p = next_event(&mut events, |e| matches!(e, EngineEvent::ScanReceived(_))).await;
        received.push(p);
    }
    let known: Vec<_> = received
        .iter()
        .filter(|p| p.audience.as_ref().map(|o| o.employee.as_str()) == Some("EMP001"))
        .collect();
    assert_eq!(known.len(), 2, "{received:?}");
    let stranger = received.iter().find(|p| p.audience.is_none()).unwrap();
    let json = serde_json::to_value(stranger).unwrap();
    assert_eq!(json["type"], "scan_received");
    assert_eq!(json["data"]["device_user_id"], "99");
    assert_eq!(json["data"]["employee_id"], serde_json::Value::Null);

    let updated = next_event(&mut events, |e| {
        matches!(e, EngineEvent::AttendanceUpdated(_))
    })
    .await;
    assert_eq!(
        updated.audience.as_ref().unwrap().department.as_str(),
        "Sewing"
    );
    let json = serde_json::to_value(&updated).unwrap();
    assert_eq!(json["type"], "attendance_updated");
    assert_eq!(json["data"]["employee_id"], "EMP001");
    assert!(json["data"]["check_in"].is_string(), "{json}");

    let status = next_event(&mut events, |e| matches!(e, EngineEvent::SystemStatus(_))).await;
    assert_eq!(
        serde_json::to_value(&status).unwrap()["type"],
        "system_status"
    );
    let stats = engine.shutdown().await;
    assert_eq!(stats.scans_stored, 3);
    assert_eq!(store.count_scans().await.unwrap(), 3);
    assert_eq!(
        store
            .machine_cursor(&MachineId::parse("GATE-1").unwrap())
            .await
            .unwrap(),
        Some(MachineCursor("c2".into()))
    );
}

#[tokio::test]
async fn small_batches_are_gathered_into_one_group_write() {
    let store = store_with_people().await;
    let engine = Engine::start(AttendanceService::new(store.clone()), config());
    let sender = engine.sender();
    for i in 0..10 {
        sender
            .send(batch("GATE-1", "1", i * 10, 1, &format!("c{i}")))
            .await
            .unwrap();
    }
    sender.send(batch("GATE-2", "2", 0, 1, "x")).await.unwrap();
    let stats = engine.shutdown().await;
    assert_eq!(stats.scans_stored, 11);
    assert_eq!(
        stats.store_writes, 1,
        "one group write per flush: {stats:?}"
    );
    assert_eq!(
        store
            .machine_cursor(&MachineId::parse("GATE-1").unwrap())
            .await
            .unwrap(),
        Some(MachineCursor("c9".into())),
        "the last cursor of the machine wins"
    );
}

#[tokio::test]
async fn shutdown_stores_every_accepted_batch() {
    let store = store_with_people().await;
    let engine = Engine::start(
        AttendanceService::new(store.clone()),
        EngineConfig {
            max_batch_scans: 50,
            ..config()
        },
    );
    let sender = engine.sender();
    for i in 0..60 {
        sender
            .send(batch(
                "GATE-1",
                if i % 2 == 0 { "1" } else { "2" },
                i * 100,
                20,
                "c",
            ))
            .await
            .unwrap();
    }
    let stats = engine.shutdown().await;
    assert_eq!(stats.scans_stored, 1_200);
    assert_eq!(store.count_scans().await.unwrap(), 1_200);
    assert!(
        sender
            .send(batch("GATE-1", "1", 0, 1, "late"))
            .await
            .is_err(),
        "a stopped engine refuses new batches"
    );
}

fn flaky_service(store: &Arc<MemoryStore>, failures: u32) -> AttendanceService {
    common::flaky_service(store, failures).0
}

#[tokio::test]
async fn a_failing_store_is_retried_until_the_batch_is_stored() {
    let store = store_with_people().await;
    let engine = Engine::start(flaky_service(&store, 3), config());
    let mut events = engine.subscribe();
    engine
        .sender()
        .send(batch("GATE-1", "1", 0, 5, "c"))
        .await
        .unwrap();
    let error = next_event(&mut events, |e| matches!(e, EngineEvent::ErrorOccurred(_))).await;
    let json = serde_json::to_value(&error).unwrap();
    assert_eq!(json["data"]["kind"], "store");
    next_event(&mut events, |e| {
        matches!(e, EngineEvent::AttendanceUpdated(_))
    })
    .await;
    let stats = engine.shutdown().await;
    assert_eq!((stats.store_errors, stats.scans_stored), (3, 5));
    assert_eq!(store.count_scans().await.unwrap(), 5);
}

#[tokio::test]
async fn a_failing_store_is_shown_while_it_fails_and_cleared_once_it_stores() {
    let store = store_with_people().await;
    let (service, flaky) = common::flaky_service(&store, u32::MAX);
    let engine = Engine::start(service, config());
    engine
        .sender()
        .send(batch("GATE-1", "1", 0, 5, "c"))
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let failure = loop {
        if let Some(f) = engine.stats().store_failure.filter(|f| f.attempts >= 2) {
            break f;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no failure shown in 10 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    // The store's own reason, not only the operation.
    assert!(
        failure.message.contains("database is restarting"),
        "{}",
        failure.message
    );
    flaky.heal();
    while engine.stats().store_failure.is_some() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the failure was never cleared"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let stats = engine.shutdown().await;
    assert_eq!(stats.scans_stored, 5);
    assert!(stats.store_errors >= 2);
}

#[tokio::test]
async fn a_refused_batch_is_reported_and_the_engine_goes_on() {
    let store = store_with_people().await;
    let engine = Engine::start(AttendanceService::new(store.clone()), config());
    let mut stray = batch("GATE-1", "1", 0, 2, "c");
    stray.scans[1].machine_id = MachineId::parse("OTHER").unwrap();
    let sender = engine.sender();
    sender.send(stray).await.unwrap();
    sender.send(batch("GATE-2", "2", 0, 3, "d")).await.unwrap();
    let stats = engine.shutdown().await;
    assert_eq!(stats.batches_rejected, 1);
    assert_eq!(stats.scans_stored, 3);
}

#[tokio::test]
async fn one_machines_bad_batch_does_not_hold_back_the_others_in_its_group() {
    let store = store_with_people().await;
    // A long delay and a large size: the three batches are one flush, one group.
    let engine = Engine::start(
        AttendanceService::new(store.clone()),
        EngineConfig {
            max_batch_delay: Duration::from_millis(300),
            ..config()
        },
    );
    let mut events = engine.subscribe();
    let mut bad = batch("GATE-2", "2", 100, 2, "bad");
    bad.scans[1].machine_id = MachineId::parse("OTHER").unwrap();
    let sender = engine.sender();
    sender.send(batch("GATE-1", "1", 0, 3, "g1")).await.unwrap();
    sender.send(bad).await.unwrap();
    sender.send(batch("GATE-3", "2", 0, 4, "g3")).await.unwrap();
    let refused = next_event(&mut events, |e| matches!(e, EngineEvent::ErrorOccurred(_))).await;
    let json = serde_json::to_value(&refused).unwrap();
    assert_eq!(
        (
            json["data"]["kind"].as_str(),
            json["data"]["source"].as_str()
        ),
        (Some("invalid_batch"), Some("GATE-2"))
    );
    let stats = engine.shutdown().await;
    assert_eq!(stats.batches_rejected, 1, "{stats:?}");
    assert_eq!(stats.scans_stored, 7, "{stats:?}");
    assert_eq!(
        stats.store_writes, 4,
        "the group, then each of its three batches: {stats:?}"
    );
    assert_eq!(store.count_scans().await.unwrap(), 7);
    let cursor = |m: &str| {
        let store = store.clone();
        let machine = MachineId::parse(m).unwrap();
        async move { store.machine_cursor(&machine).await.unwrap() }
    };
    assert_eq!(cursor("GATE-1").await, Some(MachineCursor("g1".into())));
    assert_eq!(cursor("GATE-3").await, Some(MachineCursor("g3".into())));
    assert_eq!(
        cursor("GATE-2").await,
        None,
        "the bad batch's cursor is not stored"
    );
}

#[tokio::test]
async fn a_stuck_store_fills_the_bounded_queue_and_shutdown_gives_up_after_the_drain_timeout() {
    let store = store_with_people().await;
    let engine = Engine::start(
        flaky_service(&store, u32::MAX),
        EngineConfig {
            queue_capacity: 4,
            max_batch_scans: 1,
            ..config()
        },
    );
    let sender = engine.sender();
    let mut accepted = 0;
    for i in 0..100 {
        match sender.try_send(batch("GATE-1", "1", i * 10, 1, "c")) {
            Ok(()) => accepted += 1,
            Err(IngestError::Busy(_)) => break,
            Err(e) => panic!("{e}"),
        }
        tokio::task::yield_now().await;
    }
    assert!(
        accepted <= 4 + 2,
        "the queue must stay bounded: {accepted} accepted"
    );
    assert_eq!(engine.stats().queue_capacity, 4);
    let stats = timeout(Duration::from_secs(10), engine.shutdown())
        .await
        .expect("shutdown ends after the drain timeout");
    assert_eq!(stats.scans_stored, 0);
    assert_eq!(
        stats.scans_abandoned, accepted,
        "every accepted scan is accounted for: {stats:?}"
    );
}

#[tokio::test]
async fn a_submission_returns_only_once_its_batch_is_stored_and_each_gets_its_own_answer() {
    let store = store_with_people().await;
    let engine = Engine::start(AttendanceService::new(store.clone()), config());
    let sender = engine.sender();
    let wait = (Duration::from_secs(5), Duration::from_secs(5));
    // Eight submitters at once share group commits; each is answered for its own batch.
    let mut tasks = Vec::new();
    for i in 0..8 {
        let sender = sender.clone();
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let machine = format!("GATE-{i}");
            let committed = sender
                .submit(
                    batch(&machine, "1", i * 100, 5, &format!("c{i}")),
                    wait.0,
                    wait.1,
                )
                .await
                .unwrap();
            // Stored before acknowledged: the scans and the cursor are there already.
            let id = MachineId::parse(&machine).unwrap();
            assert_eq!(
                store.machine_cursor(&id).await.unwrap(),
                Some(MachineCursor(format!("c{i}")))
            );
            committed
        }));
    }
    for task in tasks {
        let committed = task.await.unwrap();
        assert_eq!((committed.inserted, committed.duplicates), (5, 0));
    }
    assert_eq!(store.count_scans().await.unwrap(), 40);
    // The same batch again: acknowledged, all duplicates.
    let again = sender
        .submit(batch("GATE-0", "1", 0, 5, "c0"), wait.0, wait.1)
        .await
        .unwrap();
    assert_eq!((again.inserted, again.duplicates), (0, 5));
    engine.shutdown().await;
    assert_eq!(
        sender
            .submit(batch("GATE-0", "1", 0, 1, "x"), wait.0, wait.1)
            .await,
        Err(IngestError::Stopped)
    );
}

#[tokio::test]
async fn scans_outside_the_storable_window_are_set_aside_and_the_rest_of_their_batch_is_stored() {
    let store = store_with_people().await;
    let engine = Engine::start(AttendanceService::new(store.clone()), config());
    let mut upload = batch("GATE-1", "1", 0, 3, "c");
    let mut reset = upload.scans[0].clone();
    reset.timestamp = DateTime::<Utc>::from_timestamp(0, 0).unwrap();
    reset.raw = Some("1\t1970-01-01 06:00:00\t0\t1".into());
    let mut ahead = upload.scans[0].clone();
    ahead.timestamp = Utc::now() + TimeDelta::days(365 * 70);
    let reset_again = reset.clone();
    upload.scans.insert(1, reset);
    upload.scans.push(ahead);
    let committed = engine
        .sender()
        .submit(upload, Duration::from_secs(5), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!((committed.inserted, committed.set_aside), (3, 2));
    assert_eq!(store.count_scans().await.unwrap(), 3);
    let aside = engine.set_aside(0, 10).await.unwrap().results;
    assert_eq!(aside.len(), 2);
    assert!(
        aside[0].reason.starts_with("before 2010-01-01"),
        "{aside:?}"
    );
    assert_eq!(
        aside[0].raw.as_deref(),
        Some("1\t1970-01-01 06:00:00\t0\t1")
    );
    assert!(
        aside[1].reason.contains("after the time it arrived"),
        "{aside:?}"
    );
    let stats = engine.shutdown().await;
    assert_eq!((stats.scans_set_aside, stats.scans_stored), (2, 3));
    // They are in the store: an engine started later on it lists them, and the device sending
    // the same upload again adds nothing (counted as set aside again, kept once).
    let engine = Engine::start(AttendanceService::new(store.clone()), config());
    let mut again = batch("GATE-1", "1", 0, 3, "c");
    again.scans.insert(1, reset_again);
    let committed = engine
        .sender()
        .submit(again, Duration::from_secs(5), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!((committed.duplicates, committed.set_aside), (3, 1));
    let kept = engine.set_aside(0, 10).await.unwrap();
    assert_eq!(kept.count, 2);
    assert_eq!(kept.results, aside);
    engine.shutdown().await;
    // Nothing of the set-aside scans became a day.
    let records = store
        .query_records(&attendance_core::store::RecordQuery::default())
        .await
        .unwrap();
    assert!(
        records
            .results
            .iter()
            .all(|r| (r.date - base().date_naive()).num_days().abs() <= 1),
        "{records:?}"
    );
}

#[tokio::test]
async fn a_failing_store_is_not_acknowledged_within_the_wait() {
    let store = store_with_people().await;
    let engine = Engine::start(flaky_service(&store, u32::MAX), config());
    let result = engine
        .sender()
        .submit(
            batch("GATE-1", "1", 0, 2, "c"),
            Duration::from_secs(1),
            Duration::from_millis(100),
        )
        .await;
    assert_eq!(
        result,
        Err(IngestError::TimedOut(Duration::from_millis(100)))
    );
    assert!(result.unwrap_err().is_retryable());
    let stats = engine.shutdown().await;
    assert_eq!(stats.scans_stored, 0);
    assert_eq!(store.count_scans().await.unwrap(), 0);
}

#[tokio::test]
async fn writes_through_the_engines_service_are_published_like_device_scans() {
    let store = store_with_people().await;
    let engine = Engine::start(AttendanceService::new(store.clone()), config());
    let mut events = engine.subscribe();
    // A manual scan through the engine's service (what the server's routes use).
    engine
        .service()
        .record_scans(batch("MANUAL", "2", 0, 1, "m"), Utc::now())
        .await
        .unwrap();
    // Both events, in either order (the window-closing pass may publish other days meanwhile).
    let (mut scan, mut day) = (None, None);
    while scan.is_none() || day.is_none() {
        let p = next_event(&mut events, |e| match e {
            EngineEvent::ScanReceived(_) => true,
            EngineEvent::AttendanceUpdated(d) => d.date == base().date_naive(),
            _ => false,
        })
        .await;
        match p.event {
            EngineEvent::ScanReceived(_) => scan = Some(p),
            _ => day = Some(p),
        }
    }
    let (scan, day) = (scan.unwrap(), day.unwrap());
    assert_eq!(
        scan.audience.as_ref().map(|o| o.employee.as_str()),
        Some("EMP002")
    );
    assert_eq!(
        day.audience.as_ref().map(|o| o.department.as_str()),
        Some("Cutting")
    );
    assert!(engine.stats().records_recomputed >= 1);
    engine.shutdown().await;
}

#[tokio::test]
async fn a_background_recompute_reports_its_progress_and_publishes_its_days() {
    let store = store_with_people().await;
    let engine = Engine::start(AttendanceService::new(store.clone()), config());
    let mut events = engine.subscribe();
    let today = Utc::now().date_naive();
    engine
        .recompute_in_background(today - TimeDelta::days(3), today, "settings changed")
        .await
        .unwrap();
    next_event(&mut events, |e| {
        matches!(e, EngineEvent::AttendanceUpdated(_))
    })
    .await;
    let job = timeout(Duration::from_secs(10), async {
        loop {
            if let Some(job) = engine.stats().recompute_job
                && job.finished_at.is_some()
            {
                return job;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the job finishes");
    assert_eq!((job.done, job.total, job.error), (2, 2, None));
    assert_eq!(job.records, 8, "two employees, four days");
    assert_eq!(job.reason, "settings changed");
    engine.shutdown().await;
}

#[tokio::test]
async fn a_shutdown_waits_for_the_background_recompute_running() {
    let store = store_with_people().await;
    let engine = Engine::start(AttendanceService::new(store.clone()), config());
    let today = Utc::now().date_naive();
    engine
        .recompute_in_background(today - TimeDelta::days(9), today, "settings changed")
        .await
        .unwrap();
    // Asked at once: the job has started (or is about to) and is finished, not dropped.
    engine.shutdown().await;
    let job = engine.recompute_job().expect("the job ran");
    assert!(job.finished_at.is_some(), "{job:?}");
    assert_eq!((job.done, job.total, job.error), (2, 2, None));
    assert_eq!(job.records, 20, "two employees, ten days");
    let stored = store
        .query_records(&attendance_core::store::RecordQuery::default())
        .await
        .unwrap();
    assert_eq!(stored.count, 20);
}

#[tokio::test]
async fn a_day_nobody_punched_becomes_absent_when_its_window_closes_without_a_reader() {
    let store = store_with_people().await;
    let engine = Engine::start(
        AttendanceService::new(store.clone()),
        EngineConfig {
            close_interval: Some(Duration::from_millis(50)),
            ..config()
        },
    );
    let mut events = engine.subscribe();
    // The first pass looks two days back: yesterday's windows closed unread.
    let absent = next_event(
        &mut events,
        |e| matches!(e, EngineEvent::AttendanceUpdated(day) if day.status.to_string() == "Absent"),
    )
    .await;
    let json = serde_json::to_value(&absent).unwrap();
    assert_eq!(json["type"], "attendance_updated");
    assert!(absent.audience.is_some());
    engine.shutdown().await;
}

/// The daily records of a memory store, counting the records written and closing a jobs gate
/// during the write that `close_on` counts (1: the first), so a background recompute stops
/// after that chunk, deterministically; with `fail`, every write fails.
struct GateClosingRecords {
    inner: Arc<MemoryStore>,
    gate: attendance_adapters::engine::JobsGate,
    writes: std::sync::atomic::AtomicUsize,
    written: std::sync::atomic::AtomicUsize,
    close_on: usize,
    fail: bool,
}

#[async_trait::async_trait]
impl DailyRecordStore for GateClosingRecords {
    async fn upsert_records(
        &self,
        records: &[attendance_core::daily::DailyRecord],
    ) -> attendance_core::store::StoreResult<()> {
        use std::sync::atomic::Ordering;
        if self.fail {
            self.writes.fetch_add(1, Ordering::SeqCst);
            return Err(attendance_core::store::StoreError::Backend {
                message: "the disk is gone".into(),
                source: None,
            });
        }
        self.inner.upsert_records(records).await?;
        self.written.fetch_add(records.len(), Ordering::SeqCst);
        if self.writes.fetch_add(1, Ordering::SeqCst) + 1 == self.close_on {
            self.gate.set(false);
        }
        Ok(())
    }
    async fn record(
        &self,
        employee: &EmployeeCode,
        date: chrono::NaiveDate,
    ) -> attendance_core::store::StoreResult<Option<attendance_core::daily::DailyRecord>> {
        self.inner.record(employee, date).await
    }
    async fn query_records(
        &self,
        query: &attendance_core::store::RecordQuery,
    ) -> attendance_core::store::StoreResult<
        attendance_core::store::Page<attendance_core::daily::DailyRecord>,
    > {
        self.inner.query_records(query).await
    }
    async fn delete_record(
        &self,
        employee: &EmployeeCode,
        date: chrono::NaiveDate,
    ) -> attendance_core::store::StoreResult<()> {
        self.inner.delete_record(employee, date).await
    }
    async fn count_records_by_status(
        &self,
        query: &attendance_core::store::RecordQuery,
    ) -> attendance_core::store::StoreResult<Vec<(AttendanceStatus, u64)>> {
        self.inner.count_records_by_status(query).await
    }
}

/// `n` employees (`EMP0001`…), each with a worked day in the last weeks.
async fn many_people(n: usize) -> Arc<MemoryStore> {
    let store = Arc::new(MemoryStore::new());
    let machine = MachineId::parse("GATE").unwrap();
    let mut scans = Vec::new();
    for i in 1..=n {
        store
            .create_employee(&employee(&format!("EMP{i:04}"), &i.to_string(), "Sewing"))
            .await
            .unwrap();
        let day = base() - TimeDelta::days(10 + (i % 15) as i64);
        for at in [day, day + TimeDelta::hours(9)] {
            scans.push(ScanData {
                machine_id: machine.clone(),
                device_user_id: DeviceUserId::parse(&i.to_string()).unwrap(),
                timestamp: at,
                punch_state: PunchState::CheckIn,
                verify_mode: VerifyMode::Fingerprint,
                raw: None,
            });
        }
    }
    store
        .record_scans(ScanBatch {
            machine_id: machine,
            scans,
            cursor: None,
        })
        .await
        .unwrap();
    store
}

async fn every_record(store: &MemoryStore) -> Vec<attendance_core::daily::DailyRecord> {
    store
        .query_records(&attendance_core::store::RecordQuery {
            limit: u64::MAX,
            ..attendance_core::store::RecordQuery::default()
        })
        .await
        .unwrap()
        .results
}

/// Waits (at most 10 s) until the stored job satisfies `done`, and returns it.
async fn stored_job_until(
    service: &AttendanceService,
    done: impl Fn(&attendance_core::store::RecomputeJobRecord) -> bool,
) -> attendance_core::store::RecomputeJobRecord {
    timeout(Duration::from_secs(10), async {
        loop {
            if let Some(job) = service.recompute_jobs().current_recompute().await.unwrap()
                && done(&job)
            {
                return job;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the stored job within 10 s")
}

fn gated_config() -> EngineConfig {
    EngineConfig {
        jobs_poll_interval: Duration::from_millis(20),
        ..config()
    }
}

#[tokio::test]
async fn a_background_recompute_waits_for_the_jobs_gate_and_runs_when_it_opens() {
    let store = store_with_people().await;
    let gate = attendance_adapters::engine::JobsGate::default();
    gate.set(false);
    let engine = Engine::start_gated(
        AttendanceService::new(store.clone()),
        gated_config(),
        gate.clone(),
    );
    let today = Utc::now().date_naive();
    let queued = engine
        .recompute_in_background(today - TimeDelta::days(9), today, "settings changed")
        .await
        .unwrap();
    assert_eq!(queued.state, "queued");
    // Ten looks of the runner at the store (it is woken at once too): the job stays queued.
    tokio::time::sleep(gated_config().jobs_poll_interval * 10).await;
    let job = engine.stored_recompute_job().await.unwrap();
    assert_eq!((job.id, job.state), (queued.id, "queued"), "{job:?}");
    assert_eq!(
        store
            .query_records(&Default::default())
            .await
            .unwrap()
            .count,
        0
    );
    gate.set(true);
    let job = stored_job_until(engine.service(), |j| j.is_finished()).await;
    assert_eq!((job.done, job.total, job.records), (2, 2, 20));
    assert_eq!(job.error, None);
    assert_eq!(engine.recompute_job().unwrap().state, "done");
    assert_eq!(every_record(&store).await.len(), 20);
    engine.shutdown().await;
}

#[tokio::test]
async fn a_background_recompute_stopped_by_the_gate_resumes_from_its_resume_point() {
    use std::sync::atomic::Ordering;
    // 300 employees over 20 past days: chunks of 100 employees (2,000 pairs), 3 chunks.
    let (n, days) = (300, 20);
    let to = base().date_naive() - TimeDelta::days(3);
    let from = to - TimeDelta::days(days - 1);
    let store = many_people(n).await;
    let gate = attendance_adapters::engine::JobsGate::default();
    let records = Arc::new(GateClosingRecords {
        inner: store.clone(),
        gate: gate.clone(),
        writes: Default::default(),
        written: Default::default(),
        close_on: 1,
        fail: false,
    });
    let service = AttendanceService::from_parts(attendance_core::service::StoreParts {
        scans: store.clone(),
        employees: store.clone(),
        records: records.clone(),
        settings: store.clone(),
        holidays: store.clone(),
        leave: store.clone(),
    })
    .with_oversight(store.clone())
    .with_jobs(store.clone());
    let engine = Engine::start_gated(service, gated_config(), gate.clone());
    engine
        .recompute_in_background(from, to, "settings changed")
        .await
        .unwrap();
    // The gate closed during the first chunk's write: the job stops after it, its resume
    // point saved.
    let paused = stored_job_until(engine.service(), |j| j.resume_after.is_some()).await;
    assert!(!gate.is_open());
    assert_eq!(
        paused.resume_after.as_ref().map(EmployeeCode::as_str),
        Some("EMP0100")
    );
    assert_eq!(
        (paused.done, paused.total, paused.records),
        (100, 300, 2_000)
    );
    assert!(!paused.is_finished(), "{paused:?}");
    assert_eq!(every_record(&store).await.len(), 2_000);
    let shown = engine.stored_recompute_job().await.unwrap();
    assert_eq!(
        (shown.state, shown.resume_after.as_deref()),
        ("running", Some("EMP0100"))
    );

    // The gate opens again (this instance leads again): resumed after EMP0100, finished.
    gate.set(true);
    let job = stored_job_until(engine.service(), |j| j.is_finished()).await;
    assert_eq!(
        (job.done, job.total, job.error.as_deref()),
        (300, 300, None)
    );
    assert_eq!(job.records, 6_000);
    assert_eq!(
        records.written.load(Ordering::SeqCst),
        6_000,
        "each record written once: the first chunk was not done again"
    );
    engine.shutdown().await;

    // Exactly the records of one uninterrupted run.
    let whole = many_people(n).await;
    AttendanceService::new(whole.clone())
        .recompute_range(from, to, Utc::now(), &mut |_, _| {})
        .await
        .unwrap();
    assert_eq!(every_record(&store).await, every_record(&whole).await);
}

#[tokio::test]
async fn a_background_recompute_left_by_a_stopped_engine_is_resumed_by_the_next_one() {
    use std::sync::atomic::Ordering;
    let (n, days) = (300, 20);
    let to = base().date_naive() - TimeDelta::days(3);
    let from = to - TimeDelta::days(days - 1);
    let store = many_people(n).await;
    let service = |records: Arc<GateClosingRecords>| {
        AttendanceService::from_parts(attendance_core::service::StoreParts {
            scans: store.clone(),
            employees: store.clone(),
            records,
            settings: store.clone(),
            holidays: store.clone(),
            leave: store.clone(),
        })
        .with_oversight(store.clone())
        .with_jobs(store.clone())
    };
    // The first engine's gate closes during the second chunk's write, as a lost lease would;
    // then the engine shuts down.
    let gate = attendance_adapters::engine::JobsGate::default();
    let first = Arc::new(GateClosingRecords {
        inner: store.clone(),
        gate: gate.clone(),
        writes: Default::default(),
        written: Default::default(),
        close_on: 2,
        fail: false,
    });
    let engine = Engine::start_gated(service(first.clone()), gated_config(), gate.clone());
    engine
        .recompute_in_background(from, to, "settings changed")
        .await
        .unwrap();
    let paused = stored_job_until(engine.service(), |j| j.done == 200).await;
    engine.shutdown().await;
    assert_eq!(
        paused.resume_after.as_ref().map(EmployeeCode::as_str),
        Some("EMP0200")
    );
    assert_eq!(first.written.load(Ordering::SeqCst), 4_000);

    // The next engine on the same store takes the job over from its resume point.
    let second = Arc::new(GateClosingRecords {
        inner: store.clone(),
        gate: attendance_adapters::engine::JobsGate::default(),
        writes: Default::default(),
        written: Default::default(),
        close_on: usize::MAX,
        fail: false,
    });
    let engine = Engine::start(service(second.clone()), gated_config());
    let job = stored_job_until(engine.service(), |j| j.is_finished()).await;
    assert_eq!((job.done, job.total, job.records), (300, 300, 6_000));
    assert_eq!(
        second.written.load(Ordering::SeqCst),
        2_000,
        "only the rest"
    );
    engine.shutdown().await;
    let whole = many_people(n).await;
    AttendanceService::new(whole.clone())
        .recompute_range(from, to, Utc::now(), &mut |_, _| {})
        .await
        .unwrap();
    assert_eq!(every_record(&store).await, every_record(&whole).await);
}

#[tokio::test]
async fn a_background_recompute_that_keeps_failing_is_finished_with_its_error_after_three_runs() {
    use std::sync::atomic::Ordering;
    let store = store_with_people().await;
    let records = Arc::new(GateClosingRecords {
        inner: store.clone(),
        gate: attendance_adapters::engine::JobsGate::default(),
        writes: Default::default(),
        written: Default::default(),
        close_on: usize::MAX,
        fail: true,
    });
    let service = AttendanceService::from_parts(attendance_core::service::StoreParts {
        scans: store.clone(),
        employees: store.clone(),
        records: records.clone(),
        settings: store.clone(),
        holidays: store.clone(),
        leave: store.clone(),
    })
    .with_jobs(store.clone());
    let engine = Engine::start(service, gated_config());
    let today = Utc::now().date_naive();
    engine
        .recompute_in_background(today - TimeDelta::days(3), today, "settings changed")
        .await
        .unwrap();
    let job = stored_job_until(engine.service(), |j| j.is_finished()).await;
    assert!(
        job.error
            .as_deref()
            .is_some_and(|e| e.contains("the disk is gone")),
        "{job:?}"
    );
    assert_eq!(
        records.writes.load(Ordering::SeqCst),
        3,
        "three runs, one write each"
    );
    assert_eq!(engine.recompute_job().unwrap().state, "failed");
    engine.shutdown().await;
}
