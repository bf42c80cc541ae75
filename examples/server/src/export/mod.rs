//! Files for payroll: the monthly report and timesheets as CSV or XLSX, written from the same
//! values the JSON answers carry, so the three formats agree.
//!
//! Each export is first laid out as a [`Table`] (a header row and typed cells), then written by
//! [`csv`] (UTF-8, one header row, quoted where needed) or [`xlsx`] (numbers as numbers, hours
//! with the format `0.00`, dates as dates, a frozen bold header row). Nothing here reads a clock:
//! the same report gives the same bytes, so `attendance-server export monthly` writes exactly
//! what `GET /api/attendance/reports/monthly/` answers.
//!
//! The monthly columns, in this order ([`monthly_table`]): `employee_id`, `employee_name`,
//! `department`, `designation`, `level_of_work`, `days`, `working_days`, `present_days`,
//! `on_time_days`, `considered_days`, `late_days`, `absent_days`, `leave_days`, one
//! `leave_<type>` per leave type of the report (`leave_casual`, `leave_sick`, …: the site's
//! policies' types, in their order), `half_day_leave_days`, `holiday_days`, `weekend_days`,
//! `pending_days`, `holiday_days_worked`, `weekend_days_worked`, `working_hours`, `overtime`,
//! `extra_overtime`, `snacks_days`, `night_bill_days`, `late_minutes`, `overridden_days`.
//!
//! The timesheet columns ([`timesheet_table`]), one row per employee-day: `employee_id`,
//! `employee_name`, `department`, `date`, `day`, `status`, `computed_status`, `check_in`,
//! `check_out`, `working_hours`, `overtime`, `extra_overtime`, `snacks_eligible`,
//! `night_bill_eligible`, `missing_checkout`, `half_day_leave`, `override_reason`,
//! `override_set_by`.

pub mod csv;
pub mod xlsx;

use attendance_core::calendar::LeaveType;
use attendance_core::report::Timesheet;
use attendance_core::report::monthly::{MonthlyCounts, MonthlyReport};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use serde_json::json;
use thiserror::Error;

use crate::error::{ApiError, ApiResult};

/// What an export can fail with (never the client's fault).
#[derive(Debug, Error)]
pub enum ExportError {
    /// Writing the CSV failed.
    #[error("writing the CSV: {0}")]
    Csv(#[from] ::csv::Error),
    /// Writing the workbook failed.
    #[error("writing the workbook: {0}")]
    Xlsx(#[from] rust_xlsxwriter::XlsxError),
    /// Writing the JSON failed.
    #[error("writing the JSON: {0}")]
    Json(#[from] serde_json::Error),
}

impl From<ExportError> for ApiError {
    fn from(e: ExportError) -> Self {
        ApiError::internal(e)
    }
}

/// The format of a report's answer: `format=json|csv|xlsx`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// The JSON answer (the default).
    Json,
    /// A CSV file.
    Csv,
    /// An XLSX workbook.
    Xlsx,
}

impl ExportFormat {
    /// Parses `format` (`json`, `csv` or `xlsx`, any case; absent or empty: JSON); 422 naming
    /// the field otherwise.
    pub fn parse(format: Option<&str>) -> ApiResult<Self> {
        match format.map(|f| f.trim().to_ascii_lowercase()).as_deref() {
            None | Some("" | "json") => Ok(Self::Json),
            Some("csv") => Ok(Self::Csv),
            Some("xlsx") => Ok(Self::Xlsx),
            Some(other) => Err(ApiError::unprocessable(format!(
                "format must be json, csv or xlsx, not {other:?}"
            ))
            .with_details(json!({"field": "format", "allowed": ["json", "csv", "xlsx"]}))),
        }
    }

    /// The file name's extension (`csv`, `xlsx`; `json`).
    pub fn extension(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Csv => "csv",
            Self::Xlsx => "xlsx",
        }
    }

    /// The `Content-Type` of a file of this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Json => "application/json",
            Self::Csv => "text/csv; charset=utf-8",
            Self::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        }
    }
}

