//! Leave under `/api/attendance/`: policies, balances, requests with their approval chain, and the
//! documents attached to a request (a medical certificate).
//!
//! - Amounts are shown and taken in **days** (numbers, in steps of 0.5); core keeps them as whole
//!   half days.
//! - `leave-policies/` lists the stored policies; a named leave type with no stored policy is
//!   listed with its statutory default (`is_default: true`), which is also what the rules apply.
//!   Nothing is seeded: the first `PUT` of a type stores it.
//! - Errors from core's submission rules answer 422 with their message, a short balance at
//!   submission included (the application as asked breaks a rule); a short balance at the final
//!   approval answers 409 (the stored balance changed since the request was submitted), as do
//!   decisions on a request that is no longer pending.
//! - Documents are kept in the database through core's `LeaveDocumentStore` port, bytes and
//!   all, so they outlive a restart; the store checks the per-request limit in the same
//!   transaction as the insert. A document is at most [`MAX_DOCUMENT_BYTES`] and must be a PDF,
//!   JPEG or PNG by its first bytes.

use std::convert::identity;

use attendance_core::access::{Action, ListFilter, authorize, list_filter};
use attendance_core::calendar::LeaveType;
use attendance_core::employee::{Department, Employee, EmployeeCode};
use attendance_core::leave::{
    HalfDays, LeaveApplication, LeaveBalance, LeaveDocument, LeaveDocumentFile, LeaveDocumentId,
    LeavePolicy, LeaveRequest, LeaveRequestId, LedgerEntry, LedgerEntryKind, OffDayRule,
    RequestStatus, default_policies, pending_units,
};
use attendance_core::service::{LEAVE_ATTEMPTS, LeaveDecision};
use attendance_core::store::{LeaveChange, LeaveRequestQuery, StoreError};
use axum::body::{Body, Bytes};
use axum::extract::{OriginalUri, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE, X_CONTENT_TYPE_OPTIONS};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{Datelike, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::auth::AuthUser;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult};
use crate::pagination::{PageParams, Paginated};
use crate::routes::employees::owner_of;
use crate::routes::scans::today;
use crate::routes::{both_slashes, paginate};
use crate::state::AppState;

/// The largest document accepted, in bytes (5 MiB).
pub const MAX_DOCUMENT_BYTES: usize = 5 * 1024 * 1024;

/// The most documents one request may hold.
pub const MAX_DOCUMENTS_PER_REQUEST: u32 = 10;

/// The largest body of an approve/reject/cancel call (a note of at most 1000 characters).
const MAX_NOTE_BODY_BYTES: usize = 64 * 1024;

// ---------------------------------------------------------------------------------------------
// Amounts
// ---------------------------------------------------------------------------------------------

fn days(amount: HalfDays) -> f64 {
    amount.halves() as f64 / 2.0
}

/// `value` days as half days: a finite multiple of 0.5 from 0 to 100 000; 422 naming `field`
/// otherwise.
fn half_days(field: &str, value: f64) -> ApiResult<HalfDays> {
    let halves = value * 2.0;
    if !value.is_finite() || !(0.0..=200_000.0).contains(&halves) || halves.fract() != 0.0 {
        return Err(ApiError::unprocessable(format!(
            "{field} must be a number of days from 0 to 100000 in steps of 0.5, not {value}"
        ))
        .with_details(json!({ "field": field })));
    }
    Ok(HalfDays::new(halves as i64))
}

fn parse_leave_type(text: &str) -> ApiResult<LeaveType> {
    Ok(text.parse::<LeaveType>()?)
}

/// Today on the site's clock (the settings' time zone), as the leave rules count dates.
async fn site_today(state: &AppState) -> ApiResult<NaiveDate> {
    Ok(today(&state.store.settings().await?))
}

// ---------------------------------------------------------------------------------------------
// Policies
// ---------------------------------------------------------------------------------------------

/// A leave policy as the API shows it (amounts in days).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PolicyView {
    /// The leave type (`Casual`, `Sick`, `Annual`, `Maternity`, `Unpaid`, `Compensatory` or a
    /// site's own name).
    pub leave_type: String,
    /// Days allocated a year; `null` means no balance limit (unpaid leave).
    pub max_per_year: Option<f64>,
    /// At most this many unused days are carried into the next year.
    pub max_carry_forward: f64,
    /// Whether a request needs approval (without, it is approved when submitted).
    pub requires_approval: bool,
    /// A medical certificate is required when one leave counts more days than this.
    pub certificate_required_above: Option<f64>,
    /// One leave may count at most this many days.
    pub max_consecutive: Option<f64>,
    /// Whether off days inside a leave count: `excluded`, `sandwiched` or `counted`.
    #[schema(value_type = String, example = "excluded")]
    pub off_days: OffDayRule,
    /// Whether a leave may start or end with half a day.
    pub half_days_allowed: bool,
    /// True when no policy is stored for the type and the statutory default applies.
    pub is_default: bool,
}

impl PolicyView {
    fn new(policy: &LeavePolicy, is_default: bool) -> Self {
        Self {
            leave_type: policy.leave_type.name().to_owned(),
            max_per_year: policy.max_per_year.map(days),
            max_carry_forward: days(policy.max_carry_forward),
            requires_approval: policy.requires_approval,
            certificate_required_above: policy.certificate_required_above.map(days),
            max_consecutive: policy.max_consecutive.map(days),
            off_days: policy.off_days,
            half_days_allowed: policy.half_days_allowed,
            is_default,
        }
    }
}

