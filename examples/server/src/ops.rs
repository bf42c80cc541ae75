//! The operator's endpoints: `GET /healthz`, `GET /readyz` and `GET /metrics`, and the HTTP
//! metrics middleware ([`track_http`]).
//!
//! - `/healthz`: the process is alive and answers HTTP: always 200 `{"status":"ok"}`, no token,
//!   no store access (a liveness probe must not fail because the database is down).
//! - `/readyz`: ready for traffic: 200 when the store answers a cheap query (within
//!   [`READY_STORE_TIMEOUT`]) and the engine runs (and the machine runtime, when this server
//!   reads machines); otherwise 503 naming what is not ready. No token.
//! - `/metrics`: the Prometheus text exposition of every metric emitted through the `metrics`
//!   facade in this process (the engine's and the push receivers' from
//!   [`attendance_adapters::telemetry`], this crate's from [`self`]), with the gauges of this
//!   server's state (queue depth, machines per state, WebSocket clients) read at scrape time.
//!   Open by default, like most scrape targets; with a metrics token configured
//!   (`--metrics-token`, [`AppState::with_metrics_token`]) it requires
//!   `Authorization: Bearer <token>` and answers 401 otherwise.
//!
//! The recorder is process-wide and can be installed once: [`prometheus`] installs it on first
//! use and every server of the process (the tests start many) shares its handle. Counters and
//! histograms are therefore the process's, gauges the scraped server's. If a host installed
//! another recorder first, `/metrics` answers 503 and says so.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use attendance_adapters::manager::ConnectionState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use serde::Serialize;

use crate::error::ApiError;
use crate::state::AppState;

/// Counter: HTTP requests answered, labels `method`, `route` (the matched route pattern, e.g.
/// `/api/employees/{code}`, or `unmatched`; never the raw path) and `status` (`2xx` … `5xx`).
pub const HTTP_REQUESTS: &str = "attendance_http_requests_total";
/// Histogram: time to answer an HTTP request (until its response head), in seconds, with the
/// labels of [`HTTP_REQUESTS`].
pub const HTTP_SECONDS: &str = "attendance_http_request_duration_seconds";
/// Gauge: WebSocket clients connected to the scraped server.
pub const WS_CLIENTS: &str = "attendance_websocket_clients";
/// Counter: WebSocket connections accepted (after authentication).
pub const WS_CONNECTIONS: &str = "attendance_websocket_connections_total";
/// Gauge: batches waiting in the engine's queue.
pub const QUEUE_DEPTH: &str = "attendance_engine_queue_depth";
/// Gauge: the engine queue's capacity, in batches.
pub const QUEUE_CAPACITY: &str = "attendance_engine_queue_capacity";
/// Gauge: new scans waiting for the recompute stage.
pub const RECOMPUTE_BACKLOG: &str = "attendance_engine_recompute_backlog";
/// Gauge: the machines this server reads, by `state` (`connecting`, `connected`,
/// `backing_off`, `circuit_open`, `stopped`); every state is always present.
pub const MACHINES: &str = "attendance_machines";
/// Counter: scans stored by the API and the importers (outside the engine's queue), label
/// `source` (`manual`, `import`); the engine's are [`attendance_adapters::telemetry::SCANS_INGESTED`]
/// (the same name, other sources).
pub const SCANS_INGESTED: &str = attendance_adapters::telemetry::SCANS_INGESTED;
/// Gauge: 1, with the server's `version` as a label.
pub const BUILD_INFO: &str = "attendance_build_info";

/// How long `/readyz` waits for the store's answer before calling it not ready.
pub const READY_STORE_TIMEOUT: Duration = Duration::from_secs(3);

/// The buckets of the latency histograms, in seconds (1 ms to 30 s).
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Every machine state, as the `state` label of [`MACHINES`].
const STATES: [(ConnectionState, &str); 5] = [
    (ConnectionState::Connecting, "connecting"),
    (ConnectionState::Connected, "connected"),
    (ConnectionState::BackingOff, "backing_off"),
    (ConnectionState::CircuitOpen, "circuit_open"),
    (ConnectionState::Stopped, "stopped"),
];

