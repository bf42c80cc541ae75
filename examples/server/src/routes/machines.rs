//! `/api/attendance/machines/`: the fingerprint machines, their live status and a connection
//! test. Reading needs `ViewMachines`, changing `ManageMachines` (HR staff and super admins).
//!
//! Creating an enabled machine starts reading it at once, updating it restarts it (or stops it
//! when it is disabled), deleting it stops it. `status` and `is_connected` come from the
//! runtime's health (`connecting`, `connected`, `backing_off`, `circuit_open`, `stopped`), or
//! `disabled` for a disabled machine, or `unknown` when this server reads no machines and has no
//! stored status.
//!
//! Secrets in `config` (the keys its adapter's config schema names as secrets:
//! [`attendance_adapters::registry::secret_config_keys`], e.g. a ZKTeco `comm_key`, a Hikvision or
//! BioStar `password`) are answered as `********`; sending `********` back in an update keeps the
//! stored value.
//!
//! `POST machines/{id}/test/` answers 200 whatever the device does: `success` says whether the
//! test passed, `reachable` / `authenticated` what failed, `error` the reason. A machine whose
//! config cannot build an adapter is 422.
//!
//! Audited once stored: `machine_created`, `machine_updated`, `machine_deleted` (target
//! `machine:{id}`, the machine before and after) and `machine_command` for a connection test
//! (after: the command and its outcome). The trail never holds a secret: every config key naming
//! a password, key (`comm_key`), secret or token is written as `********`
//! ([`crate::audit::redact_secrets`]).

use std::time::Duration;

use attendance_adapters::AdapterError;
use attendance_adapters::registry::secret_config_keys;
use attendance_core::access::{Action, authorize};
use attendance_core::audit::{AuditAction, NewAuditEntry};
use attendance_core::machine::{Machine, MachineType, NewMachine};
use attendance_core::scan::MachineId;
use attendance_core::store::MachineStatus;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::auth::AuthUser;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult};
use crate::pagination::{PageParams, Paginated};
use crate::routes::{both_slashes, paginate};
use crate::runtime::check_machine_config;
use crate::state::AppState;

/// What a secret in a machine's config is answered as.
pub const REDACTED: &str = "********";

/// How long a connection test may take in all.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A machine as a client sends it (`POST` and `PUT`).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct MachineInput {
    /// The machine's id (its serial); required on create, optional on update (must then match
    /// the path).
    #[serde(default)]
    pub machine_id: Option<String>,
    /// A name to show.
    pub name: String,
    /// `zkteco`, `zkteco_adms`, `hikvision`, `suprema`, `generic_tcp` or `simulated`.
    pub machine_type: String,
    /// Host name or address (required for pulled machines).
    #[serde(default)]
    pub ip_address: String,
    /// Port; defaults per type.
    #[serde(default)]
    pub port: Option<u16>,
    /// Where it hangs.
    #[serde(default)]
    pub location: String,
    /// The department it serves.
    #[serde(default)]
    pub department: Option<String>,
    /// The zone of its clock (IANA); the site's when absent.
    #[serde(default)]
    pub time_zone: Option<String>,
    /// Whether to read it (default true).
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Protocol settings, per type.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub config: Option<Value>,
}

/// A machine as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MachineView {
    /// The machine's id.
    pub machine_id: String,
    /// Its name.
    pub name: String,
    /// Its type.
    pub machine_type: String,
    /// Its address.
    pub ip_address: String,
    /// Its port.
    pub port: u16,
    /// Where it hangs.
    pub location: String,
    /// The department it serves.
    pub department: Option<String>,
    /// The zone of its clock.
    pub time_zone: String,
    /// Whether it is read.
    pub enabled: bool,
    /// `connecting`, `connected`, `backing_off`, `circuit_open`, `stopped`, `disabled` or
    /// `unknown`.
    pub status: String,
    /// Whether a session is open now.
    pub is_connected: bool,
    /// Its protocol settings (secrets redacted).
    #[schema(value_type = Object)]
    pub config: Value,
    /// When it was last heard from.
    pub last_sync: Option<DateTime<Utc>>,
    /// The last error, while it is failing.
    pub last_error: Option<String>,
    /// Device clock minus ours, in seconds.
    pub clock_drift_seconds: Option<i64>,
    /// The runtime's full health snapshot (scans today, failures, serial, …), when running.
    #[schema(value_type = Option<Object>)]
    pub health: Option<Value>,
}

