//! Logins and bearer tokens: argon2 password hashes, JWTs signed with the server's secret, the
//! [`AuthUser`] extractor that turns a token into core's [`Actor`], and the `/api/auth` login
//! routes (the account routes are in [`crate::routes::accounts`]).
//!
//! Revocation: a token carries the `token_version` its account had when it was issued (claim
//! `ver`). [`AuthUser`] reads the account on every request (one read by key) and answers 401
//! "token revoked" when the account is gone, inactive, or at another version; a deactivation, a
//! password change or reset and a change of role or linked employee raise the version (see
//! [`crate::accounts`]), so the account's existing tokens stop working at the next request.
//! The caller's department is read too (one more read by key, for an account linked to an
//! employee), not taken from the token, so a transfer moves their scope at the next request.
//! REST routes take the token from the `Authorization` header only; the WebSocket upgrade
//! ([`WsUser`]) also takes it as a `token` query parameter.

use std::net::SocketAddr;
use std::time::Duration;

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use attendance_core::access::{Actor, Role};
use attendance_core::employee::{Department, EmployeeCode};
use attendance_core::store::{StoreError, UserAccount};
use axum::Extension;
use axum::Json;
use axum::Router;
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequestParts, State};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::routing::{get, post};
use chrono::Utc;
use jsonwebtoken::{DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ApiJson, ApiResult};
use crate::state::AppState;

/// How tokens are signed and how long they live.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    /// How long a token is valid.
    pub ttl: Duration,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKeys")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl TokenKeys {
    /// Keys from a secret (at least 32 bytes is advisable).
    pub fn new(secret: &[u8], ttl: Duration) -> Self {
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            ttl,
        }
    }
}

/// What a token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The username.
    pub sub: String,
    /// The role.
    pub role: Role,
    /// The employee the user is, if any.
    pub employee: Option<EmployeeCode>,
    /// The user's department, if any (the linked employee's at login).
    pub department: Option<Department>,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Expires at (Unix seconds).
    pub exp: i64,
    /// The account's `token_version` at issue; a token of another version is revoked. Tokens
    /// issued before the claim existed read as version 0.
    #[serde(default)]
    pub ver: u32,
}

impl TokenKeys {
    /// A token for `claims`.
    pub fn issue(&self, claims: &Claims) -> ApiResult<String> {
        jsonwebtoken::encode(&Header::default(), claims, &self.encoding).map_err(ApiError::internal)
    }

    /// The claims of a valid, unexpired token; 401 otherwise.
    pub fn verify(&self, token: &str) -> ApiResult<Claims> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &Validation::default())
            .map(|data| data.claims)
            .map_err(|e| {
                // Why, for the operator; the client hears only that it is not valid.
                tracing::debug!(error = %e, "token refused");
                ApiError::unauthorized("invalid or expired token: log in again")
            })
    }
}

/// Hashes a password with argon2id (a fresh salt each time), off the async threads.
pub async fn hash_password(password: String) -> ApiResult<String> {
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|hash| hash.to_string())
            .map_err(ApiError::internal)
    })
    .await
    .map_err(ApiError::internal)?
}

/// Whether `password` matches the stored argon2 `hash`, off the async threads.
pub async fn verify_password(password: String, hash: String) -> bool {
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .verify_password(password.as_bytes(), hash.as_str())
            .is_ok()
    })
    .await
    .unwrap_or(false)
}

/// The caller, from the bearer token (or, for WebSockets, a `token` query parameter).
#[derive(Debug, Clone)]
pub struct AuthUser {
    /// The username.
    pub username: String,
    /// The caller as core's access policy sees them.
    pub actor: Actor,
    /// The account's token version the token was issued with (still the account's).
    pub token_version: u32,
}

/// The bearer token of a request's `Authorization: Bearer …` header (the only place REST
/// routes take it from).
pub(crate) fn header_token(headers: &axum::http::HeaderMap) -> Option<String> {
    headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(|t| t.trim().to_owned())
}

/// The token of a WebSocket upgrade: the `Authorization` header, else a `token` query
/// parameter (browsers cannot set headers on a WebSocket). Only `/ws` takes it from the query.
pub(crate) fn bearer_token(
    headers: &axum::http::HeaderMap,
    uri: &axum::http::Uri,
) -> Option<String> {
    header_token(headers).or_else(|| {
        uri.query()
            .and_then(|q| q.split('&').find_map(|pair| pair.strip_prefix("token=")))
            .map(|t| t.trim().to_owned())
    })
}

