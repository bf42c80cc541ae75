//! The store conformance suite (feature `testkit`): the contract every store must meet, as
//! checks that any implementation runs from its own tests.
//!
//! ```text
//! #[tokio::test]
//! async fn my_store_conforms() {
//!     let report = run_store_conformance(|| async { MyStore::connect_fresh().await.map(Arc::new) }).await;
//!     assert!(report.failures.is_empty(), "{report}");
//! }
//! ```
//!
//! Each check gets a fresh, empty store from `make_store`, so checks never see each other's data.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};

use chrono::{DateTime, NaiveDate, TimeDelta, TimeZone, Utc};

use super::{MachineCursor, RecordOrder, RecordQuery, ScanBatch, Store, StoreError, StoreResult};
use crate::daily::DailyRecord;
use crate::employee::{Department, DeviceUserId, Employee, EmployeeCode, NewEmployee};
use crate::machine::{Machine, NewMachine};
use crate::scan::{MachineId, PunchState, ScanData, VerifyMode};
use crate::settings::AttendanceSettings;
use crate::shift::ShiftId;
use crate::status::AttendanceStatus;

/// What the suite found.
#[derive(Debug, Default)]
pub struct ConformanceReport {
    /// Checks that passed.
    pub passed: usize,
    /// Checks that failed: name and what went wrong.
    pub failures: Vec<(&'static str, String)>,
}

impl fmt::Display for ConformanceReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} passed, {} failed", self.passed, self.failures.len())?;
        for (name, why) in &self.failures {
            write!(f, "\n  {name}: {why}")?;
        }
        Ok(())
    }
}

type CheckResult = Result<(), String>;

macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

fn fail(e: StoreError) -> String {
    format!("unexpected store error: {e}")
}

/// Runs every check, each on a fresh store from `make_store`, and reports the outcome. It never
/// panics on a failing store: failures (including a store that could not be made) are listed.
pub async fn run_store_conformance<S, F, Fut>(make_store: F) -> ConformanceReport
where
    S: Store + ?Sized,
    F: Fn() -> Fut,
    Fut: Future<Output = StoreResult<Arc<S>>>,
{
    let mut report = ConformanceReport::default();
    macro_rules! run {
        ($($check:ident),+ $(,)?) => {$(
            let outcome = match make_store().await {
                Ok(store) => $check(&*store).await,
                Err(e) => Err(format!("could not make a store: {e}")),
            };
            match outcome {
                Ok(()) => report.passed += 1,
                Err(why) => report.failures.push((stringify!($check), why)),
            }
        )+};
    }
    run!(
        scans_are_stored_once_across_resends,
        duplicates_within_a_batch_count_once,
        the_dedupe_key_is_truncated_to_the_second,
        a_rejected_batch_stores_nothing_and_keeps_the_cursor,
        scans_of_a_user_come_in_time_order_from_every_machine,
        employees_round_trip_and_clash_typed,
        machines_round_trip_and_clash_typed,
        daily_records_upsert_filter_sort_and_page,
        settings_default_then_round_trip,
    );
    report
}

fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 2, 0, 0)
        .single()
        .unwrap_or_default()
        + TimeDelta::minutes(minutes)
}

fn id<T, E: fmt::Debug>(value: Result<T, E>) -> Result<T, String> {
    value.map_err(|e| format!("test data did not validate: {e:?}"))
}

fn scan(machine: &str, user: &str, minutes: i64) -> Result<ScanData, String> {
    Ok(ScanData {
        machine_id: id(MachineId::parse(machine))?,
        device_user_id: id(DeviceUserId::parse(user))?,
        timestamp: at(minutes),
        punch_state: PunchState::CheckIn,
        verify_mode: VerifyMode::Fingerprint,
        raw: Some(format!("{user}\t{minutes}")),
    })
}

fn batch(machine: &str, scans: Vec<ScanData>, cursor: Option<&str>) -> Result<ScanBatch, String> {
    Ok(ScanBatch {
        machine_id: id(MachineId::parse(machine))?,
        scans,
        cursor: cursor.map(|c| MachineCursor(c.to_owned())),
    })
}

