//! Table-driven checks of the daily rules: every case goes through one `check` helper, which
//! computes the day from local scan times and compares the frontend's summary shape and the
//! record's flags with what the case expects.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use attendance_core::prelude::*;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

/// The site's clock, `Asia/Dhaka` by default. 2026-11-22 is a Sunday (a working day) and
/// 2026-11-27 a Friday (the weekly off day).
const DAY: &str = "2026-11-22";

struct Case {
    name: &'static str,
    level: &'static str,
    /// Local times `YYYY-MM-DD HH:MM[:SS]`.
    scans: &'static [&'static str],
    date: &'static str,
    /// Local time that is "now"; defaults to noon two days after the date.
    now: Option<&'static str>,
    shift: Option<Shift>,
    calendar: DayCalendar,
    settings: fn(&mut AttendanceSettings),
}

impl Case {
    fn new(name: &'static str, scans: &'static [&'static str]) -> Self {
        Self {
            name,
            level: "Worker",
            scans,
            date: DAY,
            now: None,
            shift: None,
            calendar: DayCalendar::new(),
            settings: |_| {},
        }
    }
}

/// What a case must come out as.
#[derive(Debug, PartialEq)]
struct Expect {
    status: String,
    check_in: Option<String>,
    check_out: Option<String>,
    working: f64,
    overtime: f64,
    extra: f64,
    count: usize,
    snacks: bool,
    night_bill: bool,
    missing_checkout: bool,
}

impl Expect {
    fn present(status: &str, check_in: &str, check_out: &str) -> Self {
        Self {
            status: status.to_owned(),
            check_in: Some(check_in.to_owned()),
            check_out: Some(check_out.to_owned()),
            working: 0.0,
            overtime: 0.0,
            extra: 0.0,
            count: 2,
            snacks: false,
            night_bill: false,
            missing_checkout: false,
        }
    }

    fn no_scans(status: &str) -> Self {
        Self {
            status: status.to_owned(),
            check_in: None,
            check_out: None,
            working: 0.0,
            overtime: 0.0,
            extra: 0.0,
            count: 0,
            snacks: false,
            night_bill: false,
            missing_checkout: false,
        }
    }

