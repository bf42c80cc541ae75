//! Scans from a CSV file, all or nothing: `attendance-server import scans FILE` (a machine's
//! dump, or scans kept on paper and typed in).
//!
//! - The file has a header row naming `employee_id` or `device_user_id` (or both), `timestamp`
//!   (RFC 3339 with an offset, or a naive local time `YYYY-MM-DD HH:MM[:SS]` on the site's
//!   clock), and optionally `scan_type` (`IN` or `OUT`; empty: the rules decide) and
//!   `machine_id` (empty or absent: `MANUAL`, as the import route stores). It is read by the
//!   scan import route's own reader and time parser (`routes::scans`), so the two read files
//!   alike.
//! - Every line is checked before anything is stored: the columns, the time (not before 2010,
//!   the engine's earliest storable scan, and not in the future), the employee (one that
//!   exists; with both columns given, the device user must be the employee's). Any bad line and
//!   nothing is stored; every bad line is reported with its number (the header is line 1). A
//!   device user no employee is enrolled as is stored as the devices' scans are, and counts
//!   once someone is enrolled as them.
//! - Then the scans are stored through the service's ingest path
//!   ([`AttendanceService::store_scan_batches`]) in batches of [`SCAN_BATCH`], each batch one
//!   transaction and each scan stored once (its machine, device user and second are its key,
//!   so importing a file again stores nothing new), and last the (employee, work date) pairs
//!   of the new scans are recomputed set-based ([`AttendanceService::recompute_days`]), a chunk
//!   of employees at a time.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use attendance_adapters::engine::default_earliest_scan;
use attendance_core::employee::{DeviceUserId, Employee, EmployeeCode};
use attendance_core::ingest::ScanBatch;
use attendance_core::scan::{MachineId, PunchState, ScanData, VerifyMode};
use attendance_core::service::{AttendanceService, DayKeys, RECOMPUTE_CHUNK, ServiceError};
use attendance_core::store::{Store, StoreError};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Deserialize;
use serde_json::json;
use thiserror::Error;

use crate::employee_import::BadLine;
use crate::routes::scans::{MANUAL_MACHINE, parse_scan_time, parse_scan_type, read_csv};

/// The most lines one file may hold.
pub const MAX_SCAN_FILE_ROWS: usize = 5_000_000;

/// How many scans one stored batch holds.
pub const SCAN_BATCH: usize = 5_000;

/// How many employees one read of the employees names.
const LOOKUP_CHUNK: usize = 500;

/// One line of the file, as written.
#[derive(Debug, Clone, Deserialize)]
struct ScanLine {
    #[serde(default)]
    employee_id: Option<String>,
    #[serde(default)]
    device_user_id: Option<String>,
    timestamp: String,
    #[serde(default)]
    scan_type: Option<String>,
    #[serde(default)]
    machine_id: Option<String>,
}

/// Who a line is about, once its fields are read.
enum Who {
    Employee(EmployeeCode, Option<DeviceUserId>),
    User(DeviceUserId),
}

fn non_empty(text: Option<&str>) -> Option<&str> {
    text.map(str::trim).filter(|t| !t.is_empty())
}