fn employee(code: &str, department: &str) -> Result<Employee, String> {
    id(Employee::parse(&NewEmployee {
        employee_id: code.into(),
        employee_name: format!("Name of {code}"),
        department: department.into(),
        designation: "Operator".into(),
        level_of_work: "Worker".into(),
        ..NewEmployee::default()
    }))
}

async fn scans_are_stored_once_across_resends<S: Store + ?Sized>(store: &S) -> CheckResult {
    let scans = vec![
        scan("M1", "1", 0)?,
        scan("M1", "2", 1)?,
        scan("M1", "1", 600)?,
    ];
    let first = store
        .record_scans(batch("M1", scans.clone(), Some("3"))?)
        .await
        .map_err(fail)?;
    ensure!(
        first.inserted == scans && first.duplicates == 0,
        "first send: {first:?}"
    );
    // The same batch again, as after a crash before the device was told: nothing new.
    let again = store
        .record_scans(batch("M1", scans.clone(), Some("3"))?)
        .await
        .map_err(fail)?;
    ensure!(
        again.inserted.is_empty() && again.duplicates == 3,
        "resend: {again:?}"
    );
    // An overlapping batch stores only the new scan and moves the cursor.
    let more = vec![scans[2].clone(), scan("M1", "2", 700)?];
    let third = store
        .record_scans(batch("M1", more, Some("4"))?)
        .await
        .map_err(fail)?;
    ensure!(
        third.inserted.len() == 1 && third.duplicates == 1,
        "overlap: {third:?}"
    );
    let count = store.count_scans().await.map_err(fail)?;
    ensure!(count == 4, "{count} scans stored, want 4");
    let cursor = store
        .machine_cursor(&id(MachineId::parse("M1"))?)
        .await
        .map_err(fail)?;
    ensure!(
        cursor == Some(MachineCursor("4".into())),
        "cursor {cursor:?}, want 4"
    );
    let other = store
        .machine_cursor(&id(MachineId::parse("M2"))?)
        .await
        .map_err(fail)?;
    ensure!(other.is_none(), "a machine never read has cursor {other:?}");
    Ok(())
}

async fn duplicates_within_a_batch_count_once<S: Store + ?Sized>(store: &S) -> CheckResult {
    let s = scan("M1", "7", 5)?;
    let outcome = store
        .record_scans(batch("M1", vec![s.clone(), s], None)?)
        .await
        .map_err(fail)?;
    ensure!(
        outcome.inserted.len() == 1 && outcome.duplicates == 1,
        "{outcome:?}"
    );
    Ok(())
}

async fn the_dedupe_key_is_truncated_to_the_second<S: Store + ?Sized>(store: &S) -> CheckResult {
    let whole = scan("M1", "7", 5)?;
    let mut later = whole.clone();
    later.timestamp += TimeDelta::milliseconds(400);
    later.punch_state = PunchState::CheckOut;
    let mut other_machine = scan("M2", "7", 5)?;
    other_machine.timestamp = whole.timestamp;
    store
        .record_scans(batch("M1", vec![whole], None)?)
        .await
        .map_err(fail)?;
    let outcome = store
        .record_scans(batch("M1", vec![later], None)?)
        .await
        .map_err(fail)?;
    ensure!(
        outcome.duplicates == 1,
        "same second, same machine and user must be one scan: {outcome:?}"
    );
    let outcome = store
        .record_scans(batch("M2", vec![other_machine], None)?)
        .await
        .map_err(fail)?;
    ensure!(
        outcome.inserted.len() == 1,
        "another machine is another scan: {outcome:?}"
    );
    Ok(())
}

