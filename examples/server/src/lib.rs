//! # attendance-server
//!
//! The runnable product of the attendance platform: a REST + WebSocket server over
//! `attendance-core`'s rules and use cases, a store, and the device adapters with their
//! real-time engine, with a web app for people at `/` ([`web`]: a client of that same API).
//! [`app`] builds the router for a given [`AppState`], so tests (and host applications) can
//! drive it in process or on a real socket.
//!
//! ```no_run
//! use std::sync::Arc;
//! use attendance_adapters::engine::{Engine, EngineConfig};
//! use attendance_core::service::AttendanceService;
//! use attendance_core::store::memory::MemoryStore;
//! use attendance_server::{AppState, app, auth::TokenKeys};
//!
//! # async fn run() -> anyhow::Result<()> {
//! let store = Arc::new(MemoryStore::new());
//! let engine = Engine::start(AttendanceService::new(store.clone()), EngineConfig::default());
//! let tokens = TokenKeys::new(b"a secret of at least thirty-two bytes", std::time::Duration::from_secs(3600));
//! let state = AppState::new(store, Arc::new(engine), tokens);
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! axum::serve(listener, app(state)).await?;
//! # Ok(()) }
//! ```

pub mod accounts;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod config;
pub mod demo;
pub mod employee_import;
pub mod error;
pub mod export;
pub mod file_tools;
pub mod ops;
pub mod pagination;
pub mod reports;
pub mod routes;
pub mod runtime;
pub mod scan_import;
pub mod serve;
pub mod state;
pub mod summary_cache;
pub mod tools;
pub mod web;
pub mod ws;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use tower_http::trace::TraceLayer;

pub use state::AppState;

/// The largest request body accepted (bulk imports included), in bytes.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// The tracing span of a request: its method and path, never its query (a WebSocket's token
/// rides in it).
fn request_span<B>(request: &axum::http::Request<B>) -> tracing::Span {
    tracing::debug_span!("request", method = %request.method(), path = %request.uri().path())
}

/// The whole application for `state`: every route (with the push routes of the ADMS
/// `/iclock/…` and Hikvision `/hikvision/events/{machine}` devices when the state reads
/// machines, the operator's `/healthz`, `/readyz` and `/metrics` of [`ops`]), the web app at
/// `/` (see [`web`]), the error envelope for unknown routes, body limits, request metrics and
/// request tracing.
pub fn app(state: AppState) -> Router {
    build(state, true)
}

/// [`app`] without the device push routes: what the API's address serves when the pushes have
/// their own (`--iclock-bind`, see [`push_app`]).
pub fn api_app(state: AppState) -> Router {
    build(state, false)
}

/// The device push routes alone (ADMS `/iclock/…`, Hikvision `/hikvision/…`; none when the state
/// reads no machines), with the error envelope for unknown routes, body limits, request metrics
/// and request tracing: what `--iclock-bind` serves.
pub fn push_app(state: AppState) -> Router {
    let mut router = Router::new();
    if let Some(runtime) = &state.machines {
        router = router.merge(runtime.push_router());
    }
    finish(router, state)
}

fn build(state: AppState, with_push: bool) -> Router {
    // Every write of the API drops the kept summaries (the device push routes publish events
    // instead, which drop the dates they change).
    let mut router = routes::api()
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            summary_cache::forget_on_write,
        ))
        .merge(ops::routes())
        .merge(web::routes());
    if with_push && let Some(runtime) = &state.machines {
        router = router.merge(runtime.push_router());
    }
    finish(router, state)
}

fn finish(router: Router<AppState>, state: AppState) -> Router {
    router
        .fallback(error::no_route)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(ops::track_http))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .with_state(state)
}
