//! `/api/auth/users/` (the accounts) and `/api/auth/password/` (one's own password).
//!
//! - `GET users/` lists the accounts the caller may manage (paginated; `role`, `active`,
//!   `search` filters); `POST users/` creates one (`{username, password, role, employee_id?}`,
//!   201); `GET`, `PUT` (any of `role`, `employee_id`, `active`, `password`) and `DELETE`
//!   (deactivates: the account keeps its name for the history) on `users/{username}/`.
//! - Who may: a super admin manages every account, HR staff `employee` and `department_head`
//!   accounts only; employees and department heads get 403 on every account route (the role is
//!   checked before anything else, so they learn nothing about which accounts exist).
//! - `POST password/` `{current_password, new_password}` changes the caller's own password and
//!   answers a fresh token (the old ones, this request's included, are revoked).
//! - A deactivation, a password change or reset, and a role or employee change revoke the
//!   account's tokens: the next request with one gets 401, and its WebSockets close at once.
//!
//! The rules themselves live in [`crate::accounts`], shared with the command line.

use attendance_core::access::Role;
use attendance_core::account::manages_accounts;
use attendance_core::employee::EmployeeCode;
use attendance_core::store::UserAccount;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::accounts::{
    AccountChange, AccountError, Changed, NewAccount, parse_employee, parse_role,
};
use crate::auth::{AuthUser, LoginResponse, issue_login};
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult};
use crate::pagination::{PageParams, Paginated};
use crate::routes::{both_slashes, paginate};
use crate::state::AppState;

impl From<AccountError> for ApiError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::Forbidden(message) => Self::forbidden(message),
            AccountError::NotFound(username) => {
                Self::not_found(format!("user account {username} was not found"))
                    .with_details(json!({"entity": "user account", "key": username}))
            }
            AccountError::Invalid { field, message } => {
                Self::unprocessable(message).with_details(json!({"field": field}))
            }
            e @ AccountError::Taken(_) => {
                Self::conflict(e.to_string()).with_details(json!({"field": "username"}))
            }
            AccountError::LastSuperAdmin(e) => Self::conflict(e.to_string())
                .with_details(json!({"rule": "last_super_admin", "username": e.username})),
            e @ AccountError::WrongPassword => Self::unprocessable(e.to_string())
                .with_details(json!({"field": "current_password"})),
            AccountError::Failed(cause) => Self::internal(cause),
        }
    }
}

/// An account as the API shows it (never the hash).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AccountView {
    /// The username.
    pub username: String,
    /// `employee`, `department_head`, `hr_staff` or `super_admin`.
    #[schema(value_type = String, example = "employee")]
    pub role: Role,
    /// The linked employee.
    #[schema(value_type = Option<String>)]
    pub employee_id: Option<EmployeeCode>,
    /// Whether the account may log in.
    pub active: bool,
    /// When it was created (`null` for accounts older than the field).
    pub created_at: Option<DateTime<Utc>>,
}

impl From<UserAccount> for AccountView {
    fn from(a: UserAccount) -> Self {
        Self {
            username: a.username,
            role: a.role,
            employee_id: a.employee,
            active: a.active,
            created_at: a.created_at,
        }
    }
}

/// The body of `POST /api/auth/users/`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct NewAccountInput {
    /// 1–64 ASCII letters, digits, `.`, `_`, `-` or `@`.
    pub username: String,
    /// At least 10 characters, not the username.
    pub password: String,
    /// `employee`, `department_head`, `hr_staff` or `super_admin`.
    pub role: String,
    /// The employee the account is; required for `employee` and `department_head` (a head's
    /// department is that employee's).
    pub employee_id: Option<String>,
}

/// The body of `PUT /api/auth/users/{username}/`: any of the fields.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct AccountUpdateInput {
    /// A new role.
    pub role: Option<String>,
    /// A new linked employee; `null` unlinks (only for `hr_staff` and `super_admin`).
    pub employee_id: Option<String>,
    /// `false` deactivates (as `DELETE` does), `true` re-activates.
    pub active: Option<bool>,
    /// A new password (a reset by a manager).
    pub password: Option<String>,
}

/// The body of `POST /api/auth/password/`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct PasswordChangeInput {
    /// The caller's current password.
    pub current_password: String,
    /// The new one: at least 10 characters, not the username.
    pub new_password: String,
}

/// Filters of `GET /api/auth/users/`.
#[derive(Debug, Clone, Deserialize, utoipa::IntoParams)]
pub struct AccountFilter {
    /// Only this role.
    pub role: Option<String>,
    /// Only active (`true`) or deactivated (`false`) accounts.
    pub active: Option<bool>,
    /// A case-insensitive part of the username or the employee code.
    pub search: Option<String>,
}

