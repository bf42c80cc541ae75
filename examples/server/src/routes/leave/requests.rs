//! `leave-requests/`: submitting a request, listing and reading requests in the caller's scope,
//! and the decisions of the approval chain (approve, reject, cancel).

use attendance_core::access::{Action, ListFilter, authorize, list_filter};
use attendance_core::employee::{Department, EmployeeCode};
use attendance_core::leave::{
    LeaveApplication, LeavePriority, LeaveRequest, LeaveRequestId, RequestStatus,
};
use attendance_core::service::LeaveDecision;
use attendance_core::store::LeaveRequestQuery;
use axum::Json;
use axum::body::Body;
use axum::extract::{OriginalUri, State};
use axum::http::StatusCode;
use chrono::{NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{days, employee_or_own, parse_leave_type};
use crate::auth::AuthUser;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult};
use crate::pagination::{PageParams, Paginated};
use crate::routes::employees::owner_of;
use crate::state::AppState;

/// The largest body of an approve/reject/cancel call (a note of at most 1000 characters).
const MAX_NOTE_BODY_BYTES: usize = 64 * 1024;

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
    /// `low`, `normal`, `high` or `urgent`, as the employee put it.
    #[schema(value_type = String, example = "normal")]
    pub priority: LeavePriority,
    /// The days the leave counts (in steps of 0.5).
    pub days: f64,
    /// `pending`, `approved`, `rejected` or `cancelled`.
    #[schema(value_type = String, example = "pending")]
    pub status: RequestStatus,
    /// The level waiting while pending: `department_head` (its head, or HR staff while the
    /// department has no active head), `hr` or `admin` (a super admin).
    #[schema(value_type = Option<String>, example = "department_head")]
    pub next_level: Option<attendance_core::leave::ApprovalLevel>,
    /// The levels the request needs, in order: its policy's approval chain as it applied when
    /// the request was submitted.
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
            priority: r.priority,
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
    /// `low`, `normal` (or `medium`), `high` or `urgent` [normal]; anything else is 422 naming
    /// `priority`.
    #[serde(default)]
    pub priority: Option<String>,
}

/// Submits a leave request (pending at the first approval level, or approved at once when the
/// policy needs no approval).
#[utoipa::path(post, path = "/api/attendance/leave-requests/", tag = "leave", security(("bearer" = [])),
    request_body = LeaveRequestBody,
    responses((status = 201, body = LeaveRequestView), (status = 403, description = "not for this employee"),
        (status = 404, description = "no such employee"),
        (status = 422, description = "breaks a rule: reversed dates, no working day, overlap, not enough balance, …"),
        (status = 429, description = "the employee's quota: 20 requests pending, or 30 submitted today")))]
pub(super) async fn create_request(
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
        priority: match body.priority.as_deref() {
            Some(p) => p.parse()?,
            None => LeavePriority::default(),
        },
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
pub(super) async fn list_requests(
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
pub(super) async fn visible_request(
    state: &AppState,
    user: &AuthUser,
    id: &str,
) -> ApiResult<LeaveRequest> {
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
pub(super) async fn get_request(
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
            &user.username,
            &request.id,
            decision,
            body.note.as_deref(),
            Utc::now(),
        )
        .await?;
    tracing::info!(user = %user.username, id = %decided.id, ?decision, status = ?decided.status, "leave decision");
    Ok(Json(LeaveRequestView::from(&decided)))
}

/// Approves a pending request at its current level (`next_level`: the levels come from the
/// policy's `approval` chain; HR staff act at the department-head level while the department
/// has no active head). Audited as `leave_approved` with the level.
#[utoipa::path(post, path = "/api/attendance/leave-requests/{id}/approve/", tag = "leave", security(("bearer" = [])),
    params(("id" = String, Path, description = "the request's id")), request_body(content = DecisionBody, description = "optional"),
    responses((status = 200, body = LeaveRequestView),
        (status = 403, description = "out of scope, or not the caller's level"), (status = 404, description = "no such request"),
        (status = 409, description = "not pending, or not enough balance any more")))]
pub(super) async fn approve(
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
pub(super) async fn reject(
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
pub(super) async fn cancel(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<String>,
    body: Body,
) -> ApiResult<Json<LeaveRequestView>> {
    decide(state, user, id, body, LeaveDecision::Cancel).await
}
