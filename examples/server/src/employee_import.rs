//! Employees in bulk, from CSV or JSON, all or nothing: `POST /api/attendance/employees/import/`
//! and `attendance-server import employees FILE` both go through [`read_rows`], [`validate`]
//! and [`store`].
//!
//! - Rows: a JSON array of objects, or CSV with a header row; the fields are those of an
//!   employee (`employee_id`, `employee_name`, `department`, `designation`, `level_of_work`,
//!   and optionally `device_user_id`, `shift`, `active`) plus an optional `joined_on`
//!   (`YYYY-MM-DD`). A row is numbered by its CSV line (the header is line 1) or its position in
//!   the JSON array (from 1).
//! - Every row is checked before anything is stored: the fields (core's employee rules), the
//!   shift (one the site has), codes and device user ids repeated in the file or already taken
//!   in the store. Any bad row and nothing is stored; every bad row is reported with its number.
//! - Then the employees are stored one by one (the store has no bulk insert). Should the store
//!   refuse one then (another writer took the code meanwhile, or the database failed), the
//!   employees this import already stored are removed again and the error names the row.
//! - Last, each new employee's days are recomputed through the service, from the first day
//!   the server recomputes after an employee change (the first of last month) or their
//!   `joined_on` when later, to today, so the engine publishes them as it does for one employee
//!   created by hand. `joined_on` is stored with the employee and bounds that recompute, so
//!   no day before it is marked absent.
//! - Once every row is stored the import is audited (`employee_import`: the count and the
//!   codes), before the recompute.

use std::collections::{BTreeSet, HashMap};

use attendance_core::audit::{AuditAction, NewAuditEntry};
use attendance_core::employee::{DeviceUserId, Employee, EmployeeCode, NewEmployee};
use attendance_core::service::{AttendanceService, DayKeys, employee_change_start};
use attendance_core::store::{Store, StoreError};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use serde_json::{Map, Value};

/// The most rows one employee import may hold.
pub const MAX_EMPLOYEE_IMPORT_ROWS: usize = 20_000;

/// The columns (fields) a row must have.
pub const REQUIRED_FIELDS: [&str; 5] = [
    "employee_id",
    "employee_name",
    "department",
    "designation",
    "level_of_work",
];

/// The columns (fields) a row may have besides the required ones.
pub const OPTIONAL_FIELDS: [&str; 4] = ["device_user_id", "shift", "active", "joined_on"];

/// How an import's rows are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// CSV with a header row.
    Csv,
    /// A JSON array of objects.
    Json,
}

impl Format {
    /// The format of a file's contents: JSON when the first non-blank character is `[`, else
    /// CSV.
    pub fn sniff(body: &[u8]) -> Self {
        let first = body
            .strip_prefix(b"\xEF\xBB\xBF")
            .unwrap_or(body)
            .iter()
            .find(|b| !b.is_ascii_whitespace());
        if first == Some(&b'[') {
            Self::Json
        } else {
            Self::Csv
        }
    }
}

/// A row that was refused, with its number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct BadLine {
    /// The CSV line (the header is line 1) or the JSON array position (from 1).
    pub line: u64,
    /// Why, naming the field.
    pub reason: String,
}

/// One row as read, before the employee rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EmployeeRow {
    /// The fields of a new employee.
    pub employee: NewEmployee,
    /// Whether the employee is active (default true).
    pub active: Option<bool>,
    /// The first working day, if given.
    pub joined_on: Option<NaiveDate>,
}

/// A row's number and the row, or why it cannot be read.
pub type NumberedRow = (u64, Result<EmployeeRow, String>);

/// A row that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidRow {
    /// Its number.
    pub line: u64,
    /// The employee to store.
    pub employee: Employee,
    /// The first working day, if given.
    pub joined_on: Option<NaiveDate>,
}

