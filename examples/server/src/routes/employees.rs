//! `/api/attendance/employees/`: the employee register.
//!
//! Reading follows [`Action::ViewEmployees`] (an employee sees their own profile, a department
//! head their department, HR and admins everyone); creating, replacing and deleting need
//! [`Action::ManageEmployees`] (HR and admins), and so does `POST employees/import/`, which
//! creates many at once, all or nothing (see [`crate::employee_import`]).
//!
//! Every change is audited once stored: `employee_created`, `employee_updated`,
//! `employee_deleted` (target `employee:{code}`, the profile before and after) and
//! `employee_import` (the count and the codes).

use attendance_core::access::{Action, ListFilter, Owner, authorize, list_filter};
use attendance_core::audit::{AuditAction, NewAuditEntry};
use attendance_core::employee::{Department, Employee, EmployeeCode, NewEmployee};
use attendance_core::store::StoreError;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::auth::AuthUser;
use crate::employee_import::{self, BadLine, ImportError, ImportOutcome};
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult};
use crate::pagination::{PageParams, Paginated};
use crate::routes::{both_slashes, paginate, upload};
use crate::state::AppState;

/// The owner of an employee's resources, for the access policy.
pub(crate) fn owner_of(employee: &Employee) -> Owner {
    Owner {
        employee: employee.employee_id.clone(),
        department: employee.department.clone(),
    }
}

/// Parses an employee code from a path or a query (422 when malformed).
pub(crate) fn parse_code(code: &str) -> ApiResult<EmployeeCode> {
    Ok(EmployeeCode::parse(code)?)
}

/// The employee `code`, if `action` on them is allowed for `user`. The role is checked before
/// the lookup, so a role that may never do `action` gets 403 whether the employee exists or not;
/// an unknown employee is 404, one outside the caller's scope 403.
pub(crate) async fn employee_for(
    state: &AppState,
    user: &AuthUser,
    action: Action,
    code: &EmployeeCode,
) -> ApiResult<Employee> {
    list_filter(&user.actor, action)?;
    let employee = state.store.employee(code).await?;
    authorize(&user.actor, action, Some(&owner_of(&employee)))?;
    Ok(employee)
}

/// The employees `user` may see for `action`, optionally of one `department` only, by code.
/// A department outside the caller's scope gives an empty list.
pub(crate) async fn employees_in_scope(
    state: &AppState,
    user: &AuthUser,
    action: Action,
    department: Option<Department>,
) -> ApiResult<Vec<Employee>> {
    match list_filter(&user.actor, action)? {
        ListFilter::All => Ok(state.store.list_employees(department).await?),
        ListFilter::Department(own) => {
            if department.as_ref().is_some_and(|d| d != &own) {
                return Ok(Vec::new());
            }
            Ok(state.store.list_employees(Some(own)).await?)
        }
        ListFilter::Employee(code) => match state.store.employee(&code).await {
            Ok(e) if department.as_ref().is_none_or(|d| d == &e.department) => Ok(vec![e]),
            Ok(_) | Err(StoreError::NotFound { .. }) => Ok(Vec::new()),
            Err(e) => Err(e.into()),
        },
    }
}

/// An employee as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EmployeeView {
    /// The employee code (`EMP001`).
    pub employee_id: String,
    /// The full name.
    pub employee_name: String,
    /// The department.
    pub department: String,
    /// The job title.
    pub designation: String,
    /// The level of work (`Worker`, `Staff`, …).
    pub level_of_work: String,
    /// The user id enrolled on the machines.
    pub device_user_id: String,
    /// The employee's own shift, if any (else the site's default shift).
    pub shift: Option<String>,
    /// Whether the employee is active.
    pub active: bool,
    /// The joining date, if known.
    pub joined_on: Option<NaiveDate>,
}

impl From<Employee> for EmployeeView {
    fn from(e: Employee) -> Self {
        Self {
            employee_id: e.employee_id.to_string(),
            employee_name: e.employee_name,
            department: e.department.to_string(),
            designation: e.designation.to_string(),
            level_of_work: e.level_of_work.to_string(),
            device_user_id: e.device_user_id.to_string(),
            shift: e.shift.map(|s| s.to_string()),
            active: e.active,
            joined_on: e.joined_on,
        }
    }
}