async fn a_rejected_batch_stores_nothing_and_keeps_the_cursor<S: Store + ?Sized>(
    store: &S,
) -> CheckResult {
    store
        .record_scans(batch("M1", vec![scan("M1", "1", 0)?], Some("1"))?)
        .await
        .map_err(fail)?;
    let mixed = vec![scan("M1", "1", 10)?, scan("M2", "1", 11)?];
    match store.record_scans(batch("M1", mixed, Some("9"))?).await {
        Err(StoreError::Invalid(_)) => {}
        other => {
            return Err(format!(
                "a scan of another machine must be Invalid, got {other:?}"
            ));
        }
    }
    let count = store.count_scans().await.map_err(fail)?;
    ensure!(
        count == 1,
        "the rejected batch left {} scans behind",
        count - 1
    );
    let cursor = store
        .machine_cursor(&id(MachineId::parse("M1"))?)
        .await
        .map_err(fail)?;
    ensure!(
        cursor == Some(MachineCursor("1".into())),
        "cursor moved to {cursor:?}"
    );
    Ok(())
}

async fn scans_of_a_user_come_in_time_order_from_every_machine<S: Store + ?Sized>(
    store: &S,
) -> CheckResult {
    store
        .record_scans(batch(
            "M1",
            vec![
                scan("M1", "1", 30)?,
                scan("M1", "2", 10)?,
                scan("M1", "1", 0)?,
            ],
            None,
        )?)
        .await
        .map_err(fail)?;
    store
        .record_scans(batch(
            "M2",
            vec![scan("M2", "1", 20)?, scan("M2", "1", 90)?],
            None,
        )?)
        .await
        .map_err(fail)?;
    let user = id(DeviceUserId::parse("1"))?;
    let got = store
        .scans_of_user(&user, at(0), at(90))
        .await
        .map_err(fail)?;
    let minutes: Vec<i64> = got
        .iter()
        .map(|s| (s.timestamp - at(0)).num_minutes())
        .collect();
    ensure!(
        minutes == [0, 20, 30],
        "want [0, 20, 30] ([from, to) in time order), got {minutes:?}"
    );
    ensure!(got[1].machine_id.as_str() == "M2", "scans of every machine");
    ensure!(
        got[0].raw.as_deref() == Some("1\t0"),
        "raw payload kept: {:?}",
        got[0].raw
    );
    Ok(())
}

async fn employees_round_trip_and_clash_typed<S: Store + ?Sized>(store: &S) -> CheckResult {
    let a = employee("EMP001", "Sewing")?;
    let b = employee("EMP002", "Cutting")?;
    store.create_employee(&a).await.map_err(fail)?;
    store.create_employee(&b).await.map_err(fail)?;
    ensure!(
        matches!(
            store.create_employee(&a).await,
            Err(StoreError::Conflict(_))
        ),
        "a second EMP001 must be a Conflict"
    );
    let mut same_pin = employee("EMP003", "Sewing")?;
    same_pin.device_user_id = a.device_user_id.clone();
    ensure!(
        matches!(
            store.create_employee(&same_pin).await,
            Err(StoreError::Conflict(_))
        ),
        "a taken device user id must be a Conflict"
    );
    ensure!(
        store.employee(&a.employee_id).await.map_err(fail)? == a,
        "read back differs"
    );
    let mut moved = a.clone();
    moved.department = id(Department::parse("Finishing"))?;
    moved.shift = Some(id(ShiftId::parse("NIGHT"))?);
    store.update_employee(&moved).await.map_err(fail)?;
    ensure!(
        store.employee(&a.employee_id).await.map_err(fail)? == moved,
        "update not read back"
    );
    let sewing = store
        .list_employees(Some(&id(Department::parse("Finishing"))?))
        .await
        .map_err(fail)?;
    ensure!(sewing == [moved.clone()], "department filter: {sewing:?}");
    let all = store.list_employees(None).await.map_err(fail)?;
    ensure!(
        all.len() == 2 && all[0].employee_id < all[1].employee_id,
        "all, by code: {all:?}"
    );
    let by_pin = store
        .employee_by_device_user(&b.device_user_id)
        .await
        .map_err(fail)?;
    ensure!(by_pin.as_ref() == Some(&b), "by device user: {by_pin:?}");
    store.delete_employee(&b.employee_id).await.map_err(fail)?;
    let missing = id(EmployeeCode::parse("EMP999"))?;
    ensure!(
        matches!(
            store.employee(&b.employee_id).await,
            Err(StoreError::NotFound { .. })
        ),
        "deleted employee must be NotFound"
    );
    ensure!(
        matches!(
            store.delete_employee(&missing).await,
            Err(StoreError::NotFound { .. })
        ),
        "deleting a missing employee must be NotFound"
    );
    ensure!(
        matches!(
            store.update_employee(&employee("EMP999", "X")?).await,
            Err(StoreError::NotFound { .. })
        ),
        "updating a missing employee must be NotFound"
    );
    Ok(())
}