/// A leave policy as a client gives it (amounts in days). Fields left out take the values shown
/// in brackets; `null` or left out for the optional amounts means "no limit".
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyBody {
    /// The leave type; when given it must be the one in the path.
    #[serde(default)]
    pub leave_type: Option<String>,
    /// Days allocated a year; `null` for no balance limit.
    #[serde(default)]
    pub max_per_year: Option<f64>,
    /// Days carried forward at most [0].
    #[serde(default)]
    pub max_carry_forward: f64,
    /// Whether requests need approval [true].
    #[serde(default = "yes")]
    pub requires_approval: bool,
    /// A certificate is required above this many days [none].
    #[serde(default)]
    pub certificate_required_above: Option<f64>,
    /// One leave counts at most this many days [none]; must be positive when given.
    #[serde(default)]
    pub max_consecutive: Option<f64>,
    /// `excluded`, `sandwiched` or `counted` [excluded].
    #[serde(default = "excluded")]
    #[schema(value_type = String, example = "excluded")]
    pub off_days: OffDayRule,
    /// Whether half days are allowed [true].
    #[serde(default = "yes")]
    pub half_days_allowed: bool,
}

fn yes() -> bool {
    true
}

fn excluded() -> OffDayRule {
    OffDayRule::Excluded
}

/// Every policy that applies: the stored ones, and the statutory default of each named type with
/// none stored. Named types first in their usual order, then the site's own types.
async fn effective_policies(state: &AppState) -> ApiResult<Vec<PolicyView>> {
    let stored = state.store.leave_policies().await?;
    let defaults = default_policies();
    let mut views: Vec<PolicyView> = defaults
        .iter()
        .map(
            |d| match stored.iter().find(|s| s.leave_type == d.leave_type) {
                Some(s) => PolicyView::new(s, false),
                None => PolicyView::new(d, true),
            },
        )
        .collect();
    views.extend(
        stored
            .iter()
            .filter(|s| !defaults.iter().any(|d| d.leave_type == s.leave_type))
            .map(|s| PolicyView::new(s, false)),
    );
    Ok(views)
}

/// The policy applied to `leave_type`: the stored one, else the statutory default.
async fn policy_of(state: &AppState, leave_type: &LeaveType) -> ApiResult<(LeavePolicy, bool)> {
    match state.store.leave_policy(leave_type).await {
        Ok(policy) => Ok((policy, false)),
        Err(StoreError::NotFound { .. }) => {
            Ok((LeavePolicy::default_for(leave_type.clone()), true))
        }
        Err(e) => Err(e.into()),
    }
}

/// Lists the leave policies (stored, or the statutory default of a named type with none stored).
#[utoipa::path(get, path = "/api/attendance/leave-policies/", tag = "leave", security(("bearer" = [])),
    params(PageParams),
    responses((status = 200, body = Paginated<PolicyView>), (status = 403, description = "not allowed")))]
async fn list_policies(
    State(state): State<AppState>,
    user: AuthUser,
    OriginalUri(uri): OriginalUri,
    ApiQuery(page): ApiQuery<PageParams>,
) -> ApiResult<Json<Paginated<PolicyView>>> {
    authorize(&user.actor, Action::ViewLeavePolicies, None)?;
    let all = effective_policies(&state).await?;
    Ok(Json(paginate(all.into_iter(), page, &uri, identity)))
}

/// The policy of one leave type (the statutory default when none is stored; 404 for a site's own
/// type that has no stored policy).
#[utoipa::path(get, path = "/api/attendance/leave-policies/{leave_type}/", tag = "leave", security(("bearer" = [])),
    params(("leave_type" = String, Path, description = "Casual, Sick, Annual, …")),
    responses((status = 200, body = PolicyView), (status = 403, description = "not allowed"),
        (status = 404, description = "no policy for a site's own type"), (status = 422, description = "not a leave type name")))]
async fn get_policy(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(leave_type): ApiPath<String>,
) -> ApiResult<Json<PolicyView>> {
    authorize(&user.actor, Action::ViewLeavePolicies, None)?;
    let leave_type = parse_leave_type(&leave_type)?;
    let (policy, is_default) = policy_of(&state, &leave_type).await?;
    if is_default && matches!(leave_type, LeaveType::Other(_)) {
        return Err(ApiError::not_found(format!(
            "no leave policy is stored for {leave_type}"
        )));
    }
    Ok(Json(PolicyView::new(&policy, is_default)))
}

/// Stores (creates or replaces) the policy of one leave type, validated by core's rules: 201 when
/// none was stored for the type, 200 when one was replaced. `POST` does the same as `PUT`.
#[utoipa::path(put, path = "/api/attendance/leave-policies/{leave_type}/", tag = "leave", security(("bearer" = [])),
    params(("leave_type" = String, Path, description = "Casual, Sick, Annual, … or a site's own name")),
    request_body = PolicyBody,
    responses((status = 200, body = PolicyView, description = "replaced"), (status = 201, body = PolicyView, description = "stored for the first time"), (status = 403, description = "not allowed"),
        (status = 422, description = "invalid policy")))]
