//! A fake ZKTeco terminal on 127.0.0.1 (feature `fakes`), speaking [`super::codec`] from the
//! device side over TCP or UDP, following the rules of `docs/protocols.md` 1.13: one write per reply,
//! no unsolicited bytes except realtime events after `CMD_REG_EVENT`, `PREPARE_DATA` with exactly
//! 8 data bytes, several frames per read, counts that match the data, reply numbers echoed, one
//! event per frame waiting for the client's ACK (with a timeout), valid dates only, UDP `DATA`
//! datagrams of at most 1,024 data bytes and one protocol state per UDP peer.
//!
//! The protocol logic is [`DeviceSession`], a pure state machine (packet in, [`Action`]s out);
//! [`FakeDevice::serve_tcp`] and [`FakeDevice::serve_udp`] are thin socket loops around it.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use chrono::{NaiveDate, NaiveDateTime, TimeDelta};
use futures::future::BoxFuture;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{broadcast, oneshot, watch};
use tokio::task::JoinHandle;

use super::codec::{
    AttendanceRecord, BufferReady, BufferRequest, ChecksumPolicy, ChunkRequest, CodecError,
    EventLayout, FreeSizes, Packet, PrepareData, RealtimeAttendance, RecordLayout, TCP_CHUNK,
    UDP_DATA_MAX, UserLayout, UserRecord, cmd, decode_tcp_frame, encode_timehex, encode_zk_time,
    event_flag, reply_text, verify_commkey,
};

/// A failure the fake device injects on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Send `PREPARE_DATA` and half of the first `DATA` packet of the first chunk, then close the
    /// TCP connection (on UDP: send nothing more to that peer).
    DropMidTransfer,
    /// Stop answering as soon as a table is requested (`CMD_DATA_WRRQ`); the connection stays
    /// open.
    Stall,
    /// Answer the first table request with bytes that are not a ZK frame.
    Garbage,
    /// Refuse every comm key, the right one included.
    RejectAuth,
}

/// What the fake device holds and how it behaves. [`FakeConfig::default`] is a 40-byte-record
/// TFT terminal with 10 users and 100 records, no comm key.
#[derive(Debug, Clone)]
pub struct FakeConfig {
    /// Serial number (`~SerialNumber`).
    pub serial: String,
    /// Firmware version text (`CMD_GET_VERSION`).
    pub firmware: String,
    /// Platform (`~Platform`).
    pub platform: String,
    /// Device name (`~DeviceName`).
    pub device_name: String,
    /// Number of attendance records (generated; see [`FakeConfig::attendance`]).
    pub records: usize,
    /// A stored log to serve instead of the generated records (`records` and `first_record`
    /// are then ignored): a demo's backfill of realistic punches.
    pub log: Option<Vec<AttendanceRecord>>,
    /// Attendance record layout.
    pub record_layout: RecordLayout,
    /// Number of enrolled users (PINs `first_pin`, `first_pin + 1`, …).
    pub users: usize,
    /// The PIN of the first user (1001 by default; 1 to match employees enrolled as 1, 2, …).
    pub first_pin: usize,
    /// User record layout.
    pub user_layout: UserLayout,
    /// Comm key; `None` means the device accepts any client.
    pub comm_key: Option<u32>,
    /// Layout of realtime attendance events.
    pub event_layout: EventLayout,
    /// The device clock reported by `CMD_GET_TIME`.
    pub clock: NaiveDateTime,
    /// Time of the first record; record `k` is `k` minutes later.
    pub first_record: NaiveDateTime,
    /// Datasets up to this many bytes answer `CMD_DATA_WRRQ` inline with one `DATA` packet.
    pub inline_limit: usize,
    /// Most data bytes per `DATA` packet on TCP (0xFFC0: one packet per chunk; 1008 mimics a K20).
    pub tcp_data_packet: usize,
    /// How long to wait for the client's ACK of a realtime event before sending the next one.
    pub event_ack_timeout: Duration,
    /// A failure to inject, if any.
    pub fault: Option<Fault>,
}

