//! Recomputing: chunks, ranges, closing windows, employee changes and the helpers they use.

use super::*;
use crate::service::chunks::{chunked, group_by_user};
use crate::service::recompute::runs;

#[test]
fn a_night_workers_day_is_read_over_the_night_window() {
    // 20:00–05:00 with the default margins (2 h early, 10 h late): the night of the 23rd
    // opens where the night before's late margin ends (15:00) and closes at 15:00 the next
    // day, which the early margin (18:00) does not cut shorter.
    let mut m = Mocks::default().with_settings(with_night_shift(), Vec::new());
    m.leave
        .expect_leave_account()
        .returning(|code| Ok(empty_account(code.as_str(), 0)));
    m.scans
        .expect_scans_of_user()
        .with(
            eq(DeviceUserId::parse("2").unwrap()),
            eq(local(23, 15, 0)),
            eq(local(24, 15, 0)),
        )
        .times(1)
        .returning(|_, _, _| Ok(Vec::new()));
    m.records
        .expect_upsert_records()
        .times(1)
        .withf(|records| {
            records.len() == 1
                && records[0].shift.as_str() == "NIGHT"
                && records[0].status == AttendanceStatus::Absent
        })
        .returning(|_| Ok(()));
    let night_worker = on_shift(employee("EMP002", "2", true), "NIGHT");
    let records = block_on(
        m.service()
            .recompute(&night_worker, &BTreeSet::from([d(23)]), now()),
    )
    .unwrap();
    assert_eq!(records.len(), 1);
}

#[test]
fn chunks_are_bounded_by_employees_and_by_pairs() {
    let sizes = |items: &[usize]| -> Vec<usize> {
        chunked(items, |n| *n).iter().map(|c| c.len()).collect()
    };
    // 1,200 employees of one day: by employees.
    assert_eq!(sizes(&[1; 1_200]), [RECOMPUTE_CHUNK, RECOMPUTE_CHUNK, 200]);
    // 100 employees of 31 days: at most RECOMPUTE_CHUNK_DAYS pairs a chunk.
    let month = sizes(&[31; 100]);
    assert_eq!(month, [64, 36]);
    const { assert!(64 * 31 <= RECOMPUTE_CHUNK_DAYS && 65 * 31 > RECOMPUTE_CHUNK_DAYS) };
    // One employee with more pairs than a chunk holds is a chunk of its own.
    assert_eq!(sizes(&[1, RECOMPUTE_CHUNK_DAYS + 1, 1]), [1, 1, 1]);
    assert_eq!(sizes(&[]), Vec::<usize>::new());
}

#[test]
fn recompute_days_goes_by_chunks_of_employees_and_skips_unknown_codes() {
    let mut m = Mocks::default().with_site(Vec::new());
    let n = RECOMPUTE_CHUNK + 1;
    let staff: Vec<Employee> = (1..=n)
        .map(|i| employee(&format!("EMP{i:05}"), &i.to_string(), true))
        .collect();
    let mut days: DayKeys = staff
        .iter()
        .map(|e| (e.employee_id.clone(), BTreeSet::from([d(23), d(24)])))
        .collect();
    days.insert(code("EMP99999"), BTreeSet::from([d(23)]));
    days.insert(code("EMP99998"), BTreeSet::new());
    let stored = staff.clone();
    m.employees
        .expect_employees_by_codes()
        .times(2)
        .returning(move |codes| {
            Ok(stored
                .iter()
                .filter(|e| codes.contains(&e.employee_id))
                .cloned()
                .collect())
        });
    m.leave
        .expect_leave_requests_of()
        .times(2)
        .returning(|_| Ok(Vec::new()));
    m.scans
        .expect_scans_of_users()
        .times(2)
        .returning(|_, _, _| Ok(Vec::new()));
    let mut seq = Sequence::new();
    // A store of 400 records per write: the first chunk's 1,000 records in three writes,
    // then the second chunk's 2.
    m.records.expect_records_per_write().return_const(400_usize);
    for size in [400, 400, 200, 2] {
        m.records
            .expect_upsert_records()
            .times(1)
            .in_sequence(&mut seq)
            .withf(move |records| records.len() == size)
            .returning(|_| Ok(()));
    }
    let recorder = Arc::new(Recorder::default());
    let service = m.service().with_observer(recorder.clone());
    let done = block_on(service.recompute_days(&days, now())).unwrap();
    assert_eq!(done.records.len(), 2 * n);
    assert_eq!(done.summaries.len(), 2 * n);
    let keys: Vec<(&str, NaiveDate)> = done
        .records
        .iter()
        .map(|r| (r.employee_id.as_str(), r.date))
        .collect();
    assert_eq!(
        keys[..3],
        [
            ("EMP00001", d(23)),
            ("EMP00001", d(24)),
            ("EMP00002", d(23))
        ]
    );
    assert!(
        done.records
            .iter()
            .all(|r| r.status == AttendanceStatus::Absent)
    );
    assert_eq!(recorder.events().len(), 2, "told once per chunk");
}