/// The body of `POST` and `PUT …/employees/`: core's `NewEmployee` plus `active`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct EmployeeInput {
    /// The employee code; required to create, and if given to `PUT` it must equal the path's.
    pub employee_id: Option<String>,
    /// The full name (1–200 characters).
    pub employee_name: String,
    /// The department.
    pub department: String,
    /// The job title.
    pub designation: String,
    /// The level of work (`Worker`, `Staff`, …).
    pub level_of_work: String,
    /// The user id on the machines; defaults to the digits of the code without leading zeros.
    #[serde(default)]
    pub device_user_id: Option<String>,
    /// The employee's regular shift: the id of the settings' default shift or of one of its
    /// `shifts` (omitted: the default shift).
    #[serde(default)]
    pub shift: Option<String>,
    /// Whether the employee is active (default true).
    #[serde(default)]
    pub active: Option<bool>,
    /// The joining date, `YYYY-MM-DD` (optional; prorates yearly leave where the policy says so).
    #[serde(default)]
    pub joined_on: Option<String>,
}

impl EmployeeInput {
    fn parse(self, code: String) -> ApiResult<Employee> {
        let mut employee = Employee::parse(&NewEmployee {
            employee_id: code,
            employee_name: self.employee_name,
            department: self.department,
            designation: self.designation,
            level_of_work: self.level_of_work,
            device_user_id: self.device_user_id,
            shift: self.shift,
            joined_on: self.joined_on,
        })?;
        employee.active = self.active.unwrap_or(true);
        Ok(employee)
    }
}

/// Refuses (422, with `details.field = "shift"`) an employee whose regular shift the site does
/// not have: neither the default shift nor one of the settings' `shifts`.
async fn check_shift(state: &AppState, employee: &Employee) -> ApiResult<()> {
    let settings = state.store.settings().await?;
    match settings.regular_shift(employee.shift.as_ref()) {
        Ok(_) => Ok(()),
        Err(unknown) => Err(ApiError::unprocessable(unknown.to_string())
            .with_details(serde_json::json!({"field": "shift", "value": unknown.0}))),
    }
}

/// Filters of `GET …/employees/`.
#[derive(Debug, Clone, Deserialize, utoipa::IntoParams)]
pub struct EmployeeFilter {
    /// Only this department.
    pub department: Option<String>,
    /// A case-insensitive part of the code or the name.
    pub search: Option<String>,
    /// Only active (`true`) or inactive (`false`) employees.
    pub active: Option<bool>,
}

/// Lists the employees in the caller's scope, by code.
#[utoipa::path(get, path = "/api/attendance/employees/", tag = "employees",
    security(("bearer" = [])), params(EmployeeFilter, PageParams),
    responses((status = 200, body = Paginated<EmployeeView>), (status = 400, description = "bad query"),
        (status = 401, description = "no valid token"), (status = 422, description = "bad department")))]
async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    uri: Uri,
    ApiQuery(filter): ApiQuery<EmployeeFilter>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> ApiResult<Json<Paginated<EmployeeView>>> {
    let department = filter
        .department
        .as_deref()
        .map(Department::parse)
        .transpose()?;
    let search = filter.search.map(|s| s.trim().to_lowercase());
    let matching: Vec<Employee> =
        employees_in_scope(&state, &user, Action::ViewEmployees, department)
            .await?
            .into_iter()
            .filter(|e| filter.active.is_none_or(|a| e.active == a))
            .filter(|e| {
                search.as_deref().is_none_or(|s| {
                    e.employee_id.as_str().to_lowercase().contains(s)
                        || e.employee_name.to_lowercase().contains(s)
                })
            })
            .collect();
    Ok(Json(paginate(
        matching.into_iter(),
        page,
        &uri,
        EmployeeView::from,
    )))
}

/// Creates an employee (HR and admins). 409 when the code or the device user id is taken.
#[utoipa::path(post, path = "/api/attendance/employees/", tag = "employees",
    security(("bearer" = [])), request_body = EmployeeInput,
    responses((status = 201, body = EmployeeView), (status = 403, description = "not HR"),
        (status = 409, description = "code or device user id taken"),
        (status = 422, description = "invalid field, or a shift the site does not have")))]
async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(body): ApiJson<EmployeeInput>,
) -> ApiResult<(StatusCode, Json<EmployeeView>)> {
    authorize(&user.actor, Action::ManageEmployees, None)?;
    let Some(code) = body.employee_id.clone() else {
        return Err(ApiError::unprocessable("employee_id is required")
            .with_details(serde_json::json!({"field": "employee_id"})));
    };
    let employee = body.parse(code)?;
    check_shift(&state, &employee).await?;
    state.store.create_employee(&employee).await?;
    tracing::info!(employee = %employee.employee_id, by = %user.username, "employee created");
    audit(
        &state,
        &user,
        AuditAction::EmployeeCreated,
        &employee.employee_id,
        None,
        Some(&employee),
    )
    .await;
    // Scans stored under the device user id before the enrolment now count.
    state
        .service
        .employee_changed(None, &employee, chrono::Utc::now())
        .await?;
    Ok((StatusCode::CREATED, Json(employee.into())))
}

