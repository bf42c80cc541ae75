//! The WebSocket at `/ws`: the engine's events as JSON text frames `{"type", "data"}`, each
//! filtered for the client by core's access policy.
//!
//! - Authentication: the login token as `?token=…` (browsers cannot set headers on a WebSocket;
//!   `Authorization: Bearer` works too). Without a valid token the upgrade is refused with 401
//!   in the error envelope.
//! - Filtering: an event is sent only if `authorize(actor, ReceiveEvent, audience)` allows it; an
//!   event about one employee reaches that employee, their department head and HR / admins;
//!   a site-wide event (machines, errors, system status) only HR staff and super admins.
//! - A client too slow for the bus misses events; it then gets one
//!   `{"type": "error_occurred", "data": {"source": "websocket", "kind": "lagged", …}}` note
//!   saying how many, and stays connected.
//! - Pings from the client are answered (by the WebSocket layer); the server pings every
//!   [`PING_EVERY`] and closes a connection silent for [`SILENCE_LIMIT`]. A text frame
//!   `{"type": "ping"}` is answered `{"type": "pong"}` for clients that cannot send pings.
//! - At shutdown every connection gets a close frame (1001, going away); when the token expires,
//!   a close frame 1008 (policy) asks the client to log in again.
//! - Revocation: when an account is deactivated, or its password, role or linked employee changes
//!   through the API, every WebSocket of that account gets a close frame 1008 with the reason
//!   `token revoked` at once ([`Realtime::revoke`]). A change made by another process (the
//!   command line, another server on the same database) is noticed by each connection re-reading
//!   its account every [`ACCOUNT_CHECK_EVERY`], so such a socket closes within that time.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use attendance_adapters::engine::Published;
use attendance_core::access::{Action, Actor, authorize};
use axum::Router;
use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use axum::routing::get;
use chrono::Utc;
use serde_json::json;
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;

use crate::auth::{AuthUser, WsUser, bearer_token, revoked_reason};
use crate::error::ApiError;
use crate::state::AppState;

/// How often the server pings each client.
pub const PING_EVERY: Duration = Duration::from_secs(30);
/// The longest a single frame may wait for the client to take it.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a client may stay silent (no frame, no pong) before it is closed.
pub const SILENCE_LIMIT: Duration = Duration::from_secs(90);
/// How often each connection re-reads its account, to notice a revocation made by another
/// process (changes made through this server's API close the sockets at once).
pub const ACCOUNT_CHECK_EVERY: Duration = Duration::from_secs(5);

/// The reason of the close frame (code 1008) a connection gets when its token is revoked.
pub const REVOKED_REASON: &str = "token revoked: log in again";

/// The WebSocket side of the state: the clients connected and the shutdown signal.
#[derive(Debug)]
pub struct Realtime {
    clients: AtomicUsize,
    // `true` once the server shuts down: every connection closes.
    shutdown: watch::Sender<bool>,
    // Usernames whose tokens were just revoked: their connections close.
    revoked: broadcast::Sender<String>,
    started: std::time::Instant,
}

impl Default for Realtime {
    fn default() -> Self {
        Self {
            clients: AtomicUsize::new(0),
            shutdown: watch::channel(false).0,
            revoked: broadcast::channel(256).0,
            started: std::time::Instant::now(),
        }
    }
}

impl Realtime {
    /// WebSocket clients connected now.
    pub fn clients(&self) -> usize {
        self.clients.load(Ordering::Relaxed)
    }

    /// Closes every WebSocket (and refuses none: new ones close at once).
    pub fn shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    /// Closes every WebSocket of `username` at once (close code 1008, reason `token revoked`):
    /// its tokens were revoked.
    pub fn revoke(&self, username: &str) {
        // No receiver means no connection at all: nothing to close.
        let _ = self.revoked.send(username.to_owned());
    }

    /// Seconds since the state was built (the server's uptime).
    pub fn uptime_seconds(&self) -> u64 {
        self.started.elapsed().as_secs()
    }
}

/// Counts a connection while it lives.
struct ClientGuard<'a>(&'a Realtime);

impl<'a> ClientGuard<'a> {
    fn new(realtime: &'a Realtime) -> Self {
        realtime.clients.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(crate::ops::WS_CONNECTIONS).increment(1);
        Self(realtime)
    }
}

impl Drop for ClientGuard<'_> {
    fn drop(&mut self) {
        self.0.clients.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The WebSocket routes of the main server: `/ws`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/ws", get(upgrade))
        .route("/ws/", get(upgrade))
}

/// A router with only the WebSocket, at `/` and `/ws`, for a dedicated port (`--ws-port`).
pub fn ws_only_app(state: AppState) -> Router {
    Router::new()
        .route("/", get(upgrade))
        .merge(routes())
        .fallback(crate::error::no_route)
        .with_state(state)
}

/// `GET /ws?token=…`: upgrades to the event stream (401 without a valid token, 400 when the
/// request is not a WebSocket upgrade).
async fn upgrade(
    State(state): State<AppState>,
    WsUser(user): WsUser,
    headers: HeaderMap,
    uri: Uri,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let ws = ws.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let expires = token_expiry(&state, &headers, &uri)?;
    // Subscribe before the upgrade answers, so a revocation from now on is not missed.
    let revoked = state.realtime.revoked.subscribe();
    tracing::debug!(user = %user.username, "websocket connected");
    Ok(ws.on_upgrade(move |socket| serve_client(socket, state, user, expires, revoked)))
}