async fn machines_round_trip_and_clash_typed<S: Store + ?Sized>(store: &S) -> CheckResult {
    let machine = id(Machine::parse(
        &NewMachine {
            machine_id: "BOCK200961014".into(),
            name: "Gate 1".into(),
            machine_type: "zkteco".into(),
            ip_address: "192.0.2.10".into(),
            config: Some(serde_json::json!({"comm_key": 1234})),
            ..NewMachine::default()
        },
        chrono_tz::Asia::Dhaka,
    ))?;
    store.create_machine(&machine).await.map_err(fail)?;
    ensure!(
        matches!(
            store.create_machine(&machine).await,
            Err(StoreError::Conflict(_))
        ),
        "a second machine with one id must be a Conflict"
    );
    ensure!(
        store.machine(&machine.machine_id).await.map_err(fail)? == machine,
        "read back differs"
    );
    let mut synced = machine.clone();
    synced.last_sync = Some(at(5));
    synced.enabled = false;
    store.update_machine(&synced).await.map_err(fail)?;
    ensure!(
        store.list_machines().await.map_err(fail)? == [synced.clone()],
        "update not listed"
    );
    store
        .delete_machine(&machine.machine_id)
        .await
        .map_err(fail)?;
    ensure!(
        matches!(
            store.machine(&machine.machine_id).await,
            Err(StoreError::NotFound { .. })
        ),
        "deleted machine must be NotFound"
    );
    Ok(())
}

fn record(
    code: &str,
    date: NaiveDate,
    status: AttendanceStatus,
    working: i64,
) -> Result<DailyRecord, String> {
    Ok(DailyRecord {
        employee_id: id(EmployeeCode::parse(code))?,
        date,
        shift: id(ShiftId::parse("DAY"))?,
        status,
        check_in: Some(at(0)),
        check_out: Some(at(540)),
        working_seconds: working,
        overtime_seconds: 1800,
        extra_overtime_seconds: 0,
        late_minutes: 0,
        scans: Vec::new(),
        missing_checkout: false,
        worked_on_holiday: false,
        worked_on_weekend: false,
        snacks_eligible: false,
        night_bill_eligible: false,
        holiday_name: None,
        half_day_leave: false,
        window_closed: true,
    })
}