    fn hours(self, working: f64, overtime: f64, extra: f64) -> Self {
        Self {
            working,
            overtime,
            extra,
            ..self
        }
    }
}

fn local(settings: &AttendanceSettings, text: &str) -> DateTime<Utc> {
    let naive = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M"))
        .unwrap_or_else(|e| panic!("bad time {text:?}: {e}"));
    attendance_core::time::local_to_utc(settings.time_zone, naive)
}

fn employee(level: &str) -> Employee {
    Employee::parse(&NewEmployee {
        employee_id: "EMP001".into(),
        employee_name: "Rahima Khatun".into(),
        department: "Sewing".into(),
        designation: "Senior Tailor".into(),
        level_of_work: level.into(),
        ..Default::default()
    })
    .unwrap()
}

fn scan(settings: &AttendanceSettings, employee: &Employee, text: &str) -> ScanData {
    ScanData {
        machine_id: MachineId::parse("BOCK200961014").unwrap(),
        device_user_id: employee.device_user_id.clone(),
        timestamp: local(settings, text),
        punch_state: PunchState::Other(255),
        verify_mode: VerifyMode::Fingerprint,
        raw: None,
    }
}

/// Computes the case's date and returns its summary and record.
fn run(case: &Case) -> (DailySummary, DailyRecord) {
    let mut settings = AttendanceSettings::default();
    (case.settings)(&mut settings);
    settings.validate().unwrap();
    let employee = employee(case.level);
    let shift = case
        .shift
        .clone()
        .unwrap_or_else(|| settings.default_shift.clone());
    let roster = ShiftRoster::fixed(&shift);
    let ctx = EmployeeContext {
        settings: &settings,
        employee: &employee,
        roster: &roster,
        calendar: &case.calendar,
    };
    let date: NaiveDate = case.date.parse().unwrap();
    let now = match case.now {
        Some(text) => local(&settings, text),
        None => local(&settings, &format!("{} 12:00", date + chrono::Days::new(2))),
    };
    let scans: Vec<ScanData> = case
        .scans
        .iter()
        .map(|t| scan(&settings, &employee, t))
        .collect();
    let days = compute_days(&ctx, &scans, date, date, now);
    assert_eq!(days.len(), 1, "{}: one record per date", case.name);
    let record = days.into_iter().next().unwrap();
    (
        DailySummary::new(&employee, &record, settings.time_zone),
        record,
    )
}

fn check(case: Case, expected: Expect) {
    let (summary, record) = run(&case);
    let actual = Expect {
        status: summary.status.to_string(),
        check_in: summary.check_in,
        check_out: summary.check_out,
        working: summary.working_hours,
        overtime: summary.overtime,
        extra: summary.extra_overtime,
        count: summary.attendance_count,
        snacks: record.snacks_eligible,
        night_bill: record.night_bill_eligible,
        missing_checkout: record.missing_checkout,
    };
    assert_eq!(actual, expected, "case {:?}", case.name);
}

fn night_shift() -> Shift {
    let mut shift = Shift::new(
        ShiftId::parse("NIGHT").unwrap(),
        "Night",
        "20:00:00".parse().unwrap(),
        "05:00:00".parse().unwrap(),
    )
    .unwrap();
    shift.overtime_tiers = Some(vec![
        OvertimeTier {
            kind: OvertimeKind::Overtime,
            from: "05:00+1".parse().unwrap(),
            until: Some("07:00+1".parse().unwrap()),
        },
        OvertimeTier {
            kind: OvertimeKind::ExtraOvertime,
            from: "07:00+1".parse().unwrap(),
            until: None,
        },
    ]);
    shift.unpaid_breaks = Some(vec![UnpaidBreak {
        name: "Meal".into(),
        start: "00:00+1".parse().unwrap(),
        end: "00:30+1".parse().unwrap(),
    }]);
    shift
}

#[test]
fn seed_sample_worker_day() {
    check(
        Case::new("seed sample", &["2026-11-22 08:00", "2026-11-22 17:30"]),
        Expect::present("Present-OnTime", "08:00", "17:30").hours(8.25, 0.5, 0.0),
    );
}

#[test]
fn overtime_and_extra_overtime_earn_snacks() {
    check(
        Case::new("07:50-22:00", &["2026-11-22 07:50", "2026-11-22 22:00"]),
        Expect {
            snacks: true,
            ..Expect::present("Present-OnTime", "07:50", "22:00").hours(12.92, 2.0, 3.0)
        },
    );
}

#[test]
fn checkout_after_midnight_stays_on_the_first_date_and_earns_night_bill() {
    check(
        Case::new("08:00-00:30", &["2026-11-22 08:00", "2026-11-23 00:30"]),
        Expect {
            snacks: true,
            night_bill: true,
            ..Expect::present("Present-OnTime", "08:00", "00:30").hours(15.25, 2.0, 5.5)
        },
    );
    // The next date sees none of those scans.
    let (next, _) = run(&Case {
        date: "2026-11-23",
        ..Case::new("next date", &["2026-11-22 08:00", "2026-11-23 00:30"])
    });
    assert_eq!(next.attendance_count, 0);
    assert_eq!(next.status, AttendanceStatus::Absent);
}

#[test]
fn staff_earn_no_overtime() {
    check(
        Case {
            level: "Staff",
            ..Case::new("staff to 20:00", &["2026-11-22 08:00", "2026-11-22 20:00"])
        },
        Expect::present("Present-OnTime", "08:00", "20:00").hours(10.75, 0.0, 0.0),
    );
}

#[test]
fn arrival_grades() {
    let late = |at: &'static str, status| {
        (
            Case::new(
                "arrival",
                Box::leak(vec![at, "2026-11-22 17:00"].into_boxed_slice()),
            ),
            status,
        )
    };
    for (case, status) in [
        late("2026-11-22 08:00:59", "Present-OnTime"),
        late("2026-11-22 08:10", "Present-Considered"),
        late("2026-11-22 08:15:30", "Present-Considered"),
        late("2026-11-22 08:16", "Present-Late"),
        late("2026-11-22 08:20", "Present-Late"),
    ] {
        let (summary, _) = run(&case);
        assert_eq!(summary.status.to_string(), status, "{:?}", case.scans);
    }
}

#[test]
fn night_shift_from_20_to_05() {
    check(
        Case {
            shift: Some(night_shift()),
            ..Case::new("night", &["2026-11-22 19:55", "2026-11-23 06:00"])
        },
        Expect::present("Present-OnTime", "19:55", "06:00").hours(9.58, 1.0, 0.0),
    );
    // Arriving 20:20 is late for the night shift; its scans belong to the start date.
    let (summary, _) = run(&Case {
        shift: Some(night_shift()),
        ..Case::new("night late", &["2026-11-22 20:20", "2026-11-23 05:00"])
    });
    assert_eq!(
        (
            summary.date.to_string().as_str(),
            summary.status.to_string().as_str()
        ),
        (DAY, "Present-Late")
    );
}

