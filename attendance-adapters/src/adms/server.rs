//! Our ADMS server side: an [`AdmsHub`] (allow-list, per-device state, command queue, the bounded
//! channel of [`ScanBatch`]es) and the axum [`router`] a host mounts next to its own routes.
//!
//! Routes (each also with the `.aspx` suffix eSSL firmware use):
//! - `GET /iclock/cdata?SN=..&options=all`: the handshake; the reply names the device's last
//!   stamp as `ATTLOGStamp` when the hub has one, so the device resumes there, and its zone's
//!   offset as `TimeZone` (see [`device_time_zone`]);
//! - `POST /iclock/cdata?SN=..&table=ATTLOG&Stamp=..`: punches → one [`ScanBatch`] whose cursor
//!   is the device's `Stamp`, submitted to the engine and answered `OK: n` only once the batch
//!   and its cursor are committed; n counts every non-blank line, the unreadable ones included
//!   (they are counted, summarised in one log line per upload and skipped: re-sending them
//!   would not help; lines dated outside the storable window are set aside by the engine);
//!   `OPERLOG`, `BIODATA`, `options` and other tables are counted and acknowledged;
//! - `GET /iclock/getrequest`: queued commands, or `OK`;
//! - `POST /iclock/devicecmd`: command results, matched to the queued ids;
//! - `GET /iclock/ping`: `OK`.
//!
//! Status codes: a device not on the allow-list gets `403 Forbidden` and a request without `SN`
//! gets `400 Bad Request`. A device whose machine config lists `allowed_sources` (CIDR blocks or
//! addresses) is answered as an unknown device (403, nothing stored) when the request comes from
//! another address (the client address is axum's `ConnectInfo<SocketAddr>`; without it such a
//! device is always refused); refusals are counted and logged at WARN under the `security`
//! target at most once a minute per device. Either way the device keeps its data and retries after `ErrorDelay`,
//! so registering it later loses nothing.
//!
//! Stored before acknowledged: a batch is handed to the engine with [`IngestSender::submit`],
//! which returns once the transaction storing it has committed (concurrent uploads share one
//! group commit). When the queue stays full for [`AdmsConfig::enqueue_timeout`], or the commit
//! is not confirmed within [`AdmsConfig::commit_timeout`] (a failing store), or the engine is
//! stopping, the upload is answered `503 Service Unavailable` with `Retry-After`: the device
//! keeps the punches and re-sends the batch later, so nothing acknowledged is ever lost and
//! memory stays bounded.
//!
//! Re-sent batches (after a lost reply, a reboot or a stamp reset) are forwarded again: the store
//! deduplicates on (machine, device user, second), and every scan carries all three plus its raw
//! line.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use attendance_core::employee::DeviceUserId;
use attendance_core::machine::Machine;
use attendance_core::scan::{MachineId, ScanData};
use attendance_core::store::{MachineCursor, ScanBatch};
use attendance_core::time::local_to_utc;
use axum::Extension;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Query, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use tokio::sync::broadcast;

use crate::adapter::parse_config;
use crate::engine::{IngestError, IngestSender};
use crate::sources::{AllowedSources, RefusalLog};

use super::adapter::AdmsMachineConfig;

use super::codec::{
    CommandResult, DeviceCommand, HandshakeOptions, encode_commands, encode_handshake, encode_ok,
    is_stamp, parse_attlog, parse_devicecmd, parse_operlog,
};

/// One device on the allow-list.
#[derive(Debug, Clone, PartialEq)]
pub struct AdmsDevice {
    /// The serial number the device sends as `SN=`.
    pub serial: String,
    /// The machine its scans belong to.
    pub machine_id: MachineId,
    /// The zone of its clock.
    pub time_zone: Tz,
    /// The addresses it may push from; empty: any.
    pub allowed_sources: AllowedSources,
}

