//! `leave-balances/`: one employee's balances in a year, or the balances of everyone in the
//! caller's scope; allocations to one ledger (each audited as `leave_allocated`, target
//! `employee:{code}`) or to every active employee (the year's entitlements, audited with target
//! `leave-year:{year}`), and the year's rollover.

use attendance_core::access::{Action, ListFilter, authorize, list_filter};
use attendance_core::audit::{AuditAction, NewAuditEntry};
use attendance_core::calendar::LeaveType;
use attendance_core::employee::{Department, Employee, EmployeeCode};
use attendance_core::leave::{LeaveBalance, LedgerEntry, LedgerEntryKind, pending_units};
use attendance_core::service::{LEAVE_ATTEMPTS, YearEndOutcome, YearEndScope};
use attendance_core::store::{LeaveChange, StoreError};
use axum::Json;
use axum::extract::{OriginalUri, State};
use axum::http::StatusCode;
use chrono::{Datelike, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{days, half_days, parse_leave_type, site_today};
use crate::auth::AuthUser;
use crate::error::{ApiError, ApiJson, ApiQuery, ApiResult};
use crate::pagination::{PageParams, Paginated};
use crate::routes::employees::owner_of;
use crate::state::AppState;

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
    /// The employee: that employee's sheet. Without it, an employee gets their own sheet and
    /// heads, HR and admins a paginated list of the sheets in their scope.
    pub employee_id: Option<String>,
    /// The leave year, 1 to 9999; defaults to the current year on the site's clock.
    pub year: Option<i32>,
    /// The list only: this department's employees.
    pub department: Option<String>,
    /// Only this leave type's balance in each sheet.
    pub leave_type: Option<String>,
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

/// The leave types of every policy that applies (read once per request).
async fn policy_types(state: &AppState) -> ApiResult<Vec<LeaveType>> {
    let policies = state.service.effective_leave_policies().await?;
    Ok(policies.into_iter().map(|(p, _)| p.leave_type).collect())
}

/// `employee`'s sheet of `year`: one balance per type of `policy_types` and any other type with
/// entries or requests (only `only`'s when given).
async fn balance_sheet(
    state: &AppState,
    employee: &Employee,
    year: i32,
    policy_types: &[LeaveType],
    only: Option<&LeaveType>,
) -> ApiResult<BalanceSheet> {
    let account = state.store.leave_account(&employee.employee_id).await?;
    let mut types: Vec<LeaveType> = policy_types.to_vec();
    let mut add = |t: &LeaveType| {
        if !types.contains(t) {
            types.push(t.clone());
        }
    };
    for ledger in &account.ledgers {
        add(ledger.leave_type());
    }
    for request in &account.requests {
        add(&request.leave_type);
    }
    if let Some(only) = only {
        types.retain(|t| t == only);
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

/// One employee's leave balances in a year, per leave type; or, without `employee_id` for a
/// caller who sees more than their own records, a page of the sheets of every active employee
/// in scope (by code), filterable by `department` and `leave_type`.
#[utoipa::path(get, path = "/api/attendance/leave-balances/", tag = "leave", security(("bearer" = [])),
    params(BalanceParams, PageParams),
    responses((status = 200, body = BalancesAnswer, description = "one sheet with employee_id (or for an employee's own login), else a page of them"),
        (status = 403, description = "out of the caller's scope"),
        (status = 404, description = "no such employee"), (status = 422, description = "bad employee id, year, department or leave type")))]
pub(super) async fn get_balances(
    State(state): State<AppState>,
    user: AuthUser,
    OriginalUri(uri): OriginalUri,
    ApiQuery(params): ApiQuery<BalanceParams>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> ApiResult<Json<BalancesAnswer>> {
    let year = match params.year {
        Some(year) => check_year(year)?,
        None => site_today(&state).await?.year(),
    };
    let only = params
        .leave_type
        .as_deref()
        .map(parse_leave_type)
        .transpose()?;
    let scope = list_filter(&user.actor, Action::ViewLeave)?;
    let code = match (&params.employee_id, &scope) {
        (Some(code), _) => Some(EmployeeCode::parse(code)?),
        (None, ListFilter::Employee(own)) => Some(own.clone()),
        (None, _) => None,
    };
    if let Some(code) = code {
        let employee = state.store.employee(&code).await?;
        authorize(&user.actor, Action::ViewLeave, Some(&owner_of(&employee)))?;
        let types = policy_types(&state).await?;
        let sheet = balance_sheet(&state, &employee, year, &types, only.as_ref()).await?;
        return Ok(Json(BalancesAnswer::Sheet(sheet)));
    }
    let asked = params
        .department
        .as_deref()
        .map(Department::parse)
        .transpose()?;
    let department = match (&scope, asked) {
        (ListFilter::Department(own), Some(asked)) if *own != asked => {
            return Err(ApiError::forbidden(
                "the department's balances are outside your scope",
            ));
        }
        (ListFilter::Department(own), _) => Some(own.clone()),
        (_, asked) => asked,
    };
    let mut employees = state.store.list_employees(department).await?;
    employees.retain(|e| e.active);
    let count = employees.len();
    let offset = usize::try_from(page.offset()).unwrap_or(usize::MAX);
    let size = usize::try_from(page.size()).unwrap_or(usize::MAX);
    let types = policy_types(&state).await?;
    let mut sheets = Vec::new();
    for employee in employees.iter().skip(offset).take(size) {
        sheets.push(balance_sheet(&state, employee, year, &types, only.as_ref()).await?);
    }
    let page = Paginated::new(sheets, count as u64, page, &uri);
    Ok(Json(BalancesAnswer::Page(page)))
}

/// `GET /leave-balances/`: one employee's sheet (with `employee_id`, or for an employee's own
/// login), else a page of the sheets in the caller's scope.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum BalancesAnswer {
    /// One employee's sheet.
    Sheet(BalanceSheet),
    /// A page of sheets.
    Page(Paginated<BalanceSheet>),
}

fn to_json<T: Serialize>(value: &T) -> ApiResult<Value> {
    serde_json::to_value(value).map_err(ApiError::internal)
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

/// `POST /leave-balances/allocate/` body without `employee_id`: the year's entitlements of
/// every active employee in scope.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct YearAllocationBody {
    /// The leave year (default: the current year on the site's clock).
    #[serde(default)]
    pub year: Option<i32>,
    /// Only this leave type's policy (default: every policy with days a year).
    #[serde(default)]
    pub leave_type: Option<String>,
    /// Only this department's employees (default: everyone).
    #[serde(default)]
    pub department: Option<String>,
}

/// `POST /leave-balances/rollover/` body.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RolloverBody {
    /// The year to close: its unused balance is carried into the next within each policy's cap.
    pub from_year: i32,
    /// Only this leave type (default: every limited policy).
    #[serde(default)]
    pub leave_type: Option<String>,
    /// Only this department's employees (default: everyone).
    #[serde(default)]
    pub department: Option<String>,
}

