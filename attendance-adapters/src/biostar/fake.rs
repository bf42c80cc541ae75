//! A fake BioStar 2 server (feature `fakes`): axum on 127.0.0.1 with `POST /api/login` (the
//! `bs-session-id` header, wrong credentials refused) and `POST /api/events/search` (a session
//! required; conditions on `datetime`, `event_type_id.code`, `device_id.id`, `id` and
//! `user_id.user_id` with the documented operators; ordered by `datetime` or `id`; `limit`), and
//! faults: an expired session (401 once), a dropped connection, garbage, a stall.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::{DateTime, TimeDelta, Utc};
use tokio::task::JoinHandle;

use super::codec::{
    ApiResponse, Condition, DeviceRef, EventCollection, EventRow, EventType, LoginRequest,
    SESSION_HEADER, SearchRequest, SearchResponse, UserRef, encode_search_response,
    format_datetime, operator, parse_datetime,
};

/// A failure the fake server injects on purpose (on searches).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BioStarFault {
    /// Forget every session: the next search gets 401 (once; a new login works).
    ExpireSession,
    /// Start a 200 reply and cut the connection mid-body.
    Drop,
    /// Answer 200 with bytes that are not JSON.
    Garbage,
    /// Answer only after [`FakeBioStarConfig::stall`].
    Stall,
}

/// The fake server's data and behaviour.
#[derive(Debug, Clone)]
pub struct FakeBioStarConfig {
    /// The login id.
    pub login_id: String,
    /// Its password.
    pub password: String,
    /// Events on the server.
    pub events: usize,
    /// Time of the first event (UTC); events come in pairs sharing one second, a minute apart.
    pub first: DateTime<Utc>,
    /// The device id of every event.
    pub device_id: String,
    /// How long [`BioStarFault::Stall`] waits.
    pub stall: Duration,
}

impl Default for FakeBioStarConfig {
    fn default() -> Self {
        Self {
            login_id: "admin".into(),
            password: "qwer1234".into(),
            events: 60,
            first: DateTime::from_timestamp(1_767_580_200, 0).unwrap_or_default(),
            device_id: "541531029".into(),
            stall: Duration::from_secs(30),
        }
    }
}

/// Event codes the generated events cycle through: finger 1:N, face 1:N, ID + finger 1:1,
/// card 1:1, access denied (not a punch).
pub const CODE_CYCLE: [u32; 5] = [4865, 4867, 4098, 4102, 6401];

impl FakeBioStarConfig {
    /// Event number `k`: id `k + 1`, user `1001 + k % 5`, code from [`CODE_CYCLE`], at
    /// `first + (k / 2)` minutes (so events `2j` and `2j + 1` share their second).
    pub fn event(&self, k: usize) -> EventRow {
        let at = self.first + TimeDelta::minutes((k / 2) as i64);
        let user = format!("{}", 1001 + k % 5);
        EventRow {
            id: (k + 1).to_string(),
            datetime: at.format("%Y-%m-%dT%H:%M:%S.00Z").to_string(),
            server_datetime: Some(format_datetime(at + TimeDelta::seconds(5))),
            index: Some((5000 + k).to_string()),
            user_id: Some(UserRef {
                user_id: user.clone(),
                name: Some(format!("User {user}")),
            }),
            device_id: Some(DeviceRef {
                id: self.device_id.clone(),
                name: Some(format!("BioStation 2 {}", self.device_id)),
            }),
            event_type_id: EventType {
                code: CODE_CYCLE[k % CODE_CYCLE.len()].to_string(),
            },
            tna_key: None,
        }
    }

    /// Every event.
    pub fn all_events(&self) -> Vec<EventRow> {
        (0..self.events).map(|k| self.event(k)).collect()
    }
}

#[derive(Debug, Default)]
struct Mutable {
    sessions: HashSet<String>,
    fault: Option<BioStarFault>,
    logins: u32,
    searches: u32,
    next_session: u64,
}

#[derive(Debug)]
struct FakeState {
    config: FakeBioStarConfig,
    events: Vec<EventRow>,
    mutable: Mutex<Mutable>,
}

impl FakeState {
    fn lock(&self) -> MutexGuard<'_, Mutable> {
        self.mutable
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A running fake BioStar server.
#[derive(Debug)]
pub struct FakeBioStarHandle {
    addr: SocketAddr,
    state: Arc<FakeState>,
    task: JoinHandle<()>,
}

impl FakeBioStarHandle {
    /// Where it listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Switches the injected failure ([`BioStarFault::ExpireSession`] also drops the sessions
    /// at once).
    pub fn set_fault(&self, fault: Option<BioStarFault>) {
        let mut m = self.state.lock();
        if fault == Some(BioStarFault::ExpireSession) {
            m.sessions.clear();
            m.fault = None;
        } else {
            m.fault = fault;
        }
    }

    /// Logins accepted so far.
    pub fn logins(&self) -> u32 {
        self.state.lock().logins
    }

    /// Searches answered so far.
    pub fn searches(&self) -> u32 {
        self.state.lock().searches
    }

    /// Stops the server (connections in flight are abandoned).
    pub fn shutdown(self) {
        self.task.abort();
    }
}

/// Starts a fake BioStar server on 127.0.0.1:`port` (0 for any).
pub async fn spawn(config: FakeBioStarConfig, port: u16) -> std::io::Result<FakeBioStarHandle> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    let state = Arc::new(FakeState {
        events: config.all_events(),
        config,
        mutable: Mutex::new(Mutable::default()),
    });
    let app = Router::new()
        .route("/api/login", post(login))
        .route("/api/events/search", post(search))
        .with_state(state.clone());
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::warn!(error = %e, "fake BioStar server stopped");
        }
    });
    Ok(FakeBioStarHandle { addr, state, task })
}

