//! The set-based recompute against the per-employee path, over the in-memory store (feature
//! `testkit`): random employees (day shift, night shift, a shift the site does not have, some
//! inactive), random scans over a week, random leave (approved and pending, whole and half days)
//! and holidays. `recompute_days` over random (employee, date) pairs gives and stores exactly what
//! `recompute` gives one employee at a time, and `close_windows` recomputes exactly the days whose
//! window closed, turning the ones without a scan into `Absent`; and the monthly payroll report of
//! the computed month counts exactly what its daily records hold.
#![cfg(feature = "testkit")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use attendance_core::prelude::*;
use attendance_core::report::monthly::MonthlyReport;
use attendance_core::service::{AttendanceService, DayKeys};
use attendance_core::store::memory::MemoryStore;
use attendance_core::store::{
    DailyRecordStore, EmployeeStore, HolidayStore, LeaveChange, LeaveStore, RecordOrder,
    RecordQuery, ScanBatch, ScanStore, SettingsStore, block_on,
};
use chrono::{DateTime, NaiveDate, NaiveTime, TimeDelta, TimeZone, Utc};
use proptest::prelude::*;

fn d(day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, day).unwrap()
}

/// Local Dhaka time, `minutes` after midnight starting the 20th of November 2026.
fn at(minutes: i64) -> DateTime<Utc> {
    chrono_tz::Asia::Dhaka
        .with_ymd_and_hms(2026, 11, 20, 0, 0, 0)
        .unwrap()
        .with_timezone(&Utc)
        + TimeDelta::minutes(minutes)
}

/// The default settings with `NIGHT`, 20:00–05:00, in the shift catalogue.
fn settings() -> AttendanceSettings {
    let mut settings = AttendanceSettings::default();
    let hour = |h| NaiveTime::from_hms_opt(h, 0, 0).unwrap();
    settings
        .shifts
        .push(Shift::new(ShiftId::parse("NIGHT").unwrap(), "Night", hour(20), hour(5)).unwrap());
    settings.validate().unwrap();
    settings
}

/// One employee: which shift (0 none, 1 the default by id, 2 night, 3 unknown) and whether
/// active.
fn employee(i: usize, shift: u8, active: bool) -> Employee {
    let mut e = Employee::parse(&NewEmployee {
        employee_id: format!("EMP{i:03}"),
        employee_name: format!("Employee {i}"),
        department: "Sewing".into(),
        designation: "Operator".into(),
        level_of_work: if i.is_multiple_of(3) {
            "Staff"
        } else {
            "Worker"
        }
        .into(),
        device_user_id: Some(i.to_string()),
        ..NewEmployee::default()
    })
    .unwrap();
    e.shift = match shift {
        1 => Some(ShiftId::parse("DAY").unwrap()),
        2 => Some(ShiftId::parse("NIGHT").unwrap()),
        3 => Some(ShiftId::parse("GHOST").unwrap()),
        _ => None,
    };
    e.active = active;
    e
}

/// A leave request to store: employee index, id number, first and last day, half days, type
/// (casual or unpaid) and whether it is approved (else pending).
#[derive(Debug, Clone)]
struct Leave {
    who: usize,
    id: u32,
    start: u32,
    len: u32,
    halves: (bool, bool),
    unpaid: bool,
    approved: bool,
}

#[derive(Debug, Clone)]
struct World {
    employees: Vec<Employee>,
    /// (device user index, minutes from the 20th, machine, punch state code).
    scans: Vec<(usize, i64, u8, u8)>,
    leave: Vec<Leave>,
    /// (first day, days, observed, recurring).
    holidays: Vec<(u32, u32, bool, bool)>,
}

fn world() -> impl Strategy<Value = World> {
    (1usize..7)
        .prop_flat_map(|n| {
            (
                prop::collection::vec((0u8..4, prop::bool::weighted(0.85)), n),
                // Scans from the 19th (the night before) to the 27th, of the employees and one
                // device user no one is enrolled as.
                prop::collection::vec((1..=n + 1, -24 * 60i64..8 * 24 * 60, 0u8..2, 0u8..4), 0..60),
                prop::collection::vec(
                    (
                        1..=n,
                        0u32..50,
                        18u32..28,
                        1u32..4,
                        any::<(bool, bool)>(),
                        any::<bool>(),
                        prop::bool::weighted(0.7),
                    ),
                    0..5,
                ),
                prop::collection::vec(
                    (18u32..28, 1u32..3, prop::bool::weighted(0.8), any::<bool>()),
                    0..3,
                ),
            )
        })
        .prop_map(|(people, scans, leave, holidays)| World {
            employees: people
                .iter()
                .enumerate()
                .map(|(i, (shift, active))| employee(i + 1, *shift, *active))
                .collect(),
            scans,
            leave: leave
                .into_iter()
                .map(|(who, id, start, len, halves, unpaid, approved)| Leave {
                    who,
                    id,
                    start,
                    len,
                    halves,
                    unpaid,
                    approved,
                })
                .collect(),
            holidays,
        })
}

