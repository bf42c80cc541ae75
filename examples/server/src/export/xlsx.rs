//! [`Table`]s as an XLSX workbook (with `rust_xlsxwriter`): numbers as numeric cells, hours with
//! the number format `0.00`, dates as dates (`yyyy-mm-dd`), yes/no as booleans; a bold header row
//! frozen in place, and each column as wide as its longest text (within bounds).
//!
//! The workbook's creation date is the report month's first day rather than the clock, so the
//! same report always gives the same bytes.

use std::collections::BTreeSet;

use attendance_core::report::monthly::MonthlyReport;
use chrono::{Datelike, NaiveDate};
use rust_xlsxwriter::{DocProperties, ExcelDateTime, Format, Workbook, Worksheet, XlsxError};

use super::{Cell, ExportError, Table, monthly_table, summary_table};

/// The name of the sheet of department totals.
pub const SUMMARY_SHEET: &str = "Summary";

/// The most characters Excel allows in a sheet name.
const MAX_SHEET_NAME: usize = 31;

/// The narrowest and widest columns, in characters.
const COLUMN_WIDTHS: (usize, usize) = (6, 40);

/// The formats cells are written with.
struct Formats {
    header: Format,
    hours: Format,
    date: Format,
}

impl Formats {
    fn new() -> Self {
        Self {
            header: Format::new().set_bold(),
            hours: Format::new().set_num_format("0.00"),
            date: Format::new().set_num_format("yyyy-mm-dd"),
        }
    }
}

/// A workbook whose creation date is the first day of `month`'s month.
fn workbook(month: NaiveDate) -> Result<Workbook, XlsxError> {
    let mut workbook = Workbook::new();
    let year = u16::try_from(month.year()).unwrap_or(1900);
    let created = ExcelDateTime::from_ymd(year, month.month() as u8, 1)?;
    workbook.set_properties(&DocProperties::new().set_creation_datetime(&created));
    Ok(workbook)
}

fn excel_date(date: NaiveDate) -> Result<ExcelDateTime, XlsxError> {
    let year =
        u16::try_from(date.year()).map_err(|_| XlsxError::DateTimeRangeError(date.to_string()))?;
    ExcelDateTime::from_ymd(year, date.month() as u8, date.day() as u8)
}

/// The width of `cell` in characters, about.
fn width_of(cell: &Cell) -> usize {
    match cell {
        Cell::Text(text) => text.chars().count(),
        Cell::Int(n) => n.to_string().len(),
        Cell::Hours(h) => format!("{h:.2}").len(),
        Cell::Date(_) => 10,
        Cell::Bool(_) => 5,
        Cell::Empty => 0,
    }
}

/// Writes `table` on `sheet`: the header, the rows, the frozen header and the widths.
fn fill(sheet: &mut Worksheet, table: &Table, formats: &Formats) -> Result<(), ExportError> {
    let mut widths: Vec<usize> = table.header.iter().map(|h| h.chars().count()).collect();
    for (col, name) in table.header.iter().enumerate() {
        sheet.write_string_with_format(0, column(col)?, name, &formats.header)?;
    }
    for (r, row) in table.rows.iter().enumerate() {
        let r = u32::try_from(r + 1).map_err(|_| XlsxError::RowColumnLimitError)?;
        for (col, cell) in row.iter().enumerate() {
            if let Some(width) = widths.get_mut(col) {
                *width = (*width).max(width_of(cell));
            }
            let col = column(col)?;
            match cell {
                Cell::Text(text) => {
                    sheet.write_string(r, col, text)?;
                }
                Cell::Int(n) => {
                    sheet.write_number(r, col, *n as f64)?;
                }
                Cell::Hours(h) => {
                    sheet.write_number_with_format(r, col, *h, &formats.hours)?;
                }
                Cell::Date(d) => {
                    sheet.write_datetime_with_format(r, col, excel_date(*d)?, &formats.date)?;
                }
                Cell::Bool(b) => {
                    sheet.write_boolean(r, col, *b)?;
                }
                Cell::Empty => {}
            }
        }
    }
    sheet.set_freeze_panes(1, 0)?;
    for (col, width) in widths.into_iter().enumerate() {
        let width = (width + 2).clamp(COLUMN_WIDTHS.0, COLUMN_WIDTHS.1);
        sheet.set_column_width(column(col)?, width as f64)?;
    }
    Ok(())
}

