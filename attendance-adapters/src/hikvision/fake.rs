//! A fake Hikvision access-control terminal (feature `fakes`): an axum server on 127.0.0.1 that
//! enforces digest auth (the 401 challenge of the fixture, Basic refused), serves
//! `GET /ISAPI/System/status` and the paged `POST /ISAPI/AccessControl/AcsEvent?format=json`
//! (page size capped below what was asked, `MORE` / `OK` / `NO MATCH`, no `InfoList` when empty,
//! increasing `serialNo`, times with offset, the real headers), injects faults, and pushes events
//! the way DS-K1T323 firmware do (multipart whose body boundary differs in case from the header).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{NaiveDate, NaiveDateTime, TimeDelta};
use chrono_tz::Tz;
use tokio::task::JoinHandle;

use super::client::isapi_time;
use super::codec::{
    AcsEventInfo, AcsEventPage, AcsEventSearch, Part, PushEnvelope, PushedEvent, encode_acs_reply,
    encode_multipart, parse_time,
};
use super::digest::{Challenge, encode_challenge, verify};
use attendance_core::time::local_to_utc;

/// A failure the fake terminal injects on purpose (on event searches; status stays healthy
/// except under [`HikFault::RejectAuth`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HikFault {
    /// Start a 200 reply and cut the connection mid-body.
    Drop,
    /// Answer only after [`FakeHikConfig::stall`].
    Stall,
    /// Answer 200 with bytes that are not JSON.
    Garbage,
    /// Refuse every credential with 401.
    RejectAuth,
}

/// The fake terminal's data and behaviour.
#[derive(Debug, Clone)]
pub struct FakeHikConfig {
    /// The digest user.
    pub username: String,
    /// Its password.
    pub password: String,
    /// The digest realm.
    pub realm: String,
    /// The most rows a page holds, whatever was asked.
    pub page_cap: u32,
    /// Events on the terminal.
    pub events: usize,
    /// `serialNo` of the first event.
    pub first_serial: u64,
    /// Local time of the first event; event `k` is `k` minutes later.
    pub first_time: NaiveDateTime,
    /// The terminal's zone (its times carry this offset).
    pub time_zone: Tz,
    /// How long [`HikFault::Stall`] waits.
    pub stall: Duration,
    /// A failure to inject at start, if any.
    pub fault: Option<HikFault>,
}

impl Default for FakeHikConfig {
    fn default() -> Self {
        Self {
            username: "admin".into(),
            password: "hik12345".into(),
            realm: "DS-K1T341AM".into(),
            page_cap: 30,
            events: 100,
            first_serial: 1001,
            first_time: NaiveDate::from_ymd_opt(2026, 1, 5)
                .and_then(|d| d.and_hms_opt(8, 0, 0))
                .unwrap_or_default(),
            time_zone: chrono_tz::Asia::Kolkata,
            stall: Duration::from_secs(30),
            fault: None,
        }
    }
}

/// Minor codes the generated person events cycle through: fingerprint, face, card,
/// card + fingerprint.
const PERSON_CYCLE: [u32; 4] = [38, 75, 1, 40];

impl FakeHikConfig {
    /// Event number `k`: every fifth is a door event (minor 25, no person), the others person
    /// events of `1001 + k % 7` cycling fingerprint, face, card, card + fingerprint, alternating
    /// check-in and check-out.
    pub fn event(&self, k: usize) -> AcsEventInfo {
        let local = self.first_time + TimeDelta::minutes(k as i64);
        let time = isapi_time(local_to_utc(self.time_zone, local), self.time_zone);
        let serial_no = Some(self.first_serial + k as u64);
        if k % 5 == 4 {
            return AcsEventInfo {
                major: 5,
                minor: 25,
                time,
                employee_no_string: None,
                employee_no: None,
                card_no: None,
                name: None,
                serial_no,
                attendance_status: None,
                current_verify_mode: None,
            };
        }
        let person = format!("{}", 1001 + k % 7);
        let minor = PERSON_CYCLE[k % PERSON_CYCLE.len()];
        AcsEventInfo {
            major: 5,
            minor,
            time,
            card_no: (minor == 1).then(|| format!("CARD{person}")),
            name: Some(format!("User {person}")),
            employee_no_string: Some(person),
            employee_no: None,
            serial_no,
            attendance_status: Some(
                if k.is_multiple_of(2) {
                    "checkIn"
                } else {
                    "checkOut"
                }
                .into(),
            ),
            current_verify_mode: Some("cardOrFaceOrFp".into()),
        }
    }

