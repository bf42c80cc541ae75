//! `/api/attendance/scans/`: raw scans, manual entry and bulk import.
//!
//! - `GET scans/` lists the scans of the employees in the caller's scope
//!   ([`Action::ViewAttendance`]) between two dates of the site's calendar. The store reads scans
//!   per device user, so the list walks the employees in scope by code: to keep that bounded, a
//!   list over several employees covers at most [`MAX_LIST_DAYS_ALL`] days, and one employee's
//!   (`employee_id=`) at most [`MAX_LIST_DAYS_ONE`].
//! - `POST scans/` adds one manual scan ([`Action::AddManualScan`], HR and admins) under the
//!   machine id `MANUAL`, through the service, so the day is recomputed at once.
//! - `POST scans/import/` stores many ([`Action::ImportScans`]): a JSON array of manual scans, or
//!   CSV with a header row of the same columns. Valid rows are stored even when others are
//!   rejected. Its CSV reader (`read_csv`) and time parser also read the files of
//!   `attendance-server import scans` ([`crate::scan_import`]).
//!
//! Both are audited once stored: `manual_scan` (target `employee:{code}`, after: the scan and
//! whether it was new or a duplicate, the reason given) and `scan_import` (target `scans`,
//! after: the counts).

use std::collections::BTreeSet;
use std::collections::HashMap;

use attendance_core::access::{Action, authorize, list_filter};
use attendance_core::attribution::Attributor;
use attendance_core::audit::{AuditAction, NewAuditEntry};
use attendance_core::employee::{Employee, EmployeeCode};
use attendance_core::report::DailySummary;
use attendance_core::scan::{MachineId, PunchState, ScanData, VerifyMode};
use attendance_core::settings::AttendanceSettings;
use attendance_core::store::{ScanBatch, StoreError};
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Days, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::auth::AuthUser;
use crate::employee_import::Format;
use crate::error::{ApiError, ApiJson, ApiQuery, ApiResult};
use crate::pagination::{PageParams, Paginated};
use crate::routes::employees::{employee_for, employees_in_scope, parse_code};
use crate::routes::{both_slashes, upload};
use crate::state::AppState;

/// The machine id manual and imported scans are stored under.
pub const MANUAL_MACHINE: &str = "MANUAL";

/// The most rows one import may hold.
pub const MAX_IMPORT_ROWS: usize = 100_000;

/// The most days a scan list over several employees may cover.
pub const MAX_LIST_DAYS_ALL: u64 = 31;

/// The most days a scan list of one employee may cover.
pub const MAX_LIST_DAYS_ONE: u64 = 366;

/// The longest reason of a manual scan, in characters.
pub const MAX_REASON_CHARS: usize = 500;

/// One manual scan: the body of `POST scans/` and one row of an import.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct ManualScanInput {
    /// The employee code.
    pub employee_id: String,
    /// RFC 3339 with an offset (`2026-11-25T08:00:00+06:00`), or a naive local time in the
    /// site's time zone (`2026-11-25T08:00:00`, `2026-11-25 08:00`).
    pub scan_time: String,
    /// `IN`, `OUT`, or absent/empty (the rules decide).
    #[serde(default)]
    pub scan_type: Option<String>,
    /// Why the scan is added by hand (1–500 characters).
    #[serde(default)]
    pub reason: Option<String>,
}

/// A manual scan that passed validation (the employee is not looked up yet).
#[derive(Debug, Clone)]
struct ValidScan {
    employee: EmployeeCode,
    timestamp: DateTime<Utc>,
    punch_state: PunchState,
    reason: String,
}

/// Parses `text` (the column `field`) as RFC 3339, or as a naive local time on the clock of
/// `tz`; the error names the field. Shared with `attendance-server import scans`.
pub(crate) fn parse_scan_time(field: &str, text: &str, tz: Tz) -> Result<DateTime<Utc>, String> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    let naive = [
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
    .ok_or_else(|| {
        format!("{field} {text:?} is neither RFC 3339 nor a local time like 2026-11-25T08:00:00")
    })?;
    tz.from_local_datetime(&naive)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .ok_or_else(|| format!("{field} {text:?} does not exist in the time zone {tz}"))
}

