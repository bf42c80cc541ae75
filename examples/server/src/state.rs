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
    /// Password checks of a logged-in user (changing their own password), per username.
    pub login_limiter: Arc<RateLimiter>,
    /// Failed logins per (client address, username) and per client address.
    pub login_guard: Arc<LoginGuard>,
    /// The machine runtime, when this server reads machines (`None`: machines are only stored).
    pub machines: Option<Arc<MachineRuntime>>,
    /// The WebSocket side: connected clients, the shutdown and revocation signals.
    pub realtime: Arc<Realtime>,
    /// The account use cases (their mutex serialises account changes in this server).
    pub accounts: Accounts,
    /// The bearer token `GET /metrics` requires; `None`: the metrics are open (see
    /// [`crate::ops`]).
    pub metrics_token: Option<Arc<str>>,
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
            login_guard: Arc::new(LoginGuard::default()),
            machines: None,
            realtime: Arc::new(Realtime::default()),
            metrics_token: None,
        }
    }

    /// The same state with `GET /metrics` requiring `Authorization: Bearer <token>`.
    pub fn with_metrics_token(mut self, token: Option<String>) -> Self {
        self.metrics_token = token.map(Arc::from);
        self
    }

    /// The same state reading machines through `runtime`.
    pub fn with_machines(mut self, runtime: Arc<MachineRuntime>) -> Self {
        self.machines = Some(runtime);
        self
    }
}

/// A fixed-window limiter: at most `limit` events per key per `window`. It keeps at most
/// [`RateLimiter::MAX_KEYS`] keys: past that, the expired ones go, and if every key is still
/// live the oldest window goes, so no caller can grow it without bound.
#[derive(Debug)]
pub struct RateLimiter {
    limit: u32,
    window: Duration,
    seen: Mutex<HashMap<String, (Instant, u32)>>,
}

impl RateLimiter {
    /// The most keys kept.
    pub const MAX_KEYS: usize = 100_000;

    /// A limiter of `limit` per `window`.
    pub fn new(limit: u32, window: Duration) -> Self {
        Self {
            limit,
            window,
            seen: Mutex::new(HashMap::new()),
        }
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, u32)>> {
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Counts an event for `key`; false once the key is over its limit in this window.
    pub fn allow(&self, key: &str) -> bool {
        self.count(key) <= self.limit
    }

    /// Whether `key` is still under its limit in this window, without counting an event.
    pub fn under_limit(&self, key: &str) -> bool {
        let now = Instant::now();
        self.seen()
            .get(key)
            .is_none_or(|(start, n)| now.duration_since(*start) >= self.window || *n < self.limit)
    }

    /// Counts an event for `key` and returns the count in this window.
    pub fn count(&self, key: &str) -> u32 {
        let mut seen = self.seen();
        let now = Instant::now();
        if seen.len() >= Self::MAX_KEYS && !seen.contains_key(key) {
            seen.retain(|_, (start, _)| now.duration_since(*start) < self.window);
            if seen.len() >= Self::MAX_KEYS {
                let oldest = seen
                    .iter()
                    .min_by_key(|(_, (start, _))| *start)
                    .map(|(k, _)| k.clone());
                if let Some(oldest) = oldest {
                    seen.remove(&oldest);
                }
            }
        }
        let entry = seen.entry(key.to_owned()).or_insert((now, 0));
        if now.duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
        entry.1
    }

    /// How many keys it holds now.
    pub fn keys(&self) -> usize {
        self.seen().len()
    }
}

/// The login limits. Only failed logins count (a user logging in often is never limited):
/// - per (client address, username): [`LoginGuard::PER_USER`] a minute, so a stranger who
///   knows a username locks out only their own address, never the user's;
/// - per client address, over every username: [`LoginGuard::PER_ADDRESS`] a minute, so one
///   address cannot try many accounts.
///
/// The username part of a key is at most [`crate::auth::MAX_USERNAME_CHARS`] characters (longer
/// ones are refused before the limiter), and each limiter holds a bounded number of keys.
#[derive(Debug)]
pub struct LoginGuard {
    per_user: RateLimiter,
    per_address: RateLimiter,
}

impl Default for LoginGuard {
    fn default() -> Self {
        Self::new(Duration::from_secs(60))
    }
}

impl LoginGuard {
    /// Failed logins a minute per (address, username).
    pub const PER_USER: u32 = 10;
    /// Failed logins a minute per address.
    pub const PER_ADDRESS: u32 = 30;

    /// The limits over `window`.
    pub fn new(window: Duration) -> Self {
        Self {
            per_user: RateLimiter::new(Self::PER_USER, window),
            per_address: RateLimiter::new(Self::PER_ADDRESS, window),
        }
    }

    fn pair(address: &str, username: &str) -> String {
        format!("{address} {username}")
    }

    /// Whether a login of `username` from `address` may be tried now.
    pub fn may_try(&self, address: &str, username: &str) -> bool {
        self.per_address.under_limit(address)
            && self.per_user.under_limit(&Self::pair(address, username))
    }

    /// Counts a failed login of `username` from `address`.
    pub fn failed(&self, address: &str, username: &str) {
        self.per_address.count(address);
        self.per_user.count(&Self::pair(address, username));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limiter_never_holds_more_than_its_bound() {
        let limiter = RateLimiter::new(1, Duration::from_secs(60));
        for n in 0..RateLimiter::MAX_KEYS + 50 {
            limiter.count(&n.to_string());
        }
        assert_eq!(limiter.keys(), RateLimiter::MAX_KEYS);
    }

    #[test]
    fn only_failures_count_and_per_pair() {
        let guard = LoginGuard::default();
        for _ in 0..LoginGuard::PER_USER {
            assert!(guard.may_try("10.0.0.9", "hr"));
            guard.failed("10.0.0.9", "hr");
        }
        assert!(!guard.may_try("10.0.0.9", "hr"));
        assert!(
            guard.may_try("10.0.0.1", "hr"),
            "another address is not locked out"
        );
        assert!(guard.may_try("10.0.0.9", "admin"));
        for n in 0..LoginGuard::PER_ADDRESS {
            guard.failed("10.0.0.7", &format!("user{n}"));
        }
        assert!(!guard.may_try("10.0.0.7", "someone-else"));
    }
}