/// Why a token that verifies is refused all the same, or `None` when its account still holds
/// it: the account is gone, inactive or at another token version.
pub(crate) async fn revoked_reason(
    state: &AppState,
    username: &str,
    version: u32,
) -> ApiResult<Option<&'static str>> {
    match state.store.account(username).await {
        Ok(account) if !account.active => Ok(Some("token revoked: the account is deactivated")),
        Ok(account) if account.token_version != version => Ok(Some(
            "token revoked: the account's password, role or employee changed; log in again",
        )),
        Ok(_) => Ok(None),
        Err(StoreError::NotFound { .. }) => Ok(Some("token revoked: the account no longer exists")),
        Err(e) => Err(e.into()),
    }
}

impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(token) = header_token(&parts.headers) else {
            return Err(ApiError::unauthorized(
                "missing bearer token: log in at POST /api/auth/login",
            ));
        };
        Self::of_token(state, &token).await
    }
}

/// The caller of a WebSocket upgrade: like [`AuthUser`], but the token may also come as a
/// `token` query parameter ([`bearer_token`]); only the WebSocket routes take this extractor.
#[derive(Debug, Clone)]
pub struct WsUser(pub AuthUser);

impl FromRequestParts<AppState> for WsUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(token) = bearer_token(&parts.headers, &parts.uri) else {
            return Err(ApiError::unauthorized(
                "missing token: log in at POST /api/auth/login and add ?token=",
            ));
        };
        AuthUser::of_token(state, &token).await.map(WsUser)
    }
}

impl AuthUser {
    /// The caller a token names, if it verifies and its account still holds it.
    async fn of_token(state: &AppState, token: &str) -> Result<Self, ApiError> {
        let claims = state.tokens.verify(token)?;
        if let Some(reason) = revoked_reason(state, &claims.sub, claims.ver).await? {
            return Err(ApiError::unauthorized(reason));
        }
        // The department as it is now, not as it was at login: a transfer moves the caller's
        // scope at their next request.
        let department = match &claims.employee {
            Some(code) => match state.store.employee(code).await {
                Ok(employee) => Some(employee.department),
                Err(StoreError::NotFound { .. }) => None,
                Err(e) => return Err(e.into()),
            },
            None => None,
        };
        Ok(Self {
            username: claims.sub,
            actor: Actor::new(claims.role, claims.employee, department),
            token_version: claims.ver,
        })
    }
}

/// `POST /api/auth/login` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct LoginRequest {
    /// The username.
    pub username: String,
    /// The password.
    pub password: String,
}

/// The user as the API shows it (never the hash).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UserView {
    /// The username.
    pub username: String,
    /// The role.
    #[schema(value_type = String, example = "hr_staff")]
    pub role: Role,
    /// The linked employee.
    #[schema(value_type = Option<String>)]
    pub employee_id: Option<EmployeeCode>,
    /// Their department.
    #[schema(value_type = Option<String>)]
    pub department: Option<Department>,
}

/// `POST /api/auth/login` answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LoginResponse {
    /// The bearer token.
    pub access_token: String,
    /// Always `bearer`.
    pub token_type: &'static str,
    /// Seconds until it expires.
    pub expires_in: u64,
    /// Who logged in.
    pub user: UserView,
}

async fn department_of(state: &AppState, account: &UserAccount) -> ApiResult<Option<Department>> {
    match &account.employee {
        Some(code) => match state.store.employee(code).await {
            Ok(e) => Ok(Some(e.department)),
            Err(StoreError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        },
        None => Ok(None),
    }
}

/// Logs in: a bearer token for the other endpoints.
#[utoipa::path(post, path = "/api/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), (status = 401, description = "wrong username or password"),
        (status = 413, description = "body over 16 KiB"),
        (status = 422, description = "username over 64 or password over 1,024 characters (details.field)"),
        (status = 429, description = "too many failed logins: 10 a minute per address and username, 30 per address")))]
