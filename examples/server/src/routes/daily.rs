//! Daily attendance, the daily summary, timesheets and statistics, under `/api/attendance/`.
//!
//! Daily records are derived data: the service recomputes them from scans, calendar and
//! settings whenever scans, leave or holidays change. The endpoints that must cover every
//! employee and every day (the summary, timesheets, statistics over at most
//! [`MAX_FILLED_DAYS`] days) compute through `AttendanceService::recompute` the days that have
//! no stored record yet, or whose window was still open when they were last computed, so an
//! absent employee shows as `Absent` and the answer has the same shape for every employee.
//!
//! A daily record is addressed as `daily-attendance/{employee_id}/{date}/` (`date` as
//! `YYYY-MM-DD`). `POST daily-attendance/` and a `PUT` on that path without a body recompute the
//! record from the stored scans, leave and holidays; a `PUT` with `{status, reason}` sets a day
//! override and a `DELETE` removes it (see [`crate::routes::overrides`]); a `DELETE` without a
//! reason on a day with no override removes the stored record (a later recompute creates it
//! again).
//!
//! Every day shown or counted here has its override applied: the lists, one day, the summary,
//! timesheets (counted by the overridden status) and statistics; `status=` filters by the status
//! shown.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use attendance_core::access::{Action, ListFilter, list_filter};
use attendance_core::daily::DailyRecord;
use attendance_core::employee::{Department, Employee, EmployeeCode};
use attendance_core::report::{DailySummary, Timesheet};
use attendance_core::service::DayKeys;
use attendance_core::status::AttendanceStatus;
use attendance_core::store::{RecordOrder, RecordQuery};
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{Days, Months, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::auth::AuthUser;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult};
use crate::export::{self, ExportFormat};
use crate::pagination::{PageParams, Paginated};
use crate::routes::both_slashes;
use crate::routes::employees::{employee_for, employees_in_scope, parse_code};
use crate::routes::overrides::{
    self, OverrideInput, RemoveInput, counts_with_overrides, overrides_of, page_with_overrides,
    summaries_of, summary_with_override,
};
use crate::routes::scans::today;
use crate::state::AppState;
use crate::summary_cache::{CachedBody, SummaryKey};

/// The longest date range statistics fill in (compute missing days for); longer ranges count
/// the stored records only.
pub const MAX_FILLED_DAYS: u64 = 31;

/// The longest date range a list or statistics query may cover.
pub const MAX_RANGE_DAYS: u64 = 366;

/// How many stored records one scope query reads at most.
const SCOPE_READ_LIMIT: u64 = 1_000_000;

fn parse_department(text: Option<&str>) -> ApiResult<Option<Department>> {
    Ok(text.map(Department::parse).transpose()?)
}

/// `from..=to` from `date` or `from`/`to` (each defaulting to the other, then to today); 422
/// when reversed or longer than [`MAX_RANGE_DAYS`].
fn date_range(
    date: Option<NaiveDate>,
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    today: NaiveDate,
) -> ApiResult<(NaiveDate, NaiveDate)> {
    let (from, to) = match (date, from, to) {
        (Some(d), None, None) => (d, d),
        (Some(_), _, _) => {
            return Err(ApiError::unprocessable(
                "give either date or from/to, not both",
            ));
        }
        (None, Some(f), Some(t)) => (f, t),
        (None, Some(f), None) => (f, f),
        (None, None, Some(t)) => (t, t),
        (None, None, None) => (today, today),
    };
    if from > to {
        return Err(ApiError::unprocessable("from must not be after to")
            .with_details(json!({"from": from, "to": to})));
    }
    if (to - from).num_days() >= MAX_RANGE_DAYS as i64 {
        return Err(ApiError::unprocessable(format!(
            "the date range may cover at most {MAX_RANGE_DAYS} days"
        )));
    }
    Ok((from, to))
}

fn dates(from: NaiveDate, to: NaiveDate) -> impl Iterator<Item = NaiveDate> {
    from.iter_days().take_while(move |d| *d <= to)
}