impl AdmsDevice {
    /// The allow-list entry of a registered machine; its serial is `serial` when given, else the
    /// machine id; its allowed sources are its config's `allowed_sources` (a config that does not
    /// parse allows none: such a machine is refused at creation and never started).
    pub fn from_machine(machine: &Machine, serial: Option<&str>) -> Self {
        let allowed_sources = match parse_config::<AdmsMachineConfig>(machine) {
            Ok(config) => config.allowed_sources,
            Err(_) => AllowedSources::nobody(),
        };
        Self {
            serial: serial.unwrap_or(machine.machine_id.as_str()).to_owned(),
            machine_id: machine.machine_id.clone(),
            time_zone: machine.time_zone,
            allowed_sources,
        }
    }
}

/// The server's configuration.
#[derive(Debug, Clone)]
pub struct AdmsConfig {
    /// The devices allowed to push (more can be added with [`AdmsHub::allow`]).
    pub devices: Vec<AdmsDevice>,
    /// The options sent in every handshake reply.
    pub options: HandshakeOptions,
    /// How long an upload waits for room in the engine's queue before it is answered 503.
    pub enqueue_timeout: Duration,
    /// How long an upload waits for its commit before it is answered 503 (the device re-sends;
    /// the store deduplicates if the first one was stored after all).
    pub commit_timeout: Duration,
    /// The largest request body accepted (templates and photos can be large).
    pub max_body_bytes: usize,
}

impl Default for AdmsConfig {
    fn default() -> Self {
        Self {
            devices: Vec::new(),
            options: HandshakeOptions::default(),
            enqueue_timeout: Duration::from_secs(2),
            commit_timeout: Duration::from_secs(20),
            max_body_bytes: 16 * 1024 * 1024,
        }
    }
}

/// What the hub knows about one device.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceStatus {
    /// When the device last made any request.
    pub last_contact: Option<DateTime<Utc>>,
    /// The `Stamp` of its last accepted `ATTLOG` upload.
    pub last_stamp: Option<String>,
    /// The `INFO` value of its last `getrequest` (firmware, counts, IP, …).
    pub info: Option<String>,
    /// The `pushver` of its handshake.
    pub push_version: Option<String>,
    /// Scans stored (new or already stored) from its acknowledged uploads.
    pub scans_accepted: u64,
    /// `ATTLOG` lines that could not be read (counted and acknowledged).
    pub lines_rejected: u64,
    /// `ATTLOG` lines set aside by the engine: dated outside the storable window.
    pub lines_set_aside: u64,
    /// `OPERLOG` / `BIODATA` lines acknowledged and ignored.
    pub other_lines: u64,
    /// Uploads answered 503 (the queue was full, the store slow or the engine stopping).
    pub busy_replies: u64,
}

impl DeviceStatus {
    /// The firmware version from `INFO` (its first field).
    pub fn firmware(&self) -> Option<&str> {
        self.info.as_deref().and_then(|i| i.split(',').next())
    }

    /// The attendance record count from `INFO` (its fourth field).
    pub fn record_count(&self) -> Option<u64> {
        self.info
            .as_deref()
            .and_then(|i| i.split(',').nth(3))
            .and_then(|n| n.trim().parse().ok())
    }
}

#[derive(Debug)]
struct Entry {
    device: AdmsDevice,
    status: DeviceStatus,
    // Rejected lines since the last drain, reported as `skipped`.
    skipped: usize,
    // Copies of stored scans for observers; sending never blocks (slow listeners lag).
    live: broadcast::Sender<ScanData>,
    commands: VecDeque<DeviceCommand>,
    results: HashMap<String, CommandResult>,
    // Requests refused for their source address, and when they were last logged.
    refusals: RefusalLog,
    // The ids of `results`, oldest first (the oldest go past `MAX_RESULTS_KEPT`).
    result_order: VecDeque<String>,
    next_command: u64,
}

/// The most command results kept per device (the latest).
const MAX_RESULTS_KEPT: usize = 256;