async fn put_policy(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(leave_type): ApiPath<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<(StatusCode, Json<PolicyView>)> {
    authorize(&user.actor, Action::ManageLeavePolicies, None)?;
    let leave_type = parse_leave_type(&leave_type)?;
    let body: PolicyBody = serde_json::from_value(body)
        .map_err(|e| ApiError::unprocessable(format!("invalid leave policy: {e}")))?;
    if let Some(named) = &body.leave_type
        && parse_leave_type(named)? != leave_type
    {
        return Err(ApiError::unprocessable(format!(
            "the body is for {named} leave but the path is for {leave_type}"
        )));
    }
    let optional = |field: &str, value: Option<f64>| value.map(|v| half_days(field, v)).transpose();
    let policy = LeavePolicy {
        leave_type: leave_type.clone(),
        max_per_year: optional("max_per_year", body.max_per_year)?,
        max_carry_forward: half_days("max_carry_forward", body.max_carry_forward)?,
        requires_approval: body.requires_approval,
        certificate_required_above: optional(
            "certificate_required_above",
            body.certificate_required_above,
        )?,
        max_consecutive: optional("max_consecutive", body.max_consecutive)?,
        off_days: body.off_days,
        half_days_allowed: body.half_days_allowed,
    };
    policy.validate()?;
    let (_, was_default) = policy_of(&state, &leave_type).await?;
    state.store.put_leave_policy(&policy).await?;
    tracing::info!(user = %user.username, leave_type = %leave_type, "leave policy stored");
    let status = if was_default {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(PolicyView::new(&policy, false))))
}

// ---------------------------------------------------------------------------------------------
// Balances
// ---------------------------------------------------------------------------------------------

/// One leave type's balance in a year, in days.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BalanceView {
    /// The leave type.
    pub leave_type: String,
    /// Allocated for the year.
    pub allocated: f64,
    /// Carried in from the year before.
    pub carried_forward: f64,
    /// Carried out into the next year.
    pub carried_out: f64,
    /// Taken by approved requests.
    pub taken: f64,
    /// Given back by cancelled approved requests.
    pub reversed: f64,
    /// Taken − reversed.
    pub used: f64,
    /// Expired at the year's end.
    pub expired: f64,
    /// Held by pending requests (not yet debited).
    pub pending: f64,
    /// Allocated + carried forward − used − expired − carried out.
    pub available: f64,
    /// Available − pending: what a new request may still ask for.
    pub available_after_pending: f64,
}

impl BalanceView {
    fn new(leave_type: &LeaveType, b: &LeaveBalance) -> Self {
        Self {
            leave_type: leave_type.name().to_owned(),
            allocated: days(b.allocated),
            carried_forward: days(b.carried_forward),
            carried_out: days(b.carried_out),
            taken: days(b.taken),
            reversed: days(b.reversed),
            used: days(b.used),
            expired: days(b.expired),
            pending: days(b.pending),
            available: days(b.available),
            available_after_pending: days(b.available_after_pending),
        }
    }
}

/// One employee's balances in a year.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BalanceSheet {
    /// The employee.
    pub employee_id: String,
    /// Their department.
    pub department: String,
    /// The leave year.
    pub year: i32,
    /// One balance per leave type (every policy's type and any type with entries or requests).
    pub balances: Vec<BalanceView>,
}

/// `GET /leave-balances/` parameters.
#[derive(Debug, Clone, Deserialize, utoipa::IntoParams)]
pub struct BalanceParams {
    /// The employee; defaults to the caller's own (required for callers who are no employee).
    pub employee_id: Option<String>,
    /// The leave year, 1 to 9999; defaults to the current year on the site's clock.
    pub year: Option<i32>,
}

fn check_year(year: i32) -> ApiResult<i32> {
    if (1..=9999).contains(&year) {
        Ok(year)
    } else {
        Err(ApiError::unprocessable(format!(
            "year must be from 1 to 9999, not {year}"
        )))
    }
}

/// The employee named by `given`, else the caller's own; 422 when neither.
fn employee_or_own(user: &AuthUser, given: Option<&str>) -> ApiResult<EmployeeCode> {
    match given {
        Some(code) => Ok(EmployeeCode::parse(code)?),
        None => user.actor.employee.clone().ok_or_else(|| {
            ApiError::unprocessable("employee_id is required: the caller is no employee")
                .with_details(json!({ "field": "employee_id" }))
        }),
    }
}

async fn balance_sheet(
    state: &AppState,
    employee: &Employee,
    year: i32,
) -> ApiResult<BalanceSheet> {
    let account = state.store.leave_account(&employee.employee_id).await?;
    let mut types: Vec<LeaveType> = Vec::new();
    let mut add = |t: &LeaveType| {
        if !types.contains(t) {
            types.push(t.clone());
        }
    };
    for policy in default_policies() {
        add(&policy.leave_type);
    }
    for policy in state.store.leave_policies().await? {
        add(&policy.leave_type);
    }
    for ledger in &account.ledgers {
        add(ledger.leave_type());
    }
    for request in &account.requests {
        add(&request.leave_type);
    }
    let balances = types
        .iter()
        .map(|t| {
            let pending = pending_units(&account.requests, &employee.employee_id, t, year);
            BalanceView::new(t, &account.ledger(t).balance(year, pending))
        })
        .collect();
    Ok(BalanceSheet {
        employee_id: employee.employee_id.to_string(),
        department: employee.department.to_string(),
        year,
        balances,
    })
}

