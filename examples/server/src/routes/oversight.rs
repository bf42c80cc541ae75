//! Oversight routes: voiding a scan and reading the audit trail.
//!
//! - `POST /api/attendance/scans/{id}/void/` `{reason}` (HR and admins, [`Action::VoidScan`]):
//!   the scan (its id as the scan list shows it, `MACHINE~USER~UNIX_SECONDS`) stays stored and
//!   leaves every computation; its day is recomputed and published, and the void audited.
//! - `GET /api/attendance/audit-log/` (HR and admins, [`Action::ViewAuditLog`]): the audit
//!   entries, newest first, paginated, filtered by `from` / `to` (dates on the site's clock,
//!   inclusive), `actor`, `action` and `target`. No route edits or deletes an entry.

use attendance_core::access::Action;
use attendance_core::audit::{AuditAction, AuditEntry, AuditQuery};
use attendance_core::store::ScanId;
use axum::extract::{OriginalUri, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{Days, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::auth::AuthUser;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult};
use crate::pagination::{PageParams, Paginated};
use crate::routes::both_slashes;
use crate::state::AppState;

/// `POST scans/{id}/void/` body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct VoidInput {
    /// Why the scan is voided (required, at most 500 characters).
    pub reason: String,
}

/// `POST scans/{id}/void/` answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VoidResult {
    /// The scan voided.
    pub scan_id: String,
    /// Why.
    pub reason: String,
    /// Who voided it.
    pub voided_by: String,
    /// When.
    pub voided_at: chrono::DateTime<Utc>,
    /// How many daily records were recomputed.
    pub recomputed: usize,
}

/// Voids a scan: kept, but left out of every computation; its day is recomputed.
#[utoipa::path(post, path = "/api/attendance/scans/{id}/void/", tag = "scans",
    security(("bearer" = [])), params(("id" = String, Path, description = "the scan's id, MACHINE~USER~UNIX_SECONDS")),
    request_body = VoidInput,
    responses((status = 200, body = VoidResult), (status = 403, description = "not HR"),
        (status = 404, description = "no such scan"), (status = 409, description = "voided already"),
        (status = 422, description = "a bad id or reason")))]
async fn void(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<VoidInput>,
) -> ApiResult<Json<VoidResult>> {
    let id = ScanId::parse(&id).map_err(ApiError::from)?;
    let (void, recomputed) = state
        .service
        .void_scan(&user.actor, &user.username, &id, &body.reason, Utc::now())
        .await?;
    Ok(Json(VoidResult {
        scan_id: void.scan.to_string(),
        reason: void.reason,
        voided_by: void.voided_by,
        voided_at: void.voided_at,
        recomputed: recomputed.records.len(),
    }))
}

/// `GET audit-log/` filters.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct AuditParams {
    /// The first date (on the site's clock), inclusive.
    pub from: Option<NaiveDate>,
    /// The last date (on the site's clock), inclusive.
    pub to: Option<NaiveDate>,
    /// Only entries by this username.
    pub actor: Option<String>,
    /// Only this action (`scan_voided`, `account_created`, …).
    #[param(value_type = Option<String>)]
    pub action: Option<AuditAction>,
    /// Only this target, exactly (`scan:…`, `employee:EMP001`, `account:ana`, …).
    pub target: Option<String>,
    /// The page, from 1.
    pub page: Option<u64>,
    /// Items per page.
    pub page_size: Option<u64>,
}

/// The audit trail, newest first (HR and admins).
#[utoipa::path(get, path = "/api/attendance/audit-log/", tag = "audit", security(("bearer" = [])),
    params(AuditParams),
    responses((status = 200, description = "a page of entries: {count, next, previous, results: [{id, at, actor, action, target, before, after, reason}]}"),
        (status = 403, description = "not HR"), (status = 422, description = "a bad filter")))]
async fn audit_log(
    State(state): State<AppState>,
    user: AuthUser,
    OriginalUri(uri): OriginalUri,
    ApiQuery(params): ApiQuery<AuditParams>,
) -> ApiResult<Json<Paginated<AuditEntry>>> {
    attendance_core::access::authorize(&user.actor, Action::ViewAuditLog, None)?;
    if let (Some(from), Some(to)) = (params.from, params.to)
        && from > to
    {
        return Err(ApiError::unprocessable(format!(
            "from ({from}) is after to ({to})"
        )));
    }
    let tz = state.store.settings().await?.time_zone;
    let start_of = |date: NaiveDate| {
        attendance_core::time::local_to_utc(tz, date.and_time(chrono::NaiveTime::MIN))
    };
    let query = AuditQuery {
        from: params.from.map(start_of),
        to: params
            .to
            .and_then(|to| to.checked_add_days(Days::new(1)))
            .map(start_of),
        actor: params.actor.filter(|a| !a.trim().is_empty()),
        action: params.action,
        target: params.target.filter(|t| !t.trim().is_empty()),
    };
    let page = PageParams {
        page: params.page,
        page_size: params.page_size,
    };
    let found = state
        .service
        .audit_log(&user.actor, &query, page.offset(), page.size())
        .await?;
    Ok(Json(Paginated::new(found.results, found.count, page, &uri)))
}

/// The OpenAPI of the oversight routes.
#[derive(Debug, utoipa::OpenApi)]
#[openapi(paths(void, audit_log), components(schemas(VoidInput, VoidResult)))]
pub struct OversightDoc;

/// The oversight routes.
pub fn routes() -> Router<AppState> {
    let router = both_slashes(Router::new(), "/api/attendance/audit-log/", get(audit_log));
    both_slashes(router, "/api/attendance/scans/{id}/void/", post(void))
}