/// The record query of `user`'s scope for `action` narrowed by the requested department and
/// employee, or `None` when the request lies outside the scope (an empty answer).
fn scoped_query(
    user: &AuthUser,
    action: Action,
    department: Option<Department>,
    employee: Option<EmployeeCode>,
) -> ApiResult<Option<RecordQuery>> {
    let mut query = RecordQuery {
        department,
        employee,
        ..RecordQuery::default()
    };
    match list_filter(&user.actor, action)? {
        ListFilter::All => {}
        ListFilter::Department(own) => {
            if query.department.as_ref().is_some_and(|d| d != &own) {
                return Ok(None);
            }
            query.department = Some(own);
        }
        ListFilter::Employee(own) => {
            if query.employee.as_ref().is_some_and(|e| e != &own) {
                return Ok(None);
            }
            query.employee = Some(own);
        }
    }
    Ok(Some(query))
}

/// The records of `employees` for every date of `from..=to`: stored ones whose window has
/// closed are kept, the others (missing, or computed while the day was still open) are
/// recomputed and stored through the service's set-based path (`recompute_days`, in chunks of
/// employees). By employee (in the given order), then date.
async fn complete_records(
    state: &AppState,
    employees: &[Employee],
    from: NaiveDate,
    to: NaiveDate,
) -> ApiResult<Vec<(Employee, Vec<DailyRecord>)>> {
    let Some(first) = employees.first() else {
        return Ok(Vec::new());
    };
    let now = Utc::now();
    let mut stored: HashMap<(EmployeeCode, NaiveDate), DailyRecord> = HashMap::new();
    // One query for the stored records: of the one employee, of their one department, or of
    // every employee over the dates.
    let one_department = employees.iter().all(|e| e.department == first.department);
    let page = RecordQuery {
        from: Some(from),
        to: Some(to),
        employee: (employees.len() == 1).then(|| first.employee_id.clone()),
        department: one_department.then(|| first.department.clone()),
        order: RecordOrder::EmployeeThenDate,
        limit: SCOPE_READ_LIMIT,
        ..RecordQuery::default()
    };
    for record in state.store.query_records(&page).await?.results {
        stored.insert((record.employee_id.clone(), record.date), record);
    }
    let mut out = Vec::with_capacity(employees.len());
    let mut stale = DayKeys::new();
    for employee in employees {
        let mut records = BTreeMap::new();
        for date in dates(from, to) {
            match stored.remove(&(employee.employee_id.clone(), date)) {
                Some(r) if r.window_closed => {
                    records.insert(date, r);
                }
                _ => {
                    stale
                        .entry(employee.employee_id.clone())
                        .or_default()
                        .insert(date);
                }
            }
        }
        out.push((employee.clone(), records));
    }
    // The days missing, recomputed set-based: a few bulk reads and one upsert per chunk of
    // employees, not a read per employee.
    let mut recomputed: HashMap<EmployeeCode, Vec<DailyRecord>> = HashMap::new();
    if !stale.is_empty() {
        for record in state.service.recompute_days(&stale, now).await?.records {
            recomputed
                .entry(record.employee_id.clone())
                .or_default()
                .push(record);
        }
    }
    Ok(out
        .into_iter()
        .map(|(employee, mut records)| {
            for record in recomputed.remove(&employee.employee_id).unwrap_or_default() {
                records.insert(record.date, record);
            }
            (employee, records.into_values().collect())
        })
        .collect())
}

/// Filters of `GET daily-attendance/`.
#[derive(Debug, Clone, Deserialize, utoipa::IntoParams)]
pub struct DailyFilter {
    /// One date (or use `from`/`to`).
    pub date: Option<NaiveDate>,
    /// First date, inclusive.
    pub from: Option<NaiveDate>,
    /// Last date, inclusive.
    pub to: Option<NaiveDate>,
    /// Only this department.
    pub department: Option<String>,
    /// Only this employee.
    pub employee_id: Option<String>,
    /// Only this status, as serialised (`Present-OnTime`, `Absent`, `Leave-Sick`, …).
    pub status: Option<String>,
    /// `date` (default), `-date` or `employee_id`.
    pub ordering: Option<String>,
}

