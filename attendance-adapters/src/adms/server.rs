//! Our ADMS server side: an [`AdmsHub`] (allow-list, per-device state, command queue, the bounded
//! channel of [`ScanBatch`]es) and the axum [`router`] a host mounts next to its own routes.
//!
//! Routes (each also with the `.aspx` suffix eSSL firmware use):
//! - `GET /iclock/cdata?SN=..&options=all`: the handshake; the reply names the device's last
//!   stamp as `ATTLOGStamp` when the hub has one, so the device resumes there, and its zone's
//!   offset as `TimeZone` (see [`device_time_zone`]);
//! - `POST /iclock/cdata?SN=..&table=ATTLOG&Stamp=..`: punches → one [`ScanBatch`] whose cursor
//!   is the device's `Stamp`, answered `OK: n` where n counts every non-blank line, the
//!   unreadable ones included (they are logged and skipped: re-sending them would not help);
//!   `OPERLOG`, `BIODATA`, `options` and other tables are counted and acknowledged;
//! - `GET /iclock/getrequest`: queued commands, or `OK`;
//! - `POST /iclock/devicecmd`: command results, matched to the queued ids;
//! - `GET /iclock/ping`: `OK`.
//!
//! Status codes: a device not on the allow-list gets `403 Forbidden` and a request without `SN`
//! gets `400 Bad Request`. Either way the device keeps its data and retries after `ErrorDelay`,
//! so registering it later loses nothing.
//!
//! Back-pressure: a batch is handed to the channel with [`mpsc::Sender::send_timeout`]. When the
//! consumer is slower than the devices and the channel stays full for
//! [`AdmsConfig::enqueue_timeout`], the upload is answered `503 Service Unavailable` with
//! `Retry-After`: the device keeps the punches and re-sends the batch later, so nothing is dropped
//! and memory stays bounded. A batch is acknowledged `OK: n` only after it is in the channel.
//!
//! Re-sent batches (after a lost reply, a reboot or a stamp reset) are forwarded again: the store
//! deduplicates on (machine, device user, second), and every scan carries all three plus its raw
//! line.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use attendance_core::employee::DeviceUserId;
use attendance_core::machine::Machine;
use attendance_core::scan::{MachineId, ScanData};
use attendance_core::store::{MachineCursor, ScanBatch};
use attendance_core::time::local_to_utc;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use tokio::sync::{broadcast, mpsc};

use super::codec::{
    CommandResult, DeviceCommand, HandshakeOptions, encode_commands, encode_handshake, encode_ok,
    parse_attlog, parse_devicecmd, parse_operlog,
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
}