async fn daily_records_upsert_filter_sort_and_page<S: Store + ?Sized>(store: &S) -> CheckResult {
    store
        .create_employee(&employee("EMP001", "Sewing")?)
        .await
        .map_err(fail)?;
    store
        .create_employee(&employee("EMP002", "Cutting")?)
        .await
        .map_err(fail)?;
    let day = |d: u32| NaiveDate::from_ymd_opt(2026, 11, d).unwrap_or_default();
    let mut records = Vec::new();
    for d in 1..=5 {
        records.push(record(
            "EMP001",
            day(d),
            AttendanceStatus::PresentOnTime,
            29_700,
        )?);
        records.push(record("EMP002", day(d), AttendanceStatus::Absent, 0)?);
    }
    store.upsert_records(&records).await.map_err(fail)?;
    // Replacing a record by (employee, date).
    let late = record("EMP001", day(3), AttendanceStatus::PresentLate, 27_000)?;
    store
        .upsert_records(std::slice::from_ref(&late))
        .await
        .map_err(fail)?;
    let got = store
        .record(&late.employee_id, day(3))
        .await
        .map_err(fail)?;
    ensure!(
        got.as_ref() == Some(&late),
        "upsert did not replace: {got:?}"
    );

    let query = |f: fn(&mut RecordQuery)| {
        let mut q = RecordQuery {
            limit: 100,
            ..RecordQuery::default()
        };
        f(&mut q);
        q
    };
    let page = store
        .query_records(&query(|q| q.from = NaiveDate::from_ymd_opt(2026, 11, 2)))
        .await
        .map_err(fail)?;
    ensure!(
        page.count == 8,
        "from the 2nd: {} records, want 8",
        page.count
    );
    let page = store
        .query_records(&query(|q| {
            q.department = Department::parse("Cutting").ok();
            q.to = NaiveDate::from_ymd_opt(2026, 11, 2);
        }))
        .await
        .map_err(fail)?;
    ensure!(
        page.count == 2
            && page
                .results
                .iter()
                .all(|r| r.employee_id.as_str() == "EMP002"),
        "department: {page:?}"
    );
    let page = store
        .query_records(&query(|q| q.status = Some(AttendanceStatus::PresentLate)))
        .await
        .map_err(fail)?;
    ensure!(page.results == [late.clone()], "status filter: {page:?}");
    let page = store
        .query_records(&query(|q| {
            q.order = RecordOrder::DateDescThenEmployee;
            q.offset = 1;
            q.limit = 3;
        }))
        .await
        .map_err(fail)?;
    let keys: Vec<(u32, &str)> = page
        .results
        .iter()
        .map(|r| (chrono::Datelike::day(&r.date), r.employee_id.as_str()))
        .collect();
    ensure!(
        page.count == 10 && keys == [(5, "EMP002"), (4, "EMP001"), (4, "EMP002")],
        "page: {keys:?}"
    );
    let page = store
        .query_records(&query(|q| {
            q.order = RecordOrder::EmployeeThenDate;
            q.employee = EmployeeCode::parse("EMP001").ok();
        }))
        .await
        .map_err(fail)?;
    ensure!(
        page.count == 5 && page.results.windows(2).all(|w| w[0].date < w[1].date),
        "employee order"
    );
    store
        .delete_record(&late.employee_id, day(3))
        .await
        .map_err(fail)?;
    ensure!(
        matches!(
            store.delete_record(&late.employee_id, day(3)).await,
            Err(StoreError::NotFound { .. })
        ),
        "deleting twice must be NotFound"
    );
    Ok(())
}

async fn settings_default_then_round_trip<S: Store + ?Sized>(store: &S) -> CheckResult {
    ensure!(
        store.settings().await.map_err(fail)? == AttendanceSettings::default(),
        "defaults first"
    );
    let changed = AttendanceSettings {
        considered_minutes: 20,
        time_zone: chrono_tz::Europe::London,
        ..AttendanceSettings::default()
    };
    store.put_settings(&changed).await.map_err(fail)?;
    ensure!(
        store.settings().await.map_err(fail)? == changed,
        "settings not read back"
    );
    Ok(())
}

/// Runs a future to completion on the current thread, for tests and examples that have no async
/// runtime (the in-memory store never waits on IO, so this is all it needs).
pub fn block_on<F: Future>(future: F) -> F::Output {
    struct ThreadWaker(Thread);
    impl Wake for ThreadWaker {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(ThreadWaker(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = Box::pin(future);
    loop {
        match Pin::as_mut(&mut future).poll(&mut cx) {
            Poll::Ready(output) => return output,
            Poll::Pending => thread::park(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;

    #[test]
    fn the_memory_store_conforms() {
        let report = block_on(run_store_conformance(|| async {
            Ok(Arc::new(MemoryStore::new()))
        }));
        assert!(report.failures.is_empty(), "{report}");
        assert_eq!(report.passed, 9);
    }

    #[test]
    fn a_broken_store_is_reported_not_panicked() {
        let report = block_on(run_store_conformance::<MemoryStore, _, _>(|| async {
            Err(StoreError::Backend {
                message: "no database".into(),
                source: None,
            })
        }));
        assert_eq!(report.passed, 0);
        assert_eq!(report.failures.len(), 9);
        assert!(
            report
                .to_string()
                .contains("could not make a store: storage backend failed: no database")
        );
    }
}
