use chrono::{Datelike, Days, Months, NaiveDate, TimeZone, Utc};
use proptest::prelude::*;

use super::*;
use crate::employee::NewEmployee;
use crate::shift::ShiftId;

fn employee(code: &str, department: &str) -> Employee {
    Employee::parse(&NewEmployee {
        employee_id: code.into(),
        employee_name: format!("Name of {code}"),
        department: department.into(),
        designation: "Operator".into(),
        level_of_work: "Worker".into(),
        ..NewEmployee::default()
    })
    .unwrap()
}

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn at() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 6, 0, 0).unwrap()
}

/// A closed record of `code` on `date` with `status` and nothing else.
fn record(code: &str, date: NaiveDate, status: AttendanceStatus) -> DailyRecord {
    DailyRecord {
        employee_id: EmployeeCode::parse(code).unwrap(),
        date,
        shift: ShiftId::parse("GENERAL").unwrap(),
        status,
        check_in: None,
        check_out: None,
        working_seconds: 0,
        overtime_seconds: 0,
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
    }
}

fn worked(code: &str, date: NaiveDate, status: AttendanceStatus, seconds: i64) -> DailyRecord {
    DailyRecord {
        working_seconds: seconds,
        ..record(code, date, status)
    }
}

fn override_of(code: &str, date: NaiveDate, status: AttendanceStatus) -> DayOverride {
    DayOverride::new(
        EmployeeCode::parse(code).unwrap(),
        date,
        status,
        "device down",
        "hr",
        at(),
    )
    .unwrap()
}

#[test]
fn a_month_counts_each_day_once_by_its_status_and_sums_the_seconds() {
    use AttendanceStatus::*;
    let e = employee("EMP001", "Sewing");
    let d = |day| date(2026, 11, day);
    let records = vec![
        DailyRecord {
            overtime_seconds: 1_800,
            extra_overtime_seconds: 3_600,
            snacks_eligible: true,
            night_bill_eligible: true,
            ..worked("EMP001", d(1), PresentOnTime, 29_700)
        },
        worked("EMP001", d(2), PresentConsidered, 28_800),
        DailyRecord {
            late_minutes: 42,
            ..worked("EMP001", d(3), PresentLate, 27_000)
        },
        DailyRecord {
            // Within the grace: its minutes do not count as late minutes.
            late_minutes: 3,
            ..worked("EMP001", d(4), PresentOnTime, 60)
        },
        record("EMP001", d(5), Absent),
        DailyRecord {
            half_day_leave: true,
            ..record("EMP001", d(6), Leave(LeaveType::Sick))
        },
        record("EMP001", d(7), Leave(LeaveType::Casual)),
        DailyRecord {
            worked_on_holiday: true,
            holiday_name: Some("Victory Day".into()),
            ..worked("EMP001", d(8), Holiday, 3_600)
        },
        DailyRecord {
            worked_on_weekend: true,
            ..worked("EMP001", d(9), Weekend, 7_200)
        },
        record("EMP001", d(10), Weekend),
        record("EMP001", d(11), Absent), // overridden: present
        record("EMP001", d(12), Pending),
        // Another month and another employee are left out.
        record("EMP001", date(2026, 12, 1), Absent),
        record("EMP002", d(13), Absent),
    ];
    let overrides = [override_of("EMP001", d(11), PresentOnTime)];
    let row = MonthlyRow::of_month(&e, d(1), &records, &overrides);
    let c = &row.counts;
    assert_eq!(c.days, 12);
    assert_eq!((c.on_time_days, c.considered_days, c.late_days), (3, 1, 1));
    assert_eq!(c.present_days, 5);
    assert_eq!(c.absent_days, 1);
    assert_eq!(c.leave_days, 2);
    assert_eq!(c.leave_of(&LeaveType::Sick), 1);
    assert_eq!(c.leave_of(&LeaveType::Casual), 1);
    assert_eq!(c.half_day_leave_days, 1);
    assert_eq!((c.holiday_days, c.weekend_days, c.pending_days), (1, 2, 1));
    assert_eq!(c.working_days, 9);
    assert_eq!((c.holiday_days_worked, c.weekend_days_worked), (1, 1));
    assert_eq!(c.late_minutes, 42);
    assert_eq!((c.snacks_days, c.night_bill_days), (1, 1));
    assert_eq!(c.overridden_days, 1);
    let seconds = 29_700 + 28_800 + 27_000 + 60 + 3_600 + 7_200;
    assert_eq!(c.working_seconds, seconds);
    assert_eq!(c.working_hours, hours(seconds));
    assert_eq!((c.overtime, c.extra_overtime), (0.5, 1.0));
}