impl AdmsDevice {
    /// The allow-list entry of a registered machine; its serial is `serial` when given, else the
    /// machine id.
    pub fn from_machine(machine: &Machine, serial: Option<&str>) -> Self {
        Self {
            serial: serial.unwrap_or(machine.machine_id.as_str()).to_owned(),
            machine_id: machine.machine_id.clone(),
            time_zone: machine.time_zone,
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
    /// How long an upload waits for room in the channel before it is answered 503.
    pub enqueue_timeout: Duration,
    /// Scans kept per device for [`AdmsHub::drain`] (the adapter's `fetch_scans`); the oldest go
    /// first when it is full.
    pub buffer_per_device: usize,
    /// The largest request body accepted (templates and photos can be large).
    pub max_body_bytes: usize,
}

impl Default for AdmsConfig {
    fn default() -> Self {
        Self {
            devices: Vec::new(),
            options: HandshakeOptions::default(),
            enqueue_timeout: Duration::from_secs(2),
            buffer_per_device: 10_000,
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
    /// Scans accepted into the channel.
    pub scans_accepted: u64,
    /// `ATTLOG` lines that could not be read (logged and acknowledged).
    pub lines_rejected: u64,
    /// `OPERLOG` / `BIODATA` lines acknowledged and ignored.
    pub other_lines: u64,
    /// Uploads answered 503 because the channel was full.
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
    // Copies of accepted scans for the adapter's fetch, bounded by `buffer_per_device`.
    buffer: VecDeque<(ScanData, Option<MachineCursor>)>,
    // Rejected lines and buffer overflow since the last drain, reported as `skipped`.
    skipped: usize,
    // Live copies for the adapter's stream; sending never blocks (slow listeners lag).
    live: broadcast::Sender<ScanData>,
    commands: VecDeque<DeviceCommand>,
    results: HashMap<String, CommandResult>,
    next_command: u64,
}

impl Entry {
    fn new(device: AdmsDevice) -> Self {
        Self {
            device,
            status: DeviceStatus::default(),
            buffer: VecDeque::new(),
            skipped: 0,
            live: broadcast::channel(1024).0,
            commands: VecDeque::new(),
            results: HashMap::new(),
            next_command: 1,
        }
    }
}

#[derive(Debug)]
struct Inner {
    options: HandshakeOptions,
    enqueue_timeout: Duration,
    buffer_per_device: usize,
    max_body_bytes: usize,
    sender: mpsc::Sender<ScanBatch>,
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
    /// Scans accepted since the last drain, in arrival order.
    pub scans: Vec<ScanData>,
    /// The stamp of the last of them, if the device sent one.
    pub cursor: Option<MachineCursor>,
    /// Lines rejected, and buffered scans dropped because the buffer was full, since then.
    pub skipped: usize,
}

impl AdmsHub {
    /// A hub for `config` that hands every accepted batch to `sender` (make it bounded: its
    /// capacity is the back-pressure limit).
    pub fn new(config: AdmsConfig, sender: mpsc::Sender<ScanBatch>) -> Self {
        let devices = config
            .devices
            .into_iter()
            .map(|d| (d.serial.clone(), Entry::new(d)))
            .collect();
        Self {
            inner: Arc::new(Inner {
                options: config.options,
                enqueue_timeout: config.enqueue_timeout,
                buffer_per_device: config.buffer_per_device.max(1),
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

    /// Takes the scans buffered for `serial` since the last call.
    pub fn drain(&self, serial: &str) -> Drained {
        let mut devices = self.devices();
        let Some(entry) = devices.get_mut(serial) else {
            return Drained::default();
        };
        let mut out = Drained {
            skipped: std::mem::take(&mut entry.skipped),
            ..Drained::default()
        };
        for (scan, cursor) in entry.buffer.drain(..) {
            out.scans.push(scan);
            if cursor.is_some() {
                out.cursor = cursor;
            }
        }
        out
    }

    /// A receiver of the scans accepted from `serial` from now on, or `None` if it is not allowed.
    pub fn subscribe(&self, serial: &str) -> Option<broadcast::Receiver<ScanData>> {
        self.devices().get(serial).map(|e| e.live.subscribe())
    }

    /// Looks the device up and records the contact; `Err` is the reply to send.
    fn contact(&self, query: &Params) -> Result<(String, AdmsDevice), Refusal> {
        let Some(serial) = query.get("SN").filter(|s| !s.is_empty()) else {
            return Err(Refusal(StatusCode::BAD_REQUEST, "missing SN"));
        };
        let mut devices = self.devices();
        let Some(entry) = devices.get_mut(serial) else {
            tracing::warn!(serial, "ADMS request from a device not on the allow-list");
            return Err(Refusal(StatusCode::FORBIDDEN, "unknown device"));
        };
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

async fn cdata(
    State(hub): State<AdmsHub>,
    method: Method,
    Query(query): Query<Vec<(String, String)>>,
    body: Bytes,
) -> Response {
    let query = Params(query);
    let (serial, device) = match hub.contact(&query) {
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
    for bad in &parsed.rejected {
        tracing::warn!(serial, line_no = bad.line_no, line = %bad.line, reason = %bad.reason, "ADMS ATTLOG line skipped");
    }
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
                tracing::warn!(serial, line = %raw, error = %e, "ADMS ATTLOG line skipped");
            }
        }
    }
    let cursor = stamp
        .filter(|s| !s.is_empty())
        .map(|s| MachineCursor(s.to_owned()));
    if !scans.is_empty() {
        let batch = ScanBatch {
            machine_id: device.machine_id.clone(),
            scans: scans.clone(),
            cursor: cursor.clone(),
        };
        if let Err(e) = hub
            .inner
            .sender
            .send_timeout(batch, hub.inner.enqueue_timeout)
            .await
        {
            let closed = matches!(e, mpsc::error::SendTimeoutError::Closed(_));
            if closed {
                tracing::error!(
                    serial,
                    "ADMS scan channel closed; asking the device to retry"
                );
            } else {
                tracing::warn!(serial, "ADMS scan channel full; asking the device to retry");
            }
            hub.with_entry(serial, |e| e.status.busy_replies += 1);
            let mut reply = text(StatusCode::SERVICE_UNAVAILABLE, "busy, retry later".into());
            if let Ok(v) = HeaderValue::from_str(&hub.inner.options.error_delay.to_string()) {
                reply.headers_mut().insert(header::RETRY_AFTER, v);
            }
            return reply;
        }
    }
    let limit = hub.inner.buffer_per_device;
    hub.with_entry(serial, |e| {
        e.status.scans_accepted += scans.len() as u64;
        e.status.lines_rejected += rejected as u64;
        e.skipped += rejected;
        if let Some(c) = &cursor {
            e.status.last_stamp = Some(c.0.clone());
        }
        for scan in scans {
            // No receivers is the normal case when no adapter streams this device.
            let _ = e.live.send(scan.clone());
            if e.buffer.len() >= limit {
                e.buffer.pop_front();
                e.skipped += 1;
            }
            e.buffer.push_back((scan, cursor.clone()));
        }
    });
    text(StatusCode::OK, encode_ok(parsed.handled()))
}

async fn getrequest(
    State(hub): State<AdmsHub>,
    Query(query): Query<Vec<(String, String)>>,
) -> Response {
    let query = Params(query);
    let (serial, _) = match hub.contact(&query) {
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
    Query(query): Query<Vec<(String, String)>>,
    body: Bytes,
) -> Response {
    let query = Params(query);
    let (serial, _) = match hub.contact(&query) {
        Ok(found) => found,
        Err(refusal) => return refusal.into_response(),
    };
    let results = parse_devicecmd(&String::from_utf8_lossy(&body));
    hub.with_entry(&serial, |e| {
        for r in results {
            tracing::debug!(serial, id = %r.id, code = ?r.return_code, "ADMS command result");
            // Bounded: a device cannot grow the map past the commands we could have queued.
            if e.results.len() < 4096 || e.results.contains_key(&r.id) {
                e.results.insert(r.id.clone(), r);
            }
        }
    });
    text(StatusCode::OK, "OK".into())
}

async fn ping(State(hub): State<AdmsHub>, Query(query): Query<Vec<(String, String)>>) -> Response {
    match hub.contact(&Params(query)) {
        Ok(_) => text(StatusCode::OK, "OK".into()),
        Err(refusal) => refusal.into_response(),
    }
}