/// Why an import stored nothing (or, for [`ImportError::Recompute`], stored the employees but
/// did not recompute their days).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The body cannot be read at all (not CSV, not JSON).
    #[error("{0}")]
    Unreadable(String),
    /// The body reads but has the wrong shape (not an array; a CSV header without a required
    /// column or with an unknown one).
    #[error("{0}")]
    Shape(String),
    /// More than [`MAX_EMPLOYEE_IMPORT_ROWS`] rows.
    #[error("an import may hold at most {MAX_EMPLOYEE_IMPORT_ROWS} rows; split the file")]
    TooManyRows,
    /// The file has no rows.
    #[error("the import holds no employees")]
    Empty,
    /// Some rows are bad: nothing was stored.
    #[error("{} rows refused, nothing was stored: {}", .0.len(), summary(.0))]
    Rejected(Vec<BadLine>),
    /// The store refused the row `line` while storing; what the import had stored was removed
    /// again (`rolled_back`), or could not be (the message says which).
    #[error("line {line}: the store refused the employee ({source}); {}", if *.rolled_back { "the employees stored before it were removed again: nothing was stored" } else { "removing the employees stored before it failed too: some were stored" })]
    Store {
        /// The row.
        line: u64,
        /// Why.
        source: StoreError,
        /// Whether the employees stored before it were removed again.
        rolled_back: bool,
    },
    /// Reading the store (settings, existing employees) failed.
    #[error("reading the store: {0}")]
    Read(StoreError),
    /// The employees were stored, but recomputing their days failed.
    #[error("{stored} employees were stored, but recomputing their days failed: {message}")]
    Recompute {
        /// How many were stored.
        stored: usize,
        /// Why.
        message: String,
    },
}

fn summary(bad: &[BadLine]) -> String {
    bad.iter()
        .take(20)
        .map(|b| format!("line {}: {}", b.line, b.reason))
        .collect::<Vec<_>>()
        .join("; ")
}

fn check_row_count(rows: usize) -> Result<(), ImportError> {
    if rows > MAX_EMPLOYEE_IMPORT_ROWS {
        return Err(ImportError::TooManyRows);
    }
    Ok(())
}

/// Reads the rows of `body`: `(number, row or why it cannot be read)`.
pub fn read_rows(format: Format, body: &[u8]) -> Result<Vec<NumberedRow>, ImportError> {
    let rows = match format {
        Format::Csv => csv_rows(body)?,
        Format::Json => json_rows(body)?,
    };
    if rows.is_empty() {
        return Err(ImportError::Empty);
    }
    Ok(rows)
}

fn csv_rows(body: &[u8]) -> Result<Vec<NumberedRow>, ImportError> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(false)
        .from_reader(body);
    let headers = reader
        .headers()
        .map_err(|e| ImportError::Unreadable(format!("unreadable CSV header: {e}")))?
        .clone();
    let known = |h: &str| REQUIRED_FIELDS.contains(&h) || OPTIONAL_FIELDS.contains(&h);
    if let Some(unknown) = headers.iter().find(|h| !known(h)) {
        return Err(ImportError::Shape(format!(
            "the CSV header names an unknown column {unknown:?}; the columns are {} and optionally {}",
            REQUIRED_FIELDS.join(", "),
            OPTIONAL_FIELDS.join(", ")
        )));
    }
    if let Some(missing) = REQUIRED_FIELDS
        .iter()
        .find(|r| !headers.iter().any(|h| h == **r))
    {
        return Err(ImportError::Shape(format!(
            "the CSV header must name the column {missing} (the columns are {} and optionally {})",
            REQUIRED_FIELDS.join(", "),
            OPTIONAL_FIELDS.join(", ")
        )));
    }
    let mut rows = Vec::new();
    let mut last_line = 1;
    for (index, record) in reader.records().enumerate() {
        check_row_count(rows.len() + 1)?;
        let position = match &record {
            Ok(r) => r.position(),
            Err(e) => e.position(),
        };
        let line = crate::routes::scans::record_line(position, index, last_line);
        last_line = line;
        let row = match record {
            Ok(record) => {
                // Empty cells are absent fields.
                let map: Map<String, Value> = headers
                    .iter()
                    .zip(record.iter())
                    .filter(|(_, cell)| !cell.is_empty())
                    .map(|(h, cell)| (h.to_owned(), Value::String(cell.to_owned())))
                    .collect();
                row_from(&map)
            }
            Err(e) => Err(format!("unreadable CSV row: {e}")),
        };
        rows.push((line, row));
    }
    Ok(rows)
}