/// When the connection's token expires, as an instant of the tokio clock.
fn token_expiry(state: &AppState, headers: &HeaderMap, uri: &Uri) -> Result<Instant, ApiError> {
    let token =
        bearer_token(headers, uri).ok_or_else(|| ApiError::unauthorized("missing token"))?;
    let claims = state.tokens.verify(&token)?;
    let left = u64::try_from(claims.exp.saturating_sub(Utc::now().timestamp())).unwrap_or(0);
    Ok(Instant::now() + Duration::from_secs(left))
}

/// Whether `actor` may receive `published`.
pub fn may_receive(actor: &Actor, published: &Published) -> bool {
    authorize(actor, Action::ReceiveEvent, published.audience.as_ref()).is_ok()
}

fn lagged_note(missed: u64) -> String {
    json!({
        "type": "error_occurred",
        "data": {
            "source": "websocket",
            "kind": "lagged",
            "message": format!("this connection was too slow and missed {missed} events; reload the data you show"),
        }
    })
    .to_string()
}

/// Sends one frame, giving up after [`SEND_TIMEOUT`] (a client that takes nothing for that long
/// is gone or stuck; its connection ends).
async fn send(socket: &mut WebSocket, message: Message) -> Result<(), ()> {
    match tokio::time::timeout(SEND_TIMEOUT, socket.send(message)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(_)) | Err(_) => Err(()),
    }
}

/// Whether `user`'s token was revoked, by re-reading the account; a store that fails says no
/// (the next check tries again).
async fn is_revoked(state: &AppState, user: &AuthUser) -> bool {
    match revoked_reason(state, &user.username, user.token_version).await {
        Ok(reason) => reason.is_some(),
        Err(e) => {
            tracing::warn!(user = %user.username, error = e.message, "websocket account check failed");
            false
        }
    }
}

async fn serve_client(
    mut socket: WebSocket,
    state: AppState,
    user: AuthUser,
    expires: Instant,
    mut revoked: broadcast::Receiver<String>,
) {
    let _guard = ClientGuard::new(&state.realtime);
    let mut events = state.engine.subscribe();
    let mut shutdown = state.realtime.shutdown.subscribe();
    let mut ping = tokio::time::interval_at(Instant::now() + PING_EVERY, PING_EVERY);
    let mut account_check =
        tokio::time::interval_at(Instant::now() + ACCOUNT_CHECK_EVERY, ACCOUNT_CHECK_EVERY);
    let mut last_heard = Instant::now();
    let close = |code, reason: &'static str| {
        Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        }))
    };
    if *shutdown.borrow_and_update() {
        let _ = send(&mut socket, close(close_code::AWAY, "server shutting down")).await;
        return;
    }
    // A revocation between the token check and the subscription is caught here.
    if is_revoked(&state, &user).await {
        let _ = send(&mut socket, close(close_code::POLICY, REVOKED_REASON)).await;
        return;
    }
    loop {
        tokio::select! {
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    let _ = send(&mut socket, close(close_code::AWAY, "server shutting down")).await;
                    break;
                }
            }
            received = events.recv() => {
                let text = match received {
                    Ok(published) => {
                        if !may_receive(&user.actor, &published) {
                            continue;
                        }
                        // Serialised once per event, whoever asks first.
                        match published.json() {
                            Some(text) => String::from(&*text),
                            None => continue,
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::warn!(user = %user.username, missed, "websocket client lagged");
                        lagged_note(missed)
                    }
                    Err(broadcast::error::RecvError::Closed) => {
                        let _ = send(&mut socket, close(close_code::AWAY, "server shutting down")).await;
                        break;
                    }
                };
                if send(&mut socket, Message::Text(text.into())).await.is_err() {
                    break;
                }
            }
            signal = revoked.recv() => {
                let close_now = match signal {
                    Ok(username) => username == user.username,
                    // Missed signals: read the account to know.
                    Err(broadcast::error::RecvError::Lagged(_)) => is_revoked(&state, &user).await,
                    // The state (which holds the sender) outlives every connection; should it
                    // not, nothing could revoke any more: close rather than spin.
                    Err(broadcast::error::RecvError::Closed) => true,
                };
                if close_now {
                    tracing::debug!(user = %user.username, "websocket closed: token revoked");
                    let _ = send(&mut socket, close(close_code::POLICY, REVOKED_REASON)).await;
                    break;
                }
            }
            _ = account_check.tick() => {
                if is_revoked(&state, &user).await {
                    tracing::debug!(user = %user.username, "websocket closed: token revoked");
                    let _ = send(&mut socket, close(close_code::POLICY, REVOKED_REASON)).await;
                    break;
                }
            }
            () = tokio::time::sleep_until(expires) => {
                let _ = send(&mut socket, close(close_code::POLICY, "token expired: log in again")).await;
                break;
            }
            _ = ping.tick() => {
                if last_heard.elapsed() > SILENCE_LIMIT {
                    let _ = send(&mut socket, close(close_code::POLICY, "no answer to pings")).await;
                    break;
                }
                if send(&mut socket, Message::Ping(Vec::new().into())).await.is_err() {
                    break;
                }
            }
            incoming = socket.recv() => {
                let Some(Ok(message)) = incoming else { break };
                last_heard = Instant::now();
                match message {
                    Message::Text(text) => {
                        let is_ping = serde_json::from_str::<serde_json::Value>(text.as_str())
                            .ok()
                            .is_some_and(|v| v["type"] == "ping");
                        let pong = Message::Text(json!({"type": "pong"}).to_string().into());
                        if is_ping && send(&mut socket, pong).await.is_err() {
                            break;
                        }
                    }
                    Message::Close(_) => break,
                    // Pings are answered by the WebSocket layer; pongs and binary frames only
                    // show the client is alive.
                    Message::Ping(_) | Message::Pong(_) | Message::Binary(_) => {}
                }
            }
        }
    }
    tracing::debug!(user = %user.username, "websocket closed");
}
