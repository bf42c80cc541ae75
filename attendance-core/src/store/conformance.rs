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
use std::task::Poll;

use chrono::{DateTime, Days, NaiveDate, TimeDelta, TimeZone, Utc};

pub use super::block_on;
use super::{
    LeaveChange, LeaveRequestQuery, MachineCursor, MachineStatus, RecordOrder, RecordQuery,
    ScanBatch, Store, StoreError, StoreResult, UserAccount,
};
use crate::access::Role;
use crate::calendar::LeaveType;
use crate::daily::DailyRecord;
use crate::employee::{Department, DeviceUserId, Employee, EmployeeCode, NewEmployee};
use crate::holiday::{Holiday, NewHoliday};
use crate::leave::{
    ApprovalChain, HalfDays, LeaveApplication, LeaveDocument, LeaveDocumentFile, LeaveDocumentId,
    LeaveLedger, LeavePolicy, LeaveRequest, LeaveRequestId, LedgerEntry, LedgerEntryKind,
    RequestContext, RequestStatus, submit,
};
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
        machine_statuses_round_trip,
        record_counts_by_status_and_unknown_employees,
        holidays_round_trip_with_ids,
        leave_policies_round_trip,
        leave_changes_commit_whole_or_not_at_all,
        racing_leave_changes_exactly_one_wins,
        leave_requests_filter_and_page,
        accounts_round_trip_and_clash_typed,
        employees_in_use_cannot_be_deleted,
        a_group_of_batches_is_stored_batch_by_batch,
        leave_documents_keep_their_bytes_order_and_limit,
        bulk_reads_return_exactly_the_keys_asked_in_order,
        a_large_upsert_replaces_by_key_whole_or_not_at_all,
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
        .list_employees(Some(id(Department::parse("Finishing"))?))
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

async fn machine_statuses_round_trip<S: Store + ?Sized>(store: &S) -> CheckResult {
    let machine = id(Machine::parse(
        &NewMachine {
            machine_id: "GATE-2".into(),
            name: "Gate 2".into(),
            machine_type: "simulated".into(),
            ..NewMachine::default()
        },
        chrono_tz::Asia::Dhaka,
    ))?;
    let mut status = MachineStatus {
        machine_id: machine.machine_id.clone(),
        connected: true,
        last_seen: Some(at(3)),
        last_error: None,
        clock_drift_seconds: Some(-4),
        updated_at: at(3),
    };
    ensure!(
        matches!(
            store.put_machine_status(&status).await,
            Err(StoreError::NotFound { .. })
        ),
        "the status of an unregistered machine must be NotFound"
    );
    store.create_machine(&machine).await.map_err(fail)?;
    ensure!(
        store.machine_statuses().await.map_err(fail)?.is_empty(),
        "no status before the first"
    );
    store.put_machine_status(&status).await.map_err(fail)?;
    status.connected = false;
    status.last_error = Some("connection refused: 192.0.2.1:4370".into());
    status.updated_at = at(4);
    store.put_machine_status(&status).await.map_err(fail)?;
    let got = store.machine_statuses().await.map_err(fail)?;
    ensure!(got == [status.clone()], "status read back: {got:?}");
    Ok(())
}

async fn record_counts_by_status_and_unknown_employees<S: Store + ?Sized>(
    store: &S,
) -> CheckResult {
    store
        .create_employee(&employee("EMP001", "Sewing")?)
        .await
        .map_err(fail)?;
    store
        .create_employee(&employee("EMP002", "Cutting")?)
        .await
        .map_err(fail)?;
    let day = |d: u32| NaiveDate::from_ymd_opt(2026, 11, d).unwrap_or_default();
    let stray = record("EMP404", day(1), AttendanceStatus::Absent, 0)?;
    let good = record("EMP001", day(1), AttendanceStatus::Absent, 0)?;
    ensure!(
        matches!(
            store.upsert_records(&[good, stray]).await,
            Err(StoreError::Invalid(_))
        ),
        "a record of an unknown employee must be Invalid"
    );
    ensure!(
        store
            .record(&id(EmployeeCode::parse("EMP001"))?, day(1))
            .await
            .map_err(fail)?
            .is_none(),
        "a refused upsert must store none of its records"
    );
    let mut records = Vec::new();
    for d in 1..=4 {
        let status = if d == 2 {
            AttendanceStatus::PresentLate
        } else {
            AttendanceStatus::PresentOnTime
        };
        records.push(record("EMP001", day(d), status, 28_000)?);
        records.push(record("EMP002", day(d), AttendanceStatus::Absent, 0)?);
    }
    store.upsert_records(&records).await.map_err(fail)?;
    let mut counts = store
        .count_records_by_status(&RecordQuery {
            from: Some(day(2)),
            ..RecordQuery::default()
        })
        .await
        .map_err(fail)?;
    counts.sort_by_key(|(s, _)| s.to_string());
    let mut want_sorted = vec![
        (AttendanceStatus::Absent, 3),
        (AttendanceStatus::PresentLate, 1),
        (AttendanceStatus::PresentOnTime, 2),
    ];
    want_sorted.sort_by_key(|(s, _)| s.to_string());
    ensure!(counts == want_sorted, "counts from the 2nd: {counts:?}");
    let counts = store
        .count_records_by_status(&RecordQuery {
            department: Department::parse("Sewing").ok(),
            status: Some(AttendanceStatus::PresentLate),
            offset: 5,
            limit: 1,
            ..RecordQuery::default()
        })
        .await
        .map_err(fail)?;
    ensure!(
        counts == [(AttendanceStatus::PresentLate, 1)],
        "counts ignore the page and honour the filters: {counts:?}"
    );
    Ok(())
}