impl Entry {
    fn new(device: AdmsDevice) -> Self {
        Self {
            device,
            status: DeviceStatus::default(),
            skipped: 0,
            live: broadcast::channel(1024).0,
            commands: VecDeque::new(),
            results: HashMap::new(),
            refusals: RefusalLog::default(),
            result_order: VecDeque::new(),
            next_command: 1,
        }
    }
}

#[derive(Debug)]
struct Inner {
    options: HandshakeOptions,
    enqueue_timeout: Duration,
    commit_timeout: Duration,
    max_body_bytes: usize,
    sender: IngestSender,
    // Keyed by serial. A std mutex: it is never held across an await.
    devices: Mutex<HashMap<String, Entry>>,
}

/// The shared state behind the ADMS router: clone it freely (it is an `Arc`).
#[derive(Debug, Clone)]
pub struct AdmsHub {
    inner: Arc<Inner>,
}

/// What [`AdmsHub::drain`] returns.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Drained {
    /// The stamp of the device's last stored upload, if it sent one.
    pub cursor: Option<MachineCursor>,
    /// Lines rejected since the last drain.
    pub skipped: usize,
}

impl AdmsHub {
    /// A hub for `config` that submits every upload to the engine through `sender` and
    /// acknowledges it once stored.
    pub fn new(config: AdmsConfig, sender: IngestSender) -> Self {
        let devices = config
            .devices
            .into_iter()
            .map(|d| (d.serial.clone(), Entry::new(d)))
            .collect();
        Self {
            inner: Arc::new(Inner {
                options: config.options,
                enqueue_timeout: config.enqueue_timeout,
                commit_timeout: config.commit_timeout,
                max_body_bytes: config.max_body_bytes,
                sender,
                devices: Mutex::new(devices),
            }),
        }
    }