async fn login(
    State(state): State<AppState>,
    client: Option<Extension<ConnectInfo<SocketAddr>>>,
    ApiJson(body): ApiJson<LoginRequest>,
) -> ApiResult<Json<LoginResponse>> {
    let address = client.map_or_else(
        || "unknown".to_owned(),
        |Extension(ConnectInfo(addr))| addr.ip().to_string(),
    );
    if body.username.chars().count() > MAX_USERNAME_CHARS {
        return Err(ApiError::unprocessable(format!(
            "username is longer than {MAX_USERNAME_CHARS} characters"
        ))
        .with_details(serde_json::json!({"field": "username"})));
    }
    if body.password.chars().count() > MAX_PASSWORD_CHARS {
        return Err(ApiError::unprocessable(format!(
            "password is longer than {MAX_PASSWORD_CHARS} characters"
        ))
        .with_details(serde_json::json!({"field": "password"})));
    }
    let username = body.username.as_str();
    if !state.login_guard.may_try(&address, username) {
        tracing::warn!(target: "security", %address, ?username, "login refused: too many failed attempts");
        return Err(ApiError::too_many_requests(
            "too many failed logins from this address; wait a minute",
        ));
    }
    let refused = || {
        state.login_guard.failed(&address, username);
        tracing::warn!(target: "security", %address, ?username, "login failed");
        ApiError::unauthorized("wrong username or password")
    };
    let account = match state.store.account(username).await {
        Ok(account) => account,
        Err(StoreError::NotFound { .. }) => {
            // Spend the same time as a real check, so usernames cannot be probed by timing.
            let _ = verify_password(body.password, DUMMY_HASH.into()).await;
            return Err(refused());
        }
        Err(e) => return Err(e.into()),
    };
    if !account.active || !verify_password(body.password, account.password_hash.clone()).await {
        return Err(refused());
    }
    Ok(Json(issue_login(&state, account).await?))
}

/// The longest username a login may name (longer ones are refused before any lookup).
pub const MAX_USERNAME_CHARS: usize = attendance_core::account::MAX_USERNAME_CHARS;
/// The longest password a login may send.
pub const MAX_PASSWORD_CHARS: usize = attendance_core::account::MAX_PASSWORD_CHARS;
/// The largest login body accepted, in bytes.
pub const MAX_LOGIN_BODY_BYTES: usize = 16 * 1024;

/// A fresh token for `account` (at its current token version), as login answers it.
pub(crate) async fn issue_login(
    state: &AppState,
    account: UserAccount,
) -> ApiResult<LoginResponse> {
    let department = department_of(state, &account).await?;
    let now = Utc::now().timestamp();
    let ttl = state.tokens.ttl.as_secs();
    let claims = Claims {
        sub: account.username.clone(),
        role: account.role,
        employee: account.employee.clone(),
        department: department.clone(),
        iat: now,
        exp: now.saturating_add(i64::try_from(ttl).unwrap_or(i64::MAX)),
        ver: account.token_version,
    };
    Ok(LoginResponse {
        access_token: state.tokens.issue(&claims)?,
        token_type: "bearer",
        expires_in: ttl,
        user: UserView {
            username: account.username,
            role: account.role,
            employee_id: account.employee,
            department,
        },
    })
}

/// The logged-in user.
#[utoipa::path(get, path = "/api/auth/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = UserView), (status = 401, description = "no valid token")))]
async fn me(State(state): State<AppState>, user: AuthUser) -> ApiResult<Json<UserView>> {
    let account = state.store.account(&user.username).await?;
    let department = department_of(&state, &account).await?;
    Ok(Json(UserView {
        username: account.username,
        role: account.role,
        employee_id: account.employee,
        department,
    }))
}

/// An argon2id hash of a random password, checked when the username does not exist.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$b2xkc2FsdG9sZHNhbHQ$3yKJtvlwSk5CIsP5i3o1kIfFMbU6TJkQZyXv1Y1dHcs";

/// The OpenAPI of the `/api/auth` routes.
#[derive(Debug, utoipa::OpenApi)]
#[openapi(
    paths(login, me),
    components(schemas(LoginRequest, LoginResponse, UserView))
)]
pub struct AuthDoc;

/// The `/api/auth` routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/auth/login",
            post(login).layer(DefaultBodyLimit::max(MAX_LOGIN_BODY_BYTES)),
        )
        .route("/api/auth/me", get(me))
}