    /// Every event on the terminal.
    pub fn all_events(&self) -> Vec<AcsEventInfo> {
        (0..self.events).map(|k| self.event(k)).collect()
    }

    /// Event `k` as a push envelope.
    pub fn push_envelope(&self, k: usize) -> PushEnvelope {
        let e = self.event(k);
        PushEnvelope {
            event_type: "AccessControllerEvent".into(),
            date_time: e.time.clone(),
            event: Some(PushedEvent {
                major: e.major,
                minor: e.minor,
                employee_no_string: e.employee_no_string,
                serial_no: e.serial_no,
                attendance_status: e.attendance_status,
                name: e.name,
            }),
        }
    }

    /// A heartbeat envelope.
    pub fn heartbeat(&self) -> PushEnvelope {
        PushEnvelope {
            event_type: "heartBeat".into(),
            date_time: isapi_time(
                local_to_utc(self.time_zone, self.first_time),
                self.time_zone,
            ),
            event: None,
        }
    }
}

#[derive(Debug)]
struct FakeState {
    config: FakeHikConfig,
    events: Vec<AcsEventInfo>,
    nonce: String,
    fault: Mutex<Option<HikFault>>,
    searches: Mutex<Vec<u32>>,
}

/// A running fake terminal.
#[derive(Debug)]
pub struct FakeHikHandle {
    addr: SocketAddr,
    state: Arc<FakeState>,
    task: JoinHandle<()>,
}

impl FakeHikHandle {
    /// Where it listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its base URL (`http://127.0.0.1:port`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Switches the injected failure.
    pub fn set_fault(&self, fault: Option<HikFault>) {
        *self
            .state
            .fault
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = fault;
    }

    /// The `maxResults` of every search page served so far.
    pub fn searches(&self) -> Vec<u32> {
        self.state
            .searches
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Stops the server (connections in flight are abandoned).
    pub fn shutdown(self) {
        self.task.abort();
    }
}

/// Starts a fake terminal on 127.0.0.1:`port` (0 for any).
pub async fn spawn(config: FakeHikConfig, port: u16) -> std::io::Result<FakeHikHandle> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    let nonce = format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
    );
    let state = Arc::new(FakeState {
        events: config.all_events(),
        fault: Mutex::new(config.fault),
        config,
        nonce,
        searches: Mutex::new(Vec::new()),
    });
    let app = Router::new()
        .route("/ISAPI/System/status", get(status))
        .route("/ISAPI/AccessControl/AcsEvent", post(search))
        .with_state(state.clone());
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::warn!(error = %e, "fake Hikvision terminal stopped");
        }
    });
    Ok(FakeHikHandle { addr, state, task })
}