/// One employee's leave balances in a year, per leave type.
#[utoipa::path(get, path = "/api/attendance/leave-balances/", tag = "leave", security(("bearer" = [])),
    params(BalanceParams),
    responses((status = 200, body = BalanceSheet), (status = 403, description = "out of the caller's scope"),
        (status = 404, description = "no such employee"), (status = 422, description = "bad employee id or year")))]
async fn get_balances(
    State(state): State<AppState>,
    user: AuthUser,
    ApiQuery(params): ApiQuery<BalanceParams>,
) -> ApiResult<Json<BalanceSheet>> {
    let code = employee_or_own(&user, params.employee_id.as_deref())?;
    let year = match params.year {
        Some(year) => check_year(year)?,
        None => site_today(&state).await?.year(),
    };
    let employee = state.store.employee(&code).await?;
    authorize(&user.actor, Action::ViewLeave, Some(&owner_of(&employee)))?;
    Ok(Json(balance_sheet(&state, &employee, year).await?))
}

/// `POST /leave-balances/allocate/` body.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AllocationBody {
    /// The employee.
    pub employee_id: String,
    /// The leave type.
    pub leave_type: String,
    /// The leave year.
    pub year: i32,
    /// Days to allocate (positive, in steps of 0.5).
    pub days: f64,
    /// A note for the ledger (1 to 200 characters); defaults to `allocation <year>`.
    #[serde(default)]
    pub reference: Option<String>,
}

/// Allocates leave: appends an allocation to the employee's ledger; answers their balance sheet.
#[utoipa::path(post, path = "/api/attendance/leave-balances/allocate/", tag = "leave", security(("bearer" = [])),
    request_body = AllocationBody,
    responses((status = 201, body = BalanceSheet), (status = 403, description = "not allowed"),
        (status = 404, description = "no such employee"), (status = 409, description = "the leave kept changing"),
        (status = 422, description = "invalid allocation")))]