fn json_rows(body: &[u8]) -> Result<Vec<NumberedRow>, ImportError> {
    let values: Vec<Value> = serde_json::from_slice(body).map_err(|e| {
        if e.is_data() {
            ImportError::Shape(format!("the body must be a JSON array of employees: {e}"))
        } else {
            ImportError::Unreadable(format!("unreadable JSON: {e}"))
        }
    })?;
    check_row_count(values.len())?;
    Ok(values
        .into_iter()
        .enumerate()
        .map(|(i, value)| {
            let row = match value {
                Value::Object(map) => row_from(&map),
                _ => Err("each row must be a JSON object".to_owned()),
            };
            (i as u64 + 1, row)
        })
        .collect())
}

/// One row from its fields (JSON values; a CSV cell is a string).
fn row_from(map: &Map<String, Value>) -> Result<EmployeeRow, String> {
    let known = |k: &str| REQUIRED_FIELDS.contains(&k) || OPTIONAL_FIELDS.contains(&k);
    if let Some(unknown) = map.keys().find(|k| !known(k)) {
        return Err(format!("unknown field {unknown}"));
    }
    let text = |name: &str| -> Result<Option<String>, String> {
        match map.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            // Codes and device user ids are often written as numbers in JSON.
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(_) => Err(format!("{name} must be text")),
        }
    };
    let required = |name: &'static str| -> Result<String, String> {
        text(name)?.ok_or_else(|| format!("{name} is required"))
    };
    let active = match map.get("active") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(Value::String(s)) => Some(match s.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" => true,
            "false" | "no" | "0" => false,
            _ => return Err(format!("active must be true or false (got {s:?})")),
        }),
        Some(other) => return Err(format!("active must be true or false (got {other})")),
    };
    let joined_on = match text("joined_on")? {
        None => None,
        Some(s) => Some(
            NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
                .map_err(|_| format!("joined_on must be a date YYYY-MM-DD (got {s:?})"))?,
        ),
    };
    Ok(EmployeeRow {
        employee: NewEmployee {
            employee_id: required("employee_id")?,
            employee_name: required("employee_name")?,
            department: required("department")?,
            designation: required("designation")?,
            level_of_work: required("level_of_work")?,
            device_user_id: text("device_user_id")?.filter(|s| !s.trim().is_empty()),
            shift: text("shift")?.filter(|s| !s.trim().is_empty()),
            joined_on: None,
        },
        active,
        joined_on,
    })
}

/// Checks every row against the employee rules, the site's shifts, the other rows and the
/// store. Gives the employees to store, or every bad row.
pub async fn validate(
    store: &dyn Store,
    rows: Vec<NumberedRow>,
) -> Result<Vec<ValidRow>, ImportError> {
    let settings = store.settings().await.map_err(ImportError::Read)?;
    let mut bad = Vec::new();
    let mut valid = Vec::new();
    let mut codes: HashMap<EmployeeCode, u64> = HashMap::new();
    let mut users: HashMap<DeviceUserId, u64> = HashMap::new();
    for (line, row) in rows {
        let checked = row.and_then(|row| {
            let mut employee = Employee::parse(&row.employee).map_err(|e| e.to_string())?;
            employee.active = row.active.unwrap_or(true);
            employee.joined_on = row.joined_on;
            settings
                .regular_shift(employee.shift.as_ref())
                .map_err(|unknown| format!("shift: {unknown}"))?;
            if let Some(first) = codes.get(&employee.employee_id) {
                return Err(format!(
                    "employee_id {} is also on line {first}",
                    employee.employee_id
                ));
            }
            if let Some(first) = users.get(&employee.device_user_id) {
                return Err(format!(
                    "device_user_id {} is also on line {first}",
                    employee.device_user_id
                ));
            }
            codes.insert(employee.employee_id.clone(), line);
            users.insert(employee.device_user_id.clone(), line);
            Ok(ValidRow {
                line,
                employee,
                joined_on: row.joined_on,
            })
        });
        match checked {
            Ok(row) => valid.push(row),
            Err(reason) => bad.push(BadLine { line, reason }),
        }
    }
    // What the store holds already: one bulk read of the codes, one of the device users.
    let code_list: Vec<EmployeeCode> = codes.keys().cloned().collect();
    let taken_codes: BTreeSet<EmployeeCode> = store
        .employees_by_codes(&code_list)
        .await
        .map_err(ImportError::Read)?
        .into_iter()
        .map(|e| e.employee_id)
        .collect();
    let user_list: Vec<DeviceUserId> = users.keys().cloned().collect();
    let enrolled: HashMap<DeviceUserId, EmployeeCode> = store
        .employees_by_device_users(&user_list)
        .await
        .map_err(ImportError::Read)?
        .into_iter()
        .map(|e| (e.device_user_id, e.employee_id))
        .collect();
    valid.retain(|row| {
        let e = &row.employee;
        let reason = if taken_codes.contains(&e.employee_id) {
            format!("employee_id {} is already registered", e.employee_id)
        } else if let Some(holder) = enrolled.get(&e.device_user_id) {
            format!(
                "device_user_id {} is enrolled for {holder}",
                e.device_user_id
            )
        } else {
            return true;
        };
        bad.push(BadLine {
            line: row.line,
            reason,
        });
        false
    });
    if bad.is_empty() {
        Ok(valid)
    } else {
        bad.sort_by_key(|b| b.line);
        Err(ImportError::Rejected(bad))
    }
}

