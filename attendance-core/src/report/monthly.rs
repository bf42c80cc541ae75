//! The monthly payroll report: for each employee, the days of a month counted by status, the
//! hours, the allowances and the late minutes; totals per department and overall.
//!
//! Every day is counted once, by its status (an override in force wins, as on the timesheet):
//! present (on time, considered or late), absent, on leave (by type), holiday, weekend, or
//! pending (a day whose window has not closed yet, such as the rest of the current month). So
//! for every row `present_days + absent_days + leave_days + holiday_days + weekend_days +
//! pending_days == days`, and `days` is the number of days of the month when one record per day
//! is given. Working days are the days whose status is neither `Holiday` nor `Weekend`.
//!
//! Hours, snacks and night-bill days, and the days worked on a holiday or a weekend come from
//! the computed record whatever the override (an override sets the status only). Hours are
//! summed exactly in seconds and rounded to two decimals only when shown ([`hours`]), so a
//! department's or the site's hours are the rounded sum of the seconds, not the sum of rounded
//! rows; the seconds are given beside the hours for that reason. Late minutes are summed over
//! the days counted late.
//!
//! ```
//! use attendance_core::report::monthly::{MonthlyReport, MonthlyRow};
//! # use attendance_core::employee::{Employee, NewEmployee};
//! use chrono::{NaiveDate, TimeZone, Utc};
//!
//! # let employee = Employee::parse(&NewEmployee {
//! #     employee_id: "EMP001".into(), employee_name: "Rahima".into(), department: "Sewing".into(),
//! #     designation: "Tailor".into(), level_of_work: "Worker".into(), ..Default::default()
//! # })?;
//! let month = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
//! let row = MonthlyRow::of_month(&employee, month, &[], &[]); // no records: nothing counted
//! let at = Utc.with_ymd_and_hms(2026, 12, 1, 6, 0, 0).unwrap();
//! let report = MonthlyReport::from_rows(month, at, &[], vec![row]);
//! assert_eq!(report.month, "2026-11");
//! assert_eq!(report.totals.employees, 1);
//! assert_eq!(report.departments[0].department.as_str(), "Sewing");
//! # Ok::<(), attendance_core::ValidationError>(())
//! ```

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::hours;
use crate::calendar::LeaveType;
use crate::daily::{DailyRecord, DayTally};
use crate::employee::{Department, Designation, Employee, EmployeeCode, LevelOfWork};
use crate::overrides::DayOverride;
use crate::status::AttendanceStatus;

/// What a month adds up to, for one employee, a department or the site.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MonthlyCounts {
    /// Days counted (one per record given).
    pub days: u32,
    /// Days whose status is neither `Holiday` nor `Weekend`.
    pub working_days: u32,
    /// Days present: on time, considered or late.
    pub present_days: u32,
    /// Days present on time.
    pub on_time_days: u32,
    /// Days present after the grace, within the considered window.
    pub considered_days: u32,
    /// Days present late.
    pub late_days: u32,
    /// Days absent.
    pub absent_days: u32,
    /// Days on leave, of any type.
    pub leave_days: u32,
    /// Days on leave by type (`{"Casual": 2, "Sick": 0}`); in a report every type of its
    /// [`MonthlyReport::leave_types`] is present.
    pub leave_by_type: BTreeMap<LeaveType, u32>,
    /// Of the leave days, those with leave for half the day only.
    pub half_day_leave_days: u32,
    /// Public holidays.
    pub holiday_days: u32,
    /// Weekly off days.
    pub weekend_days: u32,
    /// Days whose window has not closed yet (no status yet).
    pub pending_days: u32,
    /// Holidays with scans.
    pub holiday_days_worked: u32,
    /// Weekly off days with scans.
    pub weekend_days_worked: u32,
    /// Paid hours, from [`Self::working_seconds`].
    pub working_hours: f64,
    /// Overtime hours, from [`Self::overtime_seconds`].
    pub overtime: f64,
    /// Extra overtime hours, from [`Self::extra_overtime_seconds`].
    pub extra_overtime: f64,
    /// Paid time in seconds.
    pub working_seconds: i64,
    /// Overtime in seconds.
    pub overtime_seconds: i64,
    /// Extra overtime in seconds.
    pub extra_overtime_seconds: i64,
    /// Days that earned the snacks allowance.
    pub snacks_days: u32,
    /// Days that earned the night bill.
    pub night_bill_days: u32,
    /// Minutes after the shift start on the days counted late.
    pub late_minutes: i64,
    /// Days whose status was set by hand (an override in force).
    pub overridden_days: u32,
}

impl MonthlyCounts {
    /// Counts one day: `record` as computed, with `day_override` (the override in force for
    /// it, if any) deciding its status.
    pub fn add_day(&mut self, record: &DailyRecord, day_override: Option<&DayOverride>) {
        self.add_tally(&DayTally::from(record), day_override);
    }