/// Parses a scan type: `IN`, `OUT` (any case), or `None` when absent or empty (the rules
/// decide). Shared by manual scans, corrections and `attendance-server import scans`.
pub(crate) fn parse_scan_type(text: Option<&str>) -> Result<Option<PunchState>, String> {
    match text.map(str::trim) {
        None | Some("") => Ok(None),
        Some(t) if t.eq_ignore_ascii_case("IN") => Ok(Some(PunchState::CheckIn)),
        Some(t) if t.eq_ignore_ascii_case("OUT") => Ok(Some(PunchState::CheckOut)),
        Some(other) => Err(format!("scan_type must be IN or OUT, not {other:?}")),
    }
}

impl ManualScanInput {
    /// Checks every field; the error says which and why.
    fn validate(&self, tz: Tz, now: DateTime<Utc>) -> Result<ValidScan, String> {
        let employee = EmployeeCode::parse(&self.employee_id).map_err(|e| e.to_string())?;
        let timestamp = parse_scan_time("scan_time", &self.scan_time, tz)?;
        if timestamp > now + chrono::Duration::minutes(5) {
            return Err("scan_time is in the future".into());
        }
        let punch_state =
            parse_scan_type(self.scan_type.as_deref())?.unwrap_or(PunchState::Unknown);
        let reason = self.reason.as_deref().unwrap_or("").trim();
        if reason.is_empty() {
            return Err("reason is required".into());
        }
        if reason.chars().count() > MAX_REASON_CHARS {
            return Err(format!(
                "reason is longer than {MAX_REASON_CHARS} characters"
            ));
        }
        Ok(ValidScan {
            employee,
            timestamp,
            punch_state,
            reason: reason.to_owned(),
        })
    }
}

fn manual_machine() -> ApiResult<MachineId> {
    MachineId::parse(MANUAL_MACHINE).map_err(ApiError::internal)
}

fn scan_data(employee: &Employee, scan: &ValidScan, by: &str, machine: &MachineId) -> ScanData {
    ScanData {
        machine_id: machine.clone(),
        device_user_id: employee.device_user_id.clone(),
        timestamp: scan.timestamp,
        punch_state: scan.punch_state,
        verify_mode: VerifyMode::Manual,
        raw: Some(json!({"entered_by": by, "reason": scan.reason}).to_string()),
    }
}

/// A scan as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ScanView {
    /// The scan's id (`MACHINE~USER~UNIX_SECONDS`), as `POST scans/{id}/void/` takes it.
    pub id: String,
    /// The employee whose scan it is.
    pub employee_id: String,
    /// The user id on the machine.
    pub device_user_id: String,
    /// The machine (`MANUAL` for manual and imported scans).
    pub machine_id: String,
    /// When, RFC 3339 in UTC.
    pub timestamp: DateTime<Utc>,
    /// When, on the site's clock (`YYYY-MM-DDTHH:MM:SS`).
    pub local_time: String,
    /// The device's punch state (`check_in`, `check_out`, `unknown`, …).
    #[schema(schema_with = punch_state_schema)]
    pub punch_state: PunchState,
    /// How the user was verified (`fingerprint`, `manual`, …).
    #[schema(schema_with = verify_mode_schema)]
    pub verify_mode: VerifyMode,
}

/// A named value of core's `PunchState`, or `{"other": code}` for a device code outside 0–5.
fn punch_state_schema() -> utoipa::openapi::schema::Schema {
    named_or_other(
        "The device's punch state: a name, or `{\"other\": code}` for a code outside 0-5.",
        &[
            "check_in",
            "check_out",
            "break_out",
            "break_in",
            "overtime_in",
            "overtime_out",
            "unknown",
        ],
        255,
    )
}

/// A named value of core's `VerifyMode`, or `{"other": code}` for a vendor code.
fn verify_mode_schema() -> utoipa::openapi::schema::Schema {
    named_or_other(
        "How the user was verified: a name, or `{\"other\": code}` for a vendor code.",
        &[
            "fingerprint",
            "face",
            "card",
            "password",
            "palm",
            "manual",
            "unknown",
        ],
        u64::from(u16::MAX),
    )
}

/// The schema of a snake_case enum with an `Other(code)` variant, as serde writes it.
fn named_or_other(description: &str, names: &[&str], max: u64) -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
    Schema::OneOf(
        OneOfBuilder::new()
            .description(Some(description))
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .enum_values(Some(names.iter().copied())),
            )
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::Object)
                    .property(
                        "other",
                        ObjectBuilder::new()
                            .schema_type(Type::Integer)
                            .minimum(Some(0))
                            .maximum(Some(max)),
                    )
                    .required("other"),
            )
            .build(),
    )
}