fn at(y: i32, m: u32, d: u32, h: u32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(y, m, d)
        .and_then(|d| d.and_hms_opt(h, 0, 0))
        .unwrap_or_default()
}

impl Default for FakeConfig {
    fn default() -> Self {
        Self {
            serial: "FAKE0000000001".into(),
            firmware: "Ver 6.60 Apr 28 2017".into(),
            platform: "ZMM220_TFT".into(),
            device_name: "K40".into(),
            records: 100,
            log: None,
            record_layout: RecordLayout::Text40,
            users: 10,
            first_pin: 1001,
            user_layout: UserLayout::Text72,
            comm_key: None,
            event_layout: EventLayout::Text32,
            clock: at(2026, 1, 5, 12),
            first_record: at(2026, 1, 5, 8),
            inline_limit: 1024,
            tcp_data_packet: TCP_CHUNK,
            event_ack_timeout: Duration::from_secs(1),
            fault: None,
        }
    }
}

/// The verify types the fake cycles through: finger, face, card, password.
const VERIFY_CYCLE: [u8; 4] = [1, 15, 2, 0];

impl FakeConfig {
    /// The enrolled users: uid `i + 1`, PIN `first_pin + i`, name `User <i + 1>`; the first is an admin.
    pub fn user_table(&self) -> Vec<UserRecord> {
        (0..self.users)
            .map(|i| UserRecord {
                uid: u16::try_from(i + 1).unwrap_or(u16::MAX),
                privilege: if i == 0 { 14 } else { 0 },
                password: String::new(),
                name: format!("User {}", i + 1),
                card: 0,
                group: 1,
                user_id: (self.first_pin + i).to_string(),
            })
            .map(|mut u| {
                if self.user_layout == UserLayout::Text72 {
                    u.group = 0;
                }
                if self.user_layout == UserLayout::Numeric28 {
                    u.name.truncate(8);
                }
                u
            })
            .collect()
    }

    /// The attendance records: the `log` when one is set, else generated, the same for the same
    /// parameters: record `k` belongs to user
    /// `k % users` (PIN `first_pin + k % 10` when there are no users), is `k` minutes after
    /// [`FakeConfig::first_record`], cycles the verify types finger, face, card, password and the
    /// punch states 0–5. Fields the layout does not carry are left empty.
    pub fn attendance(&self) -> Vec<AttendanceRecord> {
        if let Some(log) = &self.log {
            return log.clone();
        }
        (0..self.records)
            .map(|k| {
                let slot = if self.users == 0 {
                    k % 10
                } else {
                    k % self.users
                };
                let time = self.first_record + TimeDelta::minutes(k as i64);
                AttendanceRecord {
                    uid: if self.record_layout == RecordLayout::Numeric16 {
                        0
                    } else {
                        u16::try_from(slot + 1).unwrap_or(u16::MAX)
                    },
                    user_id: if self.record_layout == RecordLayout::Compact8 {
                        String::new()
                    } else {
                        (self.first_pin + slot).to_string()
                    },
                    verify_type: VERIFY_CYCLE[k % VERIFY_CYCLE.len()],
                    punch_state: (k % 6) as u8,
                    time: encode_zk_time(time).unwrap_or(0),
                    work_code: 0,
                }
            })
            .collect()
    }

    /// A realtime punch for the `n`th live event: user `n % users`, the device clock plus `n`
    /// seconds, finger, check-in.
    pub fn live_event(&self, n: usize) -> RealtimeAttendance {
        let slot = if self.users == 0 {
            n % 10
        } else {
            n % self.users
        };
        let time = self.clock + TimeDelta::seconds(n as i64);
        RealtimeAttendance {
            user_id: (self.first_pin + slot).to_string(),
            verify_type: 1,
            punch_state: 0,
            time: encode_timehex(time).unwrap_or([26, 1, 1, 0, 0, 0]),
        }
    }
}

/// The datasets and counters, built once per device (not on every request).
#[derive(Debug)]
struct Datasets {
    attendance: Bytes,
    users: Bytes,
    sizes: FreeSizes,
}