fn scan_of(user: usize, minutes: i64, machine: u8, punch: u8) -> ScanData {
    ScanData {
        machine_id: MachineId::parse(&format!("GATE-{machine}")).unwrap(),
        device_user_id: DeviceUserId::parse(&user.to_string()).unwrap(),
        timestamp: at(minutes),
        punch_state: match punch {
            0 => PunchState::CheckIn,
            1 => PunchState::CheckOut,
            2 => PunchState::Unknown,
            _ => PunchState::Other(255),
        },
        verify_mode: VerifyMode::Fingerprint,
        raw: None,
    }
}

/// The request of `leave`, as submitted on the 1st (no overlap check: requests may overlap, so
/// two approved half days can share a date).
fn request_of(world: &World, leave: &Leave) -> Option<LeaveRequest> {
    let employee = &world.employees[leave.who - 1];
    let leave_type = if leave.unpaid {
        LeaveType::Unpaid
    } else {
        LeaveType::Casual
    };
    let policy = LeavePolicy {
        requires_approval: !leave.approved,
        ..LeavePolicy::default_for(leave_type.clone())
    };
    let mut ledger = LeaveLedger::new(employee.employee_id.clone(), leave_type.clone());
    ledger
        .append([LedgerEntry::new(
            LedgerEntryKind::Allocation,
            2026,
            d(1),
            HalfDays::from_days(30),
            "grant",
        )
        .unwrap()])
        .unwrap();
    let holidays = BTreeMap::new();
    let ctx = RequestContext {
        policy: &policy,
        weekly_off_days: &[],
        holidays: &holidays,
        ledger: &ledger,
        requests: &[],
    };
    let application = LeaveApplication {
        employee: employee.employee_id.clone(),
        department: employee.department.clone(),
        leave_type,
        start: d(leave.start),
        end: d(leave.start + leave.len - 1),
        start_half: leave.halves.0,
        end_half: leave.halves.1,
        reason: String::new(),
        medical_certificate: false,
        priority: Default::default(),
    };
    let id = LeaveRequestId::parse(&format!("L{}", leave.id)).unwrap();
    let (request, _) = submit(id, &application, &ctx, &ApprovalChain::hr_only(), d(1)).ok()?;
    Some(request)
}

/// A store holding `world`: settings, employees, holidays, leave and scans, no records.
async fn seeded(world: &World) -> Arc<MemoryStore> {
    let store = Arc::new(MemoryStore::new());
    store.put_settings(&settings()).await.unwrap();
    for e in &world.employees {
        store.create_employee(e).await.unwrap();
    }
    for (i, (start, days, observed, recurring)) in world.holidays.iter().enumerate() {
        let holiday = Holiday::new(
            &format!("Holiday {i}"),
            d(*start),
            d(start + days - 1),
            *recurring,
            *observed,
        )
        .unwrap();
        store.create_holiday(&holiday).await.unwrap();
    }
    let mut by_id: BTreeMap<String, LeaveRequest> = BTreeMap::new();
    for leave in &world.leave {
        if let Some(request) = request_of(world, leave) {
            // A repeated id stays its first employee's.
            by_id.entry(request.id.to_string()).or_insert(request);
        }
    }
    for request in by_id.into_values() {
        let account = store.leave_account(&request.employee).await.unwrap();
        store
            .commit_leave(LeaveChange {
                employee: request.employee.clone(),
                expected_version: account.version,
                requests: vec![request],
                entries: Vec::new(),
            })
            .await
            .unwrap();
    }
    let mut batches: BTreeMap<u8, Vec<ScanData>> = BTreeMap::new();
    for &(user, minutes, machine, punch) in &world.scans {
        batches
            .entry(machine)
            .or_default()
            .push(scan_of(user, minutes, machine, punch));
    }
    for (machine, scans) in batches {
        store
            .record_scans(ScanBatch {
                machine_id: MachineId::parse(&format!("GATE-{machine}")).unwrap(),
                scans,
                cursor: None,
            })
            .await
            .unwrap();
    }
    store
}

async fn all_records(store: &MemoryStore) -> Vec<DailyRecord> {
    store
        .query_records(&RecordQuery {
            order: RecordOrder::EmployeeThenDate,
            limit: u64::MAX,
            ..RecordQuery::default()
        })
        .await
        .unwrap()
        .results
}