    fn devices(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        // A poisoned lock only means another request panicked mid-update; the map is still usable.
        self.inner
            .devices
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds a device to the allow-list, or updates its machine and zone (its state is kept).
    pub fn allow(&self, device: AdmsDevice) {
        let mut devices = self.devices();
        match devices.get_mut(&device.serial) {
            Some(entry) => entry.device = device,
            None => {
                devices.insert(device.serial.clone(), Entry::new(device));
            }
        }
    }

    /// Removes a device from the allow-list; returns whether it was there.
    pub fn forbid(&self, serial: &str) -> bool {
        self.devices().remove(serial).is_some()
    }

    /// Whether `serial` is allowed.
    pub fn is_allowed(&self, serial: &str) -> bool {
        self.devices().contains_key(serial)
    }

    /// What the hub knows about `serial`, if it is allowed.
    pub fn status(&self, serial: &str) -> Option<DeviceStatus> {
        self.devices().get(serial).map(|e| e.status.clone())
    }

    /// Sets the stamp offered as `ATTLOGStamp` at the device's next handshake (for instance the
    /// cursor the store holds for its machine); returns `false` if it is not allowed.
    pub fn set_stamp(&self, serial: &str, stamp: &MachineCursor) -> bool {
        match self.devices().get_mut(serial) {
            Some(e) => {
                e.status.last_stamp = Some(stamp.0.clone());
                true
            }
            None => false,
        }
    }

    /// Queues a command (`INFO`, `CHECK`, `DATA QUERY ATTLOG …`) for the device's next
    /// `getrequest`; returns its id, or `None` if the device is not allowed.
    pub fn queue_command(&self, serial: &str, command: &str) -> Option<String> {
        let mut devices = self.devices();
        let entry = devices.get_mut(serial)?;
        let id = format!("{}", entry.next_command);
        entry.next_command += 1;
        entry.commands.push_back(DeviceCommand {
            id: id.clone(),
            command: command.to_owned(),
        });
        Some(id)
    }

    /// The device's result for command `id`, once it has reported it.
    pub fn command_result(&self, serial: &str, id: &str) -> Option<CommandResult> {
        self.devices().get(serial)?.results.get(id).cloned()
    }

    /// The device's last stored stamp and the lines rejected since the last call (the scans
    /// themselves are already stored: the router submits them to the engine).
    pub fn drain(&self, serial: &str) -> Drained {
        let mut devices = self.devices();
        let Some(entry) = devices.get_mut(serial) else {
            return Drained::default();
        };
        Drained {
            cursor: entry.status.last_stamp.clone().map(MachineCursor),
            skipped: std::mem::take(&mut entry.skipped),
        }
    }

    /// A receiver of copies of the scans stored from `serial` from now on (for observers: they
    /// are stored already), or `None` if it is not allowed.
    pub fn subscribe(&self, serial: &str) -> Option<broadcast::Receiver<ScanData>> {
        self.devices().get(serial).map(|e| e.live.subscribe())
    }

    /// Looks the device up, checks the request's source address `client` against its
    /// allowed sources and records the contact; `Err` is the reply to send (a refused source is
    /// answered as an unknown device).
    fn contact(
        &self,
        query: &Params,
        client: Option<IpAddr>,
    ) -> Result<(String, AdmsDevice), Refusal> {
        let Some(serial) = query.get("SN").filter(|s| !s.is_empty()) else {
            return Err(Refusal(StatusCode::BAD_REQUEST, "missing SN"));
        };
        let mut devices = self.devices();
        let Some(entry) = devices.get_mut(serial) else {
            tracing::warn!(serial, "ADMS request from a device not on the allow-list");
            return Err(Refusal(StatusCode::FORBIDDEN, "unknown device"));
        };
        if !entry.device.allowed_sources.allows(client) {
            metrics::counter!(crate::telemetry::PUSH_SOURCES_REFUSED, "source" => "zkteco_adms")
                .increment(1);
            if let Some(refused) = entry.refusals.refused(std::time::Instant::now()) {
                tracing::warn!(
                    target: "security",
                    serial,
                    machine = %entry.device.machine_id,
                    client = %client.map_or_else(|| "unknown".to_owned(), |c| c.to_string()),
                    refused,
                    "ADMS push from an address outside the machine's allowed sources refused (logged at most once a minute per device)"
                );
            }
            return Err(Refusal(StatusCode::FORBIDDEN, "unknown device"));
        }
        entry.status.last_contact = Some(Utc::now());
        Ok((serial.to_owned(), entry.device.clone()))
    }

    fn with_entry(&self, serial: &str, f: impl FnOnce(&mut Entry)) {
        if let Some(entry) = self.devices().get_mut(serial) {
            f(entry);
        }
    }
}

/// The `TimeZone` option for a device whose clock runs in `tz`, at `now`: its UTC offset in whole
/// hours, or in minutes when the zone has a fractional offset (India: 330), as devices expect.
pub fn device_time_zone(tz: Tz, now: DateTime<Utc>) -> i32 {
    use chrono::{Offset, TimeZone};
    let seconds = tz
        .offset_from_utc_datetime(&now.naive_utc())
        .fix()
        .local_minus_utc();
    if seconds % 3600 == 0 {
        seconds / 3600
    } else {
        seconds / 60
    }
}

/// A refused request: its status and body.
#[derive(Debug)]
struct Refusal(StatusCode, &'static str);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        text(self.0, self.1.into())
    }
}

/// Query parameters, looked up without regard to case (`SN`, `table`, `Stamp`, `INFO`, …).
#[derive(Debug, Default)]
struct Params(Vec<(String, String)>);

impl Params {
    fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }
}

fn text(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// The ADMS routes over `hub`, ready to merge into a host's router whatever its state type.
pub fn router<S: Clone + Send + Sync + 'static>(hub: AdmsHub) -> Router<S> {
    let limit = hub.inner.max_body_bytes;
    Router::new()
        .route("/iclock/cdata", get(cdata).post(cdata))
        .route("/iclock/cdata.aspx", get(cdata).post(cdata))
        .route("/iclock/getrequest", get(getrequest))
        .route("/iclock/getrequest.aspx", get(getrequest))
        .route("/iclock/devicecmd", post(devicecmd))
        .route("/iclock/devicecmd.aspx", post(devicecmd))
        .route("/iclock/ping", get(ping))
        .route("/iclock/ping.aspx", get(ping))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(hub)
}