fn dataset(body: BytesMut) -> Bytes {
    let mut out = BytesMut::with_capacity(4 + body.len());
    out.extend_from_slice(&u32::try_from(body.len()).unwrap_or(u32::MAX).to_le_bytes());
    out.extend_from_slice(&body);
    out.freeze()
}

impl Datasets {
    fn build(config: &FakeConfig) -> Result<Self, CodecError> {
        let mut body = BytesMut::new();
        let records = config.attendance();
        for r in &records {
            r.encode(config.record_layout, &mut body)?;
        }
        let records = records.len();
        let attendance = dataset(body);
        let mut body = BytesMut::new();
        for u in config.user_table() {
            u.encode(config.user_layout, &mut body)?;
        }
        let users = dataset(body);
        let count = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
        let sizes = FreeSizes {
            users: count(config.users),
            fingerprints: 0,
            records: count(records),
            oplog: 0,
            admins: count(config.users.min(1)),
            fingerprint_capacity: 3000,
            user_capacity: 10_000,
            record_capacity: 100_000.max(count(records)),
            fingerprints_available: 3000,
            users_available: 10_000 - count(config.users.min(10_000)),
            records_available: 100_000 - count(records.min(100_000)),
            faces: Some((0, 0)),
        };
        Ok(Self {
            attendance,
            users,
            sizes,
        })
    }
}

/// The transport a [`DeviceSession`] answers on; it decides the size of `DATA` packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    /// TCP: `DATA` packets of up to [`FakeConfig::tcp_data_packet`] bytes.
    Tcp,
    /// UDP: `DATA` datagrams of up to 1,024 bytes.
    Udp,
}

/// What the socket loop must do, in order, for one incoming packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send this packet in one write.
    Send(Packet),
    /// Send these raw bytes (garbage) in one write.
    Raw(Bytes),
    /// Send the first half of this packet, then end the connection (fault injection).
    Truncate(Packet),
    /// Close the connection after the previous actions.
    Close,
    /// Never answer this peer again.
    Stall,
    /// The client acknowledged a realtime event.
    EventAcked,
    /// The client changed its realtime event flags (0: none).
    Events(u32),
}

/// Session ids handed out by all fake devices of the process: deterministic, never 0.
static NEXT_SESSION: AtomicU16 = AtomicU16::new(0x1a50);

fn next_session() -> u16 {
    loop {
        let id = NEXT_SESSION.fetch_add(0x0101, Ordering::Relaxed);
        if id != 0 {
            return id;
        }
    }
}

/// The protocol state of one client (one TCP connection, or one UDP peer since its last
/// `CMD_CONNECT`): a pure state machine.
#[derive(Debug)]
pub struct DeviceSession {
    config: Arc<FakeConfig>,
    data: Arc<Datasets>,
    link: Link,
    session: u16,
    authenticated: bool,
    buffer: Option<Bytes>,
    faulted: bool,
}

impl DeviceSession {
    fn new(config: Arc<FakeConfig>, data: Arc<Datasets>, link: Link) -> Self {
        Self {
            config,
            data,
            link,
            session: 0,
            authenticated: false,
            buffer: None,
            faulted: false,
        }
    }

    /// The session id chosen at `CMD_CONNECT` (0 before).
    pub fn session_id(&self) -> u16 {
        self.session
    }

    fn reply(&self, req: &Packet, command: u16, data: impl Into<Bytes>) -> Action {
        Action::Send(Packet::new(command, self.session, req.reply, data))
    }

    fn ok(&self, req: &Packet) -> Action {
        self.reply(req, cmd::ACK_OK, Bytes::new())
    }

    fn text(&self, req: &Packet, text: &str) -> Action {
        let mut data = text.as_bytes().to_vec();
        data.push(0);
        self.reply(req, cmd::ACK_OK, data)
    }