/// What `POST machines/{id}/test/` found.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TestReport {
    /// The machine.
    pub machine_id: String,
    /// Whether the test passed.
    pub success: bool,
    /// The device answered.
    pub reachable: bool,
    /// The device accepted the credentials.
    pub authenticated: bool,
    /// The serial it reported.
    pub serial: Option<String>,
    /// Its firmware.
    pub firmware: Option<String>,
    /// Its clock (local, naive).
    #[schema(value_type = Option<String>)]
    pub device_time: Option<NaiveDateTime>,
    /// Device clock minus ours, in seconds.
    pub clock_drift_seconds: Option<i64>,
    /// Attendance records it holds.
    pub record_count: Option<u64>,
    /// How long the test took.
    pub elapsed_ms: u64,
    /// Why it failed: `{kind, message}`.
    #[schema(value_type = Option<Object>)]
    pub error: Option<Value>,
}

/// `config` of a `machine_type` machine with every secret its schema names replaced by
/// [`REDACTED`].
pub fn redact(machine_type: MachineType, config: &Value) -> Value {
    let secrets = secret_config_keys(machine_type);
    match config {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = if secrets.contains(&k.as_str()) && !v.is_null() {
                        Value::String(REDACTED.into())
                    } else {
                        v.clone()
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        other => other.clone(),
    }
}

/// `incoming` with every [`REDACTED`] secret (of `machine_type`'s schema) replaced by the value
/// `stored` has there.
fn unredact(machine_type: MachineType, incoming: &Value, stored: &Value) -> Value {
    let secrets = secret_config_keys(machine_type);
    match (incoming, stored) {
        (Value::Object(new), Value::Object(old)) => Value::Object(
            new.iter()
                .map(|(k, v)| {
                    let v = match (v, old.get(k)) {
                        (Value::String(s), Some(prev))
                            if s == REDACTED && secrets.contains(&k.as_str()) =>
                        {
                            prev.clone()
                        }
                        (v, _) => v.clone(),
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        (v, _) => v.clone(),
    }
}

fn view(machine: &Machine, state: &AppState, stored: Option<&MachineStatus>) -> MachineView {
    let health = state
        .machines
        .as_ref()
        .and_then(|rt| rt.health_of(&machine.machine_id));
    let (status, is_connected, last_seen, last_error, drift) = match (&health, stored) {
        _ if !machine.enabled => (
            "disabled".to_owned(),
            false,
            stored.and_then(|s| s.last_seen),
            None,
            None,
        ),
        (Some(h), _) => {
            let status = h.to_status();
            let state = serde_json::to_value(h.state)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_else(|| "unknown".into());
            (
                state,
                status.connected,
                status.last_seen,
                status.last_error,
                status.clock_drift_seconds,
            )
        }
        (None, Some(s)) => (
            if s.connected { "connected" } else { "stopped" }.to_owned(),
            s.connected,
            s.last_seen,
            s.last_error.clone(),
            s.clock_drift_seconds,
        ),
        (None, None) => ("unknown".to_owned(), false, None, None, None),
    };
    MachineView {
        machine_id: machine.machine_id.to_string(),
        name: machine.name.clone(),
        machine_type: machine.machine_type.as_str().to_owned(),
        ip_address: machine.ip_address.clone(),
        port: machine.port,
        location: machine.location.clone(),
        department: machine.department.as_ref().map(ToString::to_string),
        time_zone: machine.time_zone.name().to_owned(),
        enabled: machine.enabled,
        status,
        is_connected,
        config: redact(machine.machine_type, &machine.config),
        last_sync: last_seen.or(machine.last_sync),
        last_error,
        clock_drift_seconds: drift,
        health: health.and_then(|h| serde_json::to_value(h).ok()),
    }
}

fn parse_id(id: &str) -> ApiResult<MachineId> {
    MachineId::parse(id).map_err(|e| ApiError::not_found(format!("machine {id}: {e}")))
}

/// Validates `input` as machine `id` (the site's zone as default) and checks its adapter config.
async fn parse_machine(state: &AppState, id: String, input: MachineInput) -> ApiResult<Machine> {
    let site_zone = state.store.settings().await?.time_zone;
    let new = NewMachine {
        machine_id: id,
        name: input.name,
        machine_type: input.machine_type,
        ip_address: input.ip_address,
        port: input.port,
        location: input.location,
        department: input.department,
        time_zone: input.time_zone,
        enabled: input.enabled,
        config: input.config,
    };
    let machine = Machine::parse(&new, site_zone)?;
    check_machine_config(&machine).map_err(|e| match e {
        AdapterError::Config { .. } | AdapterError::Unsupported { .. } => {
            ApiError::unprocessable(e.to_string())
                .with_details(serde_json::json!({ "field": "config" }))
        }
        other => ApiError::unprocessable(other.to_string()),
    })?;
    Ok(machine)
}

/// `machine` as the audit trail keeps it: secrets redacted, no sync state.
fn audited(machine: &Machine) -> Value {
    let mut value = serde_json::to_value(machine).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut value {
        map.remove("last_sync");
    }
    crate::audit::redact_secrets(&value)
}

/// Appends `action` on machine `id` by `user` to the audit trail.
async fn audit(
    state: &AppState,
    user: &AuthUser,
    action: AuditAction,
    id: &MachineId,
    before: Option<&Machine>,
    after: Option<Value>,
) {
    let mut entry =
        NewAuditEntry::new(Utc::now(), &user.username, action, &format!("machine:{id}"));
    if let Some(before) = before {
        entry = entry.before(audited(before));
    }
    if let Some(after) = after {
        entry = entry.after(after);
    }
    state.service.audit(entry).await;
}

async fn statuses(state: &AppState) -> ApiResult<Vec<MachineStatus>> {
    Ok(state.store.machine_statuses().await?)
}

async fn start_machine(state: &AppState, machine: Machine) {
    if let Some(runtime) = &state.machines {
        let id = machine.machine_id.clone();
        if let Err(e) = runtime.run(machine).await {
            tracing::warn!(machine = %id, error = %e, "machine stored but not started");
        }
    }
}

/// Lists the machines with their live status.
#[utoipa::path(get, path = "/api/attendance/machines/", tag = "machines", security(("bearer" = [])),
    params(PageParams),
    responses((status = 200, body = Paginated<MachineView>), (status = 401), (status = 403)))]
async fn list(
    State(state): State<AppState>,
    user: AuthUser,
    uri: Uri,
    ApiQuery(page): ApiQuery<PageParams>,
) -> ApiResult<Json<Paginated<MachineView>>> {
    authorize(&user.actor, Action::ViewMachines, None)?;
    let machines = state.store.list_machines().await?;
    let statuses = statuses(&state).await?;
    Ok(Json(paginate(machines.iter(), page, &uri, |m| {
        let stored = statuses.iter().find(|s| s.machine_id == m.machine_id);
        view(m, &state, stored)
    })))
}

/// Registers a machine; an enabled one is read at once.
#[utoipa::path(post, path = "/api/attendance/machines/", tag = "machines", security(("bearer" = [])),
    request_body = MachineInput,
    responses((status = 201, body = MachineView), (status = 400), (status = 403),
        (status = 409, description = "the id is taken"), (status = 422, description = "invalid machine or config")))]
async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(input): ApiJson<MachineInput>,
) -> ApiResult<(StatusCode, Json<MachineView>)> {
    authorize(&user.actor, Action::ManageMachines, None)?;
    let Some(id) = input.machine_id.clone() else {
        return Err(ApiError::unprocessable("machine_id is required")
            .with_details(serde_json::json!({ "field": "machine_id" })));
    };
    let machine = parse_machine(&state, id, input).await?;
    state.store.create_machine(&machine).await?;
    tracing::info!(machine = %machine.machine_id, by = %user.username, "machine registered");
    let after = Some(audited(&machine));
    audit(
        &state,
        &user,
        AuditAction::MachineCreated,
        &machine.machine_id,
        None,
        after,
    )
    .await;
    start_machine(&state, machine.clone()).await;
    Ok((StatusCode::CREATED, Json(view(&machine, &state, None))))
}