async fn allocate(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<(StatusCode, Json<BalanceSheet>)> {
    authorize(&user.actor, Action::ManageLeavePolicies, None)?;
    let body: AllocationBody = serde_json::from_value(body)
        .map_err(|e| ApiError::unprocessable(format!("invalid allocation: {e}")))?;
    let code = EmployeeCode::parse(&body.employee_id)?;
    let leave_type = parse_leave_type(&body.leave_type)?;
    let year = check_year(body.year)?;
    let amount = half_days("days", body.days)?;
    let reference = body
        .reference
        .unwrap_or_else(|| format!("allocation {year}"));
    let entry = LedgerEntry::new(
        LedgerEntryKind::Allocation,
        year,
        site_today(&state).await?,
        amount,
        &reference,
    )?;
    let employee = state.store.employee(&code).await?;
    let mut committed = false;
    for _ in 0..LEAVE_ATTEMPTS {
        let account = state.store.leave_account(&code).await?;
        let change = LeaveChange {
            employee: code.clone(),
            expected_version: account.version,
            requests: Vec::new(),
            entries: vec![(leave_type.clone(), entry.clone())],
        };
        match state.store.commit_leave(change).await {
            Ok(_) => {
                committed = true;
                break;
            }
            Err(StoreError::Conflict(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    if !committed {
        return Err(ApiError::conflict(format!(
            "the leave of {code} kept changing during {LEAVE_ATTEMPTS} attempts; try again"
        )));
    }
    tracing::info!(user = %user.username, employee = %code, leave_type = %leave_type, year, days = body.days, "leave allocated");
    Ok((
        StatusCode::CREATED,
        Json(balance_sheet(&state, &employee, year).await?),
    ))
}

// ---------------------------------------------------------------------------------------------
// Requests
// ---------------------------------------------------------------------------------------------

/// A leave request as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LeaveRequestView {
    /// The request's id.
    pub id: String,
    /// The employee.
    pub employee_id: String,
    /// Their department.
    pub department: String,
    /// The leave type.
    pub leave_type: String,
    /// The first date.
    pub start_date: NaiveDate,
    /// The last date (inclusive).
    pub end_date: NaiveDate,
    /// Starts at midday.
    pub start_half: bool,
    /// Ends at midday.
    pub end_half: bool,
    /// The reason given.
    pub reason: String,
    /// Whether a medical certificate was declared attached.
    pub medical_certificate: bool,
    /// The days the leave counts (in steps of 0.5).
    pub days: f64,
    /// `pending`, `approved`, `rejected` or `cancelled`.
    #[schema(value_type = String, example = "pending")]
    pub status: RequestStatus,
    /// The level waiting (`department_head` or `hr`) while pending.
    #[schema(value_type = Option<String>, example = "department_head")]
    pub next_level: Option<attendance_core::leave::ApprovalLevel>,
    /// The levels the request needs, in order.
    #[schema(value_type = Vec<String>)]
    pub levels: Vec<attendance_core::leave::ApprovalLevel>,
    /// The date it was submitted (site's clock).
    pub submitted_on: NaiveDate,
    /// Every decision taken: `{decision, level, role, by, on, note}`, oldest first.
    #[schema(value_type = Vec<Object>)]
    pub history: Vec<attendance_core::leave::ApprovalRecord>,
}

impl From<&LeaveRequest> for LeaveRequestView {
    fn from(r: &LeaveRequest) -> Self {
        Self {
            id: r.id.to_string(),
            employee_id: r.employee.to_string(),
            department: r.department.to_string(),
            leave_type: r.leave_type.name().to_owned(),
            start_date: r.start,
            end_date: r.end,
            start_half: r.start_half,
            end_half: r.end_half,
            reason: r.reason.clone(),
            medical_certificate: r.medical_certificate,
            days: days(r.amount),
            status: r.status,
            next_level: r.next_level(),
            levels: r.levels.clone(),
            submitted_on: r.submitted_on,
            history: r.history.clone(),
        }
    }
}

/// `POST /leave-requests/` body.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LeaveRequestBody {
    /// The employee; defaults to the caller's own.
    #[serde(default)]
    pub employee_id: Option<String>,
    /// The leave type (`Casual`, `Sick`, …).
    pub leave_type: String,
    /// The first date.
    pub start_date: NaiveDate,
    /// The last date (inclusive).
    pub end_date: NaiveDate,
    /// Starts at midday [false].
    #[serde(default)]
    pub start_half: bool,
    /// Ends at midday [false].
    #[serde(default)]
    pub end_half: bool,
    /// Why (at most 1000 characters) [empty].
    #[serde(default)]
    pub reason: String,
    /// Whether a medical certificate is (or will be) attached [false].
    #[serde(default)]
    pub medical_certificate: bool,
}

/// Submits a leave request (pending at the first approval level, or approved at once when the
/// policy needs no approval).
#[utoipa::path(post, path = "/api/attendance/leave-requests/", tag = "leave", security(("bearer" = [])),
    request_body = LeaveRequestBody,
    responses((status = 201, body = LeaveRequestView), (status = 403, description = "not for this employee"),
        (status = 404, description = "no such employee"),
        (status = 422, description = "breaks a rule: reversed dates, no working day, overlap, not enough balance, …")))]
async fn create_request(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<(StatusCode, Json<LeaveRequestView>)> {
    let body: LeaveRequestBody = serde_json::from_value(body)
        .map_err(|e| ApiError::unprocessable(format!("invalid leave request: {e}")))?;
    let code = employee_or_own(&user, body.employee_id.as_deref())?;
    let leave_type = parse_leave_type(&body.leave_type)?;
    let employee = state.store.employee(&code).await?;
    authorize(&user.actor, Action::SubmitLeave, Some(&owner_of(&employee)))?;
    let id = LeaveRequestId::parse(&uuid::Uuid::now_v7().to_string())?;
    let application = LeaveApplication {
        employee: employee.employee_id.clone(),
        department: employee.department.clone(),
        leave_type,
        start: body.start_date,
        end: body.end_date,
        start_half: body.start_half,
        end_half: body.end_half,
        reason: body.reason,
        medical_certificate: body.medical_certificate,
    };
    let request = state
        .service
        .submit_leave(&user.actor, id, &application, Utc::now())
        .await?;
    tracing::info!(user = %user.username, id = %request.id, employee = %request.employee, "leave request submitted");
    Ok((StatusCode::CREATED, Json(LeaveRequestView::from(&request))))
}

/// `GET /leave-requests/` filters.
#[derive(Debug, Clone, Deserialize, utoipa::IntoParams)]
pub struct RequestFilter {
    /// Only this employee.
    pub employee_id: Option<String>,
    /// Only this department.
    pub department: Option<String>,
    /// Only this status: `pending`, `approved`, `rejected` or `cancelled`.
    pub status: Option<String>,
    /// Only requests that end on or after this date.
    pub from: Option<NaiveDate>,
    /// Only requests that start on or before this date.
    pub to: Option<NaiveDate>,
}

/// Lists leave requests in the caller's scope (newest start first): HR and super admins see all,
/// a department head their department's, an employee their own.
#[utoipa::path(get, path = "/api/attendance/leave-requests/", tag = "leave", security(("bearer" = [])),
    params(RequestFilter, PageParams),
    responses((status = 200, body = Paginated<LeaveRequestView>), (status = 403, description = "not allowed"),
        (status = 422, description = "bad filter: unknown status, from after to, …")))]