impl ScanView {
    pub(crate) fn new(employee: &EmployeeCode, scan: &ScanData, tz: Tz) -> Self {
        Self {
            id: attendance_core::store::ScanId::of(scan).to_string(),
            employee_id: employee.to_string(),
            device_user_id: scan.device_user_id.to_string(),
            machine_id: scan.machine_id.to_string(),
            timestamp: scan.timestamp,
            local_time: scan
                .timestamp
                .with_timezone(&tz)
                .format("%Y-%m-%dT%H:%M:%S")
                .to_string(),
            punch_state: scan.punch_state,
            verify_mode: scan.verify_mode,
        }
    }
}

/// Filters of `GET scans/`: dates of the site's calendar, inclusive.
#[derive(Debug, Clone, Deserialize, utoipa::IntoParams)]
pub struct ScanFilter {
    /// Only this employee.
    pub employee_id: Option<String>,
    /// First date (default: `to`).
    pub from: Option<NaiveDate>,
    /// Last date (default: today).
    pub to: Option<NaiveDate>,
}

/// The instant local midnight starts `date` on the clock of `tz`.
pub(crate) fn start_of(date: NaiveDate, tz: Tz) -> DateTime<Utc> {
    let midnight = date.and_hms_opt(0, 0, 0).unwrap_or_default();
    tz.from_local_datetime(&midnight)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| Utc.from_utc_datetime(&midnight))
}

/// Today on the site's clock.
pub(crate) fn today(settings: &AttendanceSettings) -> NaiveDate {
    Utc::now().with_timezone(&settings.time_zone).date_naive()
}

/// Lists scans of the employees in scope, by employee code then time, between `from` and `to`
/// (dates of the site's calendar, inclusive; default today). The store reads scans per employee,
/// so a list over several employees may cover at most 31 days, one employee's (`employee_id=`)
/// at most 366; longer ranges are refused with 422.
#[utoipa::path(get, path = "/api/attendance/scans/", tag = "scans",
    security(("bearer" = [])), params(ScanFilter, PageParams),
    responses((status = 200, body = Paginated<ScanView>), (status = 400, description = "bad query"),
        (status = 403, description = "employee out of scope"), (status = 404, description = "unknown employee"),
        (status = 422, description = "reversed or too long date range")))]
async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    uri: Uri,
    ApiQuery(filter): ApiQuery<ScanFilter>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> ApiResult<Json<Paginated<ScanView>>> {
    let settings = state.store.settings().await?;
    let tz = settings.time_zone;
    let to = filter.to.unwrap_or_else(|| today(&settings));
    let from = filter.from.unwrap_or(to);
    if from > to {
        return Err(ApiError::unprocessable("from must not be after to")
            .with_details(json!({"from": from, "to": to})));
    }
    let employees = match filter.employee_id.as_deref() {
        Some(code) => {
            let code = parse_code(code)?;
            vec![employee_for(&state, &user, Action::ViewAttendance, &code).await?]
        }
        None => employees_in_scope(&state, &user, Action::ViewAttendance, None).await?,
    };
    let limit = if employees.len() > 1 {
        MAX_LIST_DAYS_ALL
    } else {
        MAX_LIST_DAYS_ONE
    };
    let days = u64::try_from((to - from).num_days()).unwrap_or(u64::MAX);
    if days >= limit {
        return Err(ApiError::unprocessable(format!(
            "the date range may cover at most {limit} days for this list"
        ))
        .with_details(json!({"max_days": limit})));
    }
    let start = start_of(from, tz);
    let end = start_of(to.checked_add_days(Days::new(1)).unwrap_or(to), tz);
    let (offset, size) = (page.offset(), page.size());
    let mut count: u64 = 0;
    let mut results = Vec::new();
    for employee in &employees {
        let scans = state
            .store
            .scans_of_user(&employee.device_user_id, start, end)
            .await?;
        for scan in &scans {
            if count >= offset && (results.len() as u64) < size {
                results.push(ScanView::new(&employee.employee_id, scan, tz));
            }
            count += 1;
        }
    }
    Ok(Json(Paginated::new(results, count, page, &uri)))
}

