//! The receiver of Hikvision HTTP-listening pushes (`docs/protocols/hikvision-isapi.md` §5) as an
//! axum router.
//!
//! Configure each terminal's `httpHosts` URL as `/hikvision/events/<machine id>`. Every POST is
//! read as multipart (boundary matched without regard to case) or plain JSON; heartbeats only
//! record the contact; person events become one [`ScanBatch`] whose cursor is the greatest
//! `serialNo`, submitted to the engine. The reply is 200 only once the batch is committed
//! (stored before acknowledged). When the queue stays full for
//! [`HikPushConfig::enqueue_timeout`], or the commit is not confirmed within
//! [`HikPushConfig::commit_timeout`], the reply is 503 (never a silent drop); a terminal that
//! gives up on the event is caught up by the next pull, which reads the same events by
//! `serialNo`. An unknown machine id gets 403, an unreadable body 400. A machine whose config
//! lists `allowed_sources` (CIDR blocks or addresses) refuses pushes from other addresses the
//! same way (403, nothing stored; the client address is axum's `ConnectInfo<SocketAddr>`,
//! without which such a machine is always refused), counted and logged at WARN under the
//! `security` target at most once a minute per machine.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use attendance_core::scan::MachineId;
use attendance_core::scan::ScanData;
use attendance_core::store::{MachineCursor, ScanBatch};
use axum::Extension;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use tokio::sync::broadcast;

use crate::engine::{IngestError, IngestSender};
use crate::sources::{AllowedSources, RefusalLog};

use super::codec::{EventFields, PERSON_MINORS, decode_push, event_to_scan};

/// One terminal allowed to push.
#[derive(Debug, Clone, PartialEq)]
pub struct HikPushDevice {
    /// Its machine (the last path segment of its push URL).
    pub machine_id: MachineId,
    /// The zone of its clock (for times without an offset).
    pub time_zone: Tz,
    /// The addresses it may push from; empty: any.
    pub allowed_sources: AllowedSources,
}

/// The receiver's configuration.
#[derive(Debug, Clone)]
pub struct HikPushConfig {
    /// The terminals allowed to push.
    pub devices: Vec<HikPushDevice>,
    /// The minor codes that count as a punch.
    pub minors: Vec<u32>,
    /// How long a push waits for room in the engine's queue before it is answered 503.
    pub enqueue_timeout: Duration,
    /// How long a push waits for its commit before it is answered 503.
    pub commit_timeout: Duration,
}

impl Default for HikPushConfig {
    fn default() -> Self {
        Self {
            devices: Vec::new(),
            minors: PERSON_MINORS.to_vec(),
            enqueue_timeout: Duration::from_secs(2),
            commit_timeout: Duration::from_secs(20),
        }
    }
}

/// What the receiver knows about one terminal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushStatus {
    /// When it last pushed anything (heartbeats included).
    pub last_contact: Option<DateTime<Utc>>,
    /// Heartbeats received.
    pub heartbeats: u64,
    /// Scans accepted.
    pub scans: u64,
    /// Events that were not punches (doors, failures) or could not be read.
    pub ignored: u64,
}

#[derive(Debug)]
struct Inner {
    minors: Vec<u32>,
    enqueue_timeout: Duration,
    commit_timeout: Duration,
    sender: IngestSender,
    // Keyed by machine id; a std mutex never held across an await.
    devices: Mutex<HashMap<String, Entry>>,
}

#[derive(Debug)]
struct Entry {
    device: HikPushDevice,
    status: PushStatus,
    // Copies of stored scans for observers; sending never blocks (slow listeners lag).
    live: broadcast::Sender<ScanData>,
    // Pushes refused for their source address, and when they were last logged.
    refusals: RefusalLog,
}

impl Entry {
    fn new(device: HikPushDevice) -> Self {
        Self {
            device,
            status: PushStatus::default(),
            refusals: RefusalLog::default(),
            live: broadcast::channel(1024).0,
        }
    }
}

/// The shared state of the push receiver (cheap to clone).
#[derive(Debug, Clone)]
pub struct HikPushHub {
    inner: Arc<Inner>,
}

impl HikPushHub {
    /// A receiver for `config` that submits batches to the engine through `sender` and answers
    /// once they are stored.
    pub fn new(config: HikPushConfig, sender: IngestSender) -> Self {
        let devices = config
            .devices
            .into_iter()
            .map(|d| (d.machine_id.to_string(), Entry::new(d)))
            .collect();
        Self {
            inner: Arc::new(Inner {
                minors: config.minors,
                enqueue_timeout: config.enqueue_timeout,
                commit_timeout: config.commit_timeout,
                sender,
                devices: Mutex::new(devices),
            }),
        }
    }

