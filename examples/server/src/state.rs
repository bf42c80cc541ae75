//! What every handler shares.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use attendance_adapters::engine::EngineHandle;
use attendance_core::service::AttendanceService;
use attendance_core::store::Store;

use crate::accounts::Accounts;
use crate::auth::TokenKeys;
use crate::runtime::MachineRuntime;
use crate::summary_cache::{CacheLimits, SummaryCache};
use crate::ws::Realtime;

/// The application state: the store, the use cases, the engine and the token keys.
#[derive(Clone)]
pub struct AppState {
    /// The store (SQLite, PostgreSQL or a host's own).
    pub store: Arc<dyn Store>,
    /// The use cases over the store (the engine's: every change they store is published).
    pub service: AttendanceService,
    /// The real-time engine: its queue takes scans, its bus carries events.
    pub engine: Arc<EngineHandle>,
    /// Token signing.
    pub tokens: Arc<TokenKeys>,
    /// Login attempts per username.
    pub login_limiter: Arc<RateLimiter>,
    /// The machine runtime, when this server reads machines (`None`: machines are only stored).
    pub machines: Option<Arc<MachineRuntime>>,
    /// The WebSocket side: connected clients, the shutdown and revocation signals.
    pub realtime: Arc<Realtime>,
    /// The account use cases (their mutex serialises account changes in this server).
    pub accounts: Accounts,
    /// The daily summary's answers kept in memory, dropped by the engine's events and by every
    /// write of the API (see [`crate::summary_cache`]).
    pub summaries: Arc<SummaryCache>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}

impl AppState {
    /// State over `store` with an engine already started (over the same store) and `tokens`.
    /// The handlers write through the engine's service, so every change is published.
    pub fn new(store: Arc<dyn Store>, engine: Arc<EngineHandle>, tokens: TokenKeys) -> Self {
        Self {
            service: engine.service().clone(),
            summaries: Arc::new(SummaryCache::new(
                engine.subscribe(),
                CacheLimits::default(),
            )),
            accounts: Accounts::new(store.clone()),
            store,
            engine,
            tokens: Arc::new(tokens),
            login_limiter: Arc::new(RateLimiter::new(10, Duration::from_secs(60))),
            machines: None,
            realtime: Arc::new(Realtime::default()),
        }
    }

    /// The same state reading machines through `runtime`.
    pub fn with_machines(mut self, runtime: Arc<MachineRuntime>) -> Self {
        self.machines = Some(runtime);
        self
    }
}

/// A fixed-window limiter: at most `limit` events per key per `window`.
#[derive(Debug)]
pub struct RateLimiter {
    limit: u32,
    window: Duration,
    seen: Mutex<HashMap<String, (Instant, u32)>>,
}

impl RateLimiter {
    /// A limiter of `limit` per `window`.
    pub fn new(limit: u32, window: Duration) -> Self {
        Self {
            limit,
            window,
            seen: Mutex::new(HashMap::new()),
        }
    }

    /// Counts an event for `key`; false once the key is over its limit in this window.
    pub fn allow(&self, key: &str) -> bool {
        let mut seen = match self.seen.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let now = Instant::now();
        if seen.len() > 100_000 {
            seen.retain(|_, (start, _)| now.duration_since(*start) < self.window);
        }
        let entry = seen.entry(key.to_owned()).or_insert((now, 0));
        if now.duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        entry.1 += 1;
        entry.1 <= self.limit
    }
}
