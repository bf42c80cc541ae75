//! The REST routes, one module per resource, merged into one router, and the OpenAPI document
//! merged from each module's own.

pub mod accounts;
pub mod corrections;
pub mod daily;
pub mod doc;
pub mod employees;
pub mod scans;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::routing::{MethodRouter, get};
use axum::{Json, Router};
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

use crate::employee_import::Format;
use crate::error::{ApiError, ApiResult};
use crate::pagination::{PageParams, Paginated};
use crate::state::AppState;

pub mod holidays;
pub mod leave;
pub mod machines;
pub mod overrides;
pub mod oversight;
pub mod reports;
pub mod settings;
pub mod system;

/// Every route of the API (without the state).
pub fn api() -> Router<AppState> {
    Router::new()
        .merge(crate::auth::routes())
        .merge(accounts::routes())
        .merge(crate::routes::machines::routes())
        .merge(crate::routes::system::routes())
        .merge(crate::ws::routes())
        .merge(crate::routes::employees::routes())
        .merge(crate::routes::scans::routes())
        .merge(crate::routes::daily::routes())
        .merge(holidays::routes())
        .merge(leave::routes())
        .merge(settings::routes())
        .merge(oversight::routes())
        .merge(reports::routes())
        .merge(corrections::routes())
        .route("/api/openapi.json", get(openapi_json))
}

/// The OpenAPI document of the whole API, generated from the handlers' annotations.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut doc = utoipa::openapi::OpenApiBuilder::new()
        .info(
            utoipa::openapi::InfoBuilder::new()
                .title("Attendance platform API")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "Attendance from fingerprint machines: scans, daily records, leave, holidays. \
                     Log in at /api/auth/login and send the token as `Authorization: Bearer …`.",
                ))
                .build(),
        )
        .build();
    doc.merge(crate::auth::AuthDoc::openapi());
    doc.merge(accounts::AccountsDoc::openapi());
    doc.merge(crate::routes::machines::MachinesDoc::openapi());
    doc.merge(crate::routes::system::SystemDoc::openapi());
    doc.merge(crate::routes::employees::EmployeesDoc::openapi());
    doc.merge(crate::routes::scans::ScansDoc::openapi());
    doc.merge(crate::routes::daily::DailyDoc::openapi());
    doc.merge(crate::routes::holidays::HolidaysDoc::openapi());
    doc.merge(oversight::OversightDoc::openapi());
    doc.merge(reports::ReportsDoc::openapi());
    doc.merge(corrections::CorrectionsDoc::openapi());
    doc.merge(crate::routes::leave::LeaveDoc::openapi());
    doc.merge(crate::routes::settings::SettingsDoc::openapi());
    doc.merge(crate::ops::OpsDoc::openapi());
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .build(),
        ),
    );
    // `GET /metrics` with `--metrics-token`: a static bearer token, not a login token.
    components.add_security_scheme(
        "metrics_token",
        SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
    );
    doc::complete(&mut doc);
    doc
}

/// Registers `route` at `path` with and without its trailing slash, since axum treats the two
/// as different routes.
pub(crate) fn both_slashes(
    router: Router<AppState>,
    path: &str,
    route: MethodRouter<AppState>,
) -> Router<AppState> {
    let bare = path.trim_end_matches('/');
    router
        .route(&format!("{bare}/"), route.clone())
        .route(bare, route)
}

/// The page `page` of `all` (whose length is the count), each item of it shown by `view`, with
/// links built from the request's `uri`.
pub(crate) fn paginate<I: ExactSizeIterator, T>(
    all: I,
    page: PageParams,
    uri: &Uri,
    view: impl FnMut(I::Item) -> T,
) -> Paginated<T> {
    let count = all.len() as u64;
    let results = all
        .skip(usize::try_from(page.offset()).unwrap_or(usize::MAX))
        .take(usize::try_from(page.size()).unwrap_or(usize::MAX))
        .map(view)
        .collect();
    Paginated::new(results, count, page, uri)
}

async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(openapi())
}

/// The body of a file upload (an import) and its format from `Content-Type`: CSV
/// (`text/csv`, `application/csv`) or JSON (`application/json`, an array of `what`). A body over
/// the size limit is 413, another unreadable body 400, any other type 415.
pub(crate) fn upload(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    what: &str,
) -> ApiResult<(Format, Bytes)> {
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                e.body_text(),
            )
        } else {
            ApiError::bad_request(e.body_text())
        }
    })?;
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let format =
        if content_type.starts_with("text/csv") || content_type.starts_with("application/csv") {
            Format::Csv
        } else if content_type.starts_with("application/json") {
            Format::Json
        } else {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                format!("send application/json (an array of {what}) or text/csv"),
            ));
        };
    Ok((format, body))
}
