//! `/api/attendance/system-status/`: the engine's counters, every machine's health, how much is
//! stored, the server's uptime and version, and with PostgreSQL the instances sharing the
//! database with their leases (`cluster`). Site-wide operational data: `ViewMachines` (HR staff
//! and super admins).

use attendance_adapters::cluster::ClusterStatus;
use attendance_adapters::engine::{EngineStats, SetAside};
use attendance_core::access::{Action, authorize};
use attendance_core::store::RecordQuery;
use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::auth::AuthUser;
use crate::error::{ApiError, ApiQuery, ApiResult};
use crate::routes::both_slashes;
use crate::state::AppState;

/// The machines part of the status.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MachineCounts {
    /// Machines registered.
    pub total: u64,
    /// Machines enabled.
    pub enabled: u64,
    /// Machines with an open session now.
    pub connected: u64,
    /// The runtime's health of every running machine (empty when this server reads none).
    #[schema(value_type = Vec<Object>)]
    pub health: Vec<Value>,
}

/// What is stored.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StoredCounts {
    /// Employees (active or not).
    pub employees: u64,
    /// Active employees.
    pub active_employees: u64,
    /// Raw scans.
    pub scans: u64,
    /// Daily records stored.
    pub daily_records: u64,
}

/// `GET /api/attendance/system-status/`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SystemStatus {
    /// `ok`, or `degraded` when an enabled machine is not connected or the store fails the
    /// engine's writes now (its latest write failed; `engine.store_failure` says why).
    pub status: &'static str,
    /// Why the status is `degraded`, one sentence each (empty when `ok`): the store's error with
    /// its cause (e.g. `database or disk is full`) and since when, machines not connected.
    pub problems: Vec<String>,
    /// The server's version.
    pub version: &'static str,
    /// Seconds since the server started.
    pub uptime_seconds: u64,
    /// The server's clock.
    pub server_time: DateTime<Utc>,
    /// The engine's counters (queue, scans stored, duplicates, recomputations, errors).
    #[schema(value_type = Object)]
    pub engine: EngineStats,
    /// The machines.
    pub machines: MachineCounts,
    /// What is stored.
    pub counts: StoredCounts,
    /// WebSocket clients connected.
    pub websocket_clients: usize,
    /// With PostgreSQL, the instances sharing the database as this one saw them at its last
    /// lease round: this instance (`instance_id`, `name`, `leader`, the `machines` it reads),
    /// every registered instance (`instance_id`, `name`, `started_at`, `last_heartbeat`, `live`,
    /// `leader`, `machines` held) and every machine's lease (`machine_id`, `holder`,
    /// `expires_at`). `null` for a single instance (SQLite).
    #[schema(value_type = Option<Object>)]
    pub cluster: Option<ClusterStatus>,
}

/// The platform's health in one call.
#[utoipa::path(get, path = "/api/attendance/system-status/", tag = "system", security(("bearer" = [])),
    responses((status = 200, body = SystemStatus), (status = 401), (status = 403)))]