fn holiday(name: &str, start: (u32, u32), days: u64, recurring: bool) -> Result<Holiday, String> {
    let first = NaiveDate::from_ymd_opt(2026, start.0, start.1).unwrap_or_default();
    id(Holiday::parse(&NewHoliday {
        name: name.into(),
        start: first,
        end: first.checked_add_days(chrono::Days::new(days - 1)),
        recurring_yearly: recurring,
        observed: true,
    }))
}

async fn holidays_round_trip_with_ids<S: Store + ?Sized>(store: &S) -> CheckResult {
    let victory = holiday("Victory Day", (12, 16), 1, true)?;
    let eid = holiday("Eid ul-Fitr", (3, 19), 3, false)?;
    let a = store.create_holiday(&victory).await.map_err(fail)?;
    let b = store.create_holiday(&eid).await.map_err(fail)?;
    ensure!(
        a.id != b.id && a.holiday == victory && b.holiday == eid,
        "ids must differ and holidays come back: {a:?} {b:?}"
    );
    let listed = store.list_holidays().await.map_err(fail)?;
    ensure!(
        listed == [b.clone(), a.clone()],
        "listed by start date: {listed:?}"
    );
    let moved = holiday("Eid ul-Fitr", (3, 20), 3, false)?;
    let old = store.update_holiday(b.id, &moved).await.map_err(fail)?;
    ensure!(old == eid, "update must return the old holiday");
    ensure!(
        store.holiday(b.id).await.map_err(fail)?.holiday == moved,
        "update not read back"
    );
    let gone = store.delete_holiday(a.id).await.map_err(fail)?;
    ensure!(gone == victory, "delete must return the holiday");
    for result in [
        store.holiday(a.id).await.map(|_| ()),
        store.delete_holiday(a.id).await.map(|_| ()),
        store.update_holiday(a.id, &victory).await.map(|_| ()),
    ] {
        ensure!(
            matches!(result, Err(StoreError::NotFound { .. })),
            "a deleted holiday must be NotFound: {result:?}"
        );
    }
    Ok(())
}

async fn leave_policies_round_trip<S: Store + ?Sized>(store: &S) -> CheckResult {
    ensure!(
        matches!(
            store.leave_policy(&LeaveType::Sick).await,
            Err(StoreError::NotFound { .. })
        ),
        "no policy before one is stored"
    );
    let mut sick = LeavePolicy::default_for(LeaveType::Sick);
    store.put_leave_policy(&sick).await.map_err(fail)?;
    let casual = LeavePolicy::default_for(LeaveType::Casual);
    store.put_leave_policy(&casual).await.map_err(fail)?;
    sick.half_days_allowed = !sick.half_days_allowed;
    store.put_leave_policy(&sick).await.map_err(fail)?;
    ensure!(
        store.leave_policy(&LeaveType::Sick).await.map_err(fail)? == sick,
        "replaced policy not read back"
    );
    let all = store.leave_policies().await.map_err(fail)?;
    ensure!(
        all.len() == 2 && all.contains(&sick) && all.contains(&casual),
        "policies: {all:?}"
    );
    Ok(())
}

fn date(month: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, month, day).unwrap_or_default()
}

fn allocation(days: i64, reference: &str) -> Result<(LeaveType, LedgerEntry), String> {
    Ok((
        LeaveType::Casual,
        id(LedgerEntry::new(
            LedgerEntryKind::Allocation,
            2026,
            date(1, 1),
            HalfDays::from_days(days),
            reference,
        ))?,
    ))
}

/// A pending casual request of `code` for `start..=end` (no approval levels: it is approved at
/// once when `approve` is set).
fn leave_request(
    request_id: &str,
    code: &str,
    department: &str,
    start: NaiveDate,
    end: NaiveDate,
    approve: bool,
) -> Result<LeaveRequest, String> {
    let employee = id(EmployeeCode::parse(code))?;
    let policy = LeavePolicy {
        requires_approval: !approve,
        ..LeavePolicy::default_for(LeaveType::Casual)
    };
    let mut ledger = LeaveLedger::new(employee.clone(), LeaveType::Casual);
    let (_, grant) = allocation(30, "grant")?;
    id(ledger.append([grant]))?;
    let holidays = Default::default();
    let ctx = RequestContext {
        policy: &policy,
        weekly_off_days: &[],
        holidays: &holidays,
        ledger: &ledger,
        requests: &[],
    };
    let application = LeaveApplication {
        employee,
        department: id(Department::parse(department))?,
        leave_type: LeaveType::Casual,
        start,
        end,
        start_half: false,
        end_half: false,
        reason: "family".into(),
        medical_certificate: false,
    };
    let chain = ApprovalChain::hr_only();
    let (request, _) = id(submit(
        id(LeaveRequestId::parse(request_id))?,
        &application,
        &ctx,
        &chain,
        date(1, 5),
    ))?;
    Ok(request)
}