/// What an import can fail with before anything is stored.
#[derive(Debug, Error)]
pub enum ScanImportError {
    /// The file cannot be read as a scan file (its header, its size).
    #[error("{0}")]
    Unreadable(String),
    /// Lines were refused; nothing was stored.
    #[error("{} lines refused; nothing was stored", .0.len())]
    Rejected(Vec<BadLine>),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The scans of a checked file, ready to store.
#[derive(Debug, Clone, Default)]
pub struct CheckedScans {
    /// Every scan, in the file's order.
    pub scans: Vec<ScanData>,
}

/// Reads and checks every line of `body` (times on the clock of `tz`, none after `now`),
/// looking the employees up in `store`; `source` (the file's name) is kept with each scan.
pub async fn check(
    store: &dyn Store,
    body: &[u8],
    tz: Tz,
    now: DateTime<Utc>,
    source: &str,
) -> Result<CheckedScans, ScanImportError> {
    let rows = read_csv::<ScanLine>(
        body,
        MAX_SCAN_FILE_ROWS,
        &[&["employee_id", "device_user_id"], &["timestamp"]],
        json!({"required": ["employee_id or device_user_id", "timestamp"],
               "optional": ["scan_type", "machine_id"]}),
    )
    .map_err(|e| ScanImportError::Unreadable(e.message))?;
    let earliest = default_earliest_scan();
    let latest = now + chrono::Duration::minutes(5);
    let manual =
        MachineId::parse(MANUAL_MACHINE).map_err(|e| StoreError::Invalid(e.to_string()))?;
    let mut bad = Vec::new();
    let mut lines = Vec::with_capacity(rows.len());
    for (line, row) in rows {
        let checked = row.and_then(|row| {
            let timestamp = parse_scan_time("timestamp", &row.timestamp, tz)?;
            if timestamp < earliest {
                return Err(format!("timestamp is before {}", earliest.date_naive()));
            }
            if timestamp > latest {
                return Err("timestamp is in the future".to_owned());
            }
            let punch_state =
                parse_scan_type(row.scan_type.as_deref())?.unwrap_or(PunchState::Unknown);
            let machine = match non_empty(row.machine_id.as_deref()) {
                Some(id) => MachineId::parse(id).map_err(|e| e.to_string())?,
                None => manual.clone(),
            };
            let user = non_empty(row.device_user_id.as_deref())
                .map(DeviceUserId::parse)
                .transpose()
                .map_err(|e| e.to_string())?;
            let who = match (non_empty(row.employee_id.as_deref()), user) {
                (Some(code), user) => {
                    Who::Employee(EmployeeCode::parse(code).map_err(|e| e.to_string())?, user)
                }
                (None, Some(user)) => Who::User(user),
                (None, None) => return Err("employee_id or device_user_id is required".into()),
            };
            Ok((who, timestamp, punch_state, machine))
        });
        match checked {
            Ok(fields) => lines.push((line, fields)),
            Err(reason) => bad.push(BadLine { line, reason }),
        }
    }

    // The employees named, read in bulk.
    let codes: Vec<EmployeeCode> = lines
        .iter()
        .filter_map(|(_, (who, ..))| match who {
            Who::Employee(code, _) => Some(code.clone()),
            Who::User(_) => None,
        })
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut employees: HashMap<EmployeeCode, Employee> = HashMap::new();
    for chunk in codes.chunks(LOOKUP_CHUNK) {
        for employee in store.employees_by_codes(chunk).await? {
            employees.insert(employee.employee_id.clone(), employee);
        }
    }

    let raw = json!({"entered_by": "cli", "reason": format!("imported from {source}")}).to_string();
    let mut scans = Vec::with_capacity(lines.len());
    for (line, (who, timestamp, punch_state, machine_id)) in lines {
        let device_user_id = match who {
            Who::User(user) => user,
            Who::Employee(code, user) => match (employees.get(&code), user) {
                (None, _) => {
                    bad.push(BadLine {
                        line,
                        reason: format!("unknown employee {code}"),
                    });
                    continue;
                }
                (Some(e), Some(user)) if user != e.device_user_id => {
                    bad.push(BadLine {
                        line,
                        reason: format!(
                            "device_user_id {user} is not {code}'s (theirs is {})",
                            e.device_user_id
                        ),
                    });
                    continue;
                }
                (Some(e), _) => e.device_user_id.clone(),
            },
        };
        scans.push(ScanData {
            machine_id,
            device_user_id,
            timestamp,
            punch_state,
            verify_mode: VerifyMode::Manual,
            raw: Some(raw.clone()),
        });
    }
    if !bad.is_empty() {
        bad.sort_by_key(|b| b.line);
        return Err(ScanImportError::Rejected(bad));
    }
    Ok(CheckedScans { scans })
}

/// What storing the scans did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanImportOutcome {
    /// Scans stored.
    pub new: usize,
    /// Scans stored already (or repeated in the file).
    pub duplicates: usize,
    /// Daily records recomputed.
    pub records: usize,
    /// Device users with new scans that no employee is enrolled as.
    pub unknown_users: BTreeSet<DeviceUserId>,
}

/// Where storing is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportProgress {
    /// Scans stored (new or duplicate) so far, of all.
    Stored(usize, usize),
    /// Employees whose days are recomputed, of all with new scans.
    Recomputed(usize, usize),
}

/// Stores `checked` through `service` in batches of [`SCAN_BATCH`] (one machine each), then
/// recomputes the work dates of the new scans; `progress` hears of each batch and each chunk.
/// Should the store fail, the batches before were stored (each scan once: importing the file
/// again stores the rest).
pub async fn store(
    service: &AttendanceService,
    checked: CheckedScans,
    now: DateTime<Utc>,
    progress: &mut (dyn FnMut(ImportProgress) + Send),
) -> Result<ScanImportOutcome, ServiceError> {
    let total = checked.scans.len();
    let mut by_machine: BTreeMap<MachineId, Vec<ScanData>> = BTreeMap::new();
    for scan in checked.scans {
        by_machine
            .entry(scan.machine_id.clone())
            .or_default()
            .push(scan);
    }
    let mut outcome = ScanImportOutcome::default();
    let mut inserted = Vec::new();
    let mut done = 0;
    for (machine, scans) in by_machine {
        for batch in scans.chunks(SCAN_BATCH) {
            let stored = service
                .store_scan_batches(vec![ScanBatch {
                    machine_id: machine.clone(),
                    scans: batch.to_vec(),
                    cursor: None,
                }])
                .await?;
            for result in stored {
                crate::ops::count_ingested("import", result.inserted.len(), result.duplicates);
                outcome.duplicates += result.duplicates;
                inserted.extend(result.inserted);
            }
            done += batch.len();
            progress(ImportProgress::Stored(done, total));
        }
    }
    outcome.new = inserted.len();
    let affected = service.affected_days(&inserted).await?;
    outcome.unknown_users = affected.unknown_users;
    let days: Vec<_> = affected.days.into_iter().collect();
    let employees = days.len();
    let mut recomputed = 0;
    for chunk in days.chunks(RECOMPUTE_CHUNK) {
        let keys: DayKeys = chunk.iter().cloned().collect();
        outcome.records += service.recompute_days(&keys, now).await?.records.len();
        recomputed += chunk.len();
        progress(ImportProgress::Recomputed(recomputed, employees));
    }
    Ok(outcome)
}