fn fault(state: &FakeState) -> Option<HikFault> {
    *state
        .fault
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn challenge(state: &FakeState) -> Response {
    let value = encode_challenge(&Challenge {
        realm: state.config.realm.clone(),
        nonce: state.nonce.clone(),
        qop: Some("auth".into()),
        opaque: Some(String::new()),
        algorithm: None,
        stale: false,
    });
    let mut response = StatusCode::UNAUTHORIZED.into_response();
    if let Ok(v) = HeaderValue::from_str(&value) {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    response
}

fn authorized(state: &FakeState, method: &Method, uri: &Uri, headers: &HeaderMap) -> bool {
    if fault(state) == Some(HikFault::RejectAuth) {
        return false;
    }
    let Some(answer) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let uri = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
    verify(
        answer,
        &state.config.realm,
        &state.nonce,
        &state.config.username,
        &state.config.password,
        method.as_str(),
        uri,
    )
    .is_ok()
}

fn json(body: Vec<u8>) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::SERVER, HeaderValue::from_static("webs"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

async fn status(
    State(state): State<Arc<FakeState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    if !authorized(&state, &method, &uri, &headers) {
        return challenge(&state);
    }
    json(br#"{"statusCode": 1, "statusString": "OK", "subStatusCode": "ok"}"#.to_vec())
}

async fn search(
    State(state): State<Arc<FakeState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !authorized(&state, &method, &uri, &headers) {
        return challenge(&state);
    }
    match fault(&state) {
        Some(HikFault::Drop) => {
            let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
                Ok(Bytes::from_static(b"{\"AcsEvent\": {\"searchID\": \"")),
                Err(std::io::Error::other(
                    "connection dropped by the fake terminal",
                )),
            ];
            return (
                StatusCode::OK,
                Body::from_stream(futures::stream::iter(chunks)),
            )
                .into_response();
        }
        Some(HikFault::Stall) => tokio::time::sleep(state.config.stall).await,
        Some(HikFault::Garbage) => {
            return json(b"<html><body>500 Internal Server Error\x00\xff</body>".to_vec());
        }
        _ => {}
    }
    let Ok(request) = serde_json::from_slice::<AcsEventSearch>(&body) else {
        return (StatusCode::BAD_REQUEST, "bad AcsEventCond").into_response();
    };
    let cond = request.cond;
    state
        .searches
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .push(cond.max_results);
    let tz = state.config.time_zone;
    let start = cond.start_time.as_deref().and_then(|t| parse_time(t, tz));
    let end = cond.end_time.as_deref().and_then(|t| parse_time(t, tz));
    let matches: Vec<&AcsEventInfo> = state
        .events
        .iter()
        .filter(|e| cond.major == 0 || e.major == cond.major)
        .filter(|e| cond.minor == 0 || e.minor == cond.minor)
        .filter(|e| {
            cond.employee
                .as_deref()
                .is_none_or(|p| e.employee_no_string.as_deref() == Some(p))
        })
        .filter(|e| {
            let t = parse_time(&e.time, tz);
            start.is_none_or(|s| t.is_some_and(|t| t >= s))
                && end.is_none_or(|x| t.is_some_and(|t| t <= x))
        })
        .collect();
    let total = matches.len();
    let from = (cond.position as usize).min(total);
    let take = cond.max_results.min(state.config.page_cap) as usize;
    let rows: Vec<AcsEventInfo> = matches[from..]
        .iter()
        .take(take)
        .map(|e| (*e).clone())
        .collect();
    let status = if total == 0 {
        "NO MATCH"
    } else if from + rows.len() < total {
        "MORE"
    } else {
        "OK"
    };
    let page = AcsEventPage {
        search_id: cond.search_id,
        status: status.into(),
        num_of_matches: rows.len() as u32,
        total_matches: total as u32,
        info_list: (!rows.is_empty()).then_some(rows),
    };
    json(encode_acs_reply(&page))
}

/// Pushes `envelopes` to `url` as one `multipart/form-data` POST the way DS-K1T323 firmware do:
/// header `boundary=mime_boundary`, body `--MIME_boundary`, one tab-indented JSON part named
/// `AccessControllerEvent` per envelope, each with its `Content-Length`. Returns the status.
pub async fn push_events(url: &str, envelopes: &[PushEnvelope]) -> Result<u16, reqwest::Error> {
    let parts: Vec<Part> = envelopes
        .iter()
        .map(|e| {
            let mut body = Vec::new();
            let formatter = serde_json::ser::PrettyFormatter::with_indent(b"\t");
            let mut ser = serde_json::Serializer::with_formatter(&mut body, formatter);
            let _ = serde::Serialize::serialize(e, &mut ser);
            Part {
                name: Some("AccessControllerEvent".into()),
                content_type: Some("application/json".into()),
                body,
            }
        })
        .collect();
    let response = reqwest::Client::new()
        .post(url)
        .header(
            header::CONTENT_TYPE,
            "multipart/form-data; boundary=mime_boundary",
        )
        .body(encode_multipart(&parts, "MIME_boundary"))
        .send()
        .await?;
    Ok(response.status().as_u16())
}