async fn leave_changes_commit_whole_or_not_at_all<S: Store + ?Sized>(store: &S) -> CheckResult {
    let code = id(EmployeeCode::parse("EMP001"))?;
    let fresh = store.leave_account(&code).await.map_err(fail)?;
    ensure!(
        fresh.version == 0 && fresh.requests.is_empty() && fresh.ledgers.is_empty(),
        "an account never written is empty at version 0: {fresh:?}"
    );
    let first = LeaveChange {
        employee: code.clone(),
        expected_version: 0,
        requests: Vec::new(),
        entries: vec![allocation(10, "2026 grant")?],
    };
    ensure!(
        matches!(
            store.commit_leave(first.clone()).await,
            Err(StoreError::Invalid(_))
        ),
        "leave of an unknown employee must be Invalid"
    );
    store
        .create_employee(&employee("EMP001", "Sewing")?)
        .await
        .map_err(fail)?;
    store
        .create_employee(&employee("EMP002", "Sewing")?)
        .await
        .map_err(fail)?;
    ensure!(
        store.commit_leave(first).await.map_err(fail)? == 1,
        "the first change makes version 1"
    );
    let pending = leave_request("L-1", "EMP001", "Sewing", date(3, 2), date(3, 3), false)?;
    let submitted = LeaveChange {
        employee: code.clone(),
        expected_version: 1,
        requests: vec![pending.clone()],
        entries: Vec::new(),
    };
    ensure!(
        store.commit_leave(submitted.clone()).await.map_err(fail)? == 2,
        "second change makes version 2"
    );
    // A stale change (computed from version 1) writes nothing.
    let mut approved = pending.clone();
    approved.status = RequestStatus::Approved;
    let stale = LeaveChange {
        employee: code.clone(),
        expected_version: 1,
        requests: vec![approved.clone()],
        entries: vec![(
            LeaveType::Casual,
            id(LedgerEntry::new(
                LedgerEntryKind::Taken,
                2026,
                date(2, 1),
                HalfDays::from_days(2),
                "L-1",
            ))?,
        )],
    };
    ensure!(
        matches!(
            store.commit_leave(stale.clone()).await,
            Err(StoreError::Conflict(_))
        ),
        "a change from a stale version must be a Conflict"
    );
    let account = store.leave_account(&code).await.map_err(fail)?;
    ensure!(
        account.version == 2
            && account.requests == [pending.clone()]
            && account.ledger(&LeaveType::Casual).entries().len() == 1,
        "a conflicting change must write nothing: {account:?}"
    );
    // Another employee's request in the change is refused whole.
    let foreign = leave_request("L-9", "EMP002", "Sewing", date(4, 1), date(4, 1), false)?;
    let mixed = LeaveChange {
        expected_version: 2,
        requests: vec![approved.clone(), foreign],
        ..stale.clone()
    };
    ensure!(
        matches!(store.commit_leave(mixed).await, Err(StoreError::Invalid(_))),
        "a request of another employee must be Invalid"
    );
    let fresh_again = LeaveChange {
        expected_version: 2,
        ..stale
    };
    ensure!(
        store.commit_leave(fresh_again).await.map_err(fail)? == 3,
        "the decision at the current version commits"
    );
    let account = store.leave_account(&code).await.map_err(fail)?;
    let ledger = account.ledger(&LeaveType::Casual);
    ensure!(
        account.version == 3
            && account.requests == [approved.clone()]
            && ledger.entries().len() == 2
            && ledger.available(2026) == HalfDays::from_days(8),
        "the decision and its debit must both be stored: {account:?}"
    );
    ensure!(
        store.leave_request(&approved.id).await.map_err(fail)? == approved,
        "request read back"
    );
    ensure!(
        matches!(
            store
                .leave_request(&id(LeaveRequestId::parse("L-404"))?)
                .await,
            Err(StoreError::NotFound { .. })
        ),
        "a missing request must be NotFound"
    );
    Ok(())
}

async fn racing_leave_changes_exactly_one_wins<S: Store + ?Sized>(store: &S) -> CheckResult {
    let code = id(EmployeeCode::parse("EMP001"))?;
    store
        .create_employee(&employee("EMP001", "Sewing")?)
        .await
        .map_err(fail)?;
    for round in 0..5u64 {
        let changes: Vec<LeaveChange> = (0..6)
            .map(|i| {
                Ok(LeaveChange {
                    employee: code.clone(),
                    expected_version: round,
                    requests: vec![leave_request(
                        &format!("R{round}-{i}"),
                        "EMP001",
                        "Sewing",
                        date(5, 1 + i),
                        date(5, 1 + i),
                        true,
                    )?],
                    entries: vec![allocation(1, &format!("round {round} writer {i}"))?],
                })
            })
            .collect::<Result<_, String>>()?;
        let results = join_all(changes.into_iter().map(|c| store.commit_leave(c))).await;
        let wins = results.iter().filter(|r| r.is_ok()).count();
        let conflicts = results
            .iter()
            .filter(|r| matches!(r, Err(StoreError::Conflict(_))))
            .count();
        ensure!(
            wins == 1 && conflicts == results.len() - 1,
            "round {round}: {wins} won and {conflicts} conflicted of {}: {results:?}",
            results.len()
        );
        let account = store.leave_account(&code).await.map_err(fail)?;
        ensure!(
            account.version == round + 1
                && account.requests.len() as u64 == round + 1
                && account.ledger(&LeaveType::Casual).entries().len() as u64 == round + 1,
            "round {round}: exactly the winner's request and entry are stored: {account:?}"
        );
    }
    Ok(())
}