    /// Answers one packet from the client.
    pub fn handle(&mut self, req: &Packet) -> Vec<Action> {
        let fault = self.config.fault;
        match req.command {
            cmd::CONNECT => {
                self.session = next_session();
                self.authenticated = self.config.comm_key.is_none();
                self.buffer = None;
                let code = if self.authenticated {
                    cmd::ACK_OK
                } else {
                    cmd::ACK_UNAUTH
                };
                return vec![self.reply(req, code, Bytes::new())];
            }
            cmd::AUTH => {
                let accepted = fault != Some(Fault::RejectAuth)
                    && self
                        .config
                        .comm_key
                        .is_none_or(|key| verify_commkey(key, self.session, &req.data));
                self.authenticated = accepted;
                let code = if accepted {
                    cmd::ACK_OK
                } else {
                    cmd::ACK_UNAUTH
                };
                return vec![self.reply(req, code, Bytes::new())];
            }
            // An ACK from the client acknowledges a realtime event: never answer it.
            cmd::ACK_OK => return vec![Action::EventAcked],
            _ => {}
        }
        if !self.authenticated {
            return vec![self.reply(req, cmd::ACK_UNAUTH, Bytes::new())];
        }
        match req.command {
            cmd::EXIT => vec![self.ok(req), Action::Close],
            cmd::ENABLE_DEVICE
            | cmd::DISABLE_DEVICE
            | cmd::STARTVERIFY
            | cmd::CANCELCAPTURE
            | cmd::SET_TIME
            | cmd::OPTIONS_WRQ => vec![self.ok(req)],
            cmd::GET_VERSION => vec![self.text(req, &self.config.firmware)],
            cmd::OPTIONS_RRQ => {
                let key = reply_text(&req.data, false);
                let value = match key.as_str() {
                    "~SerialNumber" => self.config.serial.clone(),
                    "~Platform" => self.config.platform.clone(),
                    "~DeviceName" => self.config.device_name.clone(),
                    "MAC" => "00:17:61:00:00:01".into(),
                    "~ZKFPVersion" => "10".into(),
                    "ZKFaceVersion" => "7".into(),
                    "FaceFunOn" | "~ExtendFmt" | "~UserExtFmt" | "CompatOldFirmware" => "0".into(),
                    "IPAddress" | "GATEIPAddress" => "127.0.0.1".into(),
                    "NetMask" => "255.0.0.0".into(),
                    _ => String::new(),
                };
                vec![self.text(req, &format!("{key}={value}"))]
            }
            cmd::GET_FREE_SIZES => vec![self.reply(req, cmd::ACK_OK, self.data.sizes.encode())],
            cmd::GET_TIME => {
                let t = encode_zk_time(self.config.clock).unwrap_or(0);
                vec![self.reply(req, cmd::ACK_OK, t.to_le_bytes().to_vec())]
            }
            cmd::REG_EVENT => {
                let flags = match req.data.len() {
                    0 | 1 => 0,
                    2 | 3 => u32::from(u16::from_le_bytes([req.data[0], req.data[1]])),
                    _ => u32::from_le_bytes([req.data[0], req.data[1], req.data[2], req.data[3]]),
                };
                vec![self.ok(req), Action::Events(flags)]
            }
            cmd::DATA_WRRQ => self.prepare_buffer(req),
            cmd::DATA_RDY => self.read_chunk(req),
            cmd::FREE_DATA => {
                self.buffer = None;
                vec![self.ok(req)]
            }
            cmd::CLEAR_ATTLOG | cmd::CLEAR_DATA => {
                vec![self.reply(req, cmd::ACK_ERROR, Bytes::new())]
            }
            _ => vec![self.reply(req, cmd::ACK_UNKNOWN, Bytes::new())],
        }
    }

    fn prepare_buffer(&mut self, req: &Packet) -> Vec<Action> {
        match self.config.fault {
            Some(Fault::Stall) => return vec![Action::Stall],
            Some(Fault::Garbage) if !self.faulted => {
                self.faulted = true;
                let junk: &[u8] = match self.link {
                    // Not the TCP magic: the reader must give up at once.
                    Link::Tcp => b"GARBAGE!GARBAGE!",
                    // Shorter than a ZK header.
                    Link::Udp => b"JUNK!",
                };
                return vec![Action::Raw(Bytes::from_static(junk))];
            }
            _ => {}
        }
        let table = match BufferRequest::decode(&req.data) {
            Ok(r) if r.table == cmd::ATTLOG_RRQ => self.data.attendance.clone(),
            Ok(r) if r.table == cmd::USERTEMP_RRQ => self.data.users.clone(),
            _ => return vec![self.reply(req, cmd::ACK_ERROR, Bytes::new())],
        };
        if table.len() <= self.config.inline_limit {
            return vec![self.reply(req, cmd::DATA, table)];
        }
        let check = table
            .iter()
            .map(|&b| u32::from(b))
            .fold(0u32, u32::wrapping_add);
        let size = u32::try_from(table.len()).unwrap_or(u32::MAX);
        self.buffer = Some(table);
        vec![self.reply(req, cmd::ACK_OK, BufferReady { size, check }.encode())]
    }