#[test]
fn double_tap_within_a_minute_is_ignored() {
    let (summary, record) = run(&Case::new(
        "double tap",
        &[
            "2026-11-22 08:00:00",
            "2026-11-22 08:00:40",
            "2026-11-22 17:30:00",
        ],
    ));
    assert_eq!(
        (
            summary.working_hours,
            summary.overtime,
            summary.attendance_count
        ),
        (8.25, 0.5, 2)
    );
    assert_eq!(
        record
            .scans
            .iter()
            .map(|s| s.soft_duplicate)
            .collect::<Vec<_>>(),
        [false, true, false]
    );
}

#[test]
fn lone_scan_is_a_missing_checkout() {
    check(
        Case::new("lone scan", &["2026-11-22 08:05"]),
        Expect {
            check_out: None,
            count: 1,
            missing_checkout: true,
            ..Expect::present("Present-Considered", "08:05", "")
        },
    );
    // While the day's window is open it is not yet a missing checkout.
    let (_, record) = run(&Case {
        now: Some("2026-11-22 12:00"),
        ..Case::new("lone scan, open", &["2026-11-22 08:05"])
    });
    assert!(!record.missing_checkout);
}

#[test]
fn approved_leave_wins_over_everything() {
    let mut calendar = DayCalendar::new();
    calendar.leave.insert(
        DAY.parse().unwrap(),
        LeaveDay {
            leave_type: LeaveType::Sick,
            half_day: false,
        },
    );
    calendar
        .holidays
        .insert(DAY.parse().unwrap(), "Some Day".into());
    check(
        Case {
            calendar: calendar.clone(),
            ..Case::new("sick leave", &[])
        },
        Expect::no_scans("Leave-Sick"),
    );
}

#[test]
fn holiday_without_and_with_work() {
    let mut calendar = DayCalendar::new();
    calendar
        .holidays
        .insert(DAY.parse().unwrap(), "Victory Day".into());
    check(
        Case {
            calendar: calendar.clone(),
            ..Case::new("holiday", &[])
        },
        Expect::no_scans("Holiday"),
    );
    let (summary, record) = run(&Case {
        calendar,
        ..Case::new("holiday worked", &["2026-11-22 08:00", "2026-11-22 17:30"])
    });
    assert_eq!(summary.status, AttendanceStatus::Holiday);
    assert!(record.worked_on_holiday);
    // All worked time is overtime on a holiday.
    assert_eq!(
        (
            summary.working_hours,
            summary.overtime,
            summary.extra_overtime
        ),
        (8.25, 8.25, 0.0)
    );
}

#[test]
fn weekly_off_day_worked() {
    check(
        Case {
            date: "2026-11-27",
            ..Case::new("friday worked", &["2026-11-27 09:00", "2026-11-27 21:00"])
        },
        Expect {
            snacks: true,
            ..Expect::present("Weekend", "09:00", "21:00").hours(10.75, 8.75, 2.0)
        },
    );
    check(
        Case {
            date: "2026-11-27",
            settings: |s| s.off_day_work_is_overtime = false,
            ..Case::new(
                "friday worked, plain tiers",
                &["2026-11-27 09:00", "2026-11-27 21:00"],
            )
        },
        Expect {
            snacks: true,
            ..Expect::present("Weekend", "09:00", "21:00").hours(10.75, 2.0, 2.0)
        },
    );
    check(
        Case {
            date: "2026-11-27",
            ..Case::new("friday off", &[])
        },
        Expect::no_scans("Weekend"),
    );
}

#[test]
fn working_day_without_scans_is_absent_only_after_its_window_closes() {
    // The 08:00–17:00 shift's window closes at 03:00 the next morning.
    check(
        Case {
            now: Some("2026-11-22 10:00"),
            ..Case::new("before", &[])
        },
        Expect::no_scans("Pending"),
    );
    check(
        Case {
            now: Some("2026-11-23 02:59"),
            ..Case::new("just before", &[])
        },
        Expect::no_scans("Pending"),
    );
    check(
        Case {
            now: Some("2026-11-23 03:00"),
            ..Case::new("closed", &[])
        },
        Expect::no_scans("Absent"),
    );
}