/// One machine with its live status.
#[utoipa::path(get, path = "/api/attendance/machines/{id}/", tag = "machines", security(("bearer" = [])),
    params(("id" = String, Path, description = "the machine id")),
    responses((status = 200, body = MachineView), (status = 403), (status = 404)))]
async fn detail(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<MachineView>> {
    authorize(&user.actor, Action::ViewMachines, None)?;
    let machine = state.store.machine(&parse_id(&id)?).await?;
    let statuses = statuses(&state).await?;
    let stored = statuses.iter().find(|s| s.machine_id == machine.machine_id);
    Ok(Json(view(&machine, &state, stored)))
}

/// Replaces a machine's settings; it is restarted (or stopped when disabled).
#[utoipa::path(put, path = "/api/attendance/machines/{id}/", tag = "machines", security(("bearer" = [])),
    params(("id" = String, Path, description = "the machine id")), request_body = MachineInput,
    responses((status = 200, body = MachineView), (status = 400), (status = 403), (status = 404), (status = 422)))]
async fn update(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<String>,
    ApiJson(mut input): ApiJson<MachineInput>,
) -> ApiResult<Json<MachineView>> {
    authorize(&user.actor, Action::ManageMachines, None)?;
    let stored = state.store.machine(&parse_id(&id)?).await?;
    if let Some(body_id) = &input.machine_id
        && body_id.trim() != stored.machine_id.as_str()
    {
        return Err(ApiError::unprocessable(
            "machine_id cannot change: delete the machine and register it again",
        )
        .with_details(serde_json::json!({ "field": "machine_id" })));
    }
    if let Some(config) = &input.config {
        input.config = Some(unredact(stored.machine_type, config, &stored.config));
    }
    let mut machine = parse_machine(&state, stored.machine_id.to_string(), input).await?;
    machine.last_sync = stored.last_sync;
    state.store.update_machine(&machine).await?;
    tracing::info!(machine = %machine.machine_id, by = %user.username, "machine updated");
    let after = Some(audited(&machine));
    let id = &machine.machine_id;
    audit(
        &state,
        &user,
        AuditAction::MachineUpdated,
        id,
        Some(&stored),
        after,
    )
    .await;
    match &state.machines {
        Some(runtime) if !machine.enabled => {
            runtime.stop(&machine.machine_id).await;
        }
        _ => start_machine(&state, machine.clone()).await,
    }
    Ok(Json(view(&machine, &state, None)))
}