/// A year-end run as the API answers it: core's `YearEndOutcome`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct YearEndView {
    /// The year allocated, or the year rolled over.
    pub year: i32,
    /// Active employees looked at.
    pub employees: usize,
    /// Employees whose ledgers got entries (0 on a second run).
    pub changed: usize,
    /// Ledger entries written.
    pub entries: usize,
    /// Days written per leave type and entry kind.
    #[schema(value_type = Object)]
    pub days: std::collections::BTreeMap<String, std::collections::BTreeMap<String, f64>>,
}

impl From<YearEndOutcome> for YearEndView {
    fn from(o: YearEndOutcome) -> Self {
        Self {
            year: o.year,
            employees: o.employees,
            changed: o.changed,
            entries: o.entries,
            days: o.days,
        }
    }
}

fn year_end_scope(leave_type: Option<&str>, department: Option<&str>) -> ApiResult<YearEndScope> {
    Ok(YearEndScope {
        leave_type: leave_type.map(parse_leave_type).transpose()?,
        department: department.map(Department::parse).transpose()?,
    })
}

/// Logs a long year-end run's progress.
fn log_progress(what: &'static str) -> impl Fn(usize, usize) + Sync {
    move |done, total| tracing::info!(done, total, "{what}: employees done")
}

/// Allocates leave. With `employee_id` (body `AllocationBody`): appends an allocation to that
/// employee's ledger; 201 with their balance sheet. Without (body `YearAllocationBody`): the
/// year's entitlement of every policy to every active employee in scope, prorated from
/// `joined_on` where the policy has `pro_rata`, and idempotent (a year allocated already gets
/// nothing more); 200 with what was written.
#[utoipa::path(post, path = "/api/attendance/leave-balances/allocate/", tag = "leave", security(("bearer" = [])),
    request_body(content = AllocationBody, description = "one allocation; or YearAllocationBody (no employee_id) for the year's entitlements of everyone"),
    responses((status = 201, body = BalanceSheet), (status = 200, body = YearEndView, description = "the year's entitlements allocated"),
        (status = 403, description = "not allowed"),
        (status = 404, description = "no such employee or leave policy"), (status = 409, description = "the leave kept changing"),
        (status = 422, description = "invalid allocation")))]