/// The fields of a JSON object body, each known field once; 422 naming the first unknown field,
/// or when the body is not an object.
fn object(body: Value, known: &[&str]) -> ApiResult<Map<String, Value>> {
    let Value::Object(map) = body else {
        return Err(ApiError::unprocessable("the body must be a JSON object")
            .with_details(json!({"fields": known})));
    };
    if let Some(unknown) = map.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(ApiError::unprocessable(format!(
            "unknown field {unknown}; the fields are {}",
            known.join(", ")
        ))
        .with_details(json!({"field": unknown, "fields": known})));
    }
    Ok(map)
}

/// The field `name` of `map`: `None` when absent (or `null`); 422 naming it when of the wrong
/// type.
fn field<T: DeserializeOwned>(
    map: &Map<String, Value>,
    name: &'static str,
) -> ApiResult<Option<T>> {
    match map.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(value) => serde_json::from_value(value.clone())
            .map(Some)
            .map_err(|e| {
                ApiError::unprocessable(format!("{name}: {e}")).with_details(json!({"field": name}))
            }),
    }
}

/// The field `name` of `map`, required.
fn required<T: DeserializeOwned>(map: &Map<String, Value>, name: &'static str) -> ApiResult<T> {
    field(map, name)?.ok_or_else(|| {
        ApiError::unprocessable(format!("{name} is required")).with_details(json!({"field": name}))
    })
}

/// 403 unless the caller manages accounts at all (super admins and HR staff).
fn manager(user: &AuthUser) -> ApiResult<Role> {
    if manages_accounts(user.actor.role) {
        Ok(user.actor.role)
    } else {
        Err(ApiError::forbidden(format!(
            "a {} may not manage accounts (POST /api/auth/password/ changes one's own password)",
            user.actor.role
        )))
    }
}

/// Closes the WebSockets of an account whose tokens were just revoked.
fn after_change(state: &AppState, user: &AuthUser, changed: &Changed, what: &str) {
    if changed.revoked {
        state.realtime.revoke(&changed.account.username);
    }
    tracing::info!(
        account = %changed.account.username,
        by = %user.username,
        revoked = changed.revoked,
        "{what}"
    );
}

/// Lists the accounts the caller may manage, by username.
#[utoipa::path(get, path = "/api/auth/users/", tag = "auth", security(("bearer" = [])),
    params(AccountFilter, PageParams),
    responses((status = 200, body = Paginated<AccountView>), (status = 401, description = "no valid token"),
        (status = 403, description = "neither HR nor a super admin"), (status = 422, description = "bad role filter")))]
async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    uri: Uri,
    ApiQuery(filter): ApiQuery<AccountFilter>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> ApiResult<Json<Paginated<AccountView>>> {
    let by = manager(&user)?;
    let role = filter.role.as_deref().map(parse_role).transpose()?;
    let search = filter.search.map(|s| s.trim().to_lowercase());
    let matching: Vec<UserAccount> = state
        .accounts
        .list(by)
        .await?
        .into_iter()
        .filter(|a| role.is_none_or(|r| a.role == r))
        .filter(|a| filter.active.is_none_or(|active| a.active == active))
        .filter(|a| {
            search.as_deref().is_none_or(|s| {
                a.username.to_lowercase().contains(s)
                    || a.employee
                        .as_ref()
                        .is_some_and(|e| e.as_str().to_lowercase().contains(s))
            })
        })
        .collect();
    Ok(Json(paginate(
        matching.into_iter(),
        page,
        &uri,
        AccountView::from,
    )))
}

/// Creates an account. HR staff may create `employee` and `department_head` accounts only.
#[utoipa::path(post, path = "/api/auth/users/", tag = "auth", security(("bearer" = [])),
    request_body = NewAccountInput,
    responses((status = 201, body = AccountView), (status = 401, description = "no valid token"),
        (status = 403, description = "may not manage accounts of this role"),
        (status = 409, description = "username taken"),
        (status = 422, description = "a field breaks a rule (details.field names it): the password rule, an unknown role or employee")))]
async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<(StatusCode, Json<AccountView>)> {
    let by = manager(&user)?;
    let map = object(body, &["username", "password", "role", "employee_id"])?;
    let username: String = required(&map, "username")?;
    let password: String = required(&map, "password")?;
    let role = parse_role(&required::<String>(&map, "role")?)?;
    let employee = field::<String>(&map, "employee_id")?
        .map(|c| parse_employee(&c))
        .transpose()?;
    let account = state
        .accounts
        .create(
            by,
            &user.username,
            NewAccount {
                username,
                password,
                role,
                employee,
            },
            Utc::now(),
        )
        .await?;
    tracing::info!(account = %account.username, role = %account.role, by = %user.username, "account created");
    Ok((StatusCode::CREATED, Json(account.into())))
}