/// One employee, if in the caller's scope.
#[utoipa::path(get, path = "/api/attendance/employees/{employee_id}/", tag = "employees",
    security(("bearer" = [])), params(("employee_id" = String, Path, description = "The employee code")),
    responses((status = 200, body = EmployeeView), (status = 403, description = "out of scope"),
        (status = 404, description = "unknown employee")))]
async fn get_one(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(code): ApiPath<String>,
) -> ApiResult<Json<EmployeeView>> {
    let code = parse_code(&code)?;
    let employee = employee_for(&state, &user, Action::ViewEmployees, &code).await?;
    Ok(Json(employee.into()))
}

/// Replaces an employee (HR and admins). The code cannot change; an omitted `device_user_id`
/// keeps the enrolled one; 409 when the device user id is another employee's.
#[utoipa::path(put, path = "/api/attendance/employees/{employee_id}/", tag = "employees",
    security(("bearer" = [])), params(("employee_id" = String, Path, description = "The employee code")),
    request_body = EmployeeInput,
    responses((status = 200, body = EmployeeView), (status = 403, description = "not HR"),
        (status = 404, description = "unknown employee"), (status = 409, description = "device user id taken"),
        (status = 422, description = "invalid field, or a shift the site does not have")))]
async fn replace(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(code): ApiPath<String>,
    ApiJson(body): ApiJson<EmployeeInput>,
) -> ApiResult<Json<EmployeeView>> {
    authorize(&user.actor, Action::ManageEmployees, None)?;
    let code = parse_code(&code)?;
    if let Some(given) = body.employee_id.as_deref()
        && given.trim() != code.as_str()
    {
        return Err(ApiError::unprocessable(
            "employee_id in the body must equal the one in the path (codes cannot change)",
        ));
    }
    let current = state.store.employee(&code).await?;
    let mut body = body;
    // An omitted device user id keeps the enrolled one rather than the default from the code,
    // so replacing a profile never re-enrols the employee by accident.
    if body
        .device_user_id
        .as_deref()
        .is_none_or(|d| d.trim().is_empty())
    {
        body.device_user_id = Some(current.device_user_id.to_string());
    }
    let employee = body.parse(code.to_string())?;
    check_shift(&state, &employee).await?;
    if let Some(holder) = state
        .store
        .employee_by_device_user(&employee.device_user_id)
        .await?
        && holder.employee_id != employee.employee_id
    {
        return Err(ApiError::conflict(format!(
            "device user id {} is enrolled for {}",
            employee.device_user_id, holder.employee_id
        )));
    }
    state.store.update_employee(&employee).await?;
    tracing::info!(employee = %employee.employee_id, by = %user.username, "employee replaced");
    audit(
        &state,
        &user,
        AuditAction::EmployeeUpdated,
        &employee.employee_id,
        Some(&current),
        Some(&employee),
    )
    .await;
    // A new shift, level, active state or device user id changes the recent days: recompute
    // them (nothing happens for other changes).
    state
        .service
        .employee_changed(Some(&current), &employee, chrono::Utc::now())
        .await?;
    Ok(Json(employee.into()))
}

/// Deletes an employee and their daily records (HR and admins). 409 while a user account or
/// leave requests still refer to them (deactivate with `PUT … "active": false` instead).
#[utoipa::path(delete, path = "/api/attendance/employees/{employee_id}/", tag = "employees",
    security(("bearer" = [])), params(("employee_id" = String, Path, description = "The employee code")),
    responses((status = 204, description = "deleted"), (status = 403, description = "not HR"),
        (status = 404, description = "unknown employee"), (status = 409, description = "still referred to")))]