fn column(index: usize) -> Result<u16, XlsxError> {
    u16::try_from(index).map_err(|_| XlsxError::RowColumnLimitError)
}

/// A sheet name for `wanted` that Excel accepts and that no name of `taken` (compared without
/// case) has: the characters `[]:*?/\` left out, at most 31 characters, not starting or ending
/// with `'`, not `History`; a clash gets ` (2)`, ` (3)`, … Added to `taken`.
pub fn sheet_name(wanted: &str, taken: &mut BTreeSet<String>) -> String {
    let cleaned: String = wanted
        .chars()
        .filter(|c| !matches!(c, '[' | ']' | ':' | '*' | '?' | '/' | '\\'))
        .collect();
    let cleaned = cleaned.trim().trim_matches('\'').trim();
    let base = if cleaned.is_empty() { "Sheet" } else { cleaned };
    let mut n = 1;
    loop {
        let suffix = if n == 1 {
            String::new()
        } else {
            format!(" ({n})")
        };
        let keep = MAX_SHEET_NAME - suffix.chars().count();
        let stem: String = base.chars().take(keep).collect();
        let name = format!("{}{suffix}", stem.trim_end());
        let key = name.to_lowercase();
        if key != "history" && !taken.contains(&key) {
            taken.insert(key);
            return name;
        }
        n += 1;
    }
}

/// The monthly report's workbook: a [`SUMMARY_SHEET`] sheet (the totals of each department and
/// of all), then one sheet per department with its employees' rows.
pub fn monthly(report: &MonthlyReport) -> Result<Vec<u8>, ExportError> {
    let month =
        NaiveDate::parse_from_str(&format!("{}-01", report.month), "%Y-%m-%d").unwrap_or_default();
    let mut workbook = workbook(month)?;
    let formats = Formats::new();
    let mut taken = BTreeSet::new();
    let summary = workbook.add_worksheet();
    summary.set_name(sheet_name(SUMMARY_SHEET, &mut taken))?;
    fill(summary, &summary_table(report), &formats)?;
    for department in &report.departments {
        let name = sheet_name(department.department.as_str(), &mut taken);
        let sheet = workbook.add_worksheet();
        sheet.set_name(name)?;
        let table = monthly_table(report, Some(department.department.as_str()));
        fill(sheet, &table, &formats)?;
    }
    Ok(workbook.save_to_buffer()?)
}

/// A workbook of one sheet named `name` holding `table`, created on `month`'s first day.
pub fn single(table: &Table, month: NaiveDate, name: &str) -> Result<Vec<u8>, ExportError> {
    let mut workbook = workbook(month)?;
    let sheet = workbook.add_worksheet();
    sheet.set_name(sheet_name(name, &mut BTreeSet::new()))?;
    fill(sheet, table, &Formats::new())?;
    Ok(workbook.save_to_buffer()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sheet_names_are_valid_and_unique() {
        let mut taken = BTreeSet::new();
        assert_eq!(sheet_name("Summary", &mut taken), "Summary");
        assert_eq!(sheet_name("summary", &mut taken), "summary (2)");
        assert_eq!(sheet_name("Cut/Sew [B]", &mut taken), "CutSew B");
        assert_eq!(sheet_name("History", &mut taken), "History (2)");
        assert_eq!(sheet_name("''", &mut taken), "Sheet");
        let long = "A department with a very long name indeed";
        let first = sheet_name(long, &mut taken);
        let second = sheet_name(long, &mut taken);
        assert_eq!(first.chars().count(), 31);
        assert!(
            second.ends_with(" (2)") && second.chars().count() <= 31,
            "{second}"
        );
    }

    #[test]
    fn the_same_table_gives_the_same_bytes() {
        let table = Table {
            header: vec!["a".into()],
            rows: vec![vec![Cell::Hours(1.5)]],
        };
        let month = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
        let one = single(&table, month, "Timesheet").unwrap();
        assert_eq!(one, single(&table, month, "Timesheet").unwrap());
        assert!(one.starts_with(b"PK"));
    }
}