/// The process's Prometheus recorder handle, installing the recorder on first call; `None`
/// when another recorder was installed first (logged once).
pub fn prometheus() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let installed = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &LATENCY_BUCKETS)
                .and_then(|builder| builder.install_recorder());
            match installed {
                Ok(handle) => {
                    describe();
                    Some(handle)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "metrics: the Prometheus recorder could not be installed; /metrics answers 503");
                    None
                }
            }
        })
        .as_ref()
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    attendance_adapters::telemetry::describe();
    describe_counter!(
        HTTP_REQUESTS,
        Unit::Count,
        "HTTP requests answered, by method, matched route and status class"
    );
    describe_histogram!(
        HTTP_SECONDS,
        Unit::Seconds,
        "Time to answer an HTTP request, by method, matched route and status class"
    );
    describe_gauge!(WS_CLIENTS, Unit::Count, "WebSocket clients connected");
    describe_counter!(
        WS_CONNECTIONS,
        Unit::Count,
        "WebSocket connections accepted"
    );
    describe_gauge!(
        QUEUE_DEPTH,
        Unit::Count,
        "Batches waiting in the engine's queue"
    );
    describe_gauge!(
        QUEUE_CAPACITY,
        Unit::Count,
        "The engine queue's capacity in batches"
    );
    describe_gauge!(
        RECOMPUTE_BACKLOG,
        Unit::Count,
        "New scans waiting for the recompute stage"
    );
    describe_gauge!(
        MACHINES,
        Unit::Count,
        "Machines read by this server, by state"
    );
    describe_gauge!(BUILD_INFO, "Always 1; the server's version as a label");
}

/// The operator routes (no token, except `/metrics` with a metrics token configured).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
}

/// `GET /healthz`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Health {
    /// Always `ok`.
    pub status: &'static str,
}

/// `GET /readyz`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Readiness {
    /// `ready`, or `not_ready`.
    pub status: &'static str,
    /// What is not ready (`store`, `engine`, `machines`); empty when ready.
    pub not_ready: Vec<&'static str>,
    /// Each check: `ok`, `not used` (machines, when this server reads none), or why it failed.
    pub checks: Checks,
}

/// The checks of [`Readiness`].
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Checks {
    /// The store answered a cheap read.
    pub store: String,
    /// The engine's ingest and recompute tasks run.
    pub engine: String,
    /// The machine runtime runs (`not used` when this server reads no machines).
    pub machines: String,
}

/// Liveness: the process answers HTTP. Never touches the store.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "alive", body = Health)))]
async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Readiness: the store answers and the engine (and machine runtime) run; 503 naming what is
/// not ready otherwise.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses((status = 200, description = "ready", body = Readiness),
        (status = 503, description = "not ready: `not_ready` names what", body = Readiness)))]
async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let ready = readiness(&state).await;
    let status = if ready.not_ready.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(ready))
}

/// The readiness of `state`'s server (see [`readyz`]).
pub async fn readiness(state: &AppState) -> Readiness {
    let mut not_ready = Vec::new();
    let store = match tokio::time::timeout(READY_STORE_TIMEOUT, state.store.settings()).await {
        Ok(Ok(_)) => "ok".to_owned(),
        Ok(Err(e)) => {
            not_ready.push("store");
            format!("failed: {e}")
        }
        Err(_) => {
            not_ready.push("store");
            format!("no answer within {READY_STORE_TIMEOUT:?}")
        }
    };
    let engine = if state.engine.is_running() {
        "ok".to_owned()
    } else {
        not_ready.push("engine");
        "stopped".to_owned()
    };
    let machines = match &state.machines {
        None => "not used".to_owned(),
        Some(runtime) if runtime.is_running() => "ok".to_owned(),
        Some(_) => {
            not_ready.push("machines");
            "stopped".to_owned()
        }
    };
    if !not_ready.is_empty() {
        tracing::warn!(?not_ready, %store, "readiness check failed");
    }
    Readiness {
        status: if not_ready.is_empty() {
            "ready"
        } else {
            "not_ready"
        },
        not_ready,
        checks: Checks {
            store,
            engine,
            machines,
        },
    }
}