async fn list_requests(
    State(state): State<AppState>,
    user: AuthUser,
    OriginalUri(uri): OriginalUri,
    ApiQuery(filter): ApiQuery<RequestFilter>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> ApiResult<Json<Paginated<LeaveRequestView>>> {
    let scope = list_filter(&user.actor, Action::ViewLeave)?;
    let status = filter
        .status
        .as_deref()
        .map(|s| {
            serde_json::from_value::<RequestStatus>(Value::String(s.to_owned())).map_err(|_| {
                ApiError::unprocessable(format!(
                    "status must be pending, approved, rejected or cancelled, not {s:?}"
                ))
            })
        })
        .transpose()?;
    if let (Some(from), Some(to)) = (filter.from, filter.to)
        && from > to
    {
        return Err(ApiError::unprocessable(format!(
            "from ({from}) is after to ({to})"
        )));
    }
    let mut query = LeaveRequestQuery {
        employee: filter
            .employee_id
            .as_deref()
            .map(EmployeeCode::parse)
            .transpose()?,
        department: filter
            .department
            .as_deref()
            .map(Department::parse)
            .transpose()?,
        status,
        from: filter.from,
        to: filter.to,
        offset: page.offset(),
        limit: page.size(),
    };
    // The caller's scope narrows the query in the store; a filter outside it matches nothing.
    let outside = match scope {
        ListFilter::All => false,
        ListFilter::Department(department) => {
            let outside = query.department.as_ref().is_some_and(|d| d != &department);
            query.department = Some(department);
            outside
        }
        ListFilter::Employee(code) => {
            let outside = query.employee.as_ref().is_some_and(|e| e != &code);
            query.employee = Some(code);
            outside
        }
    };
    if outside {
        return Ok(Json(Paginated::new(Vec::new(), 0, page, &uri)));
    }
    let found = state.store.query_leave_requests(&query).await?;
    let results = found.results.iter().map(LeaveRequestView::from).collect();
    Ok(Json(Paginated::new(results, found.count, page, &uri)))
}

/// The request `id` if the caller may see it: 404 when there is none, 403 when it is out of
/// the caller's scope.
async fn visible_request(state: &AppState, user: &AuthUser, id: &str) -> ApiResult<LeaveRequest> {
    let id = LeaveRequestId::parse(id)
        .map_err(|_| ApiError::not_found(format!("leave request {id} was not found")))?;
    let request = state.store.leave_request(&id).await?;
    authorize(&user.actor, Action::ViewLeave, Some(&request.owner()))?;
    Ok(request)
}

/// One leave request.
#[utoipa::path(get, path = "/api/attendance/leave-requests/{id}/", tag = "leave", security(("bearer" = [])),
    params(("id" = String, Path, description = "the request's id")),
    responses((status = 200, body = LeaveRequestView), (status = 403, description = "out of the caller's scope"),
        (status = 404, description = "no such request")))]
async fn get_request(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<LeaveRequestView>> {
    let request = visible_request(&state, &user, &id).await?;
    Ok(Json(LeaveRequestView::from(&request)))
}

/// The optional body of a decision.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionBody {
    /// A note (at most 1000 characters).
    #[serde(default)]
    pub note: Option<String>,
}

async fn decision_body(body: Body) -> ApiResult<DecisionBody> {
    let bytes = axum::body::to_bytes(body, MAX_NOTE_BODY_BYTES)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("a decision's body may hold at most {MAX_NOTE_BODY_BYTES} bytes"),
            )
        })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(DecisionBody::default());
    }
    let value: Value = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::bad_request(format!("the body is not JSON: {e}")))?;
    serde_json::from_value(value)
        .map_err(|e| ApiError::unprocessable(format!("invalid decision: {e}")))
}

async fn decide(
    state: AppState,
    user: AuthUser,
    id: String,
    body: Body,
    decision: LeaveDecision,
) -> ApiResult<Json<LeaveRequestView>> {
    let request = visible_request(&state, &user, &id).await?;
    let body = decision_body(body).await?;
    let decided = state
        .service
        .decide_leave(
            &user.actor,
            &request.id,
            decision,
            body.note.as_deref(),
            Utc::now(),
        )
        .await?;
    tracing::info!(user = %user.username, id = %decided.id, ?decision, status = ?decided.status, "leave decision");
    Ok(Json(LeaveRequestView::from(&decided)))
}

/// Approves a pending request at its current level (department head, then HR).
#[utoipa::path(post, path = "/api/attendance/leave-requests/{id}/approve/", tag = "leave", security(("bearer" = [])),
    params(("id" = String, Path, description = "the request's id")), request_body(content = DecisionBody, description = "optional"),
    responses((status = 200, body = LeaveRequestView),
        (status = 403, description = "out of scope, or not the caller's level"), (status = 404, description = "no such request"),
        (status = 409, description = "not pending, or not enough balance any more")))]
async fn approve(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<String>,
    body: Body,
) -> ApiResult<Json<LeaveRequestView>> {
    decide(state, user, id, body, LeaveDecision::Approve).await
}

/// Rejects a pending request at its current level.
#[utoipa::path(post, path = "/api/attendance/leave-requests/{id}/reject/", tag = "leave", security(("bearer" = [])),
    params(("id" = String, Path, description = "the request's id")), request_body(content = DecisionBody, description = "optional"),
    responses((status = 200, body = LeaveRequestView),
        (status = 403, description = "out of scope, or not the caller's level"), (status = 404, description = "no such request"),
        (status = 409, description = "not pending")))]
async fn reject(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<String>,
    body: Body,
) -> ApiResult<Json<LeaveRequestView>> {
    decide(state, user, id, body, LeaveDecision::Reject).await
}

/// Cancels a pending or approved request (an approved one gives its days back; once it has
/// started only HR may cancel it).
#[utoipa::path(post, path = "/api/attendance/leave-requests/{id}/cancel/", tag = "leave", security(("bearer" = [])),
    params(("id" = String, Path, description = "the request's id")), request_body(content = DecisionBody, description = "optional"),
    responses((status = 200, body = LeaveRequestView),
        (status = 403, description = "not allowed"), (status = 404, description = "no such request"),
        (status = 409, description = "already rejected or cancelled"), (status = 422, description = "already started")))]