/// `text` made safe for a file name: ASCII letters, digits, `-`, `_` and `.` kept, every run of
/// anything else one `-`, no `-` or `.` at either end (`Sewing & Finishing` → `Sewing-Finishing`).
pub fn file_name_part(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || c == '_' || c == '.' {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches(['-', '.']).to_owned()
}

/// `stem-part-part.ext`, each part passed through [`file_name_part`] (empty ones left out).
pub fn file_name(stem: &str, parts: &[&str], format: ExportFormat) -> String {
    let mut name = stem.to_owned();
    for part in parts.iter().map(|p| file_name_part(p)) {
        if !part.is_empty() {
            name.push('-');
            name.push_str(&part);
        }
    }
    format!("{name}.{}", format.extension())
}

/// The answer carrying `bytes` as the attachment `file_name`, of `format`'s content type.
pub fn attachment(format: ExportFormat, file_name: &str, bytes: Vec<u8>) -> Response {
    (
        [
            (CONTENT_TYPE, format.content_type().to_owned()),
            (
                CONTENT_DISPOSITION,
                format!("attachment; filename=\"{file_name}\""),
            ),
        ],
        bytes,
    )
        .into_response()
}

/// One cell of an export.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Text.
    Text(String),
    /// A whole number (days, minutes).
    Int(i64),
    /// Hours, written with two decimals.
    Hours(f64),
    /// A date.
    Date(NaiveDate),
    /// Yes or no.
    Bool(bool),
    /// Nothing (an absent check-in).
    Empty,
}

impl Cell {
    fn text(value: impl ToString) -> Self {
        Self::Text(value.to_string())
    }

    fn count(n: u32) -> Self {
        Self::Int(i64::from(n))
    }

    fn optional(value: Option<&str>) -> Self {
        value.map_or(Self::Empty, Self::text)
    }
}

/// A header row and rows of typed cells, as long as the header.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Table {
    /// The column names.
    pub header: Vec<String>,
    /// The rows.
    pub rows: Vec<Vec<Cell>>,
}

/// The column of a leave type: `leave_` and its name in lower case, anything but letters and
/// digits as `_` (`Casual` → `leave_casual`).
pub fn leave_column(kind: &LeaveType) -> String {
    let name: String = kind
        .name()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("leave_{name}")
}

/// The count columns of the monthly report, after the employee's (or the department's).
fn count_header(leave_types: &[LeaveType]) -> Vec<String> {
    let mut header: Vec<String> = [
        "days",
        "working_days",
        "present_days",
        "on_time_days",
        "considered_days",
        "late_days",
        "absent_days",
        "leave_days",
    ]
    .map(String::from)
    .to_vec();
    header.extend(leave_types.iter().map(leave_column));
    header.extend(
        [
            "half_day_leave_days",
            "holiday_days",
            "weekend_days",
            "pending_days",
            "holiday_days_worked",
            "weekend_days_worked",
            "working_hours",
            "overtime",
            "extra_overtime",
            "snacks_days",
            "night_bill_days",
            "late_minutes",
            "overridden_days",
        ]
        .map(String::from),
    );
    header
}

/// The cells of `counts` under [`count_header`].
fn count_cells(counts: &MonthlyCounts, leave_types: &[LeaveType]) -> Vec<Cell> {
    let mut cells: Vec<Cell> = [
        counts.days,
        counts.working_days,
        counts.present_days,
        counts.on_time_days,
        counts.considered_days,
        counts.late_days,
        counts.absent_days,
        counts.leave_days,
    ]
    .map(Cell::count)
    .to_vec();
    cells.extend(leave_types.iter().map(|k| Cell::count(counts.leave_of(k))));
    cells.extend(
        [
            counts.half_day_leave_days,
            counts.holiday_days,
            counts.weekend_days,
            counts.pending_days,
            counts.holiday_days_worked,
            counts.weekend_days_worked,
        ]
        .map(Cell::count),
    );
    cells.extend([
        Cell::Hours(counts.working_hours),
        Cell::Hours(counts.overtime),
        Cell::Hours(counts.extra_overtime),
        Cell::count(counts.snacks_days),
        Cell::count(counts.night_bill_days),
        Cell::Int(counts.late_minutes),
        Cell::count(counts.overridden_days),
    ]);
    cells
}

/// The report's employee rows (all of them, or those of `department` only).
pub fn monthly_table(report: &MonthlyReport, department: Option<&str>) -> Table {
    let mut header: Vec<String> = [
        "employee_id",
        "employee_name",
        "department",
        "designation",
        "level_of_work",
    ]
    .map(String::from)
    .to_vec();
    header.extend(count_header(&report.leave_types));
    let rows = report
        .employees
        .iter()
        .filter(|r| department.is_none_or(|d| r.department.as_str() == d))
        .map(|r| {
            let mut cells = vec![
                Cell::text(&r.employee_id),
                Cell::text(&r.employee_name),
                Cell::text(&r.department),
                Cell::text(&r.designation),
                Cell::text(&r.level_of_work),
            ];
            cells.extend(count_cells(&r.counts, &report.leave_types));
            cells
        })
        .collect();
    Table { header, rows }
}

/// The name of the overall row of [`summary_table`].
pub const ALL_DEPARTMENTS: &str = "All departments";