/// The Prometheus text exposition (format 0.0.4) of the process's metrics, with this server's
/// gauges. Requires `Authorization: Bearer <metrics token>` when one is configured.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    security((), ("metrics_token" = [])),
    responses((status = 200, description = "Prometheus text exposition format 0.0.4", body = String, content_type = "text/plain"),
        (status = 401, description = "a metrics token is configured and the request does not carry it"),
        (status = 503, description = "the process has another metrics recorder")))]
async fn metrics_text(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(expected) = &state.metrics_token {
        let given = headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        if !given.is_some_and(|g| same_secret(g.as_bytes(), expected.as_bytes())) {
            return ApiError::new(
                StatusCode::UNAUTHORIZED,
                "not_authenticated",
                "the metrics need `Authorization: Bearer <metrics token>`",
            )
            .into_response();
        }
    }
    let Some(handle) = prometheus() else {
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "metrics_unavailable",
            "another metrics recorder is installed in this process",
        )
        .into_response();
    };
    record_gauges(&state);
    handle.run_upkeep();
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        handle.render(),
    )
        .into_response()
}

/// Sets the gauges read from `state` (this server's engine, machines and WebSockets).
fn record_gauges(state: &AppState) {
    let stats = state.engine.stats();
    metrics::gauge!(QUEUE_DEPTH).set(stats.queue_depth as f64);
    metrics::gauge!(QUEUE_CAPACITY).set(stats.queue_capacity as f64);
    metrics::gauge!(RECOMPUTE_BACKLOG).set(stats.recompute_backlog as f64);
    metrics::gauge!(WS_CLIENTS).set(state.realtime.clients() as f64);
    metrics::gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    let health = state
        .machines
        .as_ref()
        .map(|rt| rt.health())
        .unwrap_or_default();
    for (which, label) in STATES {
        let count = health.iter().filter(|h| h.state == which).count();
        metrics::gauge!(MACHINES, "state" => label).set(count as f64);
    }
}

/// Compares two secrets in time independent of where they differ.
fn same_secret(given: &[u8], expected: &[u8]) -> bool {
    if given.len() != expected.len() {
        return false;
    }
    given
        .iter()
        .zip(expected)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0
}

/// The middleware that counts and times every request by method, matched route and status
/// class (see [`HTTP_REQUESTS`]). Apply it with `Router::layer` so the matched route is known.
pub async fn track_http(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(request.method());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let refused = RefusedRequest::of(&request);
    let response = next.run(request).await;
    refused.log(response.status());
    let status = status_class(response.status());
    let labels = [
        ("method", method.to_owned()),
        ("route", route),
        ("status", status.to_owned()),
    ];
    metrics::counter!(HTTP_REQUESTS, &labels).increment(1);
    metrics::histogram!(HTTP_SECONDS, &labels).record(started.elapsed().as_secs_f64());
    response
}

/// What a refused request is logged with: method, path (without the query, where a WebSocket
/// token rides; at most 200 characters) and the client's address. The path is cut only when a
/// refusal is logged.
struct RefusedRequest {
    method: Method,
    uri: axum::http::Uri,
    address: Option<std::net::IpAddr>,
}

impl RefusedRequest {
    fn of(request: &Request) -> Self {
        Self {
            method: request.method().clone(),
            uri: request.uri().clone(),
            address: request
                .extensions()
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|c| c.0.ip()),
        }
    }

    /// Logs a 403 at WARN and a 401 at INFO under the `security` target (others not at all).
    fn log(&self, status: StatusCode) {
        if status != StatusCode::FORBIDDEN && status != StatusCode::UNAUTHORIZED {
            return;
        }
        let address = self.address.map(|a| a.to_string()).unwrap_or_default();
        let path: String = self.uri.path().chars().take(200).collect();
        match status {
            StatusCode::FORBIDDEN => tracing::warn!(target: "security", method = %self.method,
                ?path, %address, "request forbidden"),
            StatusCode::UNAUTHORIZED => tracing::info!(target: "security", method = %self.method,
                ?path, %address, "request unauthenticated"),
            _ => {}
        }
    }
}