/// Removes a machine (its scans stay) and stops reading it.
#[utoipa::path(delete, path = "/api/attendance/machines/{id}/", tag = "machines", security(("bearer" = [])),
    params(("id" = String, Path, description = "the machine id")),
    responses((status = 204), (status = 403), (status = 404)))]
async fn remove(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    authorize(&user.actor, Action::ManageMachines, None)?;
    let id = parse_id(&id)?;
    let stored = state.store.machine(&id).await?;
    state.store.delete_machine(&id).await?;
    if let Some(runtime) = &state.machines {
        runtime.stop(&id).await;
    }
    tracing::info!(machine = %id, by = %user.username, "machine deleted");
    audit(
        &state,
        &user,
        AuditAction::MachineDeleted,
        &id,
        Some(&stored),
        None,
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

/// Tests the connection to a machine with a fresh session (200 whatever the device answers;
/// see `success` and `error`).
#[utoipa::path(post, path = "/api/attendance/machines/{id}/test/", tag = "machines", security(("bearer" = [])),
    params(("id" = String, Path, description = "the machine id")),
    responses((status = 200, body = TestReport), (status = 403), (status = 404),
        (status = 422, description = "the stored config cannot build an adapter")))]
async fn test(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<TestReport>> {
    authorize(&user.actor, Action::ManageMachines, None)?;
    let machine = state.store.machine(&parse_id(&id)?).await?;
    let now = Utc::now();
    let started = std::time::Instant::now();
    let run = async {
        match &state.machines {
            Some(runtime) => runtime.test(&machine, now).await,
            None => attendance_adapters::test_machine(&machine, now).await,
        }
    };
    let outcome = match tokio::time::timeout(TEST_TIMEOUT, run).await {
        Ok(outcome) => outcome,
        Err(_) => Err(AdapterError::Timeout {
            target: machine.machine_id.to_string(),
            during: "connection test",
            timeout: TEST_TIMEOUT,
        }),
    };
    let outcome_json = match &outcome {
        Ok(report) => serde_json::json!({
            "reachable": report.reachable, "authenticated": report.authenticated,
        }),
        Err(e) => serde_json::json!({ "error": e.kind() }),
    };
    let after = serde_json::json!({"command": "test", "outcome": outcome_json});
    audit(
        &state,
        &user,
        AuditAction::MachineCommand,
        &machine.machine_id,
        None,
        Some(after),
    )
    .await;
    let machine_id = machine.machine_id.to_string();
    match outcome {
        Ok(report) => Ok(Json(TestReport {
            machine_id,
            success: report.reachable && report.authenticated,
            reachable: report.reachable,
            authenticated: report.authenticated,
            serial: report.serial,
            firmware: report.firmware,
            device_time: report.device_time,
            clock_drift_seconds: report.clock_drift_seconds,
            record_count: report.record_count,
            elapsed_ms: report.elapsed_ms,
            error: None,
        })),
        Err(e @ (AdapterError::Config { .. } | AdapterError::Unsupported { .. })) => {
            Err(ApiError::unprocessable(e.to_string()))
        }
        Err(e) => {
            let reachable = matches!(
                e,
                AdapterError::Auth { .. }
                    | AdapterError::Refused { .. }
                    | AdapterError::Protocol { .. }
            );
            Ok(Json(TestReport {
                machine_id,
                success: false,
                reachable,
                authenticated: false,
                serial: None,
                firmware: None,
                device_time: None,
                clock_drift_seconds: None,
                record_count: None,
                elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
                error: Some(serde_json::json!({ "kind": e.kind(), "message": e.to_string() })),
            }))
        }
    }
}

/// The OpenAPI of the machine routes.
#[derive(Debug, utoipa::OpenApi)]
#[openapi(
    paths(list, create, detail, update, remove, test),
    components(schemas(MachineInput, MachineView, TestReport))
)]
pub struct MachinesDoc;

