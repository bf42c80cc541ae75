//! `/api/attendance/corrections/`: attendance corrections, a scan the device did not record (a
//! forgotten punch) asked for and decided.
//!
//! - `POST corrections/` `{employee_id, scan_time, scan_type?, reason}` files one
//!   ([`Action::RequestCorrection`]: the employee for themselves, their department head, HR and
//!   admins): 201 with the correction, `pending`. `scan_time` is RFC 3339 with an offset or a
//!   naive local time on the site's clock, as for manual scans.
//! - `GET corrections/` lists those in the caller's scope (the employee's own, a head's
//!   department, HR and admins everything), newest first, paginated, `?status=&employee_id=`
//!   (an employee outside the scope gives an empty page); `GET corrections/{id}/` reads one.
//! - `POST corrections/{id}/approve/` and `…/reject/` `{note?}` decide a pending one (the
//!   employee's department head, HR or an admin; never one's own: 403; decided already: 409).
//!   An approval stores a manual scan through the service (stored before the answer,
//!   deduplicated, its day recomputed and published on the WebSocket) and answers the scan and
//!   the recomputed day beside the correction.
//!
//! Every decision and filing is in the audit trail (`correction_requested`,
//! `correction_approved`, `correction_rejected`, target `correction:ID`).

use attendance_core::correction::{Correction, CorrectionId, CorrectionStatus, NewCorrection};
use attendance_core::report::DailySummary;
use attendance_core::store::CorrectionQuery;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{StatusCode, Uri};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::auth::AuthUser;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult};
use crate::pagination::{PageParams, Paginated};
use crate::routes::both_slashes;
use crate::routes::employees::parse_code;
use crate::routes::scans::{ScanView, parse_scan_time, parse_scan_type};
use crate::state::AppState;

/// The body of `POST corrections/`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct CorrectionInput {
    /// The employee code.
    pub employee_id: String,
    /// When the scan should have been recorded: RFC 3339 with an offset
    /// (`2026-11-25T08:00:00+06:00`) or a naive local time in the site's time zone
    /// (`2026-11-25T08:00`, `2026-11-25T08:00:00`).
    pub scan_time: String,
    /// `IN`, `OUT`, or absent/empty (the rules decide).
    #[serde(default)]
    pub scan_type: Option<String>,
    /// Why (1–500 characters).
    #[serde(default)]
    pub reason: String,
}

/// The optional body of `approve/` and `reject/`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct DecisionInput {
    /// The decider's note (at most 500 characters).
    #[serde(default)]
    pub note: Option<String>,
}

/// A correction as the API shows it: core's `Correction` (`id`, `employee_id`, `scan_time` in
/// UTC, `scan_type` as `check_in`/`check_out`/null, `reason`, `requested_by`, `requested_at`,
/// `status`, `decided_by`, `decided_at`, `decision_note`) with the time on the site's clock; an
/// approval's answer adds the scan stored and the recomputed day.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CorrectionView {
    /// The correction.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub correction: Correction,
    /// `scan_time` on the site's clock (`YYYY-MM-DDTHH:MM:SS`).
    pub local_time: String,
    /// Approvals only: the manual scan stored (its `id` is what `scans/{id}/void/` takes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scan: Option<ScanView>,
    /// Approvals only: whether that scan was stored already (the correction is approved all
    /// the same).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicate: Option<bool>,
    /// Approvals only: the scan's work date as recomputed (core's `DailySummary`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub summary: Option<DailySummary>,
}

impl CorrectionView {
    fn new(correction: Correction, tz: Tz) -> Self {
        let local_time = correction
            .scan_time
            .with_timezone(&tz)
            .format("%Y-%m-%dT%H:%M:%S")
            .to_string();
        Self {
            correction,
            local_time,
            scan: None,
            duplicate: None,
            summary: None,
        }
    }
}

/// A 422 naming `field`.
fn bad_field(field: &str, message: String) -> ApiError {
    ApiError::unprocessable(message).with_details(json!({ "field": field }))
}