async fn cancel(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<String>,
    body: Body,
) -> ApiResult<Json<LeaveRequestView>> {
    decide(state, user, id, body, LeaveDecision::Cancel).await
}

// ---------------------------------------------------------------------------------------------
// Documents
// ---------------------------------------------------------------------------------------------

/// A document attached to a leave request, as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DocumentView {
    /// The document's id.
    pub id: String,
    /// The request it belongs to.
    pub leave_request_id: String,
    /// The file name given at upload.
    pub filename: String,
    /// `application/pdf`, `image/jpeg` or `image/png` (from the file's first bytes).
    pub content_type: String,
    /// Its size in bytes.
    pub size: usize,
    /// Who uploaded it.
    pub uploaded_by: String,
    /// When.
    pub uploaded_at: chrono::DateTime<Utc>,
}

impl From<LeaveDocument> for DocumentView {
    fn from(document: LeaveDocument) -> Self {
        Self {
            id: document.id.to_string(),
            leave_request_id: document.request.to_string(),
            filename: document.filename,
            content_type: document.content_type,
            size: usize::try_from(document.size).unwrap_or(usize::MAX),
            uploaded_by: document.uploaded_by,
            uploaded_at: document.uploaded_at,
        }
    }
}

/// The content type of a PDF, JPEG or PNG file, from its first bytes.
fn sniff(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"%PDF-") {
        Some("application/pdf")
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.starts_with(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]) {
        Some("image/png")
    } else {
        None
    }
}

/// `POST …/documents/` parameters.
#[derive(Debug, Clone, Deserialize, utoipa::IntoParams)]
pub struct UploadParams {
    /// The file's name (1 to 200 characters, no path separators) [`document`].
    pub filename: Option<String>,
}

fn check_filename(name: Option<&str>) -> ApiResult<String> {
    let name = name.unwrap_or("document").trim();
    let ok = !name.is_empty()
        && name.chars().count() <= 200
        && !name
            .chars()
            .any(|c| c.is_control() || c == '/' || c == '\\');
    if ok {
        Ok(name.to_owned())
    } else {
        Err(ApiError::unprocessable(
            "filename must be 1 to 200 characters without path separators or control characters",
        )
        .with_details(json!({ "field": "filename" })))
    }
}

fn unsupported(message: impl Into<String>) -> ApiError {
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        message,
    )
}

/// Attaches a document (the raw file as the body: a PDF, JPEG or PNG of at most 5 MiB) to a leave
/// request; it is stored in the database. A request holds at most 10 documents.
#[utoipa::path(post, path = "/api/attendance/leave-requests/{id}/documents/", tag = "leave", security(("bearer" = [])),
    params(("id" = String, Path, description = "the request's id"), UploadParams),
    request_body(content = Vec<u8>, description = "the file's bytes", content_type = "application/octet-stream"),
    responses((status = 201, body = DocumentView), (status = 403, description = "out of the caller's scope"),
        (status = 404, description = "no such request"), (status = 409, description = "the request holds the most documents allowed"),
        (status = 413, description = "larger than 5 MiB"), (status = 415, description = "not a PDF, JPEG or PNG"),
        (status = 422, description = "empty file, bad filename, or a Content-Type that is not the file's")))]
async fn upload_document(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<String>,
    ApiQuery(params): ApiQuery<UploadParams>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<DocumentView>)> {
    let request = visible_request(&state, &user, &id).await?;
    let filename = check_filename(params.filename.as_deref())?;
    let declared = headers
        .get(CONTENT_TYPE)
        .map(|v| {
            v.to_str()
                .unwrap_or("")
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .filter(|v| !v.is_empty() && v != "application/octet-stream");
    if let Some(declared) = &declared
        && !["application/pdf", "image/jpeg", "image/png"].contains(&declared.as_str())
    {
        return Err(unsupported(format!(
            "documents must be PDF, JPEG or PNG, not {declared}"
        )));
    }
    let bytes = axum::body::to_bytes(body, MAX_DOCUMENT_BYTES)
        .await
        .map_err(|_| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("a document may be at most {MAX_DOCUMENT_BYTES} bytes (5 MiB)"),
            )
        })?;
    if bytes.is_empty() {
        return Err(ApiError::unprocessable("the document is empty"));
    }
    let Some(content_type) = sniff(&bytes) else {
        return Err(unsupported(
            "the file is not a PDF, JPEG or PNG (judged by its first bytes)",
        ));
    };
    if let Some(declared) = &declared
        && declared != content_type
    {
        return Err(ApiError::unprocessable(format!(
            "the Content-Type says {declared} but the file is {content_type}"
        )));
    }
    let document = LeaveDocument {
        id: LeaveDocumentId::parse(&uuid::Uuid::now_v7().to_string())
            .map_err(|e| ApiError::internal(format!("a new document id does not parse: {e}")))?,
        request: request.id.clone(),
        filename,
        content_type: content_type.to_owned(),
        size: bytes.len() as u64,
        uploaded_by: user.username.clone(),
        uploaded_at: Utc::now(),
    };
    let view = DocumentView::from(document.clone());
    state
        .store
        .add_leave_document(
            LeaveDocumentFile {
                document,
                bytes: bytes.into(),
            },
            MAX_DOCUMENTS_PER_REQUEST,
        )
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => ApiError::conflict(format!(
                "a leave request may hold at most {MAX_DOCUMENTS_PER_REQUEST} documents"
            )),
            other => other.into(),
        })?;
    tracing::info!(user = %user.username, request = %request.id, document = %view.id, size = view.size, "leave document attached");
    Ok((StatusCode::CREATED, Json(view)))
}