    fn devices(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        self.inner
            .devices
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Allows a terminal (or updates its zone; its state is kept).
    pub fn allow(&self, device: HikPushDevice) {
        let mut devices = self.devices();
        match devices.get_mut(device.machine_id.as_str()) {
            Some(entry) => entry.device = device,
            None => {
                devices.insert(device.machine_id.to_string(), Entry::new(device));
            }
        }
    }

    /// What the receiver knows about `machine`, if it is allowed.
    pub fn status(&self, machine: &str) -> Option<PushStatus> {
        self.devices().get(machine).map(|e| e.status.clone())
    }

    /// Takes a terminal off the list; returns whether it was there.
    pub fn forbid(&self, machine: &str) -> bool {
        self.devices().remove(machine).is_some()
    }

    /// A receiver of copies of the scans stored from `machine`'s pushes from now on, or `None`
    /// if it is not allowed.
    pub fn subscribe(&self, machine: &str) -> Option<broadcast::Receiver<ScanData>> {
        self.devices().get(machine).map(|e| e.live.subscribe())
    }
}

/// The push route `POST /hikvision/events/{machine}` over `hub`, for any host state type.
pub fn push_router<S: Clone + Send + Sync + 'static>(hub: HikPushHub) -> Router<S> {
    Router::new()
        .route("/hikvision/events/{machine}", post(receive))
        .with_state(hub)
}

async fn receive(
    State(hub): State<HikPushHub>,
    client: Option<Extension<ConnectInfo<SocketAddr>>>,
    Path(machine): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let device = {
        let mut devices = hub.devices();
        let client = client.map(|Extension(ConnectInfo(addr))| addr.ip());
        match devices.get_mut(&machine) {
            Some(entry) if !entry.device.allowed_sources.allows(client) => {
                metrics::counter!(crate::telemetry::PUSH_SOURCES_REFUSED, "source" => "hikvision")
                    .increment(1);
                if let Some(refused) = entry.refusals.refused(std::time::Instant::now()) {
                    tracing::warn!(
                        target: "security",
                        machine,
                        client = %client.map_or_else(|| "unknown".to_owned(), |c| c.to_string()),
                        refused,
                        "Hikvision push from an address outside the machine's allowed sources refused (logged at most once a minute per machine)"
                    );
                }
                return (StatusCode::FORBIDDEN, "unknown device").into_response();
            }
            Some(entry) => {
                entry.status.last_contact = Some(Utc::now());
                entry.device.clone()
            }
            None => {
                tracing::warn!(machine, "Hikvision push from an unknown machine");
                return (StatusCode::FORBIDDEN, "unknown device").into_response();
            }
        }
    };
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    let envelopes = match decode_push(content_type, &body) {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(machine, error = %e, "unreadable Hikvision push");
            return (StatusCode::BAD_REQUEST, "unreadable body").into_response();
        }
    };
    let (mut heartbeats, mut ignored) = (0u64, 0u64);
    let mut scans = Vec::new();
    let mut cursor: Option<u64> = None;
    for envelope in &envelopes {
        let Some(event) = envelope.event.as_ref().filter(|_| !envelope.is_heartbeat()) else {
            heartbeats += 1;
            continue;
        };
        // The cursor covers every event seen, punches or not, as the pull's does.
        if let Some(serial) = event.serial_no {
            cursor = Some(cursor.map_or(serial, |c| c.max(serial)));
        }
        let raw = serde_json::to_string(envelope).unwrap_or_default();
        match event_to_scan(
            EventFields {
                major: event.major,
                minor: event.minor,
                person: event.employee_no_string.as_deref(),
                time: &envelope.date_time,
                attendance_status: event.attendance_status.as_deref(),
            },
            &hub.inner.minors,
            &device.machine_id,
            device.time_zone,
            raw,
        ) {
            Ok(scan) => scans.push(scan),
            Err(skip) => {
                ignored += 1;
                tracing::debug!(machine, reason = %skip, "Hikvision push event ignored");
            }
        }
    }
    let accepted = scans.len() as u64;
    if !scans.is_empty() {
        let batch = ScanBatch {
            machine_id: device.machine_id.clone(),
            scans,
            cursor: cursor.map(|c| MachineCursor(c.to_string())),
        };
        let copies = batch.scans.clone();
        match hub
            .inner
            .sender
            .submit(batch, hub.inner.enqueue_timeout, hub.inner.commit_timeout)
            .await
        {
            Ok(_) => {}
            Err(IngestError::Refused(message)) => {
                tracing::error!(machine, %message, "Hikvision push refused by the store");
                return (StatusCode::UNPROCESSABLE_ENTITY, "refused").into_response();
            }
            Err(e) => {
                tracing::warn!(machine, error = %e, "Hikvision push not stored; refused with 503");
                return (StatusCode::SERVICE_UNAVAILABLE, "busy").into_response();
            }
        }
        if let Some(entry) = hub.devices().get(&machine) {
            for scan in copies {
                // No receivers is the normal case.
                let _ = entry.live.send(scan);
            }
        }
    }
    if let Some(entry) = hub.devices().get_mut(&machine) {
        entry.status.heartbeats += heartbeats;
        entry.status.ignored += ignored;
        entry.status.scans += accepted;
    }
    (StatusCode::OK, "OK").into_response()
}
