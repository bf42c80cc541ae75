//! The use cases end to end over the in-memory store (feature `testkit`): scans become records,
//! a leave request travels its approval chain and back, a holiday changes a worked day.
#![cfg(feature = "testkit")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use attendance_core::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

use attendance_core::audit::AuditQuery;
use attendance_core::service::{
    AttendanceService, ChangeObserver, LeaveDecision, PendingScans, ServiceError,
};
use attendance_core::store::AuditStore;
use attendance_core::store::SettingsStore;
use attendance_core::store::block_on;
use attendance_core::store::memory::MemoryStore;
use attendance_core::store::{DailyRecordStore, EmployeeStore, LeaveChange, LeaveStore, ScanBatch};
use chrono::{DateTime, NaiveDate, NaiveTime, TimeDelta, TimeZone, Utc};
use proptest::prelude::*;

fn d(day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, day).unwrap()
}

fn local(day: u32, h: u32, m: u32) -> DateTime<Utc> {
    chrono_tz::Asia::Dhaka
        .with_ymd_and_hms(2026, 11, day, h, m, 0)
        .unwrap()
        .with_timezone(&Utc)
}

fn employee(code: &str, user: &str) -> Employee {
    Employee::parse(&NewEmployee {
        employee_id: code.into(),
        employee_name: format!("Name of {code}"),
        department: "Sewing".into(),
        designation: "Operator".into(),
        level_of_work: "Worker".into(),
        device_user_id: Some(user.into()),
        ..NewEmployee::default()
    })
    .unwrap()
}

fn scan(user: &str, at: DateTime<Utc>) -> ScanData {
    ScanData {
        machine_id: MachineId::parse("GATE-1").unwrap(),
        device_user_id: DeviceUserId::parse(user).unwrap(),
        timestamp: at,
        punch_state: PunchState::CheckIn,
        verify_mode: VerifyMode::Fingerprint,
        raw: None,
    }
}

async fn status(store: &MemoryStore, code: &str, day: u32) -> Option<AttendanceStatus> {
    store
        .record(&EmployeeCode::parse(code).unwrap(), d(day))
        .await
        .unwrap()
        .map(|r| r.status)
}