fn parse_order(ordering: Option<&str>) -> ApiResult<RecordOrder> {
    match ordering.map(str::trim) {
        None | Some("") | Some("date") => Ok(RecordOrder::DateThenEmployee),
        Some("-date") => Ok(RecordOrder::DateDescThenEmployee),
        Some("employee_id") => Ok(RecordOrder::EmployeeThenDate),
        Some(other) => Err(ApiError::unprocessable(format!(
            "ordering must be date, -date or employee_id, not {other:?}"
        ))),
    }
}

/// Summaries of `records`, looking up each record's employee once, with their overrides (one
/// read for the page).
async fn summaries(state: &AppState, records: Vec<DailyRecord>) -> ApiResult<Vec<DailySummary>> {
    let tz = state.store.settings().await?.time_zone;
    let codes: Vec<EmployeeCode> = records
        .iter()
        .map(|r| r.employee_id.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let (Some(from), Some(to)) = (
        records.iter().map(|r| r.date).min(),
        records.iter().map(|r| r.date).max(),
    ) else {
        return Ok(Vec::new());
    };
    let overrides = overrides_of(state, Some(&codes), from, to).await?;
    let mut employees: HashMap<EmployeeCode, Employee> = HashMap::new();
    let mut out = Vec::with_capacity(records.len());
    for record in records {
        if !employees.contains_key(&record.employee_id) {
            let employee = state.store.employee(&record.employee_id).await?;
            employees.insert(record.employee_id.clone(), employee);
        }
        if let Some(employee) = employees.get(&record.employee_id) {
            out.push(DailySummary::with_overrides(
                employee, &record, &overrides, tz,
            ));
        }
    }
    Ok(out)
}

/// Lists stored daily records in the caller's scope, as daily summaries: one `date`, or
/// `from`/`to` (either may be left open; without dates every stored date).
#[utoipa::path(get, path = "/api/attendance/daily-attendance/", tag = "daily-attendance",
    security(("bearer" = [])), params(DailyFilter, PageParams),
    responses((status = 200, description = "a page of core's DailySummary", body = Object),
        (status = 400, description = "bad query"), (status = 422, description = "reversed dates, unknown status or ordering")))]
async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    uri: Uri,
    ApiQuery(filter): ApiQuery<DailyFilter>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> ApiResult<Json<Paginated<DailySummary>>> {
    let status: Option<AttendanceStatus> = filter.status.as_deref().map(str::parse).transpose()?;
    let order = parse_order(filter.ordering.as_deref())?;
    // One date, or an open or closed range (`from` alone lists from that date on).
    let (from, to) = match (filter.date, filter.from, filter.to) {
        (Some(d), None, None) => (Some(d), Some(d)),
        (Some(_), _, _) => {
            return Err(ApiError::unprocessable(
                "give either date or from/to, not both",
            ));
        }
        (None, Some(f), Some(t)) if f > t => {
            return Err(ApiError::unprocessable("from must not be after to")
                .with_details(json!({"from": f, "to": t})));
        }
        (None, from, to) => (from, to),
    };
    let employee = filter.employee_id.as_deref().map(parse_code).transpose()?;
    let department = parse_department(filter.department.as_deref())?;
    let Some(mut query) = scoped_query(&user, Action::ViewAttendance, department, employee)? else {
        return Ok(Json(Paginated::new(Vec::new(), 0, page, &uri)));
    };
    query.from = from;
    query.to = to;
    query.status = status;
    query.order = order;
    query.offset = page.offset();
    query.limit = page.size();
    let (found, count) = page_with_overrides(&state, &query).await?;
    let results = summaries(&state, found).await?;
    Ok(Json(Paginated::new(results, count, page, &uri)))
}

/// The body of `POST daily-attendance/`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct RecomputeInput {
    /// The employee code.
    pub employee_id: String,
    /// The work date, `YYYY-MM-DD` (today or earlier).
    pub date: NaiveDate,
}