/// The client address of a request, when the host serves with `ConnectInfo<SocketAddr>`.
type Client = Option<Extension<ConnectInfo<SocketAddr>>>;

fn client_ip(client: &Client) -> Option<IpAddr> {
    client
        .as_ref()
        .map(|Extension(ConnectInfo(addr))| addr.ip())
}

async fn cdata(
    State(hub): State<AdmsHub>,
    client: Client,
    method: Method,
    Query(query): Query<Vec<(String, String)>>,
    body: Bytes,
) -> Response {
    let query = Params(query);
    let (serial, device) = match hub.contact(&query, client_ip(&client)) {
        Ok(found) => found,
        Err(refusal) => return refusal.into_response(),
    };
    let table = query.get("table").map(str::to_ascii_uppercase);
    if method == Method::GET || table.is_none() {
        let mut stamp = None;
        hub.with_entry(&serial, |e| {
            if let Some(v) = query.get("pushver") {
                e.status.push_version = Some(v.to_owned());
            }
            stamp = e.status.last_stamp.clone();
        });
        tracing::info!(serial, "ADMS handshake");
        let mut options = hub.inner.options.clone();
        options.time_zone = device_time_zone(device.time_zone, Utc::now());
        return text(
            StatusCode::OK,
            encode_handshake(&serial, &options, stamp.as_deref()),
        );
    }
    let body = String::from_utf8_lossy(&body);
    match table.as_deref() {
        Some("ATTLOG") => attlog(&hub, &serial, &device, query.get("Stamp"), &body).await,
        Some("OPERLOG" | "BIODATA") => {
            let counts = parse_operlog(&body);
            hub.with_entry(&serial, |e| e.status.other_lines += counts.handled() as u64);
            tracing::debug!(serial, ?counts, "ADMS operation log acknowledged");
            text(StatusCode::OK, encode_ok(counts.handled()))
        }
        Some(other) => {
            tracing::debug!(
                serial,
                table = other,
                "ADMS upload acknowledged and ignored"
            );
            text(StatusCode::OK, "OK".into())
        }
        None => text(StatusCode::OK, "OK".into()),
    }
}