#[test]
fn scans_leave_and_holidays_keep_the_daily_records_in_step() {
    block_on(async {
        let store = Arc::new(MemoryStore::new());
        let service = AttendanceService::new(store.clone());
        let now = local(26, 12, 0);
        store
            .create_employee(&employee("EMP001", "1"))
            .await
            .unwrap();
        store
            .create_employee(&employee("EMP005", "5"))
            .await
            .unwrap();
        let me = EmployeeCode::parse("EMP001").unwrap();
        let grant = LedgerEntry::new(
            LedgerEntryKind::Allocation,
            2026,
            d(1),
            HalfDays::from_days(10),
            "2026 grant",
        )
        .unwrap();
        store
            .commit_leave(LeaveChange {
                employee: me.clone(),
                expected_version: 0,
                requests: Vec::new(),
                entries: vec![(LeaveType::Casual, grant)],
            })
            .await
            .unwrap();

        // Scans: the 23rd is worked on time; a re-sent batch changes nothing.
        let batch = ScanBatch {
            machine_id: MachineId::parse("GATE-1").unwrap(),
            scans: vec![scan("1", local(23, 7, 55)), scan("1", local(23, 17, 5))],
            cursor: None,
        };
        let report = service.record_scans(batch.clone(), now).await.unwrap();
        assert_eq!(report.records.len(), 1);
        assert_eq!(
            status(&store, "EMP001", 23).await,
            Some(AttendanceStatus::PresentOnTime)
        );
        let again = service.record_scans(batch, now).await.unwrap();
        assert_eq!((again.duplicates, again.records.len()), (2, 0));

        // Leave for the 24th and 25th: the employee applies, the head then HR approve.
        let actor = |role, code: &str| {
            Actor::new(
                role,
                EmployeeCode::parse(code).ok(),
                Department::parse("Sewing").ok(),
            )
        };
        let application = LeaveApplication {
            employee: me.clone(),
            department: Department::parse("Sewing").unwrap(),
            leave_type: LeaveType::Casual,
            start: d(24),
            end: d(25),
            start_half: false,
            end_half: false,
            reason: "family".into(),
            medical_certificate: false,
            priority: Default::default(),
        };
        let id = LeaveRequestId::parse("L-1").unwrap();
        let request = service
            .submit_leave(
                &actor(Role::Employee, "EMP001"),
                id.clone(),
                &application,
                now,
            )
            .await
            .unwrap();
        assert_eq!(request.status, RequestStatus::Pending);
        let err = service
            .decide_leave(
                &actor(Role::Employee, "EMP001"),
                "user",
                &id,
                LeaveDecision::Approve,
                None,
                now,
            )
            .await
            .unwrap_err();
        assert!(matches!(err, ServiceError::Approval(_)), "{err}");
        service
            .decide_leave(
                &actor(Role::DepartmentHead, "EMP005"),
                "user",
                &id,
                LeaveDecision::Approve,
                None,
                now,
            )
            .await
            .unwrap();
        assert_eq!(status(&store, "EMP001", 24).await, None, "not approved yet");
        let hr = Actor::new(Role::HrStaff, None, None);
        let approved = service
            .decide_leave(&hr, "hr", &id, LeaveDecision::Approve, Some("enjoy"), now)
            .await
            .unwrap();
        assert_eq!(approved.status, RequestStatus::Approved);
        for day in [24, 25] {
            assert_eq!(
                status(&store, "EMP001", day).await,
                Some(AttendanceStatus::Leave(LeaveType::Casual))
            );
        }
        let account = store.leave_account(&me).await.unwrap();
        assert_eq!(
            account.ledger(&LeaveType::Casual).available(2026),
            HalfDays::from_days(8)
        );

        // HR cancels after the start: the days are absences again and the balance is back.
        service
            .decide_leave(
                &hr,
                "hr",
                &id,
                LeaveDecision::Cancel,
                Some("came to work"),
                now,
            )
            .await
            .unwrap();
        assert_eq!(
            status(&store, "EMP001", 24).await,
            Some(AttendanceStatus::Absent)
        );
        let account = store.leave_account(&me).await.unwrap();
        assert_eq!(
            account.ledger(&LeaveType::Casual).available(2026),
            HalfDays::from_days(10)
        );

        // A holiday on the worked 23rd; deleting it makes the day present again.
        let holiday = Holiday::single("Founders Day", d(23)).unwrap();
        let change = service
            .create_holiday(&hr, "hr", &holiday, now)
            .await
            .unwrap();
        assert_eq!(change.recomputed, 2, "both active employees");
        let record = store.record(&me, d(23)).await.unwrap().unwrap();
        assert_eq!(record.status, AttendanceStatus::Holiday);
        assert!(record.worked_on_holiday);
        let id = change.holiday.unwrap().id;
        service.delete_holiday(&hr, "hr", id, now).await.unwrap();
        assert_eq!(
            status(&store, "EMP001", 23).await,
            Some(AttendanceStatus::PresentOnTime)
        );

        // Each committed decision and holiday change left one entry, oldest last; the refused
        // approval left none.
        let trail = store
            .query_audit(&AuditQuery::default(), 0, 100)
            .await
            .unwrap();
        let got: Vec<(String, String, String, Option<String>)> = trail
            .results
            .iter()
            .rev()
            .map(|e| {
                let after = e.entry.after.as_ref();
                let what = after
                    .and_then(|a| a.get("level").and_then(|l| l.as_str()).map(str::to_owned))
                    .or_else(|| {
                        after.and_then(|a| {
                            a.get("status").and_then(|s| s.as_str()).map(str::to_owned)
                        })
                    })
                    .unwrap_or_default();
                (
                    e.entry.action.to_string(),
                    e.entry.actor.clone(),
                    format!("{} {what}", e.entry.target),
                    e.entry.reason.clone(),
                )
            })
            .collect();
        let leave = |action: &str, actor: &str, what: &str, reason: Option<&str>| {
            (
                action.to_owned(),
                actor.to_owned(),
                format!("leave_request:L-1 {what}"),
                reason.map(str::to_owned),
            )
        };
        assert_eq!(
            got,
            [
                leave("leave_approved", "user", "department_head", None),
                leave("leave_approved", "hr", "hr", Some("enjoy")),
                leave("leave_cancelled", "hr", "cancelled", Some("came to work")),
                (
                    "holiday_created".to_owned(),
                    "hr".to_owned(),
                    format!("holiday:{id} "),
                    None
                ),
                (
                    "holiday_deleted".to_owned(),
                    "hr".to_owned(),
                    format!("holiday:{id} "),
                    None
                ),
            ]
        );
        let cancelled = &trail.results[2].entry;
        assert_eq!(
            cancelled.before.as_ref().unwrap()["status"],
            "approved",
            "{cancelled:?}"
        );
    });
}