async fn recompute_one(
    state: &AppState,
    user: &AuthUser,
    code: &str,
    date: NaiveDate,
) -> ApiResult<DailySummary> {
    let code = parse_code(code)?;
    let employee = employee_for(state, user, Action::EditAttendance, &code).await?;
    let settings = state.store.settings().await?;
    if date > today(&settings) {
        return Err(
            ApiError::unprocessable("date is in the future").with_details(json!({"date": date}))
        );
    }
    let records = state
        .service
        .recompute(&employee, &BTreeSet::from([date]), Utc::now())
        .await?;
    let record = records
        .first()
        .ok_or_else(|| ApiError::internal("recompute returned no record"))?;
    tracing::info!(employee = %code, %date, by = %user.username, "daily record recomputed");
    summary_with_override(state, &employee, record, settings.time_zone).await
}

/// Recomputes (and stores) one employee's record of one date from the stored scans, leave and
/// holidays (HR and admins); answers its summary.
#[utoipa::path(post, path = "/api/attendance/daily-attendance/", tag = "daily-attendance",
    security(("bearer" = [])), request_body = RecomputeInput,
    responses((status = 200, description = "core's DailySummary", body = Object),
        (status = 403, description = "not HR"), (status = 404, description = "unknown employee"),
        (status = 422, description = "bad field or future date")))]
async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(body): ApiJson<RecomputeInput>,
) -> ApiResult<Json<DailySummary>> {
    Ok(Json(
        recompute_one(&state, &user, &body.employee_id, body.date).await?,
    ))
}

/// One stored daily record, as a summary.
#[utoipa::path(get, path = "/api/attendance/daily-attendance/{employee_id}/{date}/", tag = "daily-attendance",
    security(("bearer" = [])),
    params(("employee_id" = String, Path, description = "The employee code"),
        ("date" = String, Path, description = "The work date, YYYY-MM-DD")),
    responses((status = 200, description = "core's DailySummary", body = Object),
        (status = 403, description = "out of scope"), (status = 404, description = "no such employee or record")))]
async fn get_one(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath((code, date)): ApiPath<(String, NaiveDate)>,
) -> ApiResult<Json<DailySummary>> {
    let code = parse_code(&code)?;
    let employee = employee_for(&state, &user, Action::ViewAttendance, &code).await?;
    let record = state.store.record(&code, date).await?.ok_or_else(|| {
        ApiError::not_found(format!("no daily record of {code} on {date}"))
            .with_details(json!({"entity": "daily record", "key": format!("{code} {date}")}))
    })?;
    let tz = state.store.settings().await?.time_zone;
    Ok(Json(
        summary_with_override(&state, &employee, &record, tz).await?,
    ))
}

/// With `{status, reason}`, overrides the day's status (HR and admins): the day is computed
/// first when no record is stored, the override kept beside it (a recompute keeps it) and the
/// summary answered with it applied. Without a body (or with `{}`), recomputes the record like
/// `POST daily-attendance/`.
#[utoipa::path(put, path = "/api/attendance/daily-attendance/{employee_id}/{date}/", tag = "daily-attendance",
    security(("bearer" = [])),
    params(("employee_id" = String, Path, description = "The employee code"),
        ("date" = String, Path, description = "The work date, YYYY-MM-DD")),
    request_body(content = Option<OverrideInput>, description = "optional: {status, reason} to override the day"),
    responses((status = 200, description = "core's DailySummary (with `override` and `computed_status`)", body = Object),
        (status = 403, description = "not HR"), (status = 404, description = "unknown employee"),
        (status = 422, description = "a bad status or reason, or a future date")))]