/// An optional JSON body: `None` when empty, 400 when unreadable, 422 when of the wrong shape.
pub(crate) fn optional_json<T: DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Option<T>> {
    let body = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(&body).map(Some).map_err(|e| {
        if e.is_data() {
            ApiError::unprocessable(format!("the body does not fit: {e}"))
                .with_details(json!({ "body": e.to_string() }))
        } else {
            ApiError::bad_request(format!("unreadable JSON: {e}"))
        }
    })
}

fn parse_id(id: &str) -> ApiResult<CorrectionId> {
    Ok(CorrectionId::parse(id)?)
}

/// Files a correction; 201 with it, pending.
#[utoipa::path(post, path = "/api/attendance/corrections/", tag = "corrections",
    security(("bearer" = [])), request_body = CorrectionInput,
    responses((status = 201, body = CorrectionView), (status = 403, description = "the employee is outside your scope"),
        (status = 404, description = "unknown employee"), (status = 422, description = "a bad field, named")))]
async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(body): ApiJson<CorrectionInput>,
) -> ApiResult<(StatusCode, Json<CorrectionView>)> {
    let tz = state.store.settings().await?.time_zone;
    let employee_id = parse_code(&body.employee_id)?;
    let scan_time: DateTime<Utc> =
        parse_scan_time("scan_time", &body.scan_time, tz).map_err(|m| bad_field("scan_time", m))?;
    let scan_type =
        parse_scan_type(body.scan_type.as_deref()).map_err(|m| bad_field("scan_type", m))?;
    let id = CorrectionId::parse(&uuid::Uuid::now_v7().to_string())?;
    let correction = state
        .service
        .request_correction(
            &user.actor,
            &user.username,
            id,
            NewCorrection {
                employee_id,
                scan_time,
                scan_type,
                reason: body.reason,
            },
            Utc::now(),
        )
        .await?;
    tracing::info!(id = %correction.id, employee = %correction.employee_id, by = %user.username, "correction requested");
    Ok((
        StatusCode::CREATED,
        Json(CorrectionView::new(correction, tz)),
    ))
}

/// Filters of `GET corrections/`.
#[derive(Debug, Clone, Deserialize, utoipa::IntoParams)]
pub struct CorrectionFilter {
    /// Only this status: `pending`, `approved` or `rejected`.
    pub status: Option<String>,
    /// Only this employee (outside your scope: an empty page).
    pub employee_id: Option<String>,
}

fn parse_status(text: &str) -> ApiResult<CorrectionStatus> {
    match text.trim() {
        "pending" => Ok(CorrectionStatus::Pending),
        "approved" => Ok(CorrectionStatus::Approved),
        "rejected" => Ok(CorrectionStatus::Rejected),
        other => Err(bad_field(
            "status",
            format!("status must be pending, approved or rejected, not {other:?}"),
        )),
    }
}

/// The corrections in the caller's scope, newest first.
#[utoipa::path(get, path = "/api/attendance/corrections/", tag = "corrections",
    security(("bearer" = [])), params(CorrectionFilter, PageParams),
    responses((status = 200, body = Paginated<CorrectionView>), (status = 400, description = "bad query"),
        (status = 422, description = "a bad status or employee_id")))]
async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    uri: Uri,
    ApiQuery(filter): ApiQuery<CorrectionFilter>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> ApiResult<Json<Paginated<CorrectionView>>> {
    let status = filter.status.as_deref().map(parse_status).transpose()?;
    let employee = filter.employee_id.as_deref().map(parse_code).transpose()?;
    let query = CorrectionQuery {
        employees: employee.map(|e| vec![e]),
        status,
        offset: page.offset(),
        limit: page.size(),
    };
    let found = state.service.corrections(&user.actor, &query).await?;
    let tz = state.store.settings().await?.time_zone;
    let results = found
        .results
        .into_iter()
        .map(|c| CorrectionView::new(c, tz))
        .collect();
    Ok(Json(Paginated::new(results, found.count, page, &uri)))
}

/// One correction, if it is in the caller's scope.
#[utoipa::path(get, path = "/api/attendance/corrections/{id}/", tag = "corrections",
    security(("bearer" = [])), params(("id" = String, Path, description = "the correction's id")),
    responses((status = 200, body = CorrectionView), (status = 403, description = "outside your scope"),
        (status = 404, description = "no such correction")))]
