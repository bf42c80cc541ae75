//! The two JSON shapes the frontend reads: the daily summary and the monthly timesheet. Times are
//! `HH:MM` in the site's time zone; hours are decimals rounded to two places. The monthly
//! payroll report (days by status, hours and allowances per employee, totals per department)
//! is in [`monthly`].

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::daily::DailyRecord;
use crate::employee::{Department, Designation, Employee, EmployeeCode, LevelOfWork};
use crate::overrides::DayOverride;
use crate::scan::ScanType;
use crate::status::AttendanceStatus;

pub mod monthly;

/// Seconds as hours rounded to two decimals (half away from zero): 29,700 s → 8.25.
pub fn hours(seconds: i64) -> f64 {
    // Integer arithmetic first, so 0.5 h is exactly 0.5 and no float error creeps in.
    let hundredths = (seconds * 100 + seconds.signum() * 1800) / 3600;
    hundredths as f64 / 100.0
}

/// An instant as `HH:MM` on the site's clock.
pub fn clock_time(instant: DateTime<Utc>, tz: Tz) -> String {
    instant.with_timezone(&tz).format("%H:%M").to_string()
}

/// One scan in the summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryScan {
    /// `HH:MM`.
    pub time: String,
    /// `IN` or `OUT`.
    #[serde(rename = "type")]
    pub scan_type: ScanType,
}

/// One employee's day, as `GET …/daily-attendance/summary/?date=` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DailySummary {
    /// The employee's code.
    pub employee_id: EmployeeCode,
    /// The employee's name.
    pub employee_name: String,
    /// The department.
    pub department: Department,
    /// The job title.
    pub designation: Designation,
    /// The level of work.
    pub level_of_work: LevelOfWork,
    /// The work date.
    pub date: NaiveDate,
    /// The status.
    pub status: AttendanceStatus,
    /// First IN, `HH:MM`.
    pub check_in: Option<String>,
    /// Last OUT, `HH:MM`.
    pub check_out: Option<String>,
    /// Paid hours.
    pub working_hours: f64,
    /// Overtime hours.
    pub overtime: f64,
    /// Extra overtime hours.
    pub extra_overtime: f64,
    /// Counted scans.
    pub attendance_count: usize,
    /// The counted scans.
    pub scans: Vec<SummaryScan>,
    /// Whether the day earned the snacks allowance.
    pub snacks_eligible: bool,
    /// Whether the day earned the night bill.
    pub night_bill_eligible: bool,
    /// Whether the day has an IN and no OUT.
    pub missing_checkout: bool,
    /// Whether half of the day was on leave.
    pub half_day_leave: bool,
    /// The status computed from scans, leave and holidays; differs from `status` only while an
    /// override is in force.
    pub computed_status: AttendanceStatus,
    /// The override in force (HR set the status by hand), if any.
    #[serde(rename = "override")]
    pub day_override: Option<OverrideNote>,
}

/// An override as shown beside a day: who set which status, when and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverrideNote {
    /// The status set by hand (also the day's `status`).
    pub status: AttendanceStatus,
    /// Why.
    pub reason: String,
    /// Who set it (a username).
    pub set_by: String,
    /// When.
    pub set_at: DateTime<Utc>,
}

impl DailySummary {
    /// The summary of `record` for `employee`, with times on the clock of `tz`.
    pub fn new(employee: &Employee, record: &DailyRecord, tz: Tz) -> Self {
        Self {
            employee_id: employee.employee_id.clone(),
            employee_name: employee.employee_name.clone(),
            department: employee.department.clone(),
            designation: employee.designation.clone(),
            level_of_work: employee.level_of_work.clone(),
            date: record.date,
            status: record.status.clone(),
            check_in: record.check_in.map(|t| clock_time(t, tz)),
            check_out: record.check_out.map(|t| clock_time(t, tz)),
            working_hours: hours(record.working_seconds),
            overtime: hours(record.overtime_seconds),
            extra_overtime: hours(record.extra_overtime_seconds),
            attendance_count: record.attendance_count(),
            scans: record
                .scans
                .iter()
                .filter(|s| !s.soft_duplicate)
                .map(|s| SummaryScan {
                    time: clock_time(s.timestamp, tz),
                    scan_type: s.scan_type,
                })
                .collect(),
            snacks_eligible: record.snacks_eligible,
            night_bill_eligible: record.night_bill_eligible,
            missing_checkout: record.missing_checkout,
            half_day_leave: record.half_day_leave,
            computed_status: record.status.clone(),
            day_override: None,
        }
    }

    /// The summary of `record` with the override among `overrides` that is for it, if any,
    /// applied (see [`DayOverride::apply`]).
    pub fn with_overrides(
        employee: &Employee,
        record: &DailyRecord,
        overrides: &[DayOverride],
        tz: Tz,
    ) -> Self {
        let mut summary = Self::new(employee, record, tz);
        if let Some(o) = overrides.iter().find(|o| o.is_for(record)) {
            o.apply(&mut summary);
        }
        summary
    }
}