/// The `method` label: the standard methods by name, anything else `other` (bounded).
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

fn status_class(status: StatusCode) -> &'static str {
    match status.as_u16() {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// Counts scans stored outside the engine's queue (the API's manual scans, the importers).
pub fn count_ingested(source: &'static str, inserted: usize, duplicates: usize) {
    metrics::counter!(SCANS_INGESTED, "source" => source).increment(inserted as u64);
    metrics::counter!(attendance_adapters::telemetry::SCAN_DUPLICATES, "source" => source)
        .increment(duplicates as u64);
}

/// The OpenAPI of the operator routes.
#[derive(Debug, utoipa::OpenApi)]
#[openapi(
    paths(healthz, readyz, metrics_text),
    components(schemas(Health, Readiness, Checks))
)]
pub struct OpsDoc;

/// `attendance-server backup FILE`: a consistent copy of the SQLite database of `config` into
/// the new `file`, taken while a server may be running on it
/// ([`SqliteStore::backup_to`](attendance_store_sqlite::SqliteStore::backup_to): one read
/// snapshot, writers not held back). Refuses an existing `file`, a database that does not
/// exist, the in-memory store, and PostgreSQL (whose tool is `pg_dump`).
pub async fn backup(config: &crate::config::Config, file: &std::path::Path) -> anyhow::Result<()> {
    use anyhow::{Context, bail};
    use attendance_store_sqlite::{SqliteOptions, SqliteStore};

    let source = match config.database_url.as_deref().map(str::trim) {
        None => config
            .data_dir
            .join("attendance.sqlite")
            .display()
            .to_string(),
        Some(url) if url.starts_with("sqlite:") => url.to_owned(),
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => bail!(
            "--database-url {}: `backup` copies SQLite databases; for PostgreSQL use pg_dump \
             (e.g. `pg_dump --format=custom --file=attendance.dump DATABASE_URL`), which takes a \
             consistent snapshot while the server runs",
            crate::config::redact_url(url)
        ),
        Some(url) if url.starts_with("mem") => {
            bail!("--database-url {url}: the in-memory store keeps nothing to back up")
        }
        Some(url) => bail!(
            "--database-url {}: unsupported; use sqlite:PATH or the data directory's database",
            crate::config::redact_url(url)
        ),
    };
    if file.exists() {
        bail!(
            "{} exists already: a backup never overwrites a file; choose a new name",
            file.display()
        );
    }
    if config.database_url.is_none() && !std::path::Path::new(&source).exists() {
        bail!("{source}: no database there (is --data-dir the server's data directory?)");
    }
    let store = SqliteStore::open(
        &source,
        SqliteOptions {
            create_if_missing: false,
            read_connections: 1,
            ..SqliteOptions::default()
        },
    )
    .await
    .with_context(|| format!("opening the SQLite database {source}"))?;
    let started = Instant::now();
    let copied = store.backup_to(file).await;
    store.close().await;
    copied.with_context(|| format!("backing up {source} to {}", file.display()))?;
    let bytes = std::fs::metadata(file).map(|m| m.len()).unwrap_or(0);
    tracing::info!(from = %source, to = %file.display(), bytes, "database backed up");
    crate::tools::say(&format!(
        "backed up {source} to {} ({bytes} bytes, {:.1} s)\n",
        file.display(),
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_bounded() {
        assert_eq!(status_class(StatusCode::OK), "2xx");
        assert_eq!(status_class(StatusCode::NOT_FOUND), "4xx");
        assert_eq!(status_class(StatusCode::SERVICE_UNAVAILABLE), "5xx");
        assert_eq!(status_class(StatusCode::SWITCHING_PROTOCOLS), "1xx");
        assert_eq!(method_label(&Method::GET), "GET");
        let odd = Method::from_bytes(b"BREW").unwrap();
        assert_eq!(method_label(&odd), "other");
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abd", b"abc"));
        assert!(!same_secret(b"ab", b"abc"));
        assert!(!same_secret(b"", b"abc"));
    }
}