async fn replace(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath((code, date)): ApiPath<(String, NaiveDate)>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<DailySummary>> {
    match overrides::override_body(body)? {
        Some(input) => overrides::put(&state, &user, &code, date, input).await,
        None => Ok(Json(recompute_one(&state, &user, &code, date).await?)),
    }
}

/// Removes the day's override (HR and admins; `reason` optional, in the body or the query) and
/// answers the day as computed. With no override in force: 404 when a reason was given, else
/// the stored record is deleted (204; a later recompute creates it again).
#[utoipa::path(delete, path = "/api/attendance/daily-attendance/{employee_id}/{date}/", tag = "daily-attendance",
    security(("bearer" = [])),
    params(("employee_id" = String, Path, description = "The employee code"),
        ("date" = String, Path, description = "The work date, YYYY-MM-DD"), RemoveInput),
    request_body(content = Option<RemoveInput>, description = "optional: {reason}"),
    responses((status = 200, description = "the override removed: core's DailySummary as computed", body = Object),
        (status = 204, description = "no override: the stored record deleted"), (status = 403, description = "not HR"),
        (status = 404, description = "no such employee, no override (with a reason) or no record")))]
async fn delete(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath((code, date)): ApiPath<(String, NaiveDate)>,
    ApiQuery(query): ApiQuery<RemoveInput>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Response> {
    overrides::delete(&state, &user, &code, date, query, body).await
}

/// Query of `GET daily-attendance/summary/`.
#[derive(Debug, Clone, Deserialize, utoipa::IntoParams)]
pub struct SummaryQuery {
    /// The date (default: today).
    pub date: Option<NaiveDate>,
    /// Only this department.
    pub department: Option<String>,
}

/// The summary of a date (today or earlier; 422 for a future date): one entry for every active
/// employee in the caller's scope, by code, absent ones, those on leave and those off that day
/// included.
///
/// Once every day of the answer has its window closed, the answer is kept in memory (see
/// [`crate::summary_cache`]) until a change of its date or a write of the API drops it: it is
/// sent gzip-compressed to a request with `Accept-Encoding: gzip`, and every answer carries an
/// `ETag` (304 to a matching `If-None-Match`) and `Vary: Accept-Encoding`. Today's answer, or one
/// with a shift still open, is computed for every request.
#[utoipa::path(get, path = "/api/attendance/daily-attendance/summary/", tag = "daily-attendance",
    security(("bearer" = [])), params(SummaryQuery),
    responses((status = 200, description = "a list of core's DailySummary (gzip when accepted)", body = Vec<Object>),
        (status = 304, description = "not modified: If-None-Match names this answer's ETag"),
        (status = 400, description = "bad date")))]
async fn summary(
    State(state): State<AppState>,
    user: AuthUser,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<SummaryQuery>,
) -> ApiResult<Response> {
    let settings = state.store.settings().await?;
    let today = today(&settings);
    let date = query.date.unwrap_or(today);
    if date > today {
        return Err(ApiError::unprocessable("date is in the future")
            .with_details(json!({"date": date, "today": today})));
    }
    let department = parse_department(query.department.as_deref())?;
    let key = SummaryKey {
        date,
        scope: list_filter(&user.actor, Action::ViewSummary)?.into(),
        department: department.clone(),
    };
    let since = match state.summaries.lookup(&key) {
        Ok(kept) => return Ok(kept.respond(&headers)),
        Err(since) => since,
    };
    let employees: Vec<Employee> =
        employees_in_scope(&state, &user, Action::ViewSummary, department)
            .await?
            .into_iter()
            .filter(|e| e.active)
            .collect();
    let tz = settings.time_zone;
    let codes: Vec<EmployeeCode> = employees.iter().map(|e| e.employee_id.clone()).collect();
    let overrides = overrides_of(&state, Some(&codes), date, date).await?;
    let filled = complete_records(&state, &employees, date, date).await?;
    // An answer with a day still open depends on the clock: computed for every request.
    let settled = filled
        .iter()
        .all(|(_, records)| records.iter().all(|r| r.window_closed));
    let out: Vec<DailySummary> = filled
        .iter()
        .flat_map(|(e, records)| summaries_of(e, records, &overrides, tz))
        .collect();
    let json = serde_json::to_vec(&out).map_err(ApiError::internal)?;
    if !settled {
        return Ok(CachedBody::plain(json).respond(&headers));
    }
    let body = tokio::task::spawn_blocking(move || CachedBody::compressed(json))
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
    let body = Arc::new(body);
    state.summaries.insert(key, since, body.clone());
    Ok(body.respond(&headers))
}