/// What `POST scans/` did.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ManualScanResult {
    /// The scan as stored.
    pub scan: ScanView,
    /// Whether it was new (false: the same scan was stored already).
    pub created: bool,
    /// Whether it was a duplicate of a stored scan.
    pub duplicate: bool,
    /// The scan's work date as recomputed (core's `DailySummary`).
    #[schema(value_type = Object)]
    pub summary: Option<DailySummary>,
}

/// Adds a manual scan for an employee (HR and admins) and answers the recomputed day: 201 when
/// it is new, 200 when the same scan (same second) was stored already.
#[utoipa::path(post, path = "/api/attendance/scans/", tag = "scans",
    security(("bearer" = [])), request_body = ManualScanInput,
    responses((status = 201, body = ManualScanResult), (status = 200, body = ManualScanResult, description = "a duplicate"),
        (status = 403, description = "not HR"), (status = 404, description = "unknown employee"),
        (status = 422, description = "invalid field")))]
async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(body): ApiJson<ManualScanInput>,
) -> ApiResult<(StatusCode, Json<ManualScanResult>)> {
    // The role first: employees and department heads get 403 whatever they send.
    list_filter(&user.actor, Action::AddManualScan)?;
    let settings = state.store.settings().await?;
    let tz = settings.time_zone;
    let now = Utc::now();
    let code = parse_code(&body.employee_id)?;
    let employee = employee_for(&state, &user, Action::AddManualScan, &code).await?;
    let valid = body.validate(tz, now).map_err(ApiError::unprocessable)?;
    let machine = manual_machine()?;
    let data = scan_data(&employee, &valid, &user.username, &machine);
    let report = state
        .service
        .record_scans(
            ScanBatch {
                machine_id: machine,
                scans: vec![data.clone()],
                cursor: None,
            },
            now,
        )
        .await?;
    crate::ops::count_ingested("manual", report.inserted.len(), report.duplicates);
    let created = !report.inserted.is_empty();
    let summary = if let Some(summary) = report.summaries.into_iter().next() {
        Some(summary)
    } else {
        // A duplicate recomputes nothing: recompute its work date to answer the day as it is.
        let roster = settings.roster_of(&employee);
        let date = Attributor::new(&settings, &roster).work_date_of(valid.timestamp);
        let records = state
            .service
            .recompute(&employee, &BTreeSet::from([date]), now)
            .await?;
        records.first().map(|r| DailySummary::new(&employee, r, tz))
    };
    tracing::info!(employee = %employee.employee_id, by = %user.username, created, "manual scan");
    let scan = ScanView::new(&employee.employee_id, &data, tz);
    state
        .service
        .audit(
            NewAuditEntry::new(
                now,
                &user.username,
                AuditAction::ManualScan,
                &format!("employee:{}", employee.employee_id),
            )
            .after(json!({"scan": scan, "created": created, "duplicate": !created}))
            .reason(&valid.reason),
        )
        .await;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(ManualScanResult {
            scan,
            created,
            duplicate: !created,
            summary,
        }),
    ))
}

/// One rejected row of an import.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RejectedRow {
    /// The CSV line (the header is line 1) or the JSON array index + 1.
    pub line: u64,
    /// Why it was rejected.
    pub reason: String,
}

/// What an import did.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ImportResult {
    /// Scans stored.
    pub new: usize,
    /// Scans already stored (or repeated in the import).
    pub duplicate: usize,
    /// Rows not stored, with their line.
    pub rejected: Vec<RejectedRow>,
}

fn too_many_rows() -> ApiError {
    too_many_rows_of(MAX_IMPORT_ROWS)
}

fn too_many_rows_of(max_rows: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!("an import may hold at most {max_rows} rows; split the file"),
    )
    .with_details(json!({"max_rows": max_rows}))
}

/// Reads the rows of a CSV import: `(line, row or why it is unreadable)`.
fn csv_rows(body: &[u8]) -> ApiResult<Vec<(u64, Result<ManualScanInput, String>)>> {
    read_csv(
        body,
        MAX_IMPORT_ROWS,
        &[&["employee_id"], &["scan_time"]],
        json!({"required": ["employee_id", "scan_time", "reason"], "optional": ["scan_type"]}),
    )
}