fn json(status: StatusCode, body: Vec<u8>) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json;charset=UTF-8"),
    );
    response
}

fn refusal(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::json!({"Response": {"code": code, "message": message}});
    json(status, body.to_string().into_bytes())
}

async fn login(State(state): State<Arc<FakeState>>, body: Bytes) -> Response {
    let Ok(request) = serde_json::from_slice::<LoginRequest>(&body) else {
        return refusal(StatusCode::BAD_REQUEST, "1", "Bad request");
    };
    if request.user.login_id != state.config.login_id
        || request.user.password != state.config.password
    {
        return refusal(StatusCode::UNAUTHORIZED, "10", "Login failed");
    }
    let session = {
        let mut m = state.lock();
        m.logins += 1;
        m.next_session += 1;
        let session = format!("{:032x}", 0x7f3c_2a9e_u64 * 1_000_003 + m.next_session);
        m.sessions.insert(session.clone());
        session
    };
    let body = serde_json::json!({
        "User": {"user_id": "1", "name": "Administrator", "login_id": request.user.login_id},
        "Response": {"code": "0", "message": "Success"}
    });
    let mut response = json(StatusCode::OK, body.to_string().into_bytes());
    if let Ok(v) = HeaderValue::from_str(&session) {
        response.headers_mut().insert(SESSION_HEADER, v.clone());
        if let Ok(cookie) = HeaderValue::from_str(&format!("bs-session-id={session}; Path=/")) {
            response.headers_mut().insert(header::SET_COOKIE, cookie);
        }
    }
    response
}

fn holds(row: &EventRow, condition: &Condition) -> bool {
    let field: Option<String> = match condition.column.as_str() {
        "datetime" => Some(row.datetime.clone()),
        "event_type_id.code" => Some(row.event_type_id.code.clone()),
        "device_id.id" => row.device_id.as_ref().map(|d| d.id.clone()),
        "user_id.user_id" => row.user_id.as_ref().map(|u| u.user_id.clone()),
        "id" => Some(row.id.clone()),
        _ => return true,
    };
    let Some(field) = field else { return false };
    // Datetimes compare as instants, ids and codes as numbers, the rest as text.
    let key = |v: &str| -> (i128, String) {
        if condition.column == "datetime" {
            (
                parse_datetime(v).map_or(i128::MIN, |t| i128::from(t.timestamp_millis())),
                String::new(),
            )
        } else {
            (v.trim().parse::<i128>().unwrap_or(i128::MIN), v.to_owned())
        }
    };
    let value = key(&field);
    let values: Vec<(i128, String)> = condition.values.iter().map(|v| key(v)).collect();
    match condition.operator {
        operator::EQUAL => values.first() == Some(&value),
        operator::NOT_EQUAL => values.first() != Some(&value),
        operator::CONTAINS => values.contains(&value),
        operator::BETWEEN => match values.as_slice() {
            [from, to] => from.0 <= value.0 && value.0 <= to.0,
            _ => false,
        },
        operator::LIKE => condition
            .values
            .iter()
            .any(|v| field.contains(v.trim_matches('%'))),
        operator::GREATER => values.first().is_some_and(|v| value.0 > v.0),
        operator::LESS => values.first().is_some_and(|v| value.0 < v.0),
        _ => false,
    }
}

async fn search(State(state): State<Arc<FakeState>>, headers: HeaderMap, body: Bytes) -> Response {
    let session = headers
        .get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let fault = {
        let mut m = state.lock();
        if !m.sessions.contains(&session) {
            return refusal(StatusCode::UNAUTHORIZED, "20", "Login required.");
        }
        m.searches += 1;
        m.fault
    };
    match fault {
        Some(BioStarFault::Drop) => {
            let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
                Ok(Bytes::from_static(b"{\"EventCollection\": {\"rows\": [")),
                Err(std::io::Error::other(
                    "connection dropped by the fake server",
                )),
            ];
            return (
                StatusCode::OK,
                Body::from_stream(futures::stream::iter(chunks)),
            )
                .into_response();
        }
        Some(BioStarFault::Garbage) => {
            return json(StatusCode::OK, b"<html>Tomcat error \xff\x00".to_vec());
        }
        Some(BioStarFault::Stall) => tokio::time::sleep(state.config.stall).await,
        Some(BioStarFault::ExpireSession) | None => {}
    }
    let Ok(request) = serde_json::from_slice::<SearchRequest>(&body) else {
        return refusal(StatusCode::BAD_REQUEST, "1", "Bad query");
    };
    let query = request.query;
    let mut rows: Vec<&EventRow> = state
        .events
        .iter()
        .filter(|row| query.conditions.iter().all(|c| holds(row, c)))
        .collect();
    if let Some(order) = query.orders.first() {
        let by_id = order.column == "id";
        rows.sort_by_key(|r| {
            let t = parse_datetime(&r.datetime).map_or(i64::MIN, |t| t.timestamp_millis());
            let id = r.id.parse::<i64>().unwrap_or_default();
            if by_id { (id, t) } else { (t, id) }
        });
        if order.descending {
            rows.reverse();
        }
    }
    let rows: Vec<EventRow> = rows
        .into_iter()
        .take(query.limit as usize)
        .cloned()
        .collect();
    let response = SearchResponse {
        collection: EventCollection { rows },
        response: Some(ApiResponse {
            code: "0".into(),
            message: "Success".into(),
        }),
    };
    json(StatusCode::OK, encode_search_response(&response))
}