/// Query of `GET timesheet/`: `month` and either `employee_id` or `department`.
#[derive(Debug, Clone, Deserialize, utoipa::IntoParams)]
pub struct TimesheetQuery {
    /// The month, `YYYY-MM`.
    pub month: Option<String>,
    /// One employee: answers one timesheet.
    pub employee_id: Option<String>,
    /// A department: answers a list of timesheets (its active employees).
    pub department: Option<String>,
    /// `json` (the default), or a file: `csv` or `xlsx`, one row per employee-day.
    pub format: Option<String>,
}

/// The first and last day of `month` (`YYYY-MM`); 422 naming the field when it is absent or
/// not a month.
pub(crate) fn parse_month(text: Option<&str>) -> ApiResult<(NaiveDate, NaiveDate)> {
    let field = || json!({"field": "month"});
    let text = text.ok_or_else(|| {
        ApiError::unprocessable("month (YYYY-MM) is required").with_details(field())
    })?;
    let first =
        NaiveDate::parse_from_str(&format!("{}-01", text.trim()), "%Y-%m-%d").map_err(|_| {
            ApiError::unprocessable(format!("month must be YYYY-MM, not {text:?}"))
                .with_details(field())
        })?;
    let last = first
        .checked_add_months(Months::new(1))
        .and_then(|d| d.checked_sub_days(Days::new(1)))
        .ok_or_else(|| ApiError::unprocessable("month out of range").with_details(field()))?;
    Ok((first, last))
}