/// One account, if the caller may manage it.
#[utoipa::path(get, path = "/api/auth/users/{username}/", tag = "auth", security(("bearer" = [])),
    params(("username" = String, Path, description = "The username")),
    responses((status = 200, body = AccountView), (status = 403, description = "may not manage this account"),
        (status = 404, description = "unknown username")))]
async fn get_one(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(username): ApiPath<String>,
) -> ApiResult<Json<AccountView>> {
    let by = manager(&user)?;
    Ok(Json(state.accounts.get(by, &username).await?.into()))
}

/// Changes an account: any of `role`, `employee_id`, `active`, `password` (a reset). A role or
/// employee change, a deactivation and a reset revoke the account's tokens. Nobody may demote or
/// deactivate the last active super admin (409).
#[utoipa::path(put, path = "/api/auth/users/{username}/", tag = "auth", security(("bearer" = [])),
    params(("username" = String, Path, description = "The username")), request_body = AccountUpdateInput,
    responses((status = 200, body = AccountView), (status = 403, description = "may not manage this account or give this role"),
        (status = 404, description = "unknown username"), (status = 409, description = "the last active super admin"),
        (status = 422, description = "a field breaks a rule (details.field names it)")))]
async fn update(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(username): ApiPath<String>,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<AccountView>> {
    let by = manager(&user)?;
    let map = object(body, &["role", "employee_id", "active", "password"])?;
    let role = field::<String>(&map, "role")?
        .map(|r| parse_role(&r))
        .transpose()?;
    let employee = match map.get("employee_id") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(_) => Some(Some(parse_employee(&required::<String>(
            &map,
            "employee_id",
        )?)?)),
    };
    let change = AccountChange {
        role,
        employee,
        active: field(&map, "active")?,
        password: field(&map, "password")?,
    };
    let changed = state
        .accounts
        .update(by, &user.username, &username, change)
        .await?;
    after_change(&state, &user, &changed, "account changed");
    Ok(Json(changed.account.into()))
}

/// Deactivates an account (it keeps its name, so the history that names it still reads) and
/// revokes its tokens; answers the account. Refused (409) for the last active super admin.
#[utoipa::path(delete, path = "/api/auth/users/{username}/", tag = "auth", security(("bearer" = [])),
    params(("username" = String, Path, description = "The username")),
    responses((status = 200, body = AccountView, description = "deactivated"),
        (status = 403, description = "may not manage this account"),
        (status = 404, description = "unknown username"), (status = 409, description = "the last active super admin")))]
async fn deactivate(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(username): ApiPath<String>,
) -> ApiResult<Json<AccountView>> {
    let by = manager(&user)?;
    let changed = state
        .accounts
        .deactivate(by, &user.username, &username)
        .await?;
    after_change(&state, &user, &changed, "account deactivated");
    Ok(Json(changed.account.into()))
}

/// Changes the caller's own password. Every token of the account is revoked (this request's
/// too); the answer carries a fresh one. Wrong current passwords count towards the login limit.
#[utoipa::path(post, path = "/api/auth/password/", tag = "auth", security(("bearer" = [])),
    request_body = PasswordChangeInput,
    responses((status = 200, body = LoginResponse, description = "changed; a fresh token"),
        (status = 401, description = "no valid token"),
        (status = 422, description = "wrong current_password, or new_password breaks the rule (details.field)"),
        (status = 429, description = "too many attempts")))]
async fn change_password(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<LoginResponse>> {
    let map = object(body, &["current_password", "new_password"])?;
    let current: String = required(&map, "current_password")?;
    let new: String = required(&map, "new_password")?;
    if !state.login_limiter.allow(&user.username) {
        return Err(ApiError::too_many_requests(
            "too many password attempts for this user; wait a minute",
        ));
    }
    let changed = state
        .accounts
        .change_own_password(&user.username, current, new)
        .await?;
    after_change(&state, &user, &changed, "own password changed");
    Ok(Json(issue_login(&state, changed.account).await?))
}

/// The OpenAPI of the account routes.
#[derive(Debug, utoipa::OpenApi)]
#[openapi(
    paths(list, create, get_one, update, deactivate, change_password),
    components(schemas(AccountView, NewAccountInput, AccountUpdateInput, PasswordChangeInput))
)]
pub struct AccountsDoc;

/// The account routes.
pub fn routes() -> Router<AppState> {
    let router = both_slashes(Router::new(), "/api/auth/users/", get(list).post(create));
    let router = both_slashes(
        router,
        "/api/auth/users/{username}/",
        get(get_one).put(update).delete(deactivate),
    );
    both_slashes(router, "/api/auth/password/", post(change_password))
}