#[test]
fn recompute_range_takes_active_employees_by_chunks_and_reports_progress() {
    let mut m = Mocks::default().with_site(Vec::new());
    let n = RECOMPUTE_CHUNK + 1;
    let mut staff: Vec<Employee> = (1..=n)
        .map(|i| employee(&format!("EMP{i:05}"), &i.to_string(), true))
        .collect();
    staff.push(employee("EMP99999", "99999", false));
    m.employees
        .expect_list_employees()
        .times(1)
        .returning(move |_| Ok(staff.clone()));
    m.leave
        .expect_leave_requests_of()
        .times(2)
        .withf(|codes| !codes.contains(&code("EMP99999")))
        .returning(|_| Ok(Vec::new()));
    m.scans
        .expect_scans_of_users()
        .times(2)
        .returning(|_, _, _| Ok(Vec::new()));
    m.records
        .expect_upsert_records()
        .times(2)
        .returning(|_| Ok(()));
    let mut calls = Vec::new();
    let stored = block_on(
        m.service()
            .recompute_range(d(1), d(3), now(), &mut |done, total| {
                calls.push((done, total))
            }),
    )
    .unwrap();
    assert_eq!(stored, 3 * n);
    assert_eq!(calls, [(RECOMPUTE_CHUNK, n), (n, n)]);
}

/// `employee`'s record of `date` as computed at `at` with the default settings and no scans.
fn computed(employee: &Employee, date: NaiveDate, at: DateTime<Utc>) -> DailyRecord {
    let settings = AttendanceSettings::default();
    let roster = settings.roster_of(employee);
    let calendar = DayCalendar::default();
    let ctx = EmployeeContext {
        settings: &settings,
        employee,
        roster: &roster,
        calendar: &calendar,
    };
    compute_days(&ctx, &[], date, date, at).remove(0)
}