async fn leave_requests_filter_and_page<S: Store + ?Sized>(store: &S) -> CheckResult {
    for (code, dept) in [("EMP001", "Sewing"), ("EMP002", "Cutting")] {
        store
            .create_employee(&employee(code, dept)?)
            .await
            .map_err(fail)?;
    }
    let requests = [
        leave_request("A", "EMP001", "Sewing", date(3, 2), date(3, 3), false)?,
        leave_request("B", "EMP001", "Sewing", date(6, 1), date(6, 1), true)?,
        leave_request("C", "EMP002", "Cutting", date(3, 2), date(3, 4), false)?,
        leave_request("D", "EMP002", "Cutting", date(8, 10), date(8, 12), true)?,
    ];
    for code in ["EMP001", "EMP002"] {
        let code = id(EmployeeCode::parse(code))?;
        store
            .commit_leave(LeaveChange {
                employee: code.clone(),
                expected_version: 0,
                requests: requests
                    .iter()
                    .filter(|r| r.employee == code)
                    .cloned()
                    .collect(),
                entries: Vec::new(),
            })
            .await
            .map_err(fail)?;
    }
    let ids = |page: &super::Page<LeaveRequest>| {
        page.results
            .iter()
            .map(|r| r.id.as_str().to_owned())
            .collect::<Vec<_>>()
    };
    let all = store
        .query_leave_requests(&LeaveRequestQuery {
            limit: 10,
            ..LeaveRequestQuery::default()
        })
        .await
        .map_err(fail)?;
    ensure!(
        all.count == 4 && ids(&all) == ["D", "B", "A", "C"],
        "newest start first, then id: {:?}",
        ids(&all)
    );
    let page = store
        .query_leave_requests(&LeaveRequestQuery {
            status: Some(RequestStatus::Pending),
            offset: 1,
            limit: 5,
            ..LeaveRequestQuery::default()
        })
        .await
        .map_err(fail)?;
    ensure!(
        page.count == 2 && ids(&page) == ["C"],
        "pending, second page: {:?}",
        ids(&page)
    );
    let page = store
        .query_leave_requests(&LeaveRequestQuery {
            department: Department::parse("Cutting").ok(),
            from: Some(date(3, 4)),
            to: Some(date(8, 10)),
            limit: 5,
            ..LeaveRequestQuery::default()
        })
        .await
        .map_err(fail)?;
    ensure!(
        ids(&page) == ["D", "C"],
        "department and overlapping dates: {:?}",
        ids(&page)
    );
    let page = store
        .query_leave_requests(&LeaveRequestQuery {
            employee: EmployeeCode::parse("EMP001").ok(),
            to: Some(date(3, 1)),
            limit: 5,
            ..LeaveRequestQuery::default()
        })
        .await
        .map_err(fail)?;
    ensure!(page.count == 0, "nothing starts by 1 March: {page:?}");
    Ok(())
}

