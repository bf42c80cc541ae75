//! The one error type of the API and its JSON envelope:
//! `{"error": {"code", "message", "details"}}` with the status that fits. Client errors say what
//! was wrong; server errors are logged with their cause and answered with a generic message.

use attendance_core::ValidationError;
use attendance_core::access::AccessDenied;
use attendance_core::correction::CorrectionError;
use attendance_core::leave::{ApprovalError, LeaveRequestError};
use attendance_core::service::ServiceError;
use attendance_core::store::StoreError;
use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// An error answered to the client.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// A stable machine-readable code (`not_found`, `validation_error`, …).
    pub code: &'static str,
    /// What went wrong, for a person.
    pub message: String,
    /// Structured details (the field, the limits, …), or `null`.
    pub details: Value,
}

/// The `Retry-After` (seconds) of a 503 answered while the store fails.
pub const STORE_RETRY_AFTER: &str = "5";

/// Shorthand for handler results.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// An error with no details.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            details: Value::Null,
        }
    }

    /// With details.
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    /// 400: the request cannot be read.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 401: no valid credentials.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// 403: the caller may not do this.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 404: no such thing.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 409: clashes with what is stored.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }

    /// 422: well-formed but breaks a rule.
    pub fn unprocessable(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_error",
            message,
        )
    }

    /// 429: too many requests.
    pub fn too_many_requests(message: impl Into<String>) -> Self {
        Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message)
    }

    /// 503 with `Retry-After`: the database failed (down, restarting, full or read-only); logs
    /// `cause` and answers a generic message; the client may try again later.
    pub fn store_unavailable(cause: impl std::fmt::Display) -> Self {
        tracing::error!(cause = %cause, "the store failed; answered 503");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            "the database is not available now; retry later",
        )
    }

    /// 500: logs `cause` and answers a generic message (internals never reach the client).
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(cause = %cause, "internal server error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "the server failed to handle the request; it has been logged",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({
            "error": { "code": self.code, "message": self.message, "details": self.details }
        });
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static(STORE_RETRY_AFTER),
            );
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { entity, key } => {
                Self::not_found(format!("{entity} {key} was not found"))
                    .with_details(json!({ "entity": entity, "key": key }))
            }
            StoreError::Conflict(message) => Self::conflict(message),
            StoreError::Invalid(message) => Self::unprocessable(message),
            e @ StoreError::Backend { .. } => {
                let cause = match std::error::Error::source(&e) {
                    Some(source) => format!("{e}: {source}"),
                    None => e.to_string(),
                };
                Self::store_unavailable(cause)
            }
        }
    }
}

impl From<ValidationError> for ApiError {
    fn from(e: ValidationError) -> Self {
        Self::unprocessable(e.to_string())
    }
}

impl From<AccessDenied> for ApiError {
    fn from(e: AccessDenied) -> Self {
        Self::forbidden(e.to_string())
    }
}

impl From<ApprovalError> for ApiError {
    fn from(e: ApprovalError) -> Self {
        match e {
            ApprovalError::Denied(denied) => denied.into(),
            ApprovalError::WrongLevel { .. } => Self::forbidden(e.to_string()),
            ApprovalError::NotPending { .. }
            | ApprovalError::NotActive { .. }
            | ApprovalError::InsufficientBalance { .. } => Self::conflict(e.to_string()),
            ApprovalError::Invalid(v) => v.into(),
            ApprovalError::AlreadyStarted { .. } | ApprovalError::ContextMismatch => {
                Self::unprocessable(e.to_string())
            }
        }
    }
}

impl From<LeaveRequestError> for ApiError {
    fn from(e: LeaveRequestError) -> Self {
        match e {
            LeaveRequestError::Invalid(v) => v.into(),
            e @ (LeaveRequestError::TooManyPending { .. }
            | LeaveRequestError::TooManyToday { .. }) => Self::too_many_requests(e.to_string()),
            other => Self::unprocessable(other.to_string()),
        }
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Store(e) => e.into(),
            ServiceError::Denied(e) => e.into(),
            ServiceError::Leave(e) => e.into(),
            ServiceError::Approval(e) => e.into(),
            e @ ServiceError::Contended { .. } => Self::conflict(e.to_string()),
            ServiceError::Invalid(v) => v.into(),
            ServiceError::Correction(CorrectionError::Invalid(v)) => v.into(),
            ServiceError::Correction(CorrectionError::Denied(e)) => e.into(),
            ServiceError::Correction(e @ CorrectionError::AlreadyDecided { .. }) => {
                Self::conflict(e.to_string())
            }
            ServiceError::Ledger(e) => Self::unprocessable(e.to_string()),
        }
    }
}

/// A JSON body whose rejections answer in the envelope: 400 for unreadable JSON or a wrong
/// content type, 422 for a body that does not fit the expected shape (missing field, wrong type).
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::JsonDataError(e) => {
            ApiError::unprocessable(e.body_text()).with_details(json!({ "body": e.body_text() }))
        }
        JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                e.body_text(),
            )
        }
        other => ApiError::bad_request(other.body_text()),
    }
}

/// Query parameters whose rejections answer 400 in the envelope.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Self(value)),
            Err(e) => Err(query_rejection(e)),
        }
    }
}

fn query_rejection(e: QueryRejection) -> ApiError {
    ApiError::bad_request(e.body_text())
}

/// Path parameters whose rejections answer 400 in the envelope.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Self(value)),
            Err(e) => Err(path_rejection(e)),
        }
    }
}

fn path_rejection(e: PathRejection) -> ApiError {
    ApiError::bad_request(e.body_text())
}

/// The fallback for unknown routes: 404 in the envelope.
pub async fn no_route() -> ApiError {
    ApiError::not_found("no such endpoint")
}