#[test]
fn totals_round_the_summed_seconds_per_department_and_overall() {
    // Each row has 40 s, 0.01 h when rounded alone; the five rows are 200 s = 0.06 h (the
    // rounded rows would add up to 0.05), Sewing's three 120 s = 0.03 h, Cutting's two 0.02 h.
    let month = date(2026, 11, 1);
    let sheets: Vec<(Employee, Vec<DailyRecord>)> = [
        ("EMP003", "Sewing"),
        ("EMP001", "Sewing"),
        ("EMP002", "Cutting"),
        ("EMP004", "Cutting"),
        ("EMP005", "Sewing"),
    ]
    .iter()
    .map(|(code, department)| {
        let records = vec![worked(code, month, AttendanceStatus::PresentOnTime, 40)];
        (employee(code, department), records)
    })
    .collect();
    let report = MonthlyReport::new(month, at(), &[LeaveType::Casual], &sheets, &[]);
    let order: Vec<&str> = report
        .employees
        .iter()
        .map(|r| r.employee_id.as_str())
        .collect();
    assert_eq!(order, ["EMP002", "EMP004", "EMP001", "EMP003", "EMP005"]);
    assert_eq!(report.employees[0].counts.working_hours, 0.01);
    let departments: Vec<(&str, u32, f64)> = report
        .departments
        .iter()
        .map(|d| {
            (
                d.department.as_str(),
                d.totals.employees,
                d.totals.counts.working_hours,
            )
        })
        .collect();
    assert_eq!(departments, [("Cutting", 2, 0.02), ("Sewing", 3, 0.03)]);
    assert_eq!(report.totals.employees, 5);
    assert_eq!(report.totals.counts.working_seconds, 200);
    assert_eq!(report.totals.counts.working_hours, 0.06);
    // Every reported leave type is listed, with 0 when none was taken.
    assert_eq!(report.employees[0].counts.leave_of(&LeaveType::Casual), 0);
    assert!(
        report.employees[0]
            .counts
            .leave_by_type
            .contains_key(&LeaveType::Casual)
    );
}

#[test]
fn leave_types_are_the_given_ones_then_any_other_a_row_has() {
    let month = date(2026, 11, 1);
    let study: LeaveType = "Study".parse().unwrap();
    let sheets = vec![(
        employee("EMP001", "Sewing"),
        vec![
            record("EMP001", month, AttendanceStatus::Leave(study.clone())),
            record(
                "EMP001",
                date(2026, 11, 2),
                AttendanceStatus::Leave(LeaveType::Annual),
            ),
        ],
    )];
    let given = [LeaveType::Sick, LeaveType::Casual];
    let report = MonthlyReport::new(month, at(), &given, &sheets, &[]);
    assert_eq!(
        report.leave_types,
        [
            LeaveType::Sick,
            LeaveType::Casual,
            LeaveType::Annual,
            study.clone()
        ]
    );
    for counts in [&report.employees[0].counts, &report.totals.counts] {
        assert_eq!(counts.leave_by_type.len(), 4);
        assert_eq!(counts.leave_of(&study), 1);
        assert_eq!(counts.leave_of(&LeaveType::Annual), 1);
        assert_eq!(counts.leave_of(&LeaveType::Sick), 0);
    }
}

#[test]
fn the_json_has_the_counts_beside_the_employee_and_reads_back() {
    let month = date(2026, 11, 1);
    let sheets = vec![(
        employee("EMP001", "Sewing"),
        vec![worked(
            "EMP001",
            month,
            AttendanceStatus::PresentOnTime,
            29_700,
        )],
    )];
    let report = MonthlyReport::new(month, at(), &[LeaveType::Casual], &sheets, &[]);
    let json = serde_json::to_value(&report).unwrap();
    let row = &json["employees"][0];
    assert_eq!(row["employee_id"], "EMP001");
    assert_eq!(row["working_hours"], 8.25);
    assert_eq!(row["on_time_days"], 1);
    assert_eq!(row["leave_by_type"]["Casual"], 0);
    assert_eq!(json["departments"][0]["department"], "Sewing");
    assert_eq!(json["departments"][0]["totals"]["employees"], 1);
    assert_eq!(json["totals"]["present_days"], 1);
    assert_eq!(json["month"], "2026-11");
    let back: MonthlyReport = serde_json::from_value(json).unwrap();
    assert_eq!(back, report);
}

const STATUSES: [AttendanceStatus; 9] = [
    AttendanceStatus::PresentOnTime,
    AttendanceStatus::PresentConsidered,
    AttendanceStatus::PresentLate,
    AttendanceStatus::Absent,
    AttendanceStatus::Leave(LeaveType::Casual),
    AttendanceStatus::Leave(LeaveType::Sick),
    AttendanceStatus::Holiday,
    AttendanceStatus::Weekend,
    AttendanceStatus::Pending,
];