async fn get_one(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<CorrectionView>> {
    let id = parse_id(&id)?;
    let correction = state.service.correction(&user.actor, &id).await?;
    let tz = state.store.settings().await?.time_zone;
    Ok(Json(CorrectionView::new(correction, tz)))
}

async fn decide(
    state: &AppState,
    user: &AuthUser,
    id: &str,
    body: Result<Bytes, BytesRejection>,
    approve: bool,
) -> ApiResult<Json<CorrectionView>> {
    let id = parse_id(id)?;
    let input: DecisionInput = optional_json(body)?.unwrap_or_default();
    let decided = state
        .service
        .decide_correction(
            &user.actor,
            &user.username,
            &id,
            approve,
            input.note.as_deref(),
            Utc::now(),
        )
        .await?;
    let tz = state.store.settings().await?.time_zone;
    let mut view = CorrectionView::new(decided.correction, tz);
    if let Some(approved) = decided.approved {
        view.scan = Some(ScanView::new(
            &approved.employee.employee_id,
            &approved.scan,
            tz,
        ));
        view.duplicate = Some(approved.duplicate);
        view.summary = approved.summary;
    }
    tracing::info!(%id, approve, by = %user.username, "correction decided");
    Ok(Json(view))
}

/// Approves a pending correction: its scan is stored (a manual scan) and its day recomputed.
#[utoipa::path(post, path = "/api/attendance/corrections/{id}/approve/", tag = "corrections",
    security(("bearer" = [])), params(("id" = String, Path, description = "the correction's id")),
    request_body(content = Option<DecisionInput>, description = "optional: {note}"),
    responses((status = 200, body = CorrectionView, description = "the correction, the scan stored and the recomputed day"),
        (status = 403, description = "not the employee's head, HR or an admin, or one's own correction"),
        (status = 404, description = "no such correction"), (status = 409, description = "decided already"),
        (status = 422, description = "a bad note")))]
async fn approve(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<CorrectionView>> {
    decide(&state, &user, &id, body, true).await
}

/// Rejects a pending correction; nothing is stored but the decision.
#[utoipa::path(post, path = "/api/attendance/corrections/{id}/reject/", tag = "corrections",
    security(("bearer" = [])), params(("id" = String, Path, description = "the correction's id")),
    request_body(content = Option<DecisionInput>, description = "optional: {note}"),
    responses((status = 200, body = CorrectionView),
        (status = 403, description = "not the employee's head, HR or an admin, or one's own correction"),
        (status = 404, description = "no such correction"), (status = 409, description = "decided already"),
        (status = 422, description = "a bad note")))]
async fn reject(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Json<CorrectionView>> {
    decide(&state, &user, &id, body, false).await
}

/// The OpenAPI of the correction routes.
#[derive(Debug, utoipa::OpenApi)]
#[openapi(
    paths(create, list, get_one, approve, reject),
    components(schemas(CorrectionInput, DecisionInput, CorrectionView))
)]
pub struct CorrectionsDoc;

/// The correction routes.
pub fn routes() -> Router<AppState> {
    let mut router = both_slashes(
        Router::new(),
        "/api/attendance/corrections/",
        get(list).post(create),
    );
    router = both_slashes(router, "/api/attendance/corrections/{id}/", get(get_one));
    router = both_slashes(
        router,
        "/api/attendance/corrections/{id}/approve/",
        post(approve),
    );
    both_slashes(
        router,
        "/api/attendance/corrections/{id}/reject/",
        post(reject),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corrections_are_stored_under_the_manual_scans_machine() {
        assert_eq!(
            attendance_core::correction::MANUAL_MACHINE,
            crate::routes::scans::MANUAL_MACHINE
        );
    }

    #[test]
    fn statuses_parse_exactly() {
        assert_eq!(
            parse_status("approved").unwrap(),
            CorrectionStatus::Approved
        );
        let err = parse_status("Approved").unwrap_err();
        assert_eq!(err.details["field"], "status");
    }
}