/// What an observer heard, one line per call.
#[derive(Default)]
struct Heard(std::sync::Mutex<Vec<String>>);

impl Heard {
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

impl ChangeObserver for Heard {
    fn scans_stored(&self, scans: &[ScanData], employees: &BTreeMap<DeviceUserId, Employee>) {
        let users: Vec<&str> = employees.keys().map(DeviceUserId::as_str).collect();
        self.0
            .lock()
            .unwrap()
            .push(format!("{} scans of {users:?}", scans.len()));
    }

    fn days_recomputed(&self, summaries: &[DailySummary]) {
        let days: Vec<String> = summaries
            .iter()
            .map(|s| format!("{} {} {}", s.employee_id, s.date.format("%d"), s.status))
            .collect();
        self.0.lock().unwrap().push(days.join(", "));
    }
}

#[test]
fn every_write_is_told_to_the_observer_once_stored() {
    block_on(async {
        let store = Arc::new(MemoryStore::new());
        let heard = Arc::new(Heard::default());
        let service = AttendanceService::new(store.clone()).with_observer(heard.clone());
        let now = local(26, 12, 0);
        let me = employee("EMP001", "1");
        store.create_employee(&me).await.unwrap();
        let hr = Actor::new(Role::HrStaff, None, None);
        let batch = |scans| ScanBatch {
            machine_id: MachineId::parse("GATE-1").unwrap(),
            scans,
            cursor: None,
        };

        service
            .record_scans(
                batch(vec![
                    scan("1", local(23, 7, 55)),
                    scan("9", local(23, 8, 0)),
                ]),
                now,
            )
            .await
            .unwrap();
        assert_eq!(
            heard.take(),
            [r#"2 scans of ["1"]"#, "EMP001 23 Present-OnTime"]
        );
        service
            .record_scan_batches(vec![batch(vec![scan("1", local(24, 8, 0))])], now)
            .await
            .unwrap();
        assert_eq!(
            heard.take(),
            [r#"1 scans of ["1"]"#, "EMP001 24 Present-OnTime"]
        );
        // Stored without recomputing: the caller publishes.
        let outcomes = service
            .store_scan_batches(vec![batch(vec![scan("1", local(25, 8, 30))])])
            .await
            .unwrap();
        assert!(heard.take().is_empty());
        let affected = service.affected_days(&outcomes[0].inserted).await.unwrap();
        service.recompute_days(&affected.days, now).await.unwrap();
        assert_eq!(heard.take(), ["EMP001 25 Present-Late"]);
        // The engine's way: the employees read to publish, the days found at the recompute.
        let outcomes = service
            .store_scan_batches(vec![batch(vec![
                scan("1", local(19, 8, 30)),
                scan("9", local(19, 8, 31)),
            ])])
            .await
            .unwrap();
        let enrolled = service.enrolled(&outcomes[0].inserted).await.unwrap();
        assert_eq!(
            enrolled.keys().map(|u| u.as_str()).collect::<Vec<_>>(),
            ["1"]
        );
        let mut pending = PendingScans::default();
        pending.add(&outcomes[0].inserted, &enrolled);
        let done = service.recompute_pending(&pending, now).await.unwrap();
        assert_eq!((done.days, done.recomputed.records.len()), (1, 1));
        assert_eq!(heard.take(), ["EMP001 19 Present-Late"]);

        service
            .recompute(&me, &BTreeSet::from([d(22)]), now)
            .await
            .unwrap();
        assert_eq!(heard.take(), ["EMP001 22 Absent"]);
        service
            .recompute_range(d(21), d(22), now, &mut |_, _| {})
            .await
            .unwrap();
        assert_eq!(heard.take(), ["EMP001 21 Absent, EMP001 22 Absent"]);
        // The 26th's day-shift window closes at 03:00 on the 27th.
        service
            .close_windows(local(27, 2, 0), local(27, 4, 0))
            .await
            .unwrap();
        assert_eq!(heard.take(), ["EMP001 26 Absent"]);

        let change = service
            .create_holiday(
                &hr,
                "hr",
                &Holiday::single("Founders Day", d(22)).unwrap(),
                now,
            )
            .await
            .unwrap();
        assert_eq!(heard.take(), ["EMP001 22 Holiday"]);
        let id = change.holiday.unwrap().id;
        service
            .update_holiday(
                &hr,
                "hr",
                id,
                &Holiday::single("Founders Day", d(21)).unwrap(),
                now,
            )
            .await
            .unwrap();
        assert_eq!(heard.take(), ["EMP001 21 Holiday, EMP001 22 Absent"]);
        service.delete_holiday(&hr, "hr", id, now).await.unwrap();
        assert_eq!(heard.take(), ["EMP001 21 Absent"]);

        store
            .commit_leave(LeaveChange {
                employee: me.employee_id.clone(),
                expected_version: 0,
                requests: Vec::new(),
                entries: vec![(
                    LeaveType::Casual,
                    LedgerEntry::new(
                        LedgerEntryKind::Allocation,
                        2026,
                        d(1),
                        HalfDays::from_days(10),
                        "grant",
                    )
                    .unwrap(),
                )],
            })
            .await
            .unwrap();
        let application = LeaveApplication {
            employee: me.employee_id.clone(),
            department: me.department.clone(),
            leave_type: LeaveType::Casual,
            start: d(19),
            end: d(19),
            start_half: false,
            end_half: false,
            reason: String::new(),
            medical_certificate: false,
            priority: Default::default(),
        };
        let id = LeaveRequestId::parse("L-9").unwrap();
        service
            .submit_leave(&hr, id.clone(), &application, now)
            .await
            .unwrap();
        assert!(heard.take().is_empty(), "pending: no day changes");
        let head = Actor::new(
            Role::DepartmentHead,
            EmployeeCode::parse("EMP005").ok(),
            Department::parse("Sewing").ok(),
        );
        service
            .decide_leave(&head, "head", &id, LeaveDecision::Approve, None, now)
            .await
            .unwrap();
        assert!(heard.take().is_empty(), "not approved yet");
        service
            .decide_leave(&hr, "hr", &id, LeaveDecision::Approve, None, now)
            .await
            .unwrap();
        assert_eq!(heard.take(), ["EMP001 19 Leave-Casual"]);

        let mut moved = me.clone();
        moved.shift = Some(ShiftId::parse("DAY").unwrap());
        let redone = service
            .employee_changed(Some(&me), &moved, now)
            .await
            .unwrap();
        assert_eq!(
            redone.records.len(),
            31 + 26,
            "October 1st to November 26th"
        );
        let told = heard.take();
        assert_eq!(told.len(), 1);
        assert!(told[0].starts_with("EMP001 01 Absent"), "{told:?}");
        service
            .employee_changed(Some(&moved), &moved, now)
            .await
            .unwrap();
        assert!(heard.take().is_empty(), "nothing the rules read changed");
    });
}

/// The default settings with `NIGHT`, 20:00–05:00, in the shift catalogue.
fn with_night_shift() -> AttendanceSettings {
    let mut settings = AttendanceSettings::default();
    let at = |h| NaiveTime::from_hms_opt(h, 0, 0).unwrap();
    settings
        .shifts
        .push(Shift::new(ShiftId::parse("NIGHT").unwrap(), "Night", at(20), at(5)).unwrap());
    settings.validate().unwrap();
    settings
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// A night worker who arrives in the evening (18:00–23:59) and leaves the next morning
    /// (02:00–09:59), whether both scans come in one batch or the check-out later in its own,
    /// gets one record, on the evening's date, holding both.
    #[test]
    fn any_night_in_out_pair_lands_on_one_work_date(
        day in 0u64..3650,
        in_after_18 in 0i64..6 * 3600,
        out_after_02 in 0i64..8 * 3600,
        separate_batches in any::<bool>(),
    ) {
        let evening = NaiveDate::from_ymd_opt(2020, 1, 1).unwrap() + chrono::Days::new(day);
        let settings = with_night_shift();
        let tz = settings.time_zone;
        let midnight = tz
            .from_local_datetime(&evening.and_time(NaiveTime::MIN))
            .unwrap()
            .with_timezone(&Utc);
        let check_in = midnight + TimeDelta::hours(18) + TimeDelta::seconds(in_after_18);
        let check_out = midnight + TimeDelta::hours(26) + TimeDelta::seconds(out_after_02);
        let now = check_out + TimeDelta::days(1);
        let night_worker = Employee {
            shift: Some(ShiftId::parse("NIGHT").unwrap()),
            ..employee("EMP002", "2")
        };
        let records = block_on(async {
            let store = Arc::new(MemoryStore::new());
            store.put_settings(&settings).await.unwrap();
            store.create_employee(&night_worker).await.unwrap();
            let service = AttendanceService::new(store.clone());
            let batch = |scans| ScanBatch {
                machine_id: MachineId::parse("GATE-1").unwrap(),
                scans,
                cursor: None,
            };
            let pair = vec![scan("2", check_in), scan("2", check_out)];
            let mut reported = Vec::new();
            if separate_batches {
                for one in pair {
                    reported.extend(service.record_scans(batch(vec![one]), now).await.unwrap().records);
                }
            } else {
                reported.extend(service.record_scans(batch(pair), now).await.unwrap().records);
            }
            let code = &night_worker.employee_id;
            let mut stored = Vec::new();
            for date in [evening.pred_opt().unwrap(), evening, evening.succ_opt().unwrap()] {
                stored.push(store.record(code, date).await.unwrap());
            }
            (reported, stored)
        });
        let (reported, stored) = records;
        prop_assert!(reported.iter().all(|r| r.date == evening), "{reported:?}");
        prop_assert!(stored[0].is_none() && stored[2].is_none(), "{stored:?}");
        let on = stored[1].clone().unwrap();
        prop_assert_eq!(on.shift.as_str(), "NIGHT");
        prop_assert_eq!(on.check_in, Some(check_in));
        prop_assert_eq!(on.check_out, Some(check_out));
    }
}

/// A store with `n` employees (`EMP0001`…, one inactive in ten), each with a worked day.
async fn staffed(n: usize) -> Arc<MemoryStore> {
    use attendance_core::store::ScanStore;
    let store = Arc::new(MemoryStore::new());
    let mut scans = Vec::new();
    for i in 1..=n {
        let mut e = employee(&format!("EMP{i:04}"), &i.to_string());
        e.active = i % 10 != 0;
        store.create_employee(&e).await.unwrap();
        let day = 1 + (i % 28) as u32;
        scans.push(scan(&i.to_string(), local(day, 8, (i % 50) as u32)));
        scans.push(scan(&i.to_string(), local(day, 17, 5)));
    }
    store
        .record_scans(ScanBatch {
            machine_id: MachineId::parse("GATE-1").unwrap(),
            scans,
            cursor: None,
        })
        .await
        .unwrap();
    store
}

async fn every_record(store: &MemoryStore) -> Vec<DailyRecord> {
    store
        .query_records(&attendance_core::store::RecordQuery {
            limit: u64::MAX,
            ..attendance_core::store::RecordQuery::default()
        })
        .await
        .unwrap()
        .results
}

#[test]
fn a_range_stopped_after_a_chunk_and_resumed_stores_the_records_of_one_run() {
    use attendance_core::service::RangeChunk;
    use std::ops::ControlFlow;
    block_on(async {
        let now = local(30, 12, 0);
        // 150 employees (135 active) over 30 days: chunks of 66 employees (2,000 pairs).
        let whole = staffed(150).await;
        let outcome = AttendanceService::new(whole.clone())
            .recompute_range_after(d(1), d(30), now, None, &mut |_| ControlFlow::Continue(()))
            .await
            .unwrap();
        assert_eq!((outcome.records, outcome.finished), (135 * 30, true));

        let split = staffed(150).await;
        let service = AttendanceService::new(split.clone());
        let mut first: Vec<RangeChunk> = Vec::new();
        let stopped = service
            .recompute_range_after(d(1), d(30), now, None, &mut |chunk| {
                first.push(chunk.clone());
                ControlFlow::Break(())
            })
            .await
            .unwrap();
        assert!(!stopped.finished);
        assert_eq!(first.len(), 1, "stopped after the first chunk");
        let resume = first[0].clone();
        assert_eq!((resume.done, resume.total), (66, 135));
        assert_eq!(stopped.records, 66 * 30);
        assert_eq!(every_record(&split).await.len(), 66 * 30);

        let mut rest: Vec<RangeChunk> = Vec::new();
        let resumed = service
            .recompute_range_after(d(1), d(30), now, Some(&resume.last), &mut |chunk| {
                rest.push(chunk.clone());
                ControlFlow::Continue(())
            })
            .await
            .unwrap();
        assert!(resumed.finished);
        assert_eq!(resumed.records, (135 - 66) * 30);
        assert_eq!(
            rest.iter().map(|c| c.done).collect::<Vec<_>>(),
            [132, 135],
            "counted on from the resume point"
        );
        assert!(rest.iter().all(|c| c.last > resume.last));
        assert_eq!(every_record(&split).await, every_record(&whole).await);
    });
}