/// One day's random facts: status, seconds (working, overtime, extra), late minutes, flags,
/// and the status of an override (an index past the statuses: none).
type Day = (usize, (i64, i64, i64), i64, [bool; 6], usize);

fn day() -> impl Strategy<Value = Day> {
    (
        0..STATUSES.len(),
        (0i64..40_000, 0i64..8_000, 0i64..8_000),
        0i64..200,
        any::<[bool; 6]>(),
        0..STATUSES.len() * 3,
    )
}

fn month_record(code: &str, date: NaiveDate, day: &Day) -> DailyRecord {
    let (status, (work, ot, extra), late, flags, _) = day;
    DailyRecord {
        working_seconds: *work,
        overtime_seconds: *ot,
        extra_overtime_seconds: *extra,
        late_minutes: *late,
        snacks_eligible: flags[0],
        night_bill_eligible: flags[1],
        worked_on_holiday: flags[2],
        worked_on_weekend: flags[3],
        half_day_leave: flags[4],
        missing_checkout: flags[5],
        ..record(code, date, STATUSES[*status].clone())
    }
}

/// The counts with the hours left out (they follow from the seconds).
fn sum_of(rows: &[&MonthlyCounts]) -> MonthlyCounts {
    let mut sum = MonthlyCounts::default();
    for row in rows {
        sum.add(row);
    }
    sum
}

proptest! {
    #[test]
    fn totals_are_the_sum_of_the_rows_and_every_day_is_counted_once(
        month_index in 0u32..24,
        employees in prop::collection::vec((0usize..3, prop::collection::vec(day(), 31)), 1..6),
    ) {
        let month = date(2025, 1, 1)
            .checked_add_months(Months::new(month_index))
            .unwrap();
        let last = month
            .checked_add_months(Months::new(1))
            .and_then(|d| d.checked_sub_days(Days::new(1)))
            .unwrap();
        let days_in_month = last.day() as usize;
        let departments = ["Sewing", "Cutting", "Finishing"];
        let mut sheets = Vec::new();
        let mut overrides = Vec::new();
        for (i, (department, days)) in employees.iter().enumerate() {
            let code = format!("EMP{:03}", i + 1);
            let mut records = Vec::new();
            for (n, day) in days.iter().take(days_in_month).enumerate() {
                let date = month + Days::new(n as u64);
                records.push(month_record(&code, date, day));
                if let Some(status) = STATUSES.get(day.4)
                    && *status != AttendanceStatus::Pending
                {
                    overrides.push(override_of(&code, date, status.clone()));
                }
            }
            sheets.push((employee(&code, departments[*department]), records));
        }
        let report = MonthlyReport::new(month, at(), &[LeaveType::Casual], &sheets, &overrides);

        prop_assert_eq!(report.employees.len(), sheets.len());
        for row in &report.employees {
            let c = &row.counts;
            prop_assert_eq!(c.days as usize, days_in_month);
            prop_assert_eq!(
                c.present_days + c.absent_days + c.leave_days + c.holiday_days
                    + c.weekend_days + c.pending_days,
                c.days
            );
            prop_assert_eq!(c.on_time_days + c.considered_days + c.late_days, c.present_days);
            prop_assert_eq!(c.leave_by_type.values().sum::<u32>(), c.leave_days);
            prop_assert_eq!(c.working_days + c.holiday_days + c.weekend_days, c.days);
            prop_assert!(c.half_day_leave_days <= c.leave_days);
            prop_assert!(c.overridden_days <= c.days);
            prop_assert_eq!(c.working_hours, hours(c.working_seconds));
        }
        // The overall totals are the sum of the rows, and of the departments.
        let rows: Vec<&MonthlyCounts> = report.employees.iter().map(|r| &r.counts).collect();
        prop_assert_eq!(&sum_of(&rows), &report.totals.counts);
        let by_department: Vec<&MonthlyCounts> =
            report.departments.iter().map(|d| &d.totals.counts).collect();
        prop_assert_eq!(&sum_of(&by_department), &report.totals.counts);
        prop_assert_eq!(report.totals.employees as usize, sheets.len());
        prop_assert_eq!(
            report.departments.iter().map(|d| d.totals.employees).sum::<u32>(),
            report.totals.employees
        );
        for department in &report.departments {
            let rows: Vec<&MonthlyCounts> = report
                .employees
                .iter()
                .filter(|r| r.department == department.department)
                .map(|r| &r.counts)
                .collect();
            prop_assert_eq!(&sum_of(&rows), &department.totals.counts);
        }
        prop_assert_eq!(
            report.totals.counts.days as usize,
            days_in_month * sheets.len()
        );
        prop_assert_eq!(report.totals.counts.working_hours, hours(report.totals.counts.working_seconds));
        prop_assert_eq!(report.totals.counts.overridden_days as usize, overrides.len());
    }
}