/// The totals of each department, then of all ([`ALL_DEPARTMENTS`]): `department`,
/// `employees`, then the count columns.
pub fn summary_table(report: &MonthlyReport) -> Table {
    let mut header = vec!["department".to_owned(), "employees".to_owned()];
    header.extend(count_header(&report.leave_types));
    let totals = report
        .departments
        .iter()
        .map(|d| (d.department.as_str(), &d.totals))
        .chain([(ALL_DEPARTMENTS, &report.totals)]);
    let rows = totals
        .map(|(name, totals)| {
            let mut cells = vec![Cell::text(name), Cell::count(totals.employees)];
            cells.extend(count_cells(&totals.counts, &report.leave_types));
            cells
        })
        .collect();
    Table { header, rows }
}

/// One row per day of each timesheet.
pub fn timesheet_table(sheets: &[Timesheet]) -> Table {
    let header = [
        "employee_id",
        "employee_name",
        "department",
        "date",
        "day",
        "status",
        "computed_status",
        "check_in",
        "check_out",
        "working_hours",
        "overtime",
        "extra_overtime",
        "snacks_eligible",
        "night_bill_eligible",
        "missing_checkout",
        "half_day_leave",
        "override_reason",
        "override_set_by",
    ]
    .map(String::from)
    .to_vec();
    let mut rows = Vec::new();
    for sheet in sheets {
        for day in &sheet.days {
            let over = day.day_override.as_ref();
            rows.push(vec![
                Cell::text(&sheet.employee_id),
                Cell::text(&sheet.employee_name),
                Cell::text(&sheet.department),
                Cell::Date(day.date),
                Cell::count(day.day),
                Cell::text(&day.status),
                Cell::text(&day.computed_status),
                Cell::optional(day.check_in.as_deref()),
                Cell::optional(day.check_out.as_deref()),
                Cell::Hours(day.working_hours),
                Cell::Hours(day.overtime),
                Cell::Hours(day.extra_overtime),
                Cell::Bool(day.snacks_eligible),
                Cell::Bool(day.night_bill_eligible),
                Cell::Bool(day.missing_checkout),
                Cell::Bool(day.half_day_leave),
                Cell::optional(over.map(|o| o.reason.as_str())),
                Cell::optional(over.map(|o| o.set_by.as_str())),
            ]);
        }
    }
    Table { header, rows }
}

/// The monthly report as a file of `format` (CSV or XLSX; JSON is its serde form).
pub fn monthly_file(report: &MonthlyReport, format: ExportFormat) -> Result<Vec<u8>, ExportError> {
    match format {
        ExportFormat::Csv => csv::write(&monthly_table(report, None)),
        ExportFormat::Xlsx => xlsx::monthly(report),
        ExportFormat::Json => Ok(serde_json::to_vec(report)?),
    }
}

/// Timesheets as a file of `format` (CSV, or XLSX with one sheet named `sheet_name`; JSON is
/// their serde form).
pub fn timesheet_file(
    sheets: &[Timesheet],
    month: NaiveDate,
    sheet_name: &str,
    format: ExportFormat,
) -> Result<Vec<u8>, ExportError> {
    match format {
        ExportFormat::Csv => csv::write(&timesheet_table(sheets)),
        ExportFormat::Xlsx => xlsx::single(&timesheet_table(sheets), month, sheet_name),
        ExportFormat::Json => Ok(serde_json::to_vec(sheets)?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_keep_only_safe_characters() {
        assert_eq!(file_name_part("Sewing & Finishing"), "Sewing-Finishing");
        assert_eq!(file_name_part("../etc/passwd"), "etc-passwd");
        assert_eq!(file_name_part("\"quoted\"\r\n"), "quoted");
        assert_eq!(
            file_name("attendance", &["2026-11", "Sewing"], ExportFormat::Csv),
            "attendance-2026-11-Sewing.csv"
        );
        assert_eq!(
            file_name("attendance", &["2026-11", "///"], ExportFormat::Xlsx),
            "attendance-2026-11.xlsx"
        );
    }

    #[test]
    fn formats_parse_in_any_case_and_name_the_field_otherwise() {
        assert_eq!(ExportFormat::parse(None).unwrap(), ExportFormat::Json);
        assert_eq!(
            ExportFormat::parse(Some(" CSV ")).unwrap(),
            ExportFormat::Csv
        );
        assert_eq!(
            ExportFormat::parse(Some("xlsx")).unwrap(),
            ExportFormat::Xlsx
        );
        let err = ExportFormat::parse(Some("pdf")).unwrap_err();
        assert_eq!(err.status, axum::http::StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(err.details["field"], "format");
    }

    #[test]
    fn leave_columns_are_lower_case_words() {
        assert_eq!(leave_column(&LeaveType::Casual), "leave_casual");
        let own: LeaveType = "Study Leave".parse().unwrap();
        assert_eq!(leave_column(&own), "leave_study_leave");
    }
}