/// The machine routes.
pub fn routes() -> Router<AppState> {
    let router = Router::new();
    let router = both_slashes(router, "/api/attendance/machines/", get(list).post(create));
    let router = both_slashes(
        router,
        "/api/attendance/machines/{id}/",
        get(detail).put(update).delete(remove),
    );
    both_slashes(router, "/api/attendance/machines/{id}/test/", post(test))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_are_redacted_by_schema_and_restored_from_the_stored_config() {
        let hik = MachineType::Hikvision;
        let stored = json!({"username": "admin", "password": "pw", "port": 80});
        let shown = redact(hik, &stored);
        assert_eq!(
            shown,
            json!({"username": "admin", "password": REDACTED, "port": 80})
        );
        assert_eq!(unredact(hik, &shown, &stored), stored);
        // A new password replaces the stored one; a redacted one for a key never stored stays.
        let changed = json!({"password": "new", "other_password": REDACTED});
        assert_eq!(unredact(hik, &changed, &stored), changed);
        // A ZKTeco communication key is a number, and a secret all the same.
        let zk = json!({"comm_key": 123456, "timeout_ms": 5000});
        let shown = redact(MachineType::Zkteco, &zk);
        assert_eq!(shown, json!({"comm_key": REDACTED, "timeout_ms": 5000}));
        assert_eq!(unredact(MachineType::Zkteco, &shown, &zk), zk);
    }
}