async fn delete(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(code): ApiPath<String>,
) -> ApiResult<StatusCode> {
    authorize(&user.actor, Action::ManageEmployees, None)?;
    let code = parse_code(&code)?;
    let stored = state.store.employee(&code).await?;
    state.store.delete_employee(&code).await?;
    tracing::info!(employee = %code, by = %user.username, "employee deleted");
    audit(
        &state,
        &user,
        AuditAction::EmployeeDeleted,
        &code,
        Some(&stored),
        None,
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

/// Appends `action` on employee `code` by `user` to the audit trail, with the employee before
/// and after.
async fn audit(
    state: &AppState,
    user: &AuthUser,
    action: AuditAction,
    code: &EmployeeCode,
    before: Option<&Employee>,
    after: Option<&Employee>,
) {
    let value = |e: &Employee| serde_json::to_value(e).unwrap_or(serde_json::Value::Null);
    let mut entry = NewAuditEntry::new(
        chrono::Utc::now(),
        &user.username,
        action,
        &format!("employee:{code}"),
    );
    if let Some(before) = before {
        entry = entry.before(value(before));
    }
    if let Some(after) = after {
        entry = entry.after(value(after));
    }
    state.service.audit(entry).await;
}

impl From<ImportError> for ApiError {
    fn from(e: ImportError) -> Self {
        use serde_json::json;
        let message = e.to_string();
        match e {
            ImportError::Unreadable(_) => Self::bad_request(message),
            ImportError::Shape(_) => Self::unprocessable(message).with_details(json!({
                "required": employee_import::REQUIRED_FIELDS,
                "optional": employee_import::OPTIONAL_FIELDS,
            })),
            ImportError::TooManyRows => {
                Self::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message)
                    .with_details(json!({"max_rows": employee_import::MAX_EMPLOYEE_IMPORT_ROWS}))
            }
            ImportError::Empty => Self::unprocessable(message),
            ImportError::Rejected(rejected) => Self::unprocessable(format!(
                "{} rows refused; nothing was stored (details.rejected lists each with its line)",
                rejected.len()
            ))
            .with_details(json!({ "rejected": rejected })),
            ImportError::Store {
                line,
                source: StoreError::Conflict(_),
                rolled_back: true,
            } => Self::conflict(message).with_details(json!({"line": line})),
            ImportError::Store { .. } | ImportError::Recompute { .. } => Self::internal(message),
            ImportError::Read(e) => e.into(),
        }
    }
}

/// Imports employees (HR and admins), all or nothing: a JSON array of employees, or CSV
/// (`Content-Type: text/csv`) with a header row. The fields are those of `POST employees/` plus
/// an optional `joined_on` (`YYYY-MM-DD`: stored with the employee; no day before it is
/// recomputed). Every row is checked first; any bad row and nothing is stored: 422 with
/// `details.rejected`, each `{line, reason}`. New employees are then stored and their days
/// recomputed (and published) as for one created by hand.
#[utoipa::path(post, path = "/api/attendance/employees/import/", tag = "employees",
    security(("bearer" = [])), request_body(content = Vec<EmployeeInput>, description = "JSON array, or text/csv with a header row; optional joined_on"),
    responses((status = 201, body = ImportOutcome), (status = 400, description = "unreadable body"),
        (status = 403, description = "not HR"), (status = 409, description = "another writer took a code meanwhile; nothing stored"),
        (status = 413, description = "too many rows or bytes"), (status = 415, description = "neither JSON nor CSV"),
        (status = 422, description = "bad rows (details.rejected), or a CSV header without the columns")))]
async fn import(
    State(state): State<AppState>,
    user: AuthUser,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<(StatusCode, Json<ImportOutcome>)> {
    authorize(&user.actor, Action::ManageEmployees, None)?;
    let (format, body) = upload(&headers, body, "employees")?;
    let rows = employee_import::read_rows(format, &body)?;
    let valid = employee_import::validate(state.store.as_ref(), rows).await?;
    let outcome = employee_import::store(
        state.store.as_ref(),
        &state.service,
        &user.username,
        &valid,
        chrono::Utc::now(),
        &mut |_, _| {},
    )
    .await?;
    tracing::info!(by = %user.username, created = outcome.created, "employees imported");
    Ok((StatusCode::CREATED, Json(outcome)))
}

/// The OpenAPI of the employee routes.
#[derive(Debug, utoipa::OpenApi)]
#[openapi(
    paths(list, create, get_one, replace, delete, import),
    components(schemas(EmployeeView, EmployeeInput, ImportOutcome, BadLine))
)]
pub struct EmployeesDoc;

/// The employee routes.
pub fn routes() -> Router<AppState> {
    let router = both_slashes(
        Router::new(),
        "/api/attendance/employees/",
        get(list).post(create),
    );
    let router = both_slashes(router, "/api/attendance/employees/import/", post(import));
    both_slashes(
        router,
        "/api/attendance/employees/{employee_id}/",
        get(get_one).put(replace).delete(delete),
    )
}