/// Monthly timesheets (core's `Timesheet`, one entry per day of the month): one object for
/// `employee_id`, a list for `department`. Months after the current one are refused (422); days
/// of the current month still to come show as `Pending`. With `format=csv` or `format=xlsx` the
/// same days come as a file (`timesheet-YYYY-MM-EMP.csv`, `timesheet-YYYY-MM-DEPT.xlsx`), one
/// row per employee-day (columns: see the server's `export` module).
#[utoipa::path(get, path = "/api/attendance/timesheet/", tag = "timesheet",
    security(("bearer" = [])), params(TimesheetQuery),
    responses((status = 200, description = "core's Timesheet, or a list of them for a department; \
            with format=csv or xlsx an attachment",
            content((Object = "application/json"), (String = "text/csv"),
                (Vec<u8> = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"))),
        (status = 403, description = "out of scope"), (status = 404, description = "unknown employee"),
        (status = 422, description = "bad month or format, or neither employee_id nor department")))]
async fn timesheet(
    State(state): State<AppState>,
    user: AuthUser,
    ApiQuery(query): ApiQuery<TimesheetQuery>,
) -> ApiResult<Response> {
    let format = ExportFormat::parse(query.format.as_deref())?;
    let (first, last) = parse_month(query.month.as_deref())?;
    let settings = state.store.settings().await?;
    let tz = settings.time_zone;
    if first > today(&settings) {
        return Err(ApiError::unprocessable("month is in the future"));
    }
    match (query.employee_id.as_deref(), query.department.as_deref()) {
        (Some(code), None) => {
            let code = parse_code(code)?;
            let employee = employee_for(&state, &user, Action::ViewTimesheet, &code).await?;
            let overrides =
                overrides_of(&state, Some(std::slice::from_ref(&code)), first, last).await?;
            let filled = complete_records(&state, &[employee], first, last).await?;
            let sheets: Vec<Timesheet> = filled
                .iter()
                .map(|(e, r)| Timesheet::with_overrides(e, first, r, &overrides, tz))
                .collect();
            if format != ExportFormat::Json {
                return timesheet_file(&sheets, first, code.as_str(), format);
            }
            match sheets.first() {
                Some(sheet) => Ok(
                    Json(serde_json::to_value(sheet).map_err(ApiError::internal)?).into_response(),
                ),
                None => Err(ApiError::internal("no timesheet computed")),
            }
        }
        (None, Some(department)) => {
            let department = Department::parse(department)?;
            match list_filter(&user.actor, Action::ViewTimesheet)? {
                ListFilter::All => {}
                ListFilter::Department(own) if own == department => {}
                ListFilter::Department(_) | ListFilter::Employee(_) => {
                    return Err(ApiError::forbidden(
                        "the department's timesheets are outside your scope",
                    ));
                }
            }
            let employees: Vec<Employee> = state
                .store
                .list_employees(Some(department.clone()))
                .await?
                .into_iter()
                .filter(|e| e.active)
                .collect();
            let codes: Vec<EmployeeCode> =
                employees.iter().map(|e| e.employee_id.clone()).collect();
            let overrides = overrides_of(&state, Some(&codes), first, last).await?;
            let filled = complete_records(&state, &employees, first, last).await?;
            let sheets: Vec<Timesheet> = filled
                .iter()
                .map(|(e, r)| Timesheet::with_overrides(e, first, r, &overrides, tz))
                .collect();
            if format != ExportFormat::Json {
                return timesheet_file(&sheets, first, department.as_str(), format);
            }
            Ok(Json(serde_json::to_value(&sheets).map_err(ApiError::internal)?).into_response())
        }
        _ => Err(ApiError::unprocessable(
            "give exactly one of employee_id or department",
        )),
    }
}

/// `sheets` as a CSV or XLSX attachment named `timesheet-YYYY-MM-{who}`.
fn timesheet_file(
    sheets: &[Timesheet],
    month: NaiveDate,
    who: &str,
    format: ExportFormat,
) -> ApiResult<Response> {
    let month_text = month.format("%Y-%m").to_string();
    let bytes = export::timesheet_file(sheets, month, "Timesheet", format)?;
    let name = export::file_name("timesheet", &[&month_text, who], format);
    Ok(export::attachment(format, &name, bytes))
}

/// Query of `GET statistics/`.
#[derive(Debug, Clone, Deserialize, utoipa::IntoParams)]
pub struct StatisticsQuery {
    /// One date (or use `from`/`to`; default today).
    pub date: Option<NaiveDate>,
    /// First date, inclusive (alone: that one date).
    pub from: Option<NaiveDate>,
    /// Last date, inclusive (alone: that one date).
    pub to: Option<NaiveDate>,
    /// Only this department.
    pub department: Option<String>,
}

/// Attendance statistics over a date range.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Statistics {
    /// First date.
    pub from: NaiveDate,
    /// Last date.
    pub to: NaiveDate,
    /// The department asked for, if any.
    pub department: Option<String>,
    /// Records counted (employee-days).
    pub total_records: u64,
    /// Records by status, as serialised (`Present-OnTime`: 12, …).
    pub by_status: BTreeMap<String, u64>,
    /// Present days (on time, considered or late).
    pub present: u64,
    /// Of those, late.
    pub late: u64,
    /// Absent days.
    pub absent: u64,
    /// Days on leave (any type).
    pub on_leave: u64,
    /// Present days as a percentage of present + absent days (two decimals; 0 when none).
    pub attendance_rate: f64,
    /// Whether every employee-day of the range was computed (ranges of at most 31 days), or
    /// only stored records were counted.
    pub complete: bool,
}

/// Counts by status over a date range in the caller's scope. Ranges of at most
/// [`MAX_FILLED_DAYS`] days first compute the missing days of every active employee in scope
/// (so absent days count); longer ranges count stored records only.
#[utoipa::path(get, path = "/api/attendance/statistics/", tag = "statistics",
    security(("bearer" = [])), params(StatisticsQuery),
    responses((status = 200, body = Statistics), (status = 400, description = "bad date"),
        (status = 422, description = "reversed or too long range")))]