    fn read_chunk(&mut self, req: &Packet) -> Vec<Action> {
        let (Some(buffer), Ok(chunk)) = (&self.buffer, ChunkRequest::decode(&req.data)) else {
            return vec![self.reply(req, cmd::ACK_ERROR, Bytes::new())];
        };
        let start = usize::try_from(chunk.start).unwrap_or(usize::MAX);
        let length = usize::try_from(chunk.length).unwrap_or(0);
        if start >= buffer.len() || length == 0 {
            return vec![self.reply(req, cmd::ACK_ERROR, Bytes::new())];
        }
        let end = start.saturating_add(length).min(buffer.len());
        let bytes = buffer.slice(start..end);
        let per_packet = match self.link {
            Link::Tcp => self.config.tcp_data_packet.clamp(1, TCP_CHUNK),
            Link::Udp => UDP_DATA_MAX,
        };
        let prepare = PrepareData {
            length: u32::try_from(bytes.len()).unwrap_or(u32::MAX),
            x: 0xFFC0,
        };
        let mut actions = vec![self.reply(req, cmd::PREPARE_DATA, prepare.encode())];
        let mut offset = 0;
        while offset < bytes.len() {
            let next = (offset + per_packet).min(bytes.len());
            let data = Packet::new(
                cmd::DATA,
                self.session,
                req.reply,
                bytes.slice(offset..next),
            );
            if self.config.fault == Some(Fault::DropMidTransfer) {
                actions.push(Action::Truncate(data));
                return actions;
            }
            actions.push(Action::Send(data));
            offset = next;
        }
        actions.push(self.ok(req));
        actions
    }
}

/// A fake ZKTeco device: its configuration and the datasets built from it.
#[derive(Debug, Clone)]
pub struct FakeDevice {
    config: Arc<FakeConfig>,
    data: Arc<Datasets>,
    // Realtime punches to push to every registered client; each connection subscribes.
    events: broadcast::Sender<RealtimeAttendance>,
}

/// A running fake device: its address, a way to push live punches, and its shutdown.
#[derive(Debug)]
pub struct FakeHandle {
    addr: SocketAddr,
    device: FakeDevice,
    // Dropping or firing this ends the serve loop and, through it, every connection.
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl FakeHandle {
    /// Where the device listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The device's configuration.
    pub fn config(&self) -> &FakeConfig {
        &self.device.config
    }

    /// Pushes a realtime punch to every client registered for attendance events; returns how
    /// many connections received it (registered or not; unregistered ones drop it).
    pub fn push_event(&self, event: RealtimeAttendance) -> usize {
        self.device.push_event(event)
    }

    /// Stops the device and waits for its loop to end.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Err(e) = (&mut self.task).await {
            tracing::warn!(error = %e, "fake device task failed");
        }
    }
}

impl FakeDevice {
    /// A device for `config`; builds the datasets once. Fails when a record or user cannot be
    /// encoded in the chosen layout (which the generated data never causes).
    pub fn new(config: FakeConfig) -> Result<Self, CodecError> {
        let data = Arc::new(Datasets::build(&config)?);
        let (events, _) = broadcast::channel(1024);
        Ok(Self {
            config: Arc::new(config),
            data,
            events,
        })
    }

    /// Pushes a realtime punch to every client registered for attendance events (see
    /// [`FakeHandle::push_event`]); returns how many connections received it.
    pub fn push_event(&self, event: RealtimeAttendance) -> usize {
        self.events.send(event).unwrap_or(0)
    }