pub(super) async fn allocate(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    authorize(&user.actor, Action::ManageLeavePolicies, None)?;
    if body.get("employee_id").is_none() && body.is_object() {
        let body: YearAllocationBody = serde_json::from_value(body)
            .map_err(|e| ApiError::unprocessable(format!("invalid allocation: {e}")))?;
        let year = match body.year {
            Some(year) => check_year(year)?,
            None => site_today(&state).await?.year(),
        };
        let scope = year_end_scope(body.leave_type.as_deref(), body.department.as_deref())?;
        let outcome = state
            .service
            .allocate_year(
                &user.actor,
                &user.username,
                year,
                &scope,
                Utc::now(),
                &log_progress("yearly leave allocation"),
            )
            .await?;
        tracing::info!(user = %user.username, year, changed = outcome.changed, entries = outcome.entries, "yearly leave allocated");
        return Ok((StatusCode::OK, Json(to_json(&YearEndView::from(outcome))?)));
    }
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
    state
        .service
        .audit(
            NewAuditEntry::new(
                chrono::Utc::now(),
                &user.username,
                AuditAction::LeaveAllocated,
                &format!("employee:{code}"),
            )
            .after(serde_json::json!({
                "leave_type": leave_type.name(), "year": year, "days": days(amount),
                "reference": reference,
            })),
        )
        .await;
    let types = policy_types(&state).await?;
    let sheet = balance_sheet(&state, &employee, year, &types, None).await?;
    Ok((StatusCode::CREATED, Json(to_json(&sheet)?)))
}

/// Rolls a leave year over for every active employee in scope: each limited policy's unused
/// balance of `from_year` is carried into the next year up to its `max_carry_forward` and the
/// rest expires; a year rolled over already is left as it is (idempotent). The next year's
/// entitlement is `allocate/`'s. 200 with what was written.
#[utoipa::path(post, path = "/api/attendance/leave-balances/rollover/", tag = "leave", security(("bearer" = [])),
    request_body = RolloverBody,
    responses((status = 200, body = YearEndView), (status = 403, description = "not allowed"),
        (status = 404, description = "no such leave policy"), (status = 409, description = "the leave kept changing"),
        (status = 422, description = "invalid body")))]
pub(super) async fn rollover(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<YearEndView>> {
    authorize(&user.actor, Action::ManageLeavePolicies, None)?;
    let body: RolloverBody = serde_json::from_value(body)
        .map_err(|e| ApiError::unprocessable(format!("invalid rollover: {e}")))?;
    let from_year = check_year(body.from_year)?;
    if from_year >= 9999 {
        return Err(ApiError::unprocessable("from_year must be before 9999")
            .with_details(serde_json::json!({"field": "from_year"})));
    }
    let scope = year_end_scope(body.leave_type.as_deref(), body.department.as_deref())?;
    let outcome = state
        .service
        .rollover_year(
            &user.actor,
            &user.username,
            from_year,
            &scope,
            Utc::now(),
            &log_progress("leave rollover"),
        )
        .await?;
    tracing::info!(user = %user.username, from_year, changed = outcome.changed, entries = outcome.entries, "leave year rolled over");
    Ok(Json(outcome.into()))
}