async fn statistics(
    State(state): State<AppState>,
    user: AuthUser,
    ApiQuery(query): ApiQuery<StatisticsQuery>,
) -> ApiResult<Json<Statistics>> {
    let settings = state.store.settings().await?;
    let (from, to) = date_range(query.date, query.from, query.to, today(&settings))?;
    let department = parse_department(query.department.as_deref())?;
    let complete = (to - from).num_days() < MAX_FILLED_DAYS as i64;
    let mut stats = Statistics {
        from,
        to,
        department: department.as_ref().map(ToString::to_string),
        total_records: 0,
        by_status: BTreeMap::new(),
        present: 0,
        late: 0,
        absent: 0,
        on_leave: 0,
        attendance_rate: 0.0,
        complete,
    };
    let Some(mut record_query) =
        scoped_query(&user, Action::ViewStatistics, department.clone(), None)?
    else {
        return Ok(Json(stats));
    };
    // Days after today have nothing to count yet: fill up to today only.
    let fill_to = to.min(today(&settings));
    if complete && from <= fill_to {
        let employees: Vec<Employee> =
            employees_in_scope(&state, &user, Action::ViewStatistics, department)
                .await?
                .into_iter()
                .filter(|e| e.active)
                .collect();
        complete_records(&state, &employees, from, fill_to).await?;
    }
    record_query.from = Some(from);
    record_query.to = Some(to);
    // Counted by the status shown: each overridden day under its override.
    let counted = state.store.count_records_by_status(&record_query).await?;
    for (status, n) in counts_with_overrides(&state, &record_query, counted).await? {
        stats.total_records += n;
        if status.is_present() {
            stats.present += n;
        }
        match status {
            AttendanceStatus::PresentLate => stats.late += n,
            AttendanceStatus::Absent => stats.absent += n,
            AttendanceStatus::Leave(_) => stats.on_leave += n,
            _ => {}
        }
        *stats.by_status.entry(status.to_string()).or_default() += n;
    }
    let counted = stats.present + stats.absent;
    // Hundredths of a percent in integers, then as a decimal with two places.
    if let Some(hundredths) = (stats.present * 10_000 + counted / 2).checked_div(counted) {
        stats.attendance_rate = hundredths as f64 / 100.0;
    }
    Ok(Json(stats))
}

/// The OpenAPI of the daily attendance, summary, timesheet and statistics routes.
#[derive(Debug, utoipa::OpenApi)]
#[openapi(
    paths(list, create, get_one, replace, delete, summary, timesheet, statistics),
    components(schemas(RecomputeInput, Statistics, OverrideInput, RemoveInput))
)]
pub struct DailyDoc;

/// The daily attendance, summary, timesheet and statistics routes.
pub fn routes() -> Router<AppState> {
    let mut router = Router::new();
    router = both_slashes(
        router,
        "/api/attendance/daily-attendance/",
        get(list).post(create),
    );
    router = both_slashes(
        router,
        "/api/attendance/daily-attendance/summary/",
        get(summary),
    );
    router = both_slashes(
        router,
        "/api/attendance/daily-attendance/{employee_id}/{date}/",
        get(get_one).put(replace).delete(delete),
    );
    router = both_slashes(router, "/api/attendance/timesheet/", get(timesheet));
    both_slashes(router, "/api/attendance/statistics/", get(statistics))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_default_and_refuse_reversed_dates() {
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let today = d("2026-11-26");
        assert_eq!(date_range(None, None, None, today).unwrap(), (today, today));
        assert_eq!(
            date_range(None, Some(d("2026-11-01")), Some(d("2026-11-30")), today).unwrap(),
            (d("2026-11-01"), d("2026-11-30"))
        );
        assert!(date_range(None, Some(d("2026-11-30")), Some(d("2026-11-01")), today).is_err());
        assert!(date_range(Some(today), Some(today), None, today).is_err());
        assert_eq!(
            parse_month(Some("2026-02")).unwrap(),
            (d("2026-02-01"), d("2026-02-28"))
        );
        assert!(parse_month(Some("2026-13")).is_err());
        assert!(parse_month(None).is_err());
    }
}
