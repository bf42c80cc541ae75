//! The protocol logic of the fake terminal: [`DeviceSession`], a pure state machine (packet in,
//! [`Action`]s out), over datasets built once per device.

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::{Bytes, BytesMut};

use super::{FakeConfig, Fault};
use crate::zk::codec::{
    AttendanceRecord, BufferReady, BufferRequest, ChunkRequest, CodecError, FreeSizes, Packet,
    PrepareData, RecordLayout, TCP_CHUNK, UDP_DATA_MAX, cmd, encode_zk_time, reply_text,
    verify_commkey,
};

/// The datasets and counters, built once per device (not on every request); the attendance
/// log grows by [`Datasets::append`] (a punch stored by the device, as a real terminal does).
#[derive(Debug)]
pub(super) struct Datasets {
    log: Mutex<Log>,
    users: Bytes,
    layout: RecordLayout,
    user_count: usize,
}

/// The attendance log: its records' bytes, the dataset served and the counters that count it.
#[derive(Debug)]
struct Log {
    body: BytesMut,
    records: usize,
    attendance: Bytes,
    sizes: FreeSizes,
}

impl Log {
    fn new(body: BytesMut, records: usize, users: usize) -> Self {
        let attendance = dataset(body.clone());
        Self {
            body,
            records,
            attendance,
            sizes: free_sizes(users, records),
        }
    }
}

fn dataset(body: BytesMut) -> Bytes {
    let mut out = BytesMut::with_capacity(4 + body.len());
    out.extend_from_slice(&u32::try_from(body.len()).unwrap_or(u32::MAX).to_le_bytes());
    out.extend_from_slice(&body);
    out.freeze()
}

fn free_sizes(users: usize, records: usize) -> FreeSizes {
    let count = |n: usize| i32::try_from(n).unwrap_or(i32::MAX);
    FreeSizes {
        users: count(users),
        fingerprints: 0,
        records: count(records),
        oplog: 0,
        admins: count(users.min(1)),
        fingerprint_capacity: 3000,
        user_capacity: 10_000,
        record_capacity: 100_000.max(count(records)),
        fingerprints_available: 3000,
        users_available: 10_000 - count(users.min(10_000)),
        records_available: 100_000 - count(records.min(100_000)),
        faces: Some((0, 0)),
    }
}

impl Datasets {
    pub(super) fn build(config: &FakeConfig) -> Result<Self, CodecError> {
        let mut body = BytesMut::new();
        let records = config.attendance();
        for r in &records {
            r.encode(config.record_layout, &mut body)?;
        }
        let log = Log::new(body, records.len(), config.users);
        let mut body = BytesMut::new();
        for u in config.user_table() {
            u.encode(config.user_layout, &mut body)?;
        }
        let users = dataset(body);
        Ok(Self {
            log: Mutex::new(log),
            users,
            layout: config.record_layout,
            user_count: config.users,
        })
    }

    /// Appends `record` to the attendance log (sessions read it from their next table request).
    pub(super) fn append(&self, record: &AttendanceRecord) -> Result<(), CodecError> {
        let mut log = self.log.lock().unwrap_or_else(PoisonError::into_inner);
        let mut body = log.body.clone();
        record.encode(self.layout, &mut body)?;
        *log = Log::new(body, log.records + 1, self.user_count);
        Ok(())
    }

    /// The attendance log's records now.
    pub(super) fn record_count(&self) -> usize {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .records
    }

    fn attendance(&self) -> Bytes {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .attendance
            .clone()
    }

    fn sizes(&self) -> FreeSizes {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .sizes
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
    pub(super) fn new(config: Arc<FakeConfig>, data: Arc<Datasets>, link: Link) -> Self {
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
            cmd::GET_FREE_SIZES => vec![self.reply(req, cmd::ACK_OK, self.data.sizes().encode())],
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
            Ok(r) if r.table == cmd::ATTLOG_RRQ => self.data.attendance(),
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