async fn accounts_round_trip_and_clash_typed<S: Store + ?Sized>(store: &S) -> CheckResult {
    store
        .create_employee(&employee("EMP001", "Sewing")?)
        .await
        .map_err(fail)?;
    let mut account = UserAccount {
        username: "rahim".into(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo".into(),
        role: Role::Employee,
        employee: EmployeeCode::parse("EMP001").ok(),
        active: true,
        token_version: 0,
        created_at: None,
    };
    store.create_account(&account).await.map_err(fail)?;
    ensure!(
        matches!(
            store.create_account(&account).await,
            Err(StoreError::Conflict(_))
        ),
        "a taken username must be a Conflict"
    );
    let stray = UserAccount {
        username: "ghost".into(),
        employee: EmployeeCode::parse("EMP404").ok(),
        ..account.clone()
    };
    ensure!(
        matches!(
            store.create_account(&stray).await,
            Err(StoreError::Invalid(_))
        ),
        "an account of an unknown employee must be Invalid"
    );
    let admin = UserAccount {
        username: "admin".into(),
        role: Role::SuperAdmin,
        employee: None,
        ..account.clone()
    };
    store.create_account(&admin).await.map_err(fail)?;
    account.role = Role::DepartmentHead;
    account.active = false;
    store.update_account(&account).await.map_err(fail)?;
    ensure!(
        store.account("rahim").await.map_err(fail)? == account,
        "update not read back"
    );
    ensure!(
        store.list_accounts().await.map_err(fail)? == [admin.clone(), account.clone()],
        "accounts by username"
    );
    ensure!(
        matches!(
            store.update_account(&stray).await,
            Err(StoreError::Invalid(_) | StoreError::NotFound { .. })
        ),
        "updating a missing account must fail typed"
    );
    store.delete_account("admin").await.map_err(fail)?;
    ensure!(
        matches!(
            store.account("admin").await,
            Err(StoreError::NotFound { .. })
        ),
        "a deleted account must be NotFound"
    );
    Ok(())
}

async fn employees_in_use_cannot_be_deleted<S: Store + ?Sized>(store: &S) -> CheckResult {
    let code = id(EmployeeCode::parse("EMP001"))?;
    store
        .create_employee(&employee("EMP001", "Sewing")?)
        .await
        .map_err(fail)?;
    store
        .upsert_records(&[record("EMP001", date(11, 2), AttendanceStatus::Absent, 0)?])
        .await
        .map_err(fail)?;
    let account = UserAccount {
        username: "rahim".into(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo".into(),
        role: Role::Employee,
        employee: Some(code.clone()),
        active: true,
        token_version: 0,
        created_at: None,
    };
    store.create_account(&account).await.map_err(fail)?;
    ensure!(
        matches!(
            store.delete_employee(&code).await,
            Err(StoreError::Conflict(_))
        ),
        "an employee with an account must not be deleted"
    );
    store.delete_account("rahim").await.map_err(fail)?;
    store.delete_employee(&code).await.map_err(fail)?;
    ensure!(
        store
            .record(&code, date(11, 2))
            .await
            .map_err(fail)?
            .is_none(),
        "an employee's daily records go with them"
    );
    store
        .create_employee(&employee("EMP001", "Sewing")?)
        .await
        .map_err(fail)?;
    ensure!(
        store
            .record(&code, date(11, 2))
            .await
            .map_err(fail)?
            .is_none(),
        "a re-created employee starts with no records"
    );
    Ok(())
}

/// For a store's own tests: stores employee `code` (of Sewing) and their pending one-day
/// casual request `request_id`; returns the request's id. `Err` says what failed.
pub async fn seed_leave_request<S: Store + ?Sized>(
    store: &S,
    code: &str,
    request_id: &str,
) -> Result<LeaveRequestId, String> {
    store
        .create_employee(&employee(code, "Sewing")?)
        .await
        .map_err(fail)?;
    let request = leave_request(request_id, code, "Sewing", date(9, 1), date(9, 1), false)?;
    let employee = request.employee.clone();
    let account = store.leave_account(&employee).await.map_err(fail)?;
    store
        .commit_leave(LeaveChange {
            employee,
            expected_version: account.version,
            requests: vec![request.clone()],
            entries: Vec::new(),
        })
        .await
        .map_err(fail)?;
    Ok(request.id)
}

/// For a store's own tests: a PDF document `doc` of request `request` holding `bytes`. `Err`
/// names an id that does not validate.
pub fn sample_leave_document(
    request: &str,
    doc: &str,
    bytes: Vec<u8>,
) -> Result<LeaveDocumentFile, String> {
    leave_document(request, doc, bytes)
}

/// A document of `request` holding `bytes`.
fn leave_document(request: &str, doc: &str, bytes: Vec<u8>) -> Result<LeaveDocumentFile, String> {
    Ok(LeaveDocumentFile {
        document: LeaveDocument {
            id: id(LeaveDocumentId::parse(doc))?,
            request: id(LeaveRequestId::parse(request))?,
            filename: format!("certificat médical {doc}.pdf"),
            content_type: "application/pdf".into(),
            size: bytes.len() as u64,
            uploaded_by: "worker".into(),
            uploaded_at: at(7) + TimeDelta::nanoseconds(123_456_789),
        },
        bytes,
    })
}

/// `len` bytes that are not text: every value, in a sequence that does not repeat soon.
fn binary_bytes(len: usize) -> Vec<u8> {
    let mut state: u32 = 0x9E37_79B9;
    (0..len)
        .map(|_| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            state.to_be_bytes()[0]
        })
        .collect()
}

fn is_not_found<T>(result: &StoreResult<T>) -> bool {
    matches!(result, Err(StoreError::NotFound { .. }))
}

async fn leave_documents_keep_their_bytes_order_and_limit<S: Store + ?Sized>(
    store: &S,
) -> CheckResult {
    for (code, dept) in [("EMP001", "Sewing"), ("EMP002", "Cutting")] {
        store
            .create_employee(&employee(code, dept)?)
            .await
            .map_err(fail)?;
    }
    let first = leave_request("L-1", "EMP001", "Sewing", date(3, 2), date(3, 3), false)?;
    let mut requests = vec![first.clone()];
    for round in 0..3 {
        let day = date(4, 1 + round);
        let request_id = format!("R-{round}");
        requests.push(leave_request(
            &request_id,
            "EMP001",
            "Sewing",
            day,
            day,
            false,
        )?);
    }
    let commit = |code: &str, version: u64, requests: Vec<LeaveRequest>| {
        Ok::<_, String>(LeaveChange {
            employee: id(EmployeeCode::parse(code))?,
            expected_version: version,
            requests,
            entries: Vec::new(),
        })
    };
    store
        .commit_leave(commit("EMP001", 0, requests)?)
        .await
        .map_err(fail)?;
    let second = leave_request("L-2", "EMP002", "Cutting", date(3, 2), date(3, 2), false)?;
    store
        .commit_leave(commit("EMP002", 0, vec![second])?)
        .await
        .map_err(fail)?;
    let l1 = id(LeaveRequestId::parse("L-1"))?;
    let l2 = id(LeaveRequestId::parse("L-2"))?;
    let limit = 4;

    // Bytes come back exactly: an empty file, every byte value, a larger binary file.
    let files = [
        leave_document("L-1", "D-empty", Vec::new())?,
        leave_document("L-1", "D-binary", (0..=255).collect())?,
        leave_document("L-1", "D-large", binary_bytes(262_151))?,
    ];
    ensure!(
        store.leave_documents(&l1).await.map_err(fail)?.is_empty(),
        "a request starts with no documents"
    );
    for file in &files {
        store
            .add_leave_document(file.clone(), limit)
            .await
            .map_err(fail)?;
    }
    let listed = store.leave_documents(&l1).await.map_err(fail)?;
    let want: Vec<LeaveDocument> = files.iter().map(|f| f.document.clone()).collect();
    ensure!(
        listed == want,
        "documents in the order attached, metadata exact: {listed:?}"
    );
    for file in &files {
        let got = store
            .leave_document(&l1, &file.document.id)
            .await
            .map_err(fail)?;
        ensure!(
            got == *file,
            "document {} read back as {got:?}",
            file.document.id
        );
    }

    // The limit: the fourth fits, the fifth is a conflict and stores nothing.
    store
        .add_leave_document(leave_document("L-1", "D-4", b"%PDF-".to_vec())?, limit)
        .await
        .map_err(fail)?;
    let over = leave_document("L-1", "D-5", b"%PDF-".to_vec())?;
    ensure!(
        matches!(
            store.add_leave_document(over.clone(), limit).await,
            Err(StoreError::Conflict(_))
        ),
        "a document past the limit must be a Conflict"
    );
    ensure!(
        store.leave_documents(&l1).await.map_err(fail)?.len() == 4
            && is_not_found(&store.leave_document(&l1, &over.document.id).await),
        "a refused document must not be stored"
    );

    // Ids are unique across requests, and one request never shows another's document.
    ensure!(
        matches!(
            store
                .add_leave_document(leave_document("L-2", "D-binary", vec![1])?, limit)
                .await,
            Err(StoreError::Conflict(_))
        ),
        "a document id taken by another request must be a Conflict"
    );
    let foreign = leave_document("L-2", "D-other", vec![0, 0xFF, 0])?;
    store
        .add_leave_document(foreign.clone(), limit)
        .await
        .map_err(fail)?;
    ensure!(
        is_not_found(&store.leave_document(&l1, &foreign.document.id).await)
            && is_not_found(&store.leave_document(&l2, &files[1].document.id).await),
        "a document asked for under another request must be NotFound"
    );
    ensure!(
        store.leave_documents(&l2).await.map_err(fail)? == [foreign.document.clone()],
        "each request lists only its own documents"
    );

    // Unknown requests and a size that is not the bytes'.
    let missing = id(LeaveRequestId::parse("L-404"))?;
    ensure!(
        is_not_found(
            &store
                .add_leave_document(leave_document("L-404", "D-x", vec![1])?, limit)
                .await
        ) && is_not_found(&store.leave_documents(&missing).await)
            && is_not_found(
                &store
                    .leave_document(&missing, &id(LeaveDocumentId::parse("D-x"))?)
                    .await
            ),
        "documents of an unknown request must be NotFound"
    );
    let mut lying = leave_document("L-2", "D-lying", vec![1, 2, 3])?;
    lying.document.size = 4;
    ensure!(
        matches!(
            store.add_leave_document(lying, limit).await,
            Err(StoreError::Invalid(_))
        ),
        "a size that is not the bytes' must be Invalid"
    );

    // A decision on the request replaces it and keeps its documents.
    let mut approved = first;
    approved.status = RequestStatus::Approved;
    store
        .commit_leave(commit("EMP001", 1, vec![approved])?)
        .await
        .map_err(fail)?;
    ensure!(
        store.leave_documents(&l1).await.map_err(fail)?.len() == 4,
        "a decision on the request must keep its documents"
    );

    // Eight uploads race for the places left: exactly that many are stored.
    let race_limit = 3;
    for held in 0..3u32 {
        let request = format!("R-{held}");
        for n in 0..held {
            store
                .add_leave_document(
                    leave_document(&request, &format!("{request}-held-{n}"), vec![n as u8])?,
                    race_limit,
                )
                .await
                .map_err(fail)?;
        }
        let racers: Vec<LeaveDocumentFile> = (0..8u8)
            .map(|n| leave_document(&request, &format!("{request}-race-{n}"), vec![n; 64]))
            .collect::<Result<_, String>>()?;
        let results = join_all(
            racers
                .into_iter()
                .map(|file| store.add_leave_document(file, race_limit)),
        )
        .await;
        let wins = results.iter().filter(|r| r.is_ok()).count();
        let conflicts = results
            .iter()
            .filter(|r| matches!(r, Err(StoreError::Conflict(_))))
            .count();
        let places = (race_limit - held) as usize;
        ensure!(
            wins == places && conflicts == results.len() - places,
            "{held} held: {wins} stored and {conflicts} refused of 8 racing for {places} places: {results:?}"
        );
        let stored = store
            .leave_documents(&id(LeaveRequestId::parse(&request))?)
            .await
            .map_err(fail)?;
        ensure!(
            stored.len() == race_limit as usize,
            "{held} held: {} documents stored, want {race_limit}",
            stored.len()
        );
    }
    Ok(())
}

/// Polls every future until all are ready, interleaving them on the current task, so calls on
/// the store overlap the way concurrent requests do. Results come in the futures' order.
async fn a_group_of_batches_is_stored_batch_by_batch<S: Store + ?Sized>(store: &S) -> CheckResult {
    let empty = store.record_scan_batches(Vec::new()).await.map_err(fail)?;
    ensure!(
        empty.is_empty(),
        "an empty group gives no outcomes: {empty:?}"
    );
    store
        .record_scans(batch("M2", vec![scan("M2", "2", 3)?], Some("0"))?)
        .await
        .map_err(fail)?;
    let group = vec![
        batch(
            "M1",
            vec![scan("M1", "1", 0)?, scan("M1", "2", 1)?],
            Some("a"),
        )?,
        batch(
            "M2",
            vec![scan("M2", "1", 0)?, scan("M2", "2", 3)?],
            Some("b"),
        )?,
        // The same machine again: its repeat of the first batch's scan is a duplicate.
        batch(
            "M1",
            vec![scan("M1", "1", 0)?, scan("M1", "1", 5)?],
            Some("c"),
        )?,
    ];
    let outcomes = store.record_scan_batches(group).await.map_err(fail)?;
    let counts: Vec<(usize, usize)> = outcomes
        .iter()
        .map(|o| (o.inserted.len(), o.duplicates))
        .collect();
    ensure!(
        counts == [(2, 0), (1, 1), (1, 1)],
        "(inserted, duplicates) per batch {counts:?}, want [(2, 0), (1, 1), (1, 1)]"
    );
    ensure!(
        outcomes[2].inserted == [scan("M1", "1", 5)?],
        "the third batch's new scan: {:?}",
        outcomes[2].inserted
    );
    for (machine, want) in [("M1", "c"), ("M2", "b")] {
        let cursor = store
            .machine_cursor(&id(MachineId::parse(machine))?)
            .await
            .map_err(fail)?;
        ensure!(
            cursor == Some(MachineCursor(want.into())),
            "{machine}'s cursor {cursor:?}, want the last batch's {want}"
        );
    }
    ensure!(
        store.count_scans().await.map_err(fail)? == 5,
        "5 scans stored after the group"
    );

    // One invalid batch refuses the whole group: nothing of it is stored, no cursor moves.
    let refused = vec![
        batch("M3", vec![scan("M3", "1", 0)?], Some("x"))?,
        batch(
            "M1",
            vec![scan("M1", "1", 9)?, scan("M2", "1", 9)?],
            Some("y"),
        )?,
    ];
    match store.record_scan_batches(refused).await {
        Err(StoreError::Invalid(_)) => {}
        other => {
            return Err(format!(
                "a group with a stray scan must be Invalid: {other:?}"
            ));
        }
    }
    ensure!(
        store.count_scans().await.map_err(fail)? == 5,
        "a refused group stored scans"
    );
    let m3 = store
        .machine_cursor(&id(MachineId::parse("M3"))?)
        .await
        .map_err(fail)?;
    ensure!(m3.is_none(), "a refused group moved a cursor: {m3:?}");

    // A large group (stores may take another path for it) half of which is stored already.
    let big = |machine: &str, from: i64, n: i64| -> Result<Vec<ScanData>, String> {
        (from..from + n)
            .map(|i| scan(machine, &(100 + i % 50).to_string(), i))
            .collect()
    };
    store
        .record_scans(batch("M4", big("M4", 0, 1_500)?, None)?)
        .await
        .map_err(fail)?;
    let outcomes = store
        .record_scan_batches(vec![
            batch("M4", big("M4", 0, 3_000)?, Some("m4"))?,
            batch("M5", big("M5", 0, 2_000)?, Some("m5"))?,
        ])
        .await
        .map_err(fail)?;
    let counts: Vec<(usize, usize)> = outcomes
        .iter()
        .map(|o| (o.inserted.len(), o.duplicates))
        .collect();
    ensure!(
        counts == [(1_500, 1_500), (2_000, 0)],
        "large group (inserted, duplicates) {counts:?}"
    );
    ensure!(
        outcomes[0].inserted == big("M4", 1_500, 1_500)?,
        "the large batch's new scans, in batch order"
    );
    ensure!(
        store.count_scans().await.map_err(fail)? == 5 + 3_000 + 2_000,
        "scans stored after the large group"
    );
    Ok(())
}

/// The bulk reads the set-based recompute uses: `scans_of_users`, `employees_by_device_users`,
/// `employees_by_codes` and `leave_requests_of`, over more keys than one statement carries
/// (1,200, most unknown), each giving exactly what the single reads give, in the stated order.
async fn bulk_reads_return_exactly_the_keys_asked_in_order<S: Store + ?Sized>(
    store: &S,
) -> CheckResult {
    // Device users 1, 777 and 1100 (the codes' digits); user 2 scans but is no employee.
    for code in ["EMP00001", "EMP00777", "EMP01100"] {
        store
            .create_employee(&employee(code, "Sewing")?)
            .await
            .map_err(fail)?;
    }
    store
        .record_scans(batch(
            "M1",
            vec![
                scan("M1", "777", 5)?,
                scan("M1", "1", 30)?,
                scan("M1", "2", 10)?,
                scan("M1", "1100", 0)?,
                scan("M1", "1", -1)?,
                scan("M1", "1", 90)?,
            ],
            None,
        )?)
        .await
        .map_err(fail)?;
    store
        .record_scans(batch(
            "M2",
            vec![scan("M2", "1", 30)?, scan("M2", "1100", 89)?],
            None,
        )?)
        .await
        .map_err(fail)?;
    let mut users: Vec<DeviceUserId> = (1..=1_200)
        .rev()
        .map(|n| id(DeviceUserId::parse(&n.to_string())))
        .collect::<Result<_, _>>()?;
    users.push(id(DeviceUserId::parse("1"))?);
    let got = store
        .scans_of_users(&users, at(0), at(90))
        .await
        .map_err(fail)?;
    let keys: Vec<(&str, i64, &str)> = got
        .iter()
        .map(|s| {
            (
                s.device_user_id.as_str(),
                (s.timestamp - at(0)).num_minutes(),
                s.machine_id.as_str(),
            )
        })
        .collect();
    let want = [
        ("1", 30, "M1"),
        ("1", 30, "M2"),
        ("1100", 0, "M1"),
        ("1100", 89, "M2"),
        ("2", 10, "M1"),
        ("777", 5, "M1"),
    ];
    ensure!(
        keys == want,
        "scans of users in [from, to) by user (bytewise), time, machine: want {want:?}, got {keys:?}"
    );
    ensure!(
        got[0].raw.as_deref() == Some("1\t30"),
        "raw payload kept: {:?}",
        got[0].raw
    );
    let none = store
        .scans_of_users(&[], at(0), at(90))
        .await
        .map_err(fail)?;
    ensure!(none.is_empty(), "no users, no scans: {none:?}");

    let codes_of = |employees: &[Employee]| -> Vec<String> {
        employees
            .iter()
            .map(|e| e.employee_id.as_str().to_owned())
            .collect()
    };
    let enrolled = store
        .employees_by_device_users(&users)
        .await
        .map_err(fail)?;
    ensure!(
        codes_of(&enrolled) == ["EMP00001", "EMP00777", "EMP01100"],
        "employees of 1,200 device users, by code: {:?}",
        codes_of(&enrolled)
    );
    ensure!(
        enrolled[1]
            == store
                .employee(&enrolled[1].employee_id)
                .await
                .map_err(fail)?,
        "a bulk-read employee is the stored one"
    );
    let mut codes: Vec<EmployeeCode> = (1..=1_200)
        .rev()
        .map(|n| id(EmployeeCode::parse(&format!("EMP{n:05}"))))
        .collect::<Result<_, _>>()?;
    codes.push(id(EmployeeCode::parse("EMP00777"))?);
    let by_code = store.employees_by_codes(&codes).await.map_err(fail)?;
    ensure!(
        codes_of(&by_code) == ["EMP00001", "EMP00777", "EMP01100"],
        "employees of 1,200 codes, by code: {:?}",
        codes_of(&by_code)
    );
    ensure!(
        store
            .employees_by_codes(&[])
            .await
            .map_err(fail)?
            .is_empty()
            && store
                .employees_by_device_users(&[])
                .await
                .map_err(fail)?
                .is_empty(),
        "no keys, no employees"
    );

    // EMP00001: an approved and a pending request (ids out of order); EMP00777: one.
    let commit = |code: &str, requests: Vec<LeaveRequest>| {
        let employee = EmployeeCode::parse(code);
        async move {
            let employee = id(employee)?;
            let account = store.leave_account(&employee).await.map_err(fail)?;
            store
                .commit_leave(LeaveChange {
                    employee,
                    expected_version: account.version,
                    requests,
                    entries: Vec::new(),
                })
                .await
                .map_err(fail)
        }
    };
    commit(
        "EMP00001",
        vec![
            leave_request("L-2", "EMP00001", "Sewing", date(3, 2), date(3, 3), true)?,
            leave_request("L-1", "EMP00001", "Sewing", date(3, 9), date(3, 9), false)?,
        ],
    )
    .await?;
    commit(
        "EMP00777",
        vec![leave_request(
            "L-0",
            "EMP00777",
            "Sewing",
            date(3, 4),
            date(3, 4),
            true,
        )?],
    )
    .await?;
    let requests = store.leave_requests_of(&codes).await.map_err(fail)?;
    let got: Vec<(&str, &str, RequestStatus)> = requests
        .iter()
        .map(|r| (r.employee.as_str(), r.id.as_str(), r.status))
        .collect();
    let want = [
        ("EMP00001", "L-1", RequestStatus::Pending),
        ("EMP00001", "L-2", RequestStatus::Approved),
        ("EMP00777", "L-0", RequestStatus::Approved),
    ];
    ensure!(
        got == want,
        "requests of 1,200 employees by employee then id: want {want:?}, got {got:?}"
    );
    let account = store
        .leave_account(&id(EmployeeCode::parse("EMP00001"))?)
        .await
        .map_err(fail)?;
    ensure!(
        requests[..2] == account.requests[..],
        "the bulk-read requests are the account's"
    );
    ensure!(
        store.leave_requests_of(&[]).await.map_err(fail)?.is_empty(),
        "no employees, no requests"
    );
    Ok(())
}

/// An upsert of as many records as a recompute stores at once (a store may write it another
/// way than a few records): every record stored or replaced by key, the last of a repeated key
/// standing, and one record of an unknown employee refuses the whole upsert.
async fn a_large_upsert_replaces_by_key_whole_or_not_at_all<S: Store + ?Sized>(
    store: &S,
) -> CheckResult {
    let codes = ["EMP001", "EMP002", "EMP003"];
    for code in codes {
        store
            .create_employee(&employee(code, "Sewing")?)
            .await
            .map_err(fail)?;
    }
    let first = date(1, 1);
    let days = |n: u64| (0..n).filter_map(move |i| first.checked_add_days(Days::new(i)));
    let all = |status: AttendanceStatus, working: i64| -> Result<Vec<DailyRecord>, String> {
        let mut records = Vec::new();
        for code in codes {
            for day in days(150) {
                records.push(record(code, day, status.clone(), working)?);
            }
        }
        Ok(records)
    };
    store
        .upsert_records(&all(AttendanceStatus::Absent, 0)?)
        .await
        .map_err(fail)?;
    // Again, replacing every one; a key repeated within the upsert: the last stands.
    let mut again = all(AttendanceStatus::PresentOnTime, 28_800)?;
    again.push(record(
        "EMP002",
        date(1, 9),
        AttendanceStatus::PresentLate,
        7,
    )?);
    store.upsert_records(&again).await.map_err(fail)?;
    let stored = store
        .query_records(&RecordQuery {
            order: RecordOrder::EmployeeThenDate,
            limit: 1_000,
            ..RecordQuery::default()
        })
        .await
        .map_err(fail)?;
    ensure!(
        stored.count == 450,
        "{} records stored, want 450",
        stored.count
    );
    let mut want = all(AttendanceStatus::PresentOnTime, 28_800)?;
    if let Some(late) = want
        .iter_mut()
        .find(|r| r.employee_id.as_str() == "EMP002" && r.date == date(1, 9))
    {
        *late = record("EMP002", date(1, 9), AttendanceStatus::PresentLate, 7)?;
    }
    ensure!(
        stored.results == want,
        "the records read back are not the last upserted"
    );
    // One record of an unknown employee among many: nothing of the upsert is stored.
    let mut stray = all(AttendanceStatus::Holiday, 1)?;
    stray.insert(200, record("EMP404", first, AttendanceStatus::Holiday, 1)?);
    let refused = store.upsert_records(&stray).await;
    ensure!(
        matches!(refused, Err(StoreError::Invalid(_))),
        "an unknown employee's record: {refused:?}"
    );
    let counts = store
        .count_records_by_status(&RecordQuery::default())
        .await
        .map_err(fail)?;
    ensure!(
        counts.iter().all(|(s, _)| *s != AttendanceStatus::Holiday),
        "a refused upsert stored records: {counts:?}"
    );
    Ok(())
}

async fn join_all<F: Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut pending: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut done: Vec<Option<F::Output>> = pending.iter().map(|_| None).collect();
    std::future::poll_fn(move |cx| {
        let mut all = true;
        for (future, slot) in pending.iter_mut().zip(done.iter_mut()) {
            if slot.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(value) => *slot = Some(value),
                    Poll::Pending => all = false,
                }
            }
        }
        if all {
            Poll::Ready(done.iter_mut().filter_map(Option::take).collect())
        } else {
            Poll::Pending
        }
    })
    .await
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
        assert_eq!(report.passed, 22);
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
        assert_eq!(report.failures.len(), 22);
        assert!(
            report
                .to_string()
                .contains("could not make a store: storage backend failed: no database")
        );
    }
}
