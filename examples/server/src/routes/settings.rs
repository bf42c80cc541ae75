//! `/api/attendance/settings/`: the site's attendance settings (time zone, default shift,
//! margins, overtime, weekly off days), read by everyone who may view them and replaced by HR.
//!
//! The JSON is core's [`AttendanceSettings`]; a `PUT` replaces the whole document (fields left out
//! take their defaults) after [`AttendanceSettings::validate`]. A replacement recomputes this
//! month's and last month's days in the background, and is audited as `settings_changed`
//! (target `settings`, before and after: only the top-level fields that changed).

use attendance_core::access::{Action, authorize};
use attendance_core::audit::{AuditAction, NewAuditEntry};
use attendance_core::settings::AttendanceSettings;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;

use crate::auth::AuthUser;
use crate::error::{ApiError, ApiJson, ApiResult};
use crate::routes::both_slashes;
use crate::state::AppState;

const PATH: &str = "/api/attendance/settings/";

/// The settings.
#[utoipa::path(get, path = "/api/attendance/settings/", tag = "settings", security(("bearer" = [])),
    responses((status = 200, description = "core's AttendanceSettings", body = Object),
        (status = 401, description = "no valid token"), (status = 403, description = "not allowed")))]
async fn get_settings(
    State(state): State<AppState>,
    user: AuthUser,
) -> ApiResult<Json<AttendanceSettings>> {
    authorize(&user.actor, Action::ViewSettings, None)?;
    Ok(Json(state.store.settings().await?))
}

/// Replaces the settings; 422 with the rule's message when they do not validate.
#[utoipa::path(put, path = "/api/attendance/settings/", tag = "settings", security(("bearer" = [])),
    request_body(content = Object, description = "core's AttendanceSettings; fields left out take their defaults"),
    responses((status = 200, description = "the settings as stored; this month's and last month's days are recomputed in the background (progress: system-status `engine.recompute_job`)", body = Object),
        (status = 400, description = "not JSON"), (status = 403, description = "not allowed"),
        (status = 422, description = "wrong shape or invalid settings")))]
async fn put_settings(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Json<AttendanceSettings>> {
    authorize(&user.actor, Action::ManageSettings, None)?;
    if !body.is_object() {
        return Err(ApiError::unprocessable(
            "the settings must be a JSON object",
        ));
    }
    let settings: AttendanceSettings = serde_json::from_value(body)
        .map_err(|e| ApiError::unprocessable(format!("invalid settings: {e}")))?;
    settings.validate()?;
    let old = state.store.settings().await?;
    state.store.put_settings(&settings).await?;
    tracing::info!(user = %user.username, "attendance settings replaced");
    let (before, after) = crate::audit::changed_fields(&json_of(&old), &json_of(&settings));
    state
        .service
        .audit(
            NewAuditEntry::new(
                chrono::Utc::now(),
                &user.username,
                AuditAction::SettingsChanged,
                "settings",
            )
            .before(before)
            .after(after),
        )
        .await;
    // The stored days now disagree with the rules: recompute the open payroll range (this
    // month and the last) in the background, its progress in system-status. The job is stored
    // before the answer: it runs on the instance that runs the jobs (the cluster's leader) and
    // is resumed from its last chunk if that instance stops.
    let today = chrono::Utc::now()
        .with_timezone(&settings.time_zone)
        .date_naive();
    state
        .engine
        .recompute_in_background(
            attendance_core::service::employee_change_start(today),
            today,
            "settings changed",
        )
        .await?;
    Ok(Json(state.store.settings().await?))
}

fn json_of(settings: &AttendanceSettings) -> Value {
    serde_json::to_value(settings).unwrap_or(Value::Null)
}

/// The OpenAPI of the settings routes.
#[derive(Debug, utoipa::OpenApi)]
#[openapi(paths(get_settings, put_settings))]
pub struct SettingsDoc;

/// The settings routes.
pub fn routes() -> Router<AppState> {
    both_slashes(Router::new(), PATH, get(get_settings).put(put_settings))
}