    /// Counts one day from what the report counts of its record (see [`Self::add_day`]).
    pub fn add_tally(&mut self, record: &DayTally, day_override: Option<&DayOverride>) {
        let status = day_override.map_or(&record.status, |o| &o.status);
        self.days += 1;
        match status {
            AttendanceStatus::PresentOnTime => self.on_time_days += 1,
            AttendanceStatus::PresentConsidered => self.considered_days += 1,
            AttendanceStatus::PresentLate => {
                self.late_days += 1;
                self.late_minutes += record.late_minutes.max(0);
            }
            AttendanceStatus::Absent => self.absent_days += 1,
            AttendanceStatus::Leave(kind) => {
                self.leave_days += 1;
                *self.leave_by_type.entry(kind.clone()).or_default() += 1;
                self.half_day_leave_days += u32::from(record.half_day_leave);
            }
            AttendanceStatus::Holiday => self.holiday_days += 1,
            AttendanceStatus::Weekend => self.weekend_days += 1,
            AttendanceStatus::Pending => self.pending_days += 1,
        }
        self.present_days += u32::from(status.is_present());
        self.working_days += u32::from(!matches!(
            status,
            AttendanceStatus::Holiday | AttendanceStatus::Weekend
        ));
        self.holiday_days_worked += u32::from(record.worked_on_holiday);
        self.weekend_days_worked += u32::from(record.worked_on_weekend);
        self.snacks_days += u32::from(record.snacks_eligible);
        self.night_bill_days += u32::from(record.night_bill_eligible);
        self.overridden_days += u32::from(day_override.is_some());
        self.working_seconds += record.working_seconds;
        self.overtime_seconds += record.overtime_seconds;
        self.extra_overtime_seconds += record.extra_overtime_seconds;
        self.refresh_hours();
    }

    /// Adds `other` (another employee's, or a department's) to these counts.
    pub fn add(&mut self, other: &MonthlyCounts) {
        self.days += other.days;
        self.working_days += other.working_days;
        self.present_days += other.present_days;
        self.on_time_days += other.on_time_days;
        self.considered_days += other.considered_days;
        self.late_days += other.late_days;
        self.absent_days += other.absent_days;
        self.leave_days += other.leave_days;
        for (kind, n) in &other.leave_by_type {
            *self.leave_by_type.entry(kind.clone()).or_default() += n;
        }
        self.half_day_leave_days += other.half_day_leave_days;
        self.holiday_days += other.holiday_days;
        self.weekend_days += other.weekend_days;
        self.pending_days += other.pending_days;
        self.holiday_days_worked += other.holiday_days_worked;
        self.weekend_days_worked += other.weekend_days_worked;
        self.working_seconds += other.working_seconds;
        self.overtime_seconds += other.overtime_seconds;
        self.extra_overtime_seconds += other.extra_overtime_seconds;
        self.snacks_days += other.snacks_days;
        self.night_bill_days += other.night_bill_days;
        self.late_minutes += other.late_minutes;
        self.overridden_days += other.overridden_days;
        self.refresh_hours();
    }

    /// The days on leave of `kind`.
    pub fn leave_of(&self, kind: &LeaveType) -> u32 {
        self.leave_by_type.get(kind).copied().unwrap_or(0)
    }

    /// Lists every type of `kinds` in [`Self::leave_by_type`] (with 0 when there was none).
    fn list_leave_types(&mut self, kinds: &[LeaveType]) {
        for kind in kinds {
            self.leave_by_type.entry(kind.clone()).or_default();
        }
    }

    fn refresh_hours(&mut self) {
        self.working_hours = hours(self.working_seconds);
        self.overtime = hours(self.overtime_seconds);
        self.extra_overtime = hours(self.extra_overtime_seconds);
    }
}

/// One employee's month.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonthlyRow {
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
    /// What the month adds up to (its fields sit beside the employee's in JSON).
    #[serde(flatten)]
    pub counts: MonthlyCounts,
}

impl MonthlyRow {
    /// A row for `employee` with nothing counted yet (see [`Self::add_day`]).
    pub fn new(employee: &Employee) -> Self {
        Self {
            employee_id: employee.employee_id.clone(),
            employee_name: employee.employee_name.clone(),
            department: employee.department.clone(),
            designation: employee.designation.clone(),
            level_of_work: employee.level_of_work.clone(),
            counts: MonthlyCounts::default(),
        }
    }

    /// Counts one of the employee's days (see [`MonthlyCounts::add_day`]); the caller gives
    /// each of the employee's records once, with the override in force for it.
    pub fn add_day(&mut self, record: &DailyRecord, day_override: Option<&DayOverride>) {
        self.counts.add_day(record, day_override);
    }

    /// Counts one of the employee's days from its [`DayTally`] (see
    /// [`MonthlyCounts::add_tally`]).
    pub fn add_tally(&mut self, record: &DayTally, day_override: Option<&DayOverride>) {
        self.counts.add_tally(record, day_override);
    }