/// Reads the rows of a CSV file with a header row as `T` (by column name; spaces around fields
/// trimmed): `(line, row or why it is unreadable)`, the header being line 1. The header must
/// name, for each group of `required`, one of its columns (else 422 with `columns` as details);
/// more than `max_rows` rows are 413; an unreadable header 400. The scan import route and
/// `attendance-server import scans` both read their files with it.
pub(crate) fn read_csv<T: DeserializeOwned>(
    body: &[u8],
    max_rows: usize,
    required: &[&[&str]],
    columns: serde_json::Value,
) -> ApiResult<Vec<(u64, Result<T, String>)>> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(false)
        .from_reader(body);
    let headers = reader
        .headers()
        .map_err(|e| ApiError::bad_request(format!("unreadable CSV header: {e}")))?
        .clone();
    for group in required {
        if !group.iter().any(|c| headers.iter().any(|h| h == *c)) {
            let message = match group {
                [one] => format!("the CSV header must name the column {one}"),
                several => format!(
                    "the CSV header must name one of the columns {}",
                    several.join(" or ")
                ),
            };
            return Err(ApiError::unprocessable(message).with_details(columns));
        }
    }
    let mut rows = Vec::new();
    let mut last_line = 1;
    for (index, record) in reader.records().enumerate() {
        if rows.len() >= max_rows {
            return Err(too_many_rows_of(max_rows));
        }
        let position = match &record {
            Ok(r) => r.position(),
            Err(e) => e.position(),
        };
        let line = record_line(position, index, last_line);
        last_line = line;
        let row = record
            .map_err(|e| format!("unreadable CSV row: {e}"))
            .and_then(|r| {
                r.deserialize::<T>(Some(&headers))
                    .map_err(|e| e.to_string())
            });
        rows.push((line, row));
    }
    Ok(rows)
}

/// The line a CSV record is reported at: where the reader says it starts, but always after the
/// record before it (the reader counts LF only, so records ended by a lone CR would all be
/// "line 1"; a fuzzed file found it). `last` is the previous record's line (1: the header).
pub(crate) fn record_line(position: Option<&csv::Position>, index: usize, last: u64) -> u64 {
    position
        .map_or(index as u64 + 2, csv::Position::line)
        .max(last + 1)
}

/// Reads the rows of a JSON import: `(index + 1, row or why it does not fit)`.
fn json_rows(body: &[u8]) -> ApiResult<Vec<(u64, Result<ManualScanInput, String>)>> {
    let values: Vec<serde_json::Value> = serde_json::from_slice(body).map_err(|e| {
        if e.is_data() {
            ApiError::unprocessable(format!("the body must be a JSON array of scans: {e}"))
        } else {
            ApiError::bad_request(format!("unreadable JSON: {e}"))
        }
    })?;
    if values.len() > MAX_IMPORT_ROWS {
        return Err(too_many_rows());
    }
    Ok(values
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            (
                i as u64 + 1,
                serde_json::from_value::<ManualScanInput>(v).map_err(|e| e.to_string()),
            )
        })
        .collect())
}

/// A row number and whether the row passed ([`fuzz_import_rows`]).
#[cfg(feature = "fuzzing")]
pub type FuzzRow = (u64, Result<(), String>);

/// The reading half of the scan import route, for the fuzz targets (feature `fuzzing`): the
/// rows of `body` as CSV (`csv`) or JSON, each checked as the route checks it before looking the
/// employee up. Gives `(line, Ok(()) or why the row is refused)`, or the route's error message.
#[cfg(feature = "fuzzing")]
pub fn fuzz_import_rows(
    body: &[u8],
    csv: bool,
    tz: Tz,
    now: DateTime<Utc>,
) -> Result<Vec<FuzzRow>, String> {
    let rows = if csv { csv_rows(body) } else { json_rows(body) }.map_err(|e| e.message)?;
    Ok(rows
        .into_iter()
        .map(|(line, row)| (line, row.and_then(|r| r.validate(tz, now)).map(drop)))
        .collect())
}

/// Imports scans (HR and admins): a JSON array of manual scans, or CSV (`Content-Type:
/// text/csv`) with a header row naming `employee_id`, `scan_time`, `scan_type` and `reason`.
/// Valid rows are stored (as one batch under machine `MANUAL`) even when others are rejected.
#[utoipa::path(post, path = "/api/attendance/scans/import/", tag = "scans",
    security(("bearer" = [])), request_body(content = Vec<ManualScanInput>, description = "JSON array, or text/csv with a header row"),
    responses((status = 200, body = ImportResult), (status = 400, description = "unreadable body"),
        (status = 403, description = "not HR"), (status = 413, description = "too many rows or bytes"),
        (status = 415, description = "neither JSON nor CSV"), (status = 422, description = "not an array, or a CSV without the columns")))]