/// One day of a timesheet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TimesheetDay {
    /// Day of the month, 1–31.
    pub day: u32,
    /// The date.
    pub date: NaiveDate,
    /// The status.
    pub status: AttendanceStatus,
    /// First IN, `HH:MM`.
    pub check_in: Option<String>,
    /// Last OUT, `HH:MM`.
    pub check_out: Option<String>,
    /// Paid hours.
    pub working_hours: f64,
    /// Overtime hours.
    pub overtime: f64,
    /// Extra overtime hours.
    pub extra_overtime: f64,
    /// Whether the day earned the snacks allowance (the four flags keep the snake_case names
    /// the daily endpoints give them).
    #[serde(rename = "snacks_eligible")]
    pub snacks_eligible: bool,
    /// Whether the day earned the night bill.
    #[serde(rename = "night_bill_eligible")]
    pub night_bill_eligible: bool,
    /// Whether the day has an IN and no OUT.
    #[serde(rename = "missing_checkout")]
    pub missing_checkout: bool,
    /// Whether half of the day was on leave.
    #[serde(rename = "half_day_leave")]
    pub half_day_leave: bool,
    /// The status as computed; differs from `status` only while an override is in force.
    pub computed_status: AttendanceStatus,
    /// The override in force, if any.
    #[serde(rename = "override")]
    pub day_override: Option<OverrideNote>,
}

/// Totals of a timesheet, for payroll.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TimesheetTotals {
    /// Days present (on time, considered or late).
    pub present_days: u32,
    /// Days late.
    pub late_days: u32,
    /// Days absent.
    pub absent_days: u32,
    /// Days on leave.
    pub leave_days: u32,
    /// Paid hours.
    pub working_hours: f64,
    /// Overtime hours.
    pub overtime: f64,
    /// Extra overtime hours.
    pub extra_overtime: f64,
    /// Days that earned snacks.
    pub snacks_days: u32,
    /// Days that earned the night bill.
    pub night_bill_days: u32,
}

/// One employee's month.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timesheet {
    /// The employee's code.
    pub employee_id: EmployeeCode,
    /// The employee's name.
    pub employee_name: String,
    /// The department.
    pub department: Department,
    /// The job title.
    pub designation: Designation,
    /// The level of work.
    pub level_of_work: LevelOfWork,
    /// The month, `YYYY-MM`.
    pub month: String,
    /// One entry per record given, in date order.
    pub days: Vec<TimesheetDay>,
    /// Sums over the days (hours summed exactly, then rounded).
    pub totals: TimesheetTotals,
}

impl Timesheet {
    /// The timesheet of `month` (its first day) from the employee's records of that month.
    /// Records of other months are left out; pass one record per day of the month (as
    /// [`crate::daily::compute_days`] returns them) to get one entry per day.
    pub fn new(employee: &Employee, month: NaiveDate, records: &[DailyRecord], tz: Tz) -> Self {
        Self::with_overrides(employee, month, records, &[], tz)
    }

    /// As [`Timesheet::new`], with the overrides among `overrides` that are for these records
    /// applied: an overridden day shows and counts with its overridden status.
    pub fn with_overrides(
        employee: &Employee,
        month: NaiveDate,
        records: &[DailyRecord],
        overrides: &[DayOverride],
        tz: Tz,
    ) -> Self {
        let in_month = records
            .iter()
            .filter(|r| r.date.year() == month.year() && r.date.month() == month.month());
        let mut totals = TimesheetTotals::default();
        let (mut work, mut ot, mut extra) = (0, 0, 0);
        let mut days = Vec::new();
        for r in in_month {
            let over = overrides.iter().find(|o| o.is_for(r));
            let status = over.map_or(&r.status, |o| &o.status);
            work += r.working_seconds;
            ot += r.overtime_seconds;
            extra += r.extra_overtime_seconds;
            totals.present_days += u32::from(status.is_present());
            totals.late_days += u32::from(*status == AttendanceStatus::PresentLate);
            totals.absent_days += u32::from(*status == AttendanceStatus::Absent);
            totals.leave_days += u32::from(matches!(status, AttendanceStatus::Leave(_)));
            totals.snacks_days += u32::from(r.snacks_eligible);
            totals.night_bill_days += u32::from(r.night_bill_eligible);
            days.push(TimesheetDay {
                day: r.date.day(),
                date: r.date,
                status: status.clone(),
                check_in: r.check_in.map(|t| clock_time(t, tz)),
                check_out: r.check_out.map(|t| clock_time(t, tz)),
                working_hours: hours(r.working_seconds),
                overtime: hours(r.overtime_seconds),
                extra_overtime: hours(r.extra_overtime_seconds),
                snacks_eligible: r.snacks_eligible,
                night_bill_eligible: r.night_bill_eligible,
                missing_checkout: r.missing_checkout,
                half_day_leave: r.half_day_leave,
                computed_status: r.status.clone(),
                day_override: over.map(DayOverride::note),
            });
        }
        totals.working_hours = hours(work);
        totals.overtime = hours(ot);
        totals.extra_overtime = hours(extra);
        Self {
            employee_id: employee.employee_id.clone(),
            employee_name: employee.employee_name.clone(),
            department: employee.department.clone(),
            designation: employee.designation.clone(),
            level_of_work: employee.level_of_work.clone(),
            month: month.format("%Y-%m").to_string(),
            days,
            totals,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hours_round_half_away_from_zero_to_two_places() {
        assert_eq!(hours(29_700), 8.25);
        assert_eq!(hours(1_800), 0.5);
        assert_eq!(hours(0), 0.0);
        assert_eq!(hours(60), 0.02); // 1 min = 0.01666… h
        assert_eq!(hours(18), 0.01); // exactly 0.005 h rounds up
        assert_eq!(hours(17), 0.0);
        assert_eq!(hours(-1_800), -0.5);
    }
}