    /// The device's configuration.
    pub fn config(&self) -> &FakeConfig {
        &self.config
    }

    /// A session state machine for this device, as used by the socket loops.
    pub fn session(&self, link: Link) -> DeviceSession {
        DeviceSession::new(self.config.clone(), self.data.clone(), link)
    }

    /// Binds TCP on 127.0.0.1:`port` (0 for any) and serves in a background task.
    pub async fn spawn_tcp(config: FakeConfig, port: u16) -> std::io::Result<FakeHandle> {
        let device = Self::new(config).map_err(std::io::Error::other)?;
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        Ok(Self::start(device, addr, |device, stop| {
            device.serve_tcp(listener, stop)
        }))
    }

    /// Binds UDP on 127.0.0.1:`port` (0 for any) and serves in a background task.
    pub async fn spawn_udp(config: FakeConfig, port: u16) -> std::io::Result<FakeHandle> {
        let device = Self::new(config).map_err(std::io::Error::other)?;
        let socket = UdpSocket::bind(("127.0.0.1", port)).await?;
        let addr = socket.local_addr()?;
        Ok(Self::start(device, addr, |device, stop| {
            device.serve_udp(socket, stop)
        }))
    }

    /// Runs `serve` in a background task with a shutdown future that the handle fires.
    fn start<F, Fut>(device: FakeDevice, addr: SocketAddr, serve: F) -> FakeHandle
    where
        F: FnOnce(FakeDevice, BoxFuture<'static, ()>) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel::<()>();
        let stop: BoxFuture<'static, ()> = Box::pin(async move {
            let _ = rx.await;
        });
        let task = tokio::spawn(serve(device.clone(), stop));
        FakeHandle {
            addr,
            device,
            shutdown: Some(tx),
            task,
        }
    }

    /// Accepts TCP clients until `shutdown` completes, one task per connection; the connections
    /// end with it.
    pub async fn serve_tcp(self, listener: TcpListener, shutdown: impl Future<Output = ()>) {
        // Connections watch this to end when the device stops.
        let (stop_tx, stop_rx) = watch::channel(false);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        let device = self.clone();
                        let stop = stop_rx.clone();
                        tokio::spawn(async move {
                            if let Err(e) = device.serve_connection(stream, stop).await {
                                tracing::debug!(%peer, error = %e, "fake device connection ended");
                            }
                        });
                    }
                    Err(e) => tracing::warn!(error = %e, "fake device accept failed"),
                },
            }
        }
        let _ = stop_tx.send(true);
    }

    async fn serve_connection(
        &self,
        mut stream: TcpStream,
        mut stop: watch::Receiver<bool>,
    ) -> std::io::Result<()> {
        stream.set_nodelay(true)?;
        let mut session = self.session(Link::Tcp);
        let mut events = self.events.subscribe();
        let mut buf = BytesMut::with_capacity(4096);
        let mut registered = false;
        let mut stalled = false;
        let mut pending: VecDeque<RealtimeAttendance> = VecDeque::new();
        // Set while an event waits for its ACK: the next one goes out after the ACK or this time.
        let mut ack_deadline: Option<tokio::time::Instant> = None;
        loop {
            // Send the next event when nothing is awaiting an ACK.
            if ack_deadline.is_none()
                && let Some(event) = pending.pop_front()
            {
                match event.to_packet(self.config.event_layout) {
                    Ok(p) => {
                        stream.write_all(&p.to_tcp_bytes()).await?;
                        ack_deadline =
                            Some(tokio::time::Instant::now() + self.config.event_ack_timeout);
                    }
                    Err(e) => tracing::warn!(error = %e, "fake device cannot encode event"),
                }
                continue;
            }
            let deadline = ack_deadline;
            tokio::select! {
                _ = stop.changed() => return Ok(()),
                () = async { if let Some(d) = deadline { tokio::time::sleep_until(d).await } else { std::future::pending().await } } => {
                    tracing::debug!("fake device: event ACK timed out");
                    ack_deadline = None;
                }
                event = events.recv() => match event {
                    Ok(e) if registered => pending.push_back(e),
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(n)) => tracing::warn!(n, "fake device dropped events"),
                    Err(broadcast::error::RecvError::Closed) => return Ok(()),
                },
                read = stream.read_buf(&mut buf) => {
                    if read? == 0 {
                        // Includes pyzk's probe connection, which closes without a byte.
                        return Ok(());
                    }
                    loop {
                        let packet = match decode_tcp_frame(&mut buf, ChecksumPolicy::Lenient) {
                            Ok(Some(p)) => p,
                            Ok(None) => break,
                            Err(e) => {
                                tracing::warn!(error = %e, "fake device got a bad frame; closing");
                                return Ok(());
                            }
                        };
                        if stalled {
                            continue;
                        }
                        for action in session.handle(&packet) {
                            match action {
                                Action::Send(p) => stream.write_all(&p.to_tcp_bytes()).await?,
                                Action::Raw(bytes) => stream.write_all(&bytes).await?,
                                Action::Truncate(p) => {
                                    let frame = p.to_tcp_bytes();
                                    stream.write_all(&frame[..frame.len() / 2]).await?;
                                    stream.shutdown().await?;
                                    return Ok(());
                                }
                                Action::Close => {
                                    stream.shutdown().await?;
                                    return Ok(());
                                }
                                Action::Stall => stalled = true,
                                Action::EventAcked => ack_deadline = None,
                                Action::Events(flags) => {
                                    registered = flags & u32::from(event_flag::ATTLOG) != 0;
                                    if !registered {
                                        pending.clear();
                                        ack_deadline = None;
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// Serves UDP peers until `shutdown` completes, one [`DeviceSession`] per peer address (a new
    /// one on every `CMD_CONNECT`). Realtime events go to registered peers without waiting for
    /// ACKs, which are read and dropped.
    pub async fn serve_udp(self, socket: UdpSocket, shutdown: impl Future<Output = ()>) {
        struct Peer {
            session: DeviceSession,
            registered: bool,
            stalled: bool,
        }
        let mut peers: HashMap<SocketAddr, Peer> = HashMap::new();
        let mut events = self.events.subscribe();
        let mut buf = vec![0u8; 65_536];
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => return,
                event = events.recv() => {
                    let Ok(event) = event else { continue };
                    let Ok(packet) = event.to_packet(self.config.event_layout) else { continue };
                    let bytes = packet.to_udp_bytes();
                    for (addr, peer) in &peers {
                        if peer.registered
                            && !peer.stalled
                            && let Err(e) = socket.send_to(&bytes, addr).await
                        {
                            tracing::debug!(%addr, error = %e, "fake device send failed");
                        }
                    }
                }
                received = socket.recv_from(&mut buf) => {
                    let (n, addr) = match received {
                        Ok(r) => r,
                        Err(e) => {
                            tracing::debug!(error = %e, "fake device recv failed");
                            continue;
                        }
                    };
                    let packet = match Packet::decode(&buf[..n], ChecksumPolicy::Lenient) {
                        Ok(p) => p,
                        Err(e) => {
                            tracing::warn!(%addr, error = %e, "fake device got a bad datagram");
                            continue;
                        }
                    };
                    if packet.command == cmd::CONNECT {
                        peers.insert(addr, Peer { session: self.session(Link::Udp), registered: false, stalled: false });
                    }
                    let Some(peer) = peers.get_mut(&addr) else {
                        tracing::debug!(%addr, "fake device: datagram before CONNECT");
                        continue;
                    };
                    if peer.stalled {
                        continue;
                    }
                    let mut forget = false;
                    for action in peer.session.handle(&packet) {
                        let out = match action {
                            Action::Send(p) => p.to_udp_bytes(),
                            Action::Raw(bytes) => bytes,
                            Action::Truncate(_) | Action::Stall => {
                                peer.stalled = true;
                                break;
                            }
                            Action::Close => {
                                forget = true;
                                break;
                            }
                            Action::EventAcked => continue,
                            Action::Events(flags) => {
                                peer.registered = flags & u32::from(event_flag::ATTLOG) != 0;
                                continue;
                            }
                        };
                        if let Err(e) = socket.send_to(&out, addr).await {
                            tracing::debug!(%addr, error = %e, "fake device send failed");
                        }
                    }
                    if forget {
                        peers.remove(&addr);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zk::codec::{make_commkey, user_layout};

    fn session(config: FakeConfig, link: Link) -> DeviceSession {
        FakeDevice::new(config).unwrap().session(link)
    }

    fn sent(actions: &[Action]) -> Vec<&Packet> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Send(p) => Some(p),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn comm_key_flow() {
        let mut s = session(
            FakeConfig {
                comm_key: Some(12),
                ..FakeConfig::default()
            },
            Link::Tcp,
        );
        let a = s.handle(&Packet::new(cmd::CONNECT, 0, 0, Bytes::new()));
        assert_eq!(sent(&a)[0].command, cmd::ACK_UNAUTH);
        let id = s.session_id();
        assert_ne!(id, 0);
        let a = s.handle(&Packet::new(cmd::GET_TIME, id, 1, Bytes::new()));
        assert_eq!(sent(&a)[0].command, cmd::ACK_UNAUTH);
        let a = s.handle(&Packet::new(
            cmd::AUTH,
            id,
            2,
            make_commkey(13, id, 50).to_vec(),
        ));
        assert_eq!(sent(&a)[0].command, cmd::ACK_UNAUTH);
        let a = s.handle(&Packet::new(
            cmd::AUTH,
            id,
            3,
            make_commkey(12, id, 50).to_vec(),
        ));
        assert_eq!((sent(&a)[0].command, sent(&a)[0].reply), (cmd::ACK_OK, 3));
        // Event ACKs are never answered.
        assert_eq!(
            s.handle(&Packet::new(cmd::ACK_OK, id, 0, Bytes::new())),
            vec![Action::EventAcked]
        );
    }

    #[test]
    fn buffered_read_on_udp_uses_small_datagrams() {
        let config = FakeConfig {
            records: 500,
            ..FakeConfig::default()
        };
        let mut s = session(config, Link::Udp);
        s.handle(&Packet::new(cmd::CONNECT, 0, 0, Bytes::new()));
        let a = s.handle(&Packet::new(
            cmd::DATA_WRRQ,
            1,
            1,
            BufferRequest::ATTENDANCE.encode(),
        ));
        let ready = BufferReady::decode(&sent(&a)[0].data).unwrap();
        assert_eq!(ready.size, 4 + 500 * 40);
        let a = s.handle(&Packet::new(
            cmd::DATA_RDY,
            1,
            2,
            ChunkRequest {
                start: 0,
                length: 16 * 1024,
            }
            .encode(),
        ));
        let packets = sent(&a);
        assert_eq!(packets[0].command, cmd::PREPARE_DATA);
        assert_eq!(packets[0].data.len(), 8);
        assert_eq!(packets.len(), 1 + 16 + 1);
        assert!(packets.iter().all(|p| p.reply == 2 && p.data.len() <= 1024));
        assert_eq!(packets.last().unwrap().command, cmd::ACK_OK);
    }

    #[test]
    fn users_are_answered_inline_and_match_the_counts() {
        let mut s = session(FakeConfig::default(), Link::Tcp);
        s.handle(&Packet::new(cmd::CONNECT, 0, 0, Bytes::new()));
        let a = s.handle(&Packet::new(
            cmd::DATA_WRRQ,
            1,
            1,
            BufferRequest::USERS.encode(),
        ));
        let p = sent(&a)[0];
        assert_eq!(p.command, cmd::DATA);
        let body = crate::zk::codec::dataset_body(&p.data).unwrap();
        assert_eq!(
            user_layout(body.len(), 10).unwrap(),
            Some(UserLayout::Text72)
        );
    }

    #[test]
    fn records_are_deterministic_and_valid() {
        let config = FakeConfig {
            records: 2000,
            ..FakeConfig::default()
        };
        assert_eq!(config.attendance(), config.attendance());
        assert!(config.attendance().iter().all(|r| r.local_time().is_ok()));
    }
}