async fn import(
    State(state): State<AppState>,
    user: AuthUser,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<ImportResult>> {
    authorize(&user.actor, Action::ImportScans, None)?;
    let (format, body) = upload(&headers, body, "scans")?;
    let rows = match format {
        Format::Csv => csv_rows(&body)?,
        Format::Json => json_rows(&body)?,
    };
    let settings = state.store.settings().await?;
    let now = Utc::now();
    let machine = manual_machine()?;
    let mut employees: HashMap<EmployeeCode, Option<Employee>> = HashMap::new();
    let mut rejected = Vec::new();
    let mut scans = Vec::new();
    for (line, row) in rows {
        let valid = match row.and_then(|r| r.validate(settings.time_zone, now)) {
            Ok(valid) => valid,
            Err(reason) => {
                rejected.push(RejectedRow { line, reason });
                continue;
            }
        };
        if !employees.contains_key(&valid.employee) {
            let found = match state.store.employee(&valid.employee).await {
                Ok(e) => Some(e),
                Err(StoreError::NotFound { .. }) => None,
                Err(e) => return Err(e.into()),
            };
            employees.insert(valid.employee.clone(), found);
        }
        match employees.get(&valid.employee) {
            Some(Some(employee)) => {
                scans.push(scan_data(employee, &valid, &user.username, &machine));
            }
            _ => rejected.push(RejectedRow {
                line,
                reason: format!("unknown employee {}", valid.employee),
            }),
        }
    }
    let (new, duplicate) = if scans.is_empty() {
        (0, 0)
    } else {
        let report = state
            .service
            .record_scans(
                ScanBatch {
                    machine_id: machine,
                    scans,
                    cursor: None,
                },
                now,
            )
            .await?;
        crate::ops::count_ingested("import", report.inserted.len(), report.duplicates);
        (report.inserted.len(), report.duplicates)
    };
    tracing::info!(by = %user.username, new, duplicate, rejected = rejected.len(), "scans imported");
    if new + duplicate > 0 {
        state
            .service
            .audit(
                NewAuditEntry::new(now, &user.username, AuditAction::ScanImport, "scans")
                    .after(json!({"new": new, "duplicate": duplicate, "rejected": rejected.len()})),
            )
            .await;
    }
    Ok(Json(ImportResult {
        new,
        duplicate,
        rejected,
    }))
}

/// The OpenAPI of the scan routes.
#[derive(Debug, utoipa::OpenApi)]
#[openapi(
    paths(list, create, import),
    components(schemas(ScanView, ManualScanInput, ManualScanResult, ImportResult, RejectedRow))
)]
pub struct ScansDoc;

/// The scan routes.
pub fn routes() -> Router<AppState> {
    let router = both_slashes(
        Router::new(),
        "/api/attendance/scans/",
        get(list).post(create),
    );
    both_slashes(router, "/api/attendance/scans/import/", post(import))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Row {
        #[allow(dead_code)]
        a: String,
    }

    /// Found by the `scan_import` fuzz target: records ended by a lone CR were all reported at
    /// the header's line, so two bad rows shared one line number.
    #[test]
    fn csv_lines_go_forward_whatever_ends_the_records() {
        for body in [
            &b"a\rx\ry,z\rw\r"[..],
            b"a\nx\ny,z\nw\n",
            b"a\r\nx\r\n\"y\nz\"\r\nw\r\n",
        ] {
            let rows = read_csv::<Row>(body, 10, &[&["a"]], serde_json::Value::Null).unwrap();
            let lines: Vec<u64> = rows.iter().map(|(line, _)| *line).collect();
            assert!(lines.windows(2).all(|w| w[0] < w[1]), "{lines:?}");
            assert_eq!(lines[0], 2, "{lines:?}");
        }
        // The crashing input's shape: a lone CR between two refused rows.
        let rows =
            read_csv::<Row>(b"a,b\nx\ny\rz\n", 10, &[&["a"]], serde_json::Value::Null).unwrap();
        let lines: Vec<u64> = rows.iter().map(|(line, _)| *line).collect();
        assert_eq!(lines, [2, 3, 4]);
        assert!(rows.iter().all(|(_, row)| row.is_err()));
    }
}