async fn attlog(
    hub: &AdmsHub,
    serial: &str,
    device: &AdmsDevice,
    stamp: Option<&str>,
    body: &str,
) -> Response {
    let parsed = parse_attlog(body);
    let mut rejected = parsed.rejected.len();
    let mut first_rejected = parsed
        .rejected
        .first()
        .map(|bad| format!("line {}: {}", bad.line_no, bad.reason));
    let mut scans = Vec::with_capacity(parsed.records.len());
    for (record, raw) in &parsed.records {
        match DeviceUserId::parse(&record.pin) {
            Ok(device_user_id) => scans.push(ScanData {
                machine_id: device.machine_id.clone(),
                device_user_id,
                timestamp: local_to_utc(device.time_zone, record.time),
                punch_state: record.punch_state(),
                verify_mode: record.verify_mode(),
                raw: Some(raw.clone()),
            }),
            Err(e) => {
                rejected += 1;
                first_rejected.get_or_insert_with(|| format!("{raw:?}: {e}"));
            }
        }
    }
    if rejected > 0 {
        metrics::counter!(crate::telemetry::ADMS_LINES_REJECTED).increment(rejected as u64);
        // One line per upload, not one per bad line: a device cannot flood the log.
        tracing::warn!(
            serial,
            rejected,
            first = first_rejected.as_deref().unwrap_or(""),
            "ADMS ATTLOG lines skipped"
        );
    }
    // Only a stamp of digits is kept as the cursor (and offered back at the next handshake).
    let cursor = match stamp.filter(|s| !s.is_empty()) {
        Some(s) if is_stamp(s) => Some(MachineCursor(s.to_owned())),
        Some(s) => {
            tracing::debug!(
                serial,
                stamp_chars = s.chars().count(),
                "ADMS upload with a stamp that is not a number: its lines are stored, the stamp is not kept"
            );
            None
        }
        None => None,
    };
    let mut set_aside = 0;
    let count = scans.len();
    let listened = hub
        .devices()
        .get(serial)
        .is_some_and(|e| e.live.receiver_count() > 0);
    let copies = if listened { scans.clone() } else { Vec::new() };
    if !scans.is_empty() {
        let batch = ScanBatch {
            machine_id: device.machine_id.clone(),
            scans,
            cursor: cursor.clone(),
        };
        match hub
            .inner
            .sender
            .submit(batch, hub.inner.enqueue_timeout, hub.inner.commit_timeout)
            .await
        {
            Ok(committed) => set_aside = committed.set_aside,
            Err(IngestError::Refused(message)) => {
                // Re-sending cannot help; the device is told, the operator sees the error.
                tracing::error!(serial, %message, "ADMS upload refused by the store");
                return text(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    format!("refused: {message}"),
                );
            }
            Err(e) => {
                tracing::warn!(serial, error = %e, "ADMS upload not stored; asking the device to retry");
                hub.with_entry(serial, |e| e.status.busy_replies += 1);
                let mut reply = text(StatusCode::SERVICE_UNAVAILABLE, "busy, retry later".into());
                if let Ok(v) = HeaderValue::from_str(&hub.inner.options.error_delay.to_string()) {
                    reply.headers_mut().insert(header::RETRY_AFTER, v);
                }
                return reply;
            }
        }
    }
    hub.with_entry(serial, |e| {
        e.status.scans_accepted += count.saturating_sub(set_aside) as u64;
        e.status.lines_rejected += rejected as u64;
        e.status.lines_set_aside += set_aside as u64;
        e.skipped += rejected;
        if let Some(c) = &cursor {
            e.status.last_stamp = Some(c.0.clone());
        }
        for scan in copies {
            let _ = e.live.send(scan);
        }
    });
    text(StatusCode::OK, encode_ok(parsed.handled()))
}

async fn getrequest(
    State(hub): State<AdmsHub>,
    client: Client,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    let query = Params(query);
    let (serial, _) = match hub.contact(&query, client_ip(&client)) {
        Ok(found) => found,
        Err(refusal) => return refusal.into_response(),
    };
    let mut commands = Vec::new();
    hub.with_entry(&serial, |e| {
        if let Some(info) = query.get("INFO") {
            e.status.info = Some(info.to_owned());
        }
        commands = e.commands.drain(..).collect();
    });
    text(StatusCode::OK, encode_commands(&commands))
}

async fn devicecmd(
    State(hub): State<AdmsHub>,
    client: Client,
    Query(query): Query<Vec<(String, String)>>,
    body: Bytes,
) -> Response {
    let query = Params(query);
    let (serial, _) = match hub.contact(&query, client_ip(&client)) {
        Ok(found) => found,
        Err(refusal) => return refusal.into_response(),
    };
    let results = parse_devicecmd(&String::from_utf8_lossy(&body));
    hub.with_entry(&serial, |e| {
        for r in results {
            let r = r.bounded();
            tracing::debug!(serial, id = %r.id, code = ?r.return_code, "ADMS command result");
            // Bounded: each result is cut to size and only the latest results are kept.
            if e.results.insert(r.id.clone(), r.clone()).is_none() {
                e.result_order.push_back(r.id);
                while e.result_order.len() > MAX_RESULTS_KEPT {
                    if let Some(oldest) = e.result_order.pop_front() {
                        e.results.remove(&oldest);
                    }
                }
            }
        }
    });
    text(StatusCode::OK, "OK".into())
}

async fn ping(
    State(hub): State<AdmsHub>,
    client: Client,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    match hub.contact(&Params(query), client_ip(&client)) {
        Ok(_) => text(StatusCode::OK, "OK".into()),
        Err(refusal) => refusal.into_response(),
    }
}