async fn system_status(
    State(state): State<AppState>,
    user: AuthUser,
) -> ApiResult<Json<SystemStatus>> {
    authorize(&user.actor, Action::ViewMachines, None)?;
    let machines = state.store.list_machines().await?;
    let employees = state.store.list_employees(None).await?;
    let scans = state.store.count_scans().await?;
    let daily_records = state
        .store
        .count_records_by_status(&RecordQuery::default())
        .await?
        .iter()
        .map(|(_, n)| n)
        .sum();
    let health = state
        .machines
        .as_ref()
        .map(|rt| rt.health())
        .unwrap_or_default();
    let cluster = state.machines.as_ref().and_then(|rt| rt.cluster_status());
    // In a cluster each instance reads its share: the connections are the stored statuses,
    // which every machine's reader keeps.
    let local = state.machines.is_some() && cluster.is_none();
    let statuses = if !local {
        state.store.machine_statuses().await?
    } else {
        Vec::new()
    };
    let connected = machines
        .iter()
        .filter(|m| m.enabled)
        .filter(|m| match local {
            true => health
                .iter()
                .any(|h| h.machine_id == m.machine_id && h.to_status().connected),
            false => statuses
                .iter()
                .any(|s| s.machine_id == m.machine_id && s.connected),
        })
        .count() as u64;
    let enabled = machines.iter().filter(|m| m.enabled).count() as u64;
    let mut engine = state.engine.stats();
    // The stored job, whichever instance runs it.
    engine.recompute_job = state.engine.stored_recompute_job().await;
    let mut problems = Vec::new();
    if let Some(failure) = &engine.store_failure {
        problems.push(format!(
            "the store fails writes since {} ({} attempts in a row; scans are held and pushes \
             answered 503 until it recovers): {}",
            failure.since.to_rfc3339(),
            failure.attempts,
            failure.message
        ));
    }
    if state.machines.is_some() && connected < enabled {
        problems.push(format!(
            "{} of {enabled} enabled machines are not connected",
            enabled - connected
        ));
    }
    Ok(Json(SystemStatus {
        status: if problems.is_empty() {
            "ok"
        } else {
            "degraded"
        },
        problems,
        version: env!("CARGO_PKG_VERSION"),
        uptime_seconds: state.realtime.uptime_seconds(),
        server_time: Utc::now(),
        engine,
        machines: MachineCounts {
            total: machines.len() as u64,
            enabled,
            connected,
            health: health
                .iter()
                .filter_map(|h| serde_json::to_value(h).ok())
                .collect(),
        },
        counts: StoredCounts {
            employees: employees.len() as u64,
            active_employees: employees.iter().filter(|e| e.active).count() as u64,
            scans,
            daily_records,
        },
        websocket_clients: state.realtime.clients(),
        cluster,
    }))
}

/// Query of `GET scans/set-aside/`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
pub struct SetAsideQuery {
    /// How many of the latest to answer: 1 to 10,000 (1,000 by default).
    pub limit: Option<u64>,
}

/// The most set-aside scans one answer holds.
const MAX_SET_ASIDE: u64 = 10_000;

/// The scans set aside at ingest, the latest `limit` (1,000 by default), in arrival order (the
/// newest last) (HR and super admins): device scans dated outside the storable window (a clock
/// reset to 2000, a clock years ahead), never stored as attendance. They are kept in the store
/// (once per machine, device user and second), so they outlive a restart; each arrival is also
/// counted in system-status (`engine.scans_set_aside`, since the start).
#[utoipa::path(get, path = "/api/attendance/scans/set-aside/", tag = "scans", security(("bearer" = [])),
    params(SetAsideQuery),
    responses((status = 200, description = "the set-aside scans: machine_id, device_user_id, timestamp, reason, raw, received_at", body = Vec<Object>),
        (status = 401), (status = 403), (status = 422, description = "limit out of range")))]
async fn set_aside(
    State(state): State<AppState>,
    user: AuthUser,
    ApiQuery(query): ApiQuery<SetAsideQuery>,
) -> ApiResult<Json<Vec<SetAside>>> {
    authorize(&user.actor, Action::ViewMachines, None)?;
    let limit = query.limit.unwrap_or(1_000);
    if !(1..=MAX_SET_ASIDE).contains(&limit) {
        return Err(
            ApiError::unprocessable(format!("limit must be from 1 to {MAX_SET_ASIDE}"))
                .with_details(json!({"field": "limit"})),
        );
    }
    let mut latest = state.engine.set_aside(0, limit).await?.results;
    latest.sort_by(|a, b| {
        (a.received_at, &a.machine_id, &a.device_user_id, a.timestamp).cmp(&(
            b.received_at,
            &b.machine_id,
            &b.device_user_id,
            b.timestamp,
        ))
    });
    Ok(Json(latest))
}

/// The OpenAPI of the system routes.
#[derive(Debug, utoipa::OpenApi)]
#[openapi(
    paths(system_status, set_aside),
    components(schemas(SystemStatus, MachineCounts, StoredCounts))
)]
pub struct SystemDoc;

/// The system routes.
pub fn routes() -> Router<AppState> {
    let router = both_slashes(
        Router::new(),
        "/api/attendance/system-status/",
        get(system_status),
    );
    both_slashes(router, "/api/attendance/scans/set-aside/", get(set_aside))
}
