//! `leave-policies/`: the stored policies, and the statutory default of a named type with none
//! stored. Each policy carries its approval chain (`approval`: `head_then_hr`, `hr_only` or
//! `head_only`); storing one is audited as `leave_policy_changed` (target
//! `leave_policy:{type}`, the stored policy before, if any, and after).

use std::convert::identity;

use attendance_core::access::{Action, authorize};
use attendance_core::audit::{AuditAction, NewAuditEntry};
use attendance_core::calendar::LeaveType;
use attendance_core::leave::{LeaveApproval, LeavePolicy, OffDayRule};
use attendance_core::store::leave_policy_or_default;
use axum::Json;
use axum::extract::{OriginalUri, State};
use axum::http::StatusCode;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{days, half_days, parse_leave_type};
use crate::auth::AuthUser;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult};
use crate::pagination::{PageParams, Paginated};
use crate::routes::paginate;
use crate::state::AppState;

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
    /// Whether the yearly allocation of an employee who joined during the year is prorated from
    /// their `joined_on`.
    pub pro_rata: bool,
    /// Who approves a request: `head_then_hr` (the department head, then HR), `hr_only` or
    /// `head_only`. A department head's own request skips the head level (HR, or a super admin
    /// under `head_only`); in a department without an active head HR staff act for the head
    /// (`head_only` requests go to HR).
    #[schema(value_type = String, example = "head_then_hr")]
    pub approval: LeaveApproval,
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
            pro_rata: policy.pro_rata,
            approval: policy.approval,
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
    /// Whether yearly allocations are prorated from an employee's `joined_on` [false].
    #[serde(default)]
    pub pro_rata: bool,
    /// `head_then_hr`, `hr_only` or `head_only` [head_then_hr]; anything else is 422 naming
    /// `approval`.
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "hr_only")]
    pub approval: Option<Value>,
}

/// The approval chain `given` names (absent or `null`: `head_then_hr`); 422 naming `approval`
/// otherwise.
fn parse_approval(given: Option<&Value>) -> ApiResult<LeaveApproval> {
    match given {
        None | Some(Value::Null) => Ok(LeaveApproval::default()),
        Some(Value::String(text)) => text.parse::<LeaveApproval>().map_err(|e| {
            ApiError::unprocessable(e.to_string()).with_details(json!({ "field": "approval" }))
        }),
        Some(other) => Err(ApiError::unprocessable(format!(
            "approval must be head_then_hr, hr_only or head_only, not {other}"
        ))
        .with_details(json!({ "field": "approval" }))),
    }
}

fn yes() -> bool {
    true
}

fn excluded() -> OffDayRule {
    OffDayRule::Excluded
}

/// Every policy that applies (core's `AttendanceService::effective_leave_policies`), as views.
async fn effective_policies(state: &AppState) -> ApiResult<Vec<PolicyView>> {
    let policies = state.service.effective_leave_policies().await?;
    Ok(policies
        .iter()
        .map(|(policy, is_default)| PolicyView::new(policy, *is_default))
        .collect())
}

/// The policy applied to `leave_type` ([`leave_policy_or_default`]: the stored one, else the
/// statutory default, `true` when it is the default).
async fn policy_of(state: &AppState, leave_type: &LeaveType) -> ApiResult<(LeavePolicy, bool)> {
    Ok(leave_policy_or_default(&*state.store, leave_type).await?)
}

/// Lists the leave policies (stored, or the statutory default of a named type with none stored).
#[utoipa::path(get, path = "/api/attendance/leave-policies/", tag = "leave", security(("bearer" = [])),
    params(PageParams),
    responses((status = 200, body = Paginated<PolicyView>), (status = 403, description = "not allowed")))]
pub(super) async fn list_policies(
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
pub(super) async fn get_policy(
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
pub(super) async fn put_policy(
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
    let policy = policy_from(leave_type, body)?;
    let (old, was_default) = policy_of(&state, &policy.leave_type).await?;
    state.store.put_leave_policy(&policy).await?;
    tracing::info!(user = %user.username, leave_type = %policy.leave_type, "leave policy stored");
    audit_policy(&state, &user, &policy, (!was_default).then_some(&old)).await;
    let status = if was_default {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(PolicyView::new(&policy, false))))
}

/// Creates the policy of a leave type given in the body (`leave_type` required), as the seed's
/// collection `POST` does: 201 with the policy; 409 when a policy is stored for the type already
/// (change it with `PUT leave-policies/{leave_type}/`).
#[utoipa::path(post, path = "/api/attendance/leave-policies/", tag = "leave", security(("bearer" = [])),
    request_body = PolicyBody,
    responses((status = 201, body = PolicyView, description = "stored"), (status = 403, description = "not allowed"),
        (status = 409, description = "a policy is stored for the type already"),
        (status = 422, description = "invalid policy, or no leave_type")))]
pub(super) async fn create_policy(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<(StatusCode, Json<PolicyView>)> {
    authorize(&user.actor, Action::ManageLeavePolicies, None)?;
    let body: PolicyBody = serde_json::from_value(body)
        .map_err(|e| ApiError::unprocessable(format!("invalid leave policy: {e}")))?;
    let Some(named) = body.leave_type.as_deref() else {
        return Err(ApiError::unprocessable("leave_type is required")
            .with_details(serde_json::json!({"field": "leave_type"})));
    };
    let leave_type = parse_leave_type(named)?;
    let policy = policy_from(leave_type, body)?;
    let (_, was_default) = policy_of(&state, &policy.leave_type).await?;
    if !was_default {
        return Err(ApiError::conflict(format!(
            "a {} leave policy is stored already; change it with PUT leave-policies/{}/",
            policy.leave_type,
            policy.leave_type.name()
        )));
    }
    state.store.put_leave_policy(&policy).await?;
    tracing::info!(user = %user.username, leave_type = %policy.leave_type, "leave policy created");
    audit_policy(&state, &user, &policy, None).await;
    Ok((StatusCode::CREATED, Json(PolicyView::new(&policy, false))))
}

/// Audits a stored policy (`leave_policy_changed`), with the one it replaced if any.
async fn audit_policy(
    state: &AppState,
    user: &AuthUser,
    policy: &LeavePolicy,
    old: Option<&LeavePolicy>,
) {
    let mut entry = NewAuditEntry::new(
        Utc::now(),
        &user.username,
        AuditAction::LeavePolicyChanged,
        &format!("leave_policy:{}", policy.leave_type.name()),
    )
    .after(json!(PolicyView::new(policy, false)));
    if let Some(old) = old {
        entry = entry.before(json!(PolicyView::new(old, false)));
    }
    state.service.audit(entry).await;
}

/// The policy `body` describes for `leave_type`, validated by core's rules.
fn policy_from(leave_type: LeaveType, body: PolicyBody) -> ApiResult<LeavePolicy> {
    let optional = |field: &str, value: Option<f64>| value.map(|v| half_days(field, v)).transpose();
    let policy = LeavePolicy {
        leave_type,
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
        pro_rata: body.pro_rata,
        approval: parse_approval(body.approval.as_ref())?,
    };
    policy.validate()?;
    Ok(policy)
}