/// Lists the documents attached to a leave request.
#[utoipa::path(get, path = "/api/attendance/leave-requests/{id}/documents/", tag = "leave", security(("bearer" = [])),
    params(("id" = String, Path, description = "the request's id"), PageParams),
    responses((status = 200, body = Paginated<DocumentView>), (status = 403, description = "out of the caller's scope"),
        (status = 404, description = "no such request")))]
async fn list_documents(
    State(state): State<AppState>,
    user: AuthUser,
    OriginalUri(uri): OriginalUri,
    ApiPath(id): ApiPath<String>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> ApiResult<Json<Paginated<DocumentView>>> {
    let request = visible_request(&state, &user, &id).await?;
    let all = state.store.leave_documents(&request.id).await?;
    Ok(Json(paginate(
        all.into_iter().map(DocumentView::from),
        page,
        &uri,
        identity,
    )))
}

/// Downloads a document with its content type.
#[utoipa::path(get, path = "/api/attendance/leave-requests/{id}/documents/{doc_id}", tag = "leave", security(("bearer" = [])),
    params(("id" = String, Path, description = "the request's id"), ("doc_id" = String, Path, description = "the document's id")),
    responses((status = 200, description = "the file", content_type = "application/octet-stream"),
        (status = 403, description = "out of the caller's scope"), (status = 404, description = "no such request or document")))]
async fn download_document(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath((id, doc_id)): ApiPath<(String, String)>,
) -> ApiResult<Response> {
    let request = visible_request(&state, &user, &id).await?;
    let doc_id = LeaveDocumentId::parse(&doc_id)
        .map_err(|_| ApiError::not_found(format!("document {doc_id} was not found")))?;
    let LeaveDocumentFile { document, bytes } =
        state.store.leave_document(&request.id, &doc_id).await?;
    let ascii_name: String = document
        .filename
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ' ') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{ascii_name}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment"));
    let content_type = HeaderValue::from_str(&document.content_type)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
    let mut response = Bytes::from(bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, content_type);
    headers.insert(CONTENT_DISPOSITION, disposition);
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    Ok(response)
}

/// The OpenAPI of the leave routes.
#[derive(Debug, utoipa::OpenApi)]
#[openapi(
    paths(
        list_policies,
        get_policy,
        put_policy,
        get_balances,
        allocate,
        create_request,
        list_requests,
        get_request,
        approve,
        reject,
        cancel,
        upload_document,
        list_documents,
        download_document
    ),
    components(schemas(
        PolicyView,
        PolicyBody,
        BalanceView,
        BalanceSheet,
        AllocationBody,
        LeaveRequestView,
        LeaveRequestBody,
        DecisionBody,
        DocumentView
    ))
)]
pub struct LeaveDoc;

/// The leave routes.
pub fn routes() -> Router<AppState> {
    let base = "/api/attendance";
    let mut router = Router::new();
    for (path, route) in [
        ("leave-policies/", get(list_policies)),
        (
            "leave-policies/{leave_type}/",
            get(get_policy).put(put_policy).post(put_policy),
        ),
        ("leave-balances/", get(get_balances)),
        ("leave-balances/allocate/", post(allocate)),
        ("leave-requests/", get(list_requests).post(create_request)),
        ("leave-requests/{id}/", get(get_request)),
        ("leave-requests/{id}/approve/", post(approve)),
        ("leave-requests/{id}/reject/", post(reject)),
        ("leave-requests/{id}/cancel/", post(cancel)),
        (
            "leave-requests/{id}/documents/",
            get(list_documents).post(upload_document),
        ),
        (
            "leave-requests/{id}/documents/{doc_id}",
            get(download_document),
        ),
    ] {
        router = both_slashes(router, &format!("{base}/{path}"), route);
    }
    router
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_judged_by_their_first_bytes() {
        assert_eq!(sniff(b"%PDF-1.7"), Some("application/pdf"));
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0]), Some("image/jpeg"));
        assert_eq!(
            sniff(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]),
            Some("image/png")
        );
        assert_eq!(sniff(b"GIF89a"), None);
        assert_eq!(sniff(b""), None);
    }

    #[test]
    fn days_convert_in_half_steps_only() {
        assert_eq!(half_days("d", 2.5).unwrap(), HalfDays::new(5));
        assert_eq!(half_days("d", 0.0).unwrap(), HalfDays::ZERO);
        for bad in [-0.5, 1.3, f64::NAN, f64::INFINITY, 100_000.5] {
            assert!(half_days("d", bad).is_err(), "{bad}");
        }
        assert_eq!(days(HalfDays::new(3)), 1.5);
    }
}