#[test]
fn closing_windows_recomputes_the_dates_that_closed_unless_stored_closed() {
    // Default day shift 08:00–17:00: the 23rd's window closes at 03:00 on the 24th. The
    // night of the 23rd (20:00–05:00) closes at 15:00 on the 24th: not yet.
    let mut m = Mocks::default().with_settings(with_night_shift(), Vec::new());
    let (pending, closed, night, gone) = (
        employee("EMP001", "1", true),
        employee("EMP002", "2", true),
        on_shift(employee("EMP003", "3", true), "NIGHT"),
        employee("EMP004", "4", false),
    );
    let staff = vec![
        pending.clone(),
        closed.clone(),
        night,
        gone,
        employee("EMP005", "5", true),
    ];
    m.employees
        .expect_list_employees()
        .returning(move |_| Ok(staff.clone()));
    let stored = vec![
        computed(&pending, d(23), local(23, 12, 0)),
        computed(&closed, d(23), local(24, 3, 30)),
    ];
    assert_eq!(stored[0].status, AttendanceStatus::Pending);
    assert_eq!(stored[1].status, AttendanceStatus::Absent);
    m.records
        .expect_query_records()
        .times(1)
        .withf(|q| q.from == Some(d(23)) && q.to == Some(d(23)) && q.offset == 0)
        .returning(move |_| {
            Ok(crate::store::Page {
                count: 2,
                results: stored.clone(),
            })
        });
    m.leave
        .expect_leave_requests_of()
        .times(1)
        .withf(|codes| codes == [code("EMP001"), code("EMP005")])
        .returning(|_| Ok(Vec::new()));
    m.scans
        .expect_scans_of_users()
        .times(1)
        .returning(|_, _, _| Ok(Vec::new()));
    m.records
        .expect_upsert_records()
        .times(1)
        .returning(|_| Ok(()));
    let service = m.service();
    let done = block_on(service.close_windows(local(24, 2, 0), local(24, 4, 0))).unwrap();
    let got: Vec<(&str, NaiveDate, &AttendanceStatus, bool)> = done
        .records
        .iter()
        .map(|r| (r.employee_id.as_str(), r.date, &r.status, r.window_closed))
        .collect();
    assert_eq!(
        got,
        [
            ("EMP001", d(23), &AttendanceStatus::Absent, true),
            ("EMP005", d(23), &AttendanceStatus::Absent, true),
        ]
    );
    assert_eq!(done.summaries.len(), 2);
    // Nothing closed in between: settings and employees are read, nothing else.
    let quiet = block_on(service.close_windows(local(24, 4, 0), local(24, 5, 0))).unwrap();
    assert!(quiet.records.is_empty());
    assert!(
        block_on(service.close_windows(local(24, 5, 0), local(24, 5, 0)))
            .unwrap()
            .records
            .is_empty()
    );
}

#[test]
fn an_employee_change_the_rules_read_recomputes_from_the_previous_month() {
    let mut m = Mocks::default().with_site(Vec::new());
    m.leave
        .expect_leave_requests_of()
        .times(1)
        .returning(|_| Ok(Vec::new()));
    m.scans
        .expect_scans_of_users()
        .times(1)
        .returning(|_, _, _| Ok(Vec::new()));
    m.records
        .expect_upsert_records()
        .times(1)
        .returning(|_| Ok(()));
    let service = m.service();
    let before = employee("EMP001", "1", true);
    let mut renamed = before.clone();
    renamed.employee_name = "Someone else".into();
    // A change the rules do not read recomputes nothing (no reads either).
    let none = block_on(service.employee_changed(Some(&before), &renamed, now())).unwrap();
    assert!(none.records.is_empty());
    let moved = on_shift(before.clone(), "DAY");
    let done = block_on(service.employee_changed(Some(&before), &moved, now())).unwrap();
    let first = NaiveDate::from_ymd_opt(2026, 10, 1).unwrap();
    assert_eq!(done.records.len(), 31 + 26);
    assert_eq!(done.records.first().map(|r| r.date), Some(first));
    assert_eq!(done.records.last().map(|r| r.date), Some(d(26)));
}

#[test]
fn scans_are_grouped_per_user_in_any_order() {
    let scans = vec![
        scan("1", local(23, 8, 0)),
        scan("1", local(23, 9, 0)),
        scan("2", local(23, 8, 0)),
        scan("1", local(23, 10, 0)),
    ];
    let mut by_user = HashMap::new();
    group_by_user(scans, &mut by_user);
    group_by_user(vec![scan("2", local(23, 9, 0))], &mut by_user);
    let times =
        |u: &str| -> Vec<DateTime<Utc>> { by_user[&user(u)].iter().map(|s| s.timestamp).collect() };
    assert_eq!(
        times("1"),
        [local(23, 8, 0), local(23, 9, 0), local(23, 10, 0)]
    );
    assert_eq!(times("2"), [local(23, 8, 0), local(23, 9, 0)]);
    assert_eq!(by_user.len(), 2);
}

#[test]
fn consecutive_dates_form_runs() {
    let dates = BTreeSet::from([d(1), d(2), d(3), d(5), d(7), d(8)]);
    assert_eq!(runs(&dates), [(d(1), d(3)), (d(5), d(5)), (d(7), d(8))]);
}
