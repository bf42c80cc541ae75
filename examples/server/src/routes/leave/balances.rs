//! `leave-balances/`: one employee's balances in a year, and allocations to their ledger (each
//! audited as `leave_allocated`, target `employee:{code}`).

use attendance_core::access::{Action, authorize};
use attendance_core::audit::{AuditAction, NewAuditEntry};
use attendance_core::calendar::LeaveType;
use attendance_core::employee::{Employee, EmployeeCode};
use attendance_core::leave::{
    LeaveBalance, LedgerEntry, LedgerEntryKind, default_policies, pending_units,
};
use attendance_core::service::LEAVE_ATTEMPTS;
use attendance_core::store::{LeaveChange, StoreError};
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::Datelike;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{days, employee_or_own, half_days, parse_leave_type, site_today};
use crate::auth::AuthUser;
use crate::error::{ApiError, ApiJson, ApiQuery, ApiResult};
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
pub(super) async fn get_balances(
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
pub(super) async fn allocate(
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
    Ok((
        StatusCode::CREATED,
        Json(balance_sheet(&state, &employee, year).await?),
    ))
}