/// (employee index, day) pairs: days from the 19th to the 27th; index 0 is a code no employee
/// has.
fn pairs() -> impl Strategy<Value = Vec<(usize, u32)>> {
    prop::collection::vec((0usize..7, 19u32..28), 0..30)
}

fn day_keys(world: &World, pairs: &[(usize, u32)]) -> DayKeys {
    let mut keys = DayKeys::new();
    for &(who, day) in pairs {
        let code = match who {
            0 => EmployeeCode::parse("EMP999").unwrap(),
            i if i <= world.employees.len() => world.employees[i - 1].employee_id.clone(),
            _ => continue,
        };
        keys.entry(code).or_default().insert(d(day));
    }
    keys
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// `recompute_days` gives and stores exactly the records `recompute` gives one employee at
    /// a time, in the same order, with their summaries.
    #[test]
    fn set_based_recompute_equals_the_per_employee_path(
        world in world(),
        pairs in pairs(),
        now_minutes in prop::sample::select(vec![4 * 24 * 60 + 12 * 60, 7 * 24 * 60 + 12 * 60, 10 * 24 * 60]),
    ) {
        let now = at(now_minutes);
        let keys = day_keys(&world, &pairs);
        let (set_based, per_employee, stored_set, stored_one) = block_on(async {
            let store = seeded(&world).await;
            let service = AttendanceService::new(store.clone());
            let set_based = service.recompute_days(&keys, now).await.unwrap();

            let oracle = seeded(&world).await;
            let one_by_one = AttendanceService::new(oracle.clone());
            let mut per_employee = Vec::new();
            for (code, dates) in &keys {
                let Ok(employee) = oracle.employee(code).await else { continue };
                per_employee.extend(one_by_one.recompute(&employee, dates, now).await.unwrap());
            }
            (set_based, per_employee, all_records(&store).await, all_records(&oracle).await)
        });
        prop_assert_eq!(&set_based.records, &per_employee);
        prop_assert_eq!(&stored_set, &stored_one);
        let tz = settings().time_zone;
        let want: Vec<DailySummary> = set_based
            .records
            .iter()
            .map(|r| {
                let e = world.employees.iter().find(|e| e.employee_id == r.employee_id).unwrap();
                DailySummary::new(e, r, tz)
            })
            .collect();
        prop_assert_eq!(&set_based.summaries, &want);
    }

    /// After `close_windows(since, now)` every active employee's date whose window closed in
    /// (since, now] is stored as the rules give it at `now` (so `Absent` exactly when it has no
    /// scan and is an ordinary working day), the records recomputed are exactly those dates not
    /// stored closed before, and no other record changed.
    #[test]
    fn closing_windows_marks_exactly_the_closed_days_without_scans_absent(
        world in world(),
        earlier in pairs(),
        then_minutes in 0i64..6 * 24 * 60,
        since_after in 0i64..24 * 60,
        now_after in 1i64..3 * 24 * 60,
    ) {
        let then = at(then_minutes);
        let since = then + TimeDelta::minutes(since_after);
        let now = since + TimeDelta::minutes(now_after);
        let settings = settings();
        let keys = day_keys(&world, &earlier);
        let (before, done, after, oracle) = block_on(async {
            let store = seeded(&world).await;
            let service = AttendanceService::new(store.clone());
            // Some records stored earlier, some of them before their window closed.
            service.recompute_days(&keys, then).await.unwrap();
            let before = all_records(&store).await;
            let done = service.close_windows(since, now).await.unwrap();
            let after = all_records(&store).await;
            // What the rules give every date at `now`.
            let oracle = seeded(&world).await;
            let one_by_one = AttendanceService::new(oracle.clone());
            let mut by_key = BTreeMap::new();
            for e in &world.employees {
                let dates: BTreeSet<NaiveDate> = (17..=30).map(d).collect();
                for r in one_by_one.recompute(e, &dates, now).await.unwrap() {
                    by_key.insert((r.employee_id.clone(), r.date), r);
                }
            }
            (before, done, after, by_key)
        });
        let key = |r: &DailyRecord| (r.employee_id.clone(), r.date);
        let before: BTreeMap<_, _> = before.into_iter().map(|r| (key(&r), r)).collect();
        let after: BTreeMap<_, _> = after.into_iter().map(|r| (key(&r), r)).collect();
        let mut closing = BTreeSet::new();
        for e in world.employees.iter().filter(|e| e.active) {
            let roster = settings.roster_of(e);
            let attributor = Attributor::new(&settings, &roster);
            for date in (10..=30).map(d) {
                let closes = attributor.window(date).closes;
                if since < closes && closes <= now {
                    closing.insert((e.employee_id.clone(), date));
                }
            }
        }
        let want: BTreeSet<_> = closing
            .iter()
            .filter(|k| before.get(*k).is_none_or(|r| !r.window_closed))
            .cloned()
            .collect();
        let got: BTreeSet<_> = done.records.iter().map(key).collect();
        prop_assert_eq!(&got, &want, "recomputed");
        for k in &closing {
            let stored = after.get(k).unwrap();
            prop_assert!(stored.window_closed, "{stored:?}");
            prop_assert_eq!(stored, &oracle[k]);
            let working_day = stored.holiday_name.is_none()
                && !settings.weekly_off_days.contains(&chrono::Datelike::weekday(&stored.date))
                && !matches!(stored.status, AttendanceStatus::Leave(_));
            prop_assert_eq!(
                stored.status == AttendanceStatus::Absent,
                stored.scans.is_empty() && working_day,
                "{:?}", stored
            );
        }
        for (k, r) in &after {
            if !want.contains(k) {
                prop_assert_eq!(Some(r), before.get(k), "untouched");
            }
        }
        prop_assert_eq!(after.len(), before.len() + want.iter().filter(|k| !before.contains_key(*k)).count());
    }

    /// Every day of November computed from the random scans, leave and holidays, then the
    /// monthly report: each employee's row and the totals count exactly what the daily records
    /// hold (days by status and leave type, seconds summed, allowances, late minutes).
    #[test]
    fn the_monthly_report_counts_exactly_the_computed_days(world in world()) {
        let now = at(12 * 24 * 60);
        let sheets: Vec<(Employee, Vec<DailyRecord>)> = block_on(async {
            let store = seeded(&world).await;
            let service = AttendanceService::new(store.clone());
            service.recompute_range(d(1), d(30), now, &mut |_, _| {}).await.unwrap();
            let records = all_records(&store).await;
            world
                .employees
                .iter()
                .map(|e| {
                    let mine = records.iter().filter(|r| r.employee_id == e.employee_id);
                    (e.clone(), mine.cloned().collect())
                })
                .collect()
        });
        let month = d(1);
        let report = MonthlyReport::new(month, now, &[LeaveType::Casual], &sheets, &[]);
        let count = |records: &[DailyRecord], f: &dyn Fn(&DailyRecord) -> bool| {
            records.iter().filter(|r| f(r)).count() as u32
        };
        let mut all: Vec<DailyRecord> = Vec::new();
        for (employee, records) in &sheets {
            let row = report
                .employees
                .iter()
                .find(|r| r.employee_id == employee.employee_id)
                .unwrap();
            let c = &row.counts;
            prop_assert_eq!(c.days as usize, records.len());
            prop_assert_eq!(c.present_days, count(records, &|r| r.status.is_present()));
            prop_assert_eq!(c.late_days, count(records, &|r| r.status == AttendanceStatus::PresentLate));
            prop_assert_eq!(c.absent_days, count(records, &|r| r.status == AttendanceStatus::Absent));
            prop_assert_eq!(c.holiday_days, count(records, &|r| r.status == AttendanceStatus::Holiday));
            prop_assert_eq!(c.weekend_days, count(records, &|r| r.status == AttendanceStatus::Weekend));
            for leave_type in [LeaveType::Casual, LeaveType::Unpaid] {
                let want = count(records, &|r| r.status == AttendanceStatus::Leave(leave_type.clone()));
                prop_assert_eq!(c.leave_by_type.get(&leave_type).copied().unwrap_or(0), want);
            }
            prop_assert_eq!(c.working_seconds, records.iter().map(|r| r.working_seconds).sum::<i64>());
            prop_assert_eq!(c.overtime_seconds, records.iter().map(|r| r.overtime_seconds).sum::<i64>());
            prop_assert_eq!(
                c.extra_overtime_seconds,
                records.iter().map(|r| r.extra_overtime_seconds).sum::<i64>()
            );
            prop_assert_eq!(c.snacks_days, count(records, &|r| r.snacks_eligible));
            prop_assert_eq!(c.night_bill_days, count(records, &|r| r.night_bill_eligible));
            let late: i64 = records
                .iter()
                .filter(|r| r.status == AttendanceStatus::PresentLate)
                .map(|r| r.late_minutes.max(0))
                .sum();
            prop_assert_eq!(c.late_minutes, late);
            all.extend(records.iter().cloned());
        }
        let t = &report.totals.counts;
        prop_assert_eq!(t.days as usize, all.len());
        prop_assert_eq!(t.present_days, count(&all, &|r| r.status.is_present()));
        prop_assert_eq!(t.working_seconds, all.iter().map(|r| r.working_seconds).sum::<i64>());
    }
}