#[test]
fn rounding_and_caps() {
    check(
        Case {
            settings: |s| {
                s.overtime_rounding_minutes = 30;
                s.daily_extra_overtime_cap_minutes = Some(120);
            },
            ..Case::new("rounded", &["2026-11-22 08:00", "2026-11-22 22:40"])
        },
        // Raw: overtime 2:00, extra 3:40 → rounded 3:30 → capped 2:00.
        Expect {
            snacks: true,
            ..Expect::present("Present-OnTime", "08:00", "22:40").hours(13.42, 2.0, 2.0)
        },
    );
}

#[test]
fn trusting_the_device_punch_state() {
    let settings = AttendanceSettings {
        trust_device_punch_state: true,
        ..AttendanceSettings::default()
    };
    let employee = employee("Worker");
    let roster = ShiftRoster::fixed(&settings.default_shift);
    let calendar = DayCalendar::new();
    let ctx = EmployeeContext {
        settings: &settings,
        employee: &employee,
        roster: &roster,
        calendar: &calendar,
    };
    let with = |t: &str, state: u8| ScanData {
        punch_state: PunchState::from_code(state),
        ..scan(&settings, &employee, t)
    };
    // An early OUT (left the night before) then IN at 08:05 and OUT at 17:30: check-in is the IN.
    let scans = [
        with("2026-11-22 07:00", 1),
        with("2026-11-22 08:05", 0),
        with("2026-11-22 17:30", 1),
    ];
    let date = DAY.parse().unwrap();
    let now = local(&settings, "2026-11-24 00:00");
    let record = &compute_days(&ctx, &scans, date, date, now)[0];
    assert_eq!(record.check_in, Some(local(&settings, "2026-11-22 08:05")));
    assert_eq!(record.check_out, Some(local(&settings, "2026-11-22 17:30")));
    // Undefined states (255) fall back to first IN / last OUT.
    let scans = [with("2026-11-22 08:00", 255), with("2026-11-22 17:30", 255)];
    let record = &compute_days(&ctx, &scans, date, date, now)[0];
    assert_eq!(record.working_seconds, 8 * 3600 + 15 * 60);
}

#[test]
fn timesheet_has_one_entry_per_day_in_the_seed_shape() {
    let settings = AttendanceSettings::default();
    let employee = employee("Worker");
    let roster = ShiftRoster::fixed(&settings.default_shift);
    let calendar = DayCalendar::new();
    let ctx = EmployeeContext {
        settings: &settings,
        employee: &employee,
        roster: &roster,
        calendar: &calendar,
    };
    let scans = [
        scan(&settings, &employee, "2026-11-22 08:00"),
        scan(&settings, &employee, "2026-11-22 17:30"),
    ];
    let from = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
    let to = NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
    let now = local(&settings, "2026-12-01 12:00");
    let records = compute_days(&ctx, &scans, from, to, now);
    let sheet = Timesheet::new(&employee, from, &records, settings.time_zone);
    assert_eq!(sheet.days.len(), 30);
    let json = serde_json::to_value(&sheet).unwrap();
    assert_eq!(json["month"], "2026-11");
    assert_eq!(
        json["days"][21],
        serde_json::json!({
            "day": 22, "date": "2026-11-22", "status": "Present-OnTime", "checkIn": "08:00",
            "checkOut": "17:30", "workingHours": 8.25, "overtime": 0.5, "extraOvertime": 0.0,
            "snacks_eligible": false, "night_bill_eligible": false, "missing_checkout": false,
            "half_day_leave": false, "computedStatus": "Present-OnTime", "override": null
        })
    );
    assert_eq!(json["days"][5]["status"], "Weekend"); // 2026-11-06 is a Friday
    assert_eq!(sheet.totals.present_days, 1);
    assert_eq!(sheet.totals.absent_days, 30 - 1 - 4); // four Fridays in November 2026
    let summary = DailySummary::new(&employee, &records[21], settings.time_zone);
    assert_eq!(
        serde_json::to_value(&summary).unwrap(),
        serde_json::json!({
            "employee_id": "EMP001", "employee_name": "Rahima Khatun", "department": "Sewing",
            "designation": "Senior Tailor", "level_of_work": "Worker", "date": "2026-11-22",
            "status": "Present-OnTime", "check_in": "08:00", "check_out": "17:30",
            "working_hours": 8.25, "overtime": 0.5, "extra_overtime": 0.0, "attendance_count": 2,
            "scans": [{"time": "08:00", "type": "IN"}, {"time": "17:30", "type": "OUT"}],
            "snacks_eligible": false, "night_bill_eligible": false, "missing_checkout": false,
            "half_day_leave": false, "computed_status": "Present-OnTime", "override": null
        })
    );
}