    /// The row of `month` (its first day, or any day of it) from the employee's records:
    /// records of other months or of other employees are left out, and each record is counted
    /// with the override among `overrides` that is for it, if any.
    pub fn of_month(
        employee: &Employee,
        month: NaiveDate,
        records: &[DailyRecord],
        overrides: &[DayOverride],
    ) -> Self {
        let mut row = Self::new(employee);
        for record in records
            .iter()
            .filter(|r| r.employee_id == employee.employee_id && in_month(r.date, month))
        {
            row.add_day(record, overrides.iter().find(|o| o.is_for(record)));
        }
        row
    }
}

/// Whether `date` lies in the month of `month`.
fn in_month(date: NaiveDate, month: NaiveDate) -> bool {
    date.year() == month.year() && date.month() == month.month()
}

/// Totals over several employees.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MonthlyTotals {
    /// How many employees (rows) are summed.
    pub employees: u32,
    /// Their counts summed (hours: the seconds summed, then rounded).
    #[serde(flatten)]
    pub counts: MonthlyCounts,
}

impl MonthlyTotals {
    fn add(&mut self, counts: &MonthlyCounts) {
        self.employees += 1;
        self.counts.add(counts);
    }
}

/// One department's totals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DepartmentTotals {
    /// The department.
    pub department: Department,
    /// Its employees' rows summed.
    pub totals: MonthlyTotals,
}

/// The monthly report: `GET /api/attendance/reports/monthly/` answers it as JSON, and the CSV
/// and XLSX exports are written from it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonthlyReport {
    /// The month, `YYYY-MM`.
    pub month: String,
    /// When the report was made.
    pub generated_at: DateTime<Utc>,
    /// The leave types reported (the columns of the exports): those given, in their order,
    /// then any other type some row has, in [`LeaveType`]'s order.
    pub leave_types: Vec<LeaveType>,
    /// One row per employee, by department then employee code.
    pub employees: Vec<MonthlyRow>,
    /// The totals of each department with a row, by department.
    pub departments: Vec<DepartmentTotals>,
    /// The totals of every row.
    pub totals: MonthlyTotals,
}

impl MonthlyReport {
    /// The report of `month` (its first day, or any day of it) made at `generated_at` from
    /// `rows` (any order; they are sorted by department then code), reporting `leave_types`
    /// (the site's leave types; a type some row has besides those is added).
    pub fn from_rows(
        month: NaiveDate,
        generated_at: DateTime<Utc>,
        leave_types: &[LeaveType],
        mut rows: Vec<MonthlyRow>,
    ) -> Self {
        let mut kinds = leave_types.to_vec();
        let mut extra: Vec<LeaveType> = rows
            .iter()
            .flat_map(|r| r.counts.leave_by_type.keys())
            .filter(|k| !leave_types.contains(k))
            .cloned()
            .collect();
        extra.sort();
        extra.dedup();
        kinds.extend(extra);
        rows.sort_by(|a, b| (&a.department, &a.employee_id).cmp(&(&b.department, &b.employee_id)));
        let mut totals = MonthlyTotals::default();
        let mut departments: Vec<DepartmentTotals> = Vec::new();
        for row in &mut rows {
            row.counts.list_leave_types(&kinds);
            totals.add(&row.counts);
            match departments.last_mut() {
                Some(last) if last.department == row.department => last.totals.add(&row.counts),
                _ => {
                    let mut first = MonthlyTotals::default();
                    first.add(&row.counts);
                    departments.push(DepartmentTotals {
                        department: row.department.clone(),
                        totals: first,
                    });
                }
            }
        }
        totals.counts.list_leave_types(&kinds);
        for department in &mut departments {
            department.totals.counts.list_leave_types(&kinds);
        }
        Self {
            month: month.format("%Y-%m").to_string(),
            generated_at,
            leave_types: kinds,
            employees: rows,
            departments,
            totals,
        }
    }

    /// The report of `month` from each employee's records (see [`MonthlyRow::of_month`]),
    /// with the overrides among `overrides` in force.
    pub fn new(
        month: NaiveDate,
        generated_at: DateTime<Utc>,
        leave_types: &[LeaveType],
        sheets: &[(Employee, Vec<DailyRecord>)],
        overrides: &[DayOverride],
    ) -> Self {
        let by_day: HashMap<(&EmployeeCode, NaiveDate), &DayOverride> = overrides
            .iter()
            .map(|o| ((&o.employee_id, o.date), o))
            .collect();
        let rows = sheets
            .iter()
            .map(|(employee, records)| {
                let mut row = MonthlyRow::new(employee);
                for record in records
                    .iter()
                    .filter(|r| r.employee_id == employee.employee_id && in_month(r.date, month))
                {
                    let o = by_day.get(&(&record.employee_id, record.date)).copied();
                    row.add_day(record, o);
                }
                row
            })
            .collect();
        Self::from_rows(month, generated_at, leave_types, rows)
    }
}

#[cfg(test)]
mod tests;