/// What an import stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ImportOutcome {
    /// How many employees were created.
    pub created: usize,
    /// Their codes, in the order of the rows.
    pub employees: Vec<String>,
    /// How many daily records were recomputed for them.
    pub records: usize,
}

/// Stores `rows` (checked by [`validate`]) one by one, calling `progress(done, total)` after
/// each, removing them again if the store refuses one; once all are stored, audits the import
/// as `actor` (`employee_import`, target `employees`, after: the count and the codes); then
/// recomputes their days as of `now` through `service`.
pub async fn store(
    store: &dyn Store,
    service: &AttendanceService,
    actor: &str,
    rows: &[ValidRow],
    now: DateTime<Utc>,
    progress: &mut (dyn FnMut(usize, usize) + Send),
) -> Result<ImportOutcome, ImportError> {
    let total = rows.len();
    for (done, row) in rows.iter().enumerate() {
        if let Err(source) = store.create_employee(&row.employee).await {
            let mut rolled_back = true;
            for stored in &rows[..done] {
                if let Err(e) = store.delete_employee(&stored.employee.employee_id).await {
                    tracing::error!(employee = %stored.employee.employee_id, error = %e,
                        "import: could not remove an employee stored before the failure");
                    rolled_back = false;
                }
            }
            return Err(ImportError::Store {
                line: row.line,
                source,
                rolled_back,
            });
        }
        progress(done + 1, total);
    }
    let codes: Vec<String> = rows
        .iter()
        .map(|r| r.employee.employee_id.to_string())
        .collect();
    service
        .audit(
            NewAuditEntry::new(now, actor, AuditAction::EmployeeImport, "employees")
                .after(serde_json::json!({"count": total, "codes": codes})),
        )
        .await;
    let settings = store.settings().await.map_err(ImportError::Read)?;
    let today = now.with_timezone(&settings.time_zone).date_naive();
    let start = employee_change_start(today);
    let mut days = DayKeys::new();
    for row in rows.iter().filter(|r| r.employee.active) {
        let from = row.joined_on.map_or(start, |j| j.max(start));
        let dates: BTreeSet<NaiveDate> = from.iter_days().take_while(|d| *d <= today).collect();
        if !dates.is_empty() {
            days.insert(row.employee.employee_id.clone(), dates);
        }
    }
    let records = match service.recompute_days(&days, now).await {
        Ok(recomputed) => recomputed.records.len(),
        Err(e) => {
            return Err(ImportError::Recompute {
                stored: total,
                message: e.to_string(),
            });
        }
    };
    Ok(ImportOutcome {
        created: total,
        employees: codes,
        records,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn csv_and_json_rows_carry_their_numbers_and_name_the_field() {
        let csv = "employee_id,employee_name,department,designation,level_of_work,active,joined_on\n\
                   EMP001,Rahima,Sewing,Operator,Worker,,2026-01-05\n\
                   EMP002,Karim,Sewing,Operator,Worker,maybe,\n\
                   EMP003,Salma,Cutting,Operator,Worker,no,5 Jan\n";
        let rows = read_rows(Format::Csv, csv.as_bytes()).unwrap();
        assert_eq!(rows.iter().map(|r| r.0).collect::<Vec<_>>(), [2, 3, 4]);
        let first = rows[0].1.as_ref().unwrap();
        assert_eq!(first.active, None);
        assert_eq!(first.joined_on, NaiveDate::from_ymd_opt(2026, 1, 5));
        assert!(rows[1].1.as_ref().unwrap_err().contains("active"));
        assert!(rows[2].1.as_ref().unwrap_err().contains("joined_on"));

        let json = r#"[{"employee_id": "EMP001", "employee_name": "A", "department": "Sewing",
                        "designation": "Operator", "level_of_work": "Worker", "active": false},
                       {"employee_id": "EMP002", "colour": "red"}, 5]"#;
        let rows = read_rows(Format::Json, json.as_bytes()).unwrap();
        assert_eq!(rows[0].1.as_ref().unwrap().active, Some(false));
        assert!(rows[1].1.as_ref().unwrap_err().contains("colour"));
        assert!(rows[2].1.as_ref().unwrap_err().contains("object"));
        assert_eq!(Format::sniff(b"  [ {}]"), Format::Json);
        assert_eq!(Format::sniff(b"employee_id,"), Format::Csv);
    }

    #[tokio::test]
    async fn a_store_refusal_midway_removes_what_the_import_stored() {
        use std::sync::Arc;

        use attendance_core::store::memory::MemoryStore;

        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let service = AttendanceService::new(store.clone());
        let csv = "employee_id,employee_name,department,designation,level_of_work\n\
                   EMP001,A,Sewing,Operator,Worker\n\
                   EMP002,B,Sewing,Operator,Worker\n\
                   EMP003,C,Sewing,Operator,Worker\n";
        let rows = read_rows(Format::Csv, csv.as_bytes()).unwrap();
        let valid = validate(store.as_ref(), rows).await.unwrap();
        // Another writer takes the third code between the checks and the store.
        store.create_employee(&valid[2].employee).await.unwrap();
        let mut seen = Vec::new();
        let failed = super::store(
            store.as_ref(),
            &service,
            "test",
            &valid,
            Utc::now(),
            &mut |d, t| seen.push((d, t)),
        )
        .await
        .unwrap_err();
        assert!(matches!(
            failed,
            ImportError::Store {
                line: 4,
                source: StoreError::Conflict(_),
                rolled_back: true
            }
        ));
        let trail = store
            .query_audit(&attendance_core::audit::AuditQuery::default(), 0, 10)
            .await
            .unwrap();
        assert_eq!(trail.count, 0, "an import rolled back is not audited");
        assert!(failed.to_string().starts_with("line 4:"), "{failed}");
        assert_eq!(seen, [(1, 3), (2, 3)]);
        // Only the other writer's employee is left.
        let left: Vec<String> = store
            .list_employees(None)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.employee_id.to_string())
            .collect();
        assert_eq!(left, ["EMP003"]);
    }

    #[test]
    fn a_header_without_a_required_column_or_with_an_unknown_one_is_refused() {
        let missing = "employee_id,employee_name,department,designation\nEMP001,A,B,C\n";
        assert!(matches!(
            read_rows(Format::Csv, missing.as_bytes()),
            Err(ImportError::Shape(m)) if m.contains("level_of_work")
        ));
        let unknown = "employee_id,employee_name,department,designation,level_of_work,colour\n";
        assert!(matches!(
            read_rows(Format::Csv, unknown.as_bytes()),
            Err(ImportError::Shape(m)) if m.contains("colour")
        ));
        assert!(matches!(
            read_rows(Format::Json, b"[]"),
            Err(ImportError::Empty)
        ));
        assert!(matches!(
            read_rows(Format::Json, b"{\"a\": 1}"),
            Err(ImportError::Shape(_))
        ));
    }
}
