//! Our async ZKTeco client over TCP or UDP: connect (with the comm key), device information,
//! buffered downloads of users and attendance records, conversion to
//! [`attendance_core::scan::ScanData`] in the machine's time zone, and live capture.
//!
//! Every wait for the device is bounded by [`ZkConfig::timeout`] (except the wait for the next
//! live event, which may be hours) and every failure is a typed [`ZkError`].

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use attendance_core::ValidationError;
use attendance_core::employee::DeviceUserId;
use attendance_core::scan::{MachineId, PunchState, ScanData, VerifyMode};
use attendance_core::time::local_to_utc;
use bytes::{Bytes, BytesMut};
use chrono::NaiveDateTime;
use chrono_tz::Tz;
use futures::Stream;
use thiserror::Error;

use super::codec::{
    AttendanceRecord, BufferReady, BufferRequest, ChecksumPolicy, ChunkRequest, CodecError,
    FreeSizes, Packet, PrepareData, RealtimeAttendance, RecordLayout, TCP_CHUNK, UDP_CHUNK,
    UserLayout, UserRecord, attendance_layout, cmd, dataset_body, decode_attendance_records,
    decode_user_records, decode_zk_time, event_flag, make_commkey, reply_text, user_layout,
};
use super::transport::{PacketLink, RecvError};

/// The transport to the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Transport {
    /// TCP port 4370 with the `50 50 82 7d` prefix.
    #[default]
    Tcp,
    /// UDP port 4370, one packet per datagram.
    Udp,
}

/// How to reach and talk to one device.
#[derive(Debug, Clone)]
pub struct ZkConfig {
    /// The device's address (port 4370 on real terminals).
    pub addr: SocketAddr,
    /// TCP or UDP.
    pub transport: Transport,
    /// The comm key set on the device, if any.
    pub comm_key: Option<u32>,
    /// The longest wait for any answer (and for the TCP connection).
    pub timeout: Duration,
    /// Whether packets with a wrong checksum are rejected or only logged.
    pub checksum_policy: ChecksumPolicy,
    /// Bytes per chunk request; `None` uses 0xFFC0 on TCP and 16 KiB on UDP, as pyzk does.
    pub chunk_size: Option<u32>,
}

impl ZkConfig {
    /// A TCP configuration with a 5-second timeout, no comm key and lenient checksums.
    pub fn tcp(addr: SocketAddr) -> Self {
        Self {
            addr,
            transport: Transport::Tcp,
            comm_key: None,
            timeout: Duration::from_secs(5),
            checksum_policy: ChecksumPolicy::Lenient,
            chunk_size: None,
        }
    }

    /// The same over UDP.
    pub fn udp(addr: SocketAddr) -> Self {
        Self {
            transport: Transport::Udp,
            ..Self::tcp(addr)
        }
    }

    /// With a comm key.
    pub fn with_comm_key(mut self, key: u32) -> Self {
        self.comm_key = Some(key);
        self
    }

    /// With another timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    fn chunk(&self) -> u32 {
        match (self.chunk_size, self.transport) {
            (Some(n), _) => n.max(1),
            (None, Transport::Tcp) => TCP_CHUNK as u32,
            (None, Transport::Udp) => UDP_CHUNK as u32,
        }
    }
}

/// Why the device rejected the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum AuthFailure {
    /// The device has a comm key and none was configured.
    #[error("the device requires a comm key")]
    KeyRequired,
    /// The device refused the configured comm key.
    #[error("the device rejected the comm key")]
    KeyRejected,
}

/// Everything that can go wrong talking to a device.
#[derive(Debug, Error)]
pub enum ZkError {
    /// The connection could not be opened (refused, no route, …).
    #[error("cannot reach the device at {addr}: {source}")]
    Unreachable {
        /// The device's address.
        addr: SocketAddr,
        /// The socket error.
        #[source]
        source: io::Error,
    },
    /// The device did not answer in time.
    #[error("no answer from the device during {during} within {timeout:?}")]
    Timeout {
        /// What the client was doing.
        during: &'static str,
        /// The timeout that expired.
        timeout: Duration,
    },
    /// The comm key was missing or wrong.
    #[error("authentication failed: {0}")]
    Auth(#[from] AuthFailure),
    /// The device sent bytes that are not valid protocol data.
    #[error("protocol error during {during}: {source}")]
    Codec {
        /// What the client was doing.
        during: &'static str,
        /// What was wrong with the bytes.
        #[source]
        source: CodecError,
    },
    /// The device sent a valid packet that makes no sense at this point.
    #[error("unexpected reply {command} during {during}: {detail}")]
    Unexpected {
        /// What the client was doing.
        during: &'static str,
        /// The packet's command or reply code.
        command: u16,
        /// What was expected instead.
        detail: String,
    },
    /// The device answered with an error code (`ACK_ERROR`, `ACK_UNKNOWN`, …).
    #[error("the device refused {during} with reply code {reply}")]
    Refused {
        /// What the client asked for.
        during: &'static str,
        /// The device's reply code.
        reply: u16,
    },
    /// The device closed the connection.
    #[error("the device closed the connection during {during}")]
    Disconnected {
        /// What the client was doing.
        during: &'static str,
    },
    /// The socket failed after the connection was open.
    #[error("socket error during {during}: {source}")]
    Io {
        /// What the client was doing.
        during: &'static str,
        /// The socket error.
        #[source]
        source: io::Error,
    },
}

impl ZkError {
    fn from_recv(e: RecvError, during: &'static str, addr: SocketAddr) -> Self {
        match e {
            RecvError::Closed => Self::Disconnected { during },
            RecvError::Codec(source) => Self::Codec { during, source },
            // A connected UDP socket reports an ICMP "port unreachable" as a refused connection.
            RecvError::Io(source) if source.kind() == io::ErrorKind::ConnectionRefused => {
                Self::Unreachable { addr, source }
            }
            RecvError::Io(source) if is_disconnect(&source) => Self::Disconnected { during },
            RecvError::Io(source) => Self::Io { during, source },
        }
    }
}

fn is_disconnect(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::UnexpectedEof
    )
}

/// The ZK verify type as a [`VerifyMode`]: 0 password, 1 fingerprint, 2 card, 15 face, anything
/// else kept as [`VerifyMode::Other`] because its meaning varies with firmware.
pub fn verify_mode(code: u8) -> VerifyMode {
    match code {
        0 => VerifyMode::Password,
        1 => VerifyMode::Fingerprint,
        2 => VerifyMode::Card,
        15 => VerifyMode::Face,
        other => VerifyMode::Other(u16::from(other)),
    }
}

/// Why one downloaded record could not become a scan; the rest of the download is unaffected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BadRecordReason {
    /// The record's time is an impossible date.
    #[error("{0}")]
    Time(CodecError),
    /// The record's user id is not a valid device user id.
    #[error("{0}")]
    UserId(ValidationError),
}

/// A record that could not become a scan, with its raw bytes for the audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRecord {
    /// Position of the record in the download.
    pub index: usize,
    /// The record's bytes as hex.
    pub raw: String,
    /// What was wrong.
    pub reason: BadRecordReason,
}

/// The attendance records of one download, as the device stores them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AttendanceDump {
    /// The record layout, `None` when the device had no records.
    pub layout: Option<RecordLayout>,
    /// The decoded records, in device order.
    pub records: Vec<AttendanceRecord>,
    /// The records' bytes back to back (the dataset without its length prefix).
    pub raw: Bytes,
}

/// The result of [`ZkClient::pull`]: users, scans and the records that could not be converted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pull {
    /// The user table.
    pub users: Vec<UserRecord>,
    /// The record layout found, if there were records.
    pub layout: Option<RecordLayout>,
    /// Every good record as a scan, in device order.
    pub scans: Vec<ScanData>,
    /// Records with an impossible date or user id.
    pub bad_records: Vec<BadRecord>,
}

fn to_hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

fn to_scan(
    machine: &MachineId,
    tz: Tz,
    user_id: &str,
    local: Result<NaiveDateTime, CodecError>,
    verify_type: u8,
    punch_state: u8,
    raw: String,
) -> Result<ScanData, (String, BadRecordReason)> {
    let local = match local {
        Ok(t) => t,
        Err(e) => return Err((raw, BadRecordReason::Time(e))),
    };
    let device_user_id = match DeviceUserId::parse(user_id) {
        Ok(id) => id,
        Err(e) => return Err((raw, BadRecordReason::UserId(e))),
    };
    Ok(ScanData {
        machine_id: machine.clone(),
        device_user_id,
        timestamp: local_to_utc(tz, local),
        punch_state: PunchState::from_code(punch_state),
        verify_mode: verify_mode(verify_type),
        raw: Some(raw),
    })
}

/// Converts downloaded records into scans: the device clock is naive local time in `tz`. The PIN
/// of 8-byte records comes from `users` through the uid; a uid missing from the table is used as
/// the PIN itself, as pyzk does. Records with an impossible date or PIN become [`BadRecord`]s.
pub fn records_to_scans(
    dump: &AttendanceDump,
    users: &[UserRecord],
    machine: &MachineId,
    tz: Tz,
) -> (Vec<ScanData>, Vec<BadRecord>) {
    let pins: HashMap<u16, &str> = users.iter().map(|u| (u.uid, u.user_id.as_str())).collect();
    let size = dump.layout.map_or(1, RecordLayout::size);
    let mut scans = Vec::with_capacity(dump.records.len());
    let mut bad = Vec::new();
    for (index, (record, raw)) in dump
        .records
        .iter()
        .zip(dump.raw.chunks_exact(size))
        .enumerate()
    {
        let uid_text;
        let user_id = if dump.layout == Some(RecordLayout::Compact8) {
            match pins.get(&record.uid) {
                Some(pin) => *pin,
                None => {
                    uid_text = record.uid.to_string();
                    &uid_text
                }
            }
        } else {
            &record.user_id
        };
        match to_scan(
            machine,
            tz,
            user_id,
            record.local_time(),
            record.verify_type,
            record.punch_state,
            to_hex(raw),
        ) {
            Ok(scan) => scans.push(scan),
            Err((raw, reason)) => bad.push(BadRecord { index, raw, reason }),
        }
    }
    (scans, bad)
}

/// Converts a realtime event into a scan (see [`records_to_scans`]); the raw field holds the
/// event data as hex.
pub fn event_to_scan(
    event: &RealtimeAttendance,
    data: &[u8],
    machine: &MachineId,
    tz: Tz,
) -> Result<ScanData, BadRecordReason> {
    to_scan(
        machine,
        tz,
        &event.user_id,
        event.local_time(),
        event.verify_type,
        event.punch_state,
        to_hex(data),
    )
    .map_err(|(_, reason)| reason)
}

/// The next reply number after `n`: 0..=65534, wrapping as pyzk does.
fn next_reply(n: u16) -> u16 {
    if n >= 65_534 { 0 } else { n + 1 }
}

/// A connected (and authenticated) session with one device.
#[derive(Debug)]
pub struct ZkClient {
    link: PacketLink,
    config: ZkConfig,
    session: u16,
    reply: u16,
    // Realtime event packets received while waiting for a reply; already acknowledged.
    events: VecDeque<Packet>,
}

impl ZkClient {
    /// Connects, and authenticates with the comm key when the device asks for one. Errors:
    /// [`ZkError::Unreachable`], [`ZkError::Timeout`], [`ZkError::Auth`] (no key configured, or
    /// the key was refused), [`ZkError::Refused`] and protocol errors.
    pub async fn connect(config: ZkConfig) -> Result<Self, ZkError> {
        let addr = config.addr;
        let unreachable = |source| ZkError::Unreachable { addr, source };
        let link = match config.transport {
            Transport::Tcp => tokio::time::timeout(config.timeout, PacketLink::tcp(addr))
                .await
                .map_err(|_| ZkError::Timeout {
                    during: "connect",
                    timeout: config.timeout,
                })?
                .map_err(unreachable)?,
            Transport::Udp => PacketLink::udp(addr).await.map_err(unreachable)?,
        };
        let mut client = Self {
            link,
            config,
            session: 0,
            // pyzk starts at 65534 and increments before sending: CONNECT carries 0.
            reply: 65_534,
            events: VecDeque::new(),
        };
        let answer = client
            .request(cmd::CONNECT, Bytes::new(), "connect")
            .await?;
        client.session = answer.session;
        match answer.command {
            cmd::ACK_OK => {}
            cmd::ACK_UNAUTH => {
                let key = client.config.comm_key.ok_or(AuthFailure::KeyRequired)?;
                let proof = make_commkey(key, client.session, 50);
                let answer = client
                    .request(cmd::AUTH, Bytes::copy_from_slice(&proof), "auth")
                    .await?;
                match answer.command {
                    cmd::ACK_OK => {}
                    cmd::ACK_UNAUTH => return Err(AuthFailure::KeyRejected.into()),
                    reply => {
                        return Err(ZkError::Refused {
                            during: "auth",
                            reply,
                        });
                    }
                }
            }
            reply => {
                return Err(ZkError::Refused {
                    during: "connect",
                    reply,
                });
            }
        }
        tracing::debug!(addr = %client.config.addr, session = client.session, "connected to ZK device");
        Ok(client)
    }

    /// The session id the device assigned.
    pub fn session_id(&self) -> u16 {
        self.session
    }

    async fn send(&mut self, packet: &Packet, during: &'static str) -> Result<(), ZkError> {
        self.link.send(packet).await.map_err(|source| {
            if is_disconnect(&source) {
                ZkError::Disconnected { during }
            } else {
                ZkError::Io { during, source }
            }
        })
    }

    /// Receives one packet within the timeout.
    async fn recv(&mut self, during: &'static str) -> Result<Packet, ZkError> {
        let timeout = self.config.timeout;
        match tokio::time::timeout(timeout, self.link.recv(self.config.checksum_policy)).await {
            Err(_) => Err(ZkError::Timeout { during, timeout }),
            Ok(Err(e)) => Err(ZkError::from_recv(e, during, self.config.addr)),
            Ok(Ok(p)) => Ok(p),
        }
    }

    fn is_event(packet: &Packet) -> bool {
        packet.command == cmd::REG_EVENT && packet.reply == 0
    }

    async fn ack_event(&mut self) -> Result<(), ZkError> {
        let ack = Packet::new(cmd::ACK_OK, self.session, 0, Bytes::new());
        self.send(&ack, "event ack").await
    }

    /// Receives the next answer to the current request: realtime events in between are
    /// acknowledged and kept for [`LiveCapture`], stale answers (another reply number) skipped.
    async fn recv_reply(&mut self, during: &'static str) -> Result<Packet, ZkError> {
        loop {
            let p = self.recv(during).await?;
            if Self::is_event(&p) {
                self.ack_event().await?;
                self.events.push_back(p);
                continue;
            }
            if p.reply != self.reply {
                tracing::warn!(
                    command = p.command,
                    got = p.reply,
                    want = self.reply,
                    "skipping a ZK packet with another reply number"
                );
                continue;
            }
            return Ok(p);
        }
    }

    async fn request(
        &mut self,
        command: u16,
        data: Bytes,
        during: &'static str,
    ) -> Result<Packet, ZkError> {
        self.reply = next_reply(self.reply);
        let packet = Packet::new(command, self.session, self.reply, data);
        self.send(&packet, during).await?;
        self.recv_reply(during).await
    }

    fn expect(p: Packet, during: &'static str) -> Result<Packet, ZkError> {
        match p.command {
            cmd::ACK_OK => Ok(p),
            cmd::ACK_UNAUTH => Err(AuthFailure::KeyRejected.into()),
            reply => Err(ZkError::Refused { during, reply }),
        }
    }

    async fn command(
        &mut self,
        command: u16,
        data: Bytes,
        during: &'static str,
    ) -> Result<Packet, ZkError> {
        let p = self.request(command, data, during).await?;
        Self::expect(p, during)
    }

    /// The firmware version text (`Ver 6.60 Apr 28 2017`).
    pub async fn firmware_version(&mut self) -> Result<String, ZkError> {
        let p = self
            .command(cmd::GET_VERSION, Bytes::new(), "firmware version")
            .await?;
        Ok(reply_text(&p.data, false))
    }

    /// The value of option `key` (`~SerialNumber`, `~Platform`, …); empty when the device
    /// does not know the key.
    pub async fn read_option(&mut self, key: &str) -> Result<String, ZkError> {
        let mut data = key.as_bytes().to_vec();
        data.push(0);
        let p = self
            .command(cmd::OPTIONS_RRQ, data.into(), "read option")
            .await?;
        Ok(reply_text(&p.data, true))
    }

    /// The serial number, which is the machine id of real devices.
    pub async fn serial_number(&mut self) -> Result<String, ZkError> {
        self.read_option("~SerialNumber").await
    }

    /// The device clock (naive local time).
    pub async fn device_time(&mut self) -> Result<NaiveDateTime, ZkError> {
        let during = "device time";
        let p = self.command(cmd::GET_TIME, Bytes::new(), during).await?;
        let raw: [u8; 4] =
            p.data
                .get(..4)
                .and_then(|b| b.try_into().ok())
                .ok_or(ZkError::Codec {
                    during,
                    source: CodecError::TooShort {
                        what: "device time",
                        needed: 4,
                        got: p.data.len(),
                    },
                })?;
        decode_zk_time(u32::from_le_bytes(raw)).map_err(|source| ZkError::Codec { during, source })
    }

    /// The counters of users, records and capacities.
    pub async fn free_sizes(&mut self) -> Result<FreeSizes, ZkError> {
        let during = "free sizes";
        let p = self
            .command(cmd::GET_FREE_SIZES, Bytes::new(), during)
            .await?;
        FreeSizes::decode(&p.data).map_err(|source| ZkError::Codec { during, source })
    }

    /// Makes the terminal refuse user activity until [`ZkClient::enable_device`].
    pub async fn disable_device(&mut self) -> Result<(), ZkError> {
        self.command(cmd::DISABLE_DEVICE, Bytes::new(), "disable device")
            .await
            .map(drop)
    }

    /// Makes the terminal usable again.
    pub async fn enable_device(&mut self) -> Result<(), ZkError> {
        self.command(cmd::ENABLE_DEVICE, Bytes::new(), "enable device")
            .await
            .map(drop)
    }

    /// Reads a whole table through the device's read buffer (`docs/protocols.md` 1.7) and returns the
    /// dataset (`u32 total_bytes` + entries).
    async fn read_buffer(
        &mut self,
        request: BufferRequest,
        during: &'static str,
    ) -> Result<Bytes, ZkError> {
        let first = self
            .request(cmd::DATA_WRRQ, request.encode(), during)
            .await?;
        let size = match first.command {
            // Small tables come back inline, and need no FREE_DATA.
            cmd::DATA => return Ok(first.data),
            cmd::ACK_OK => {
                BufferReady::decode(&first.data)
                    .map_err(|source| ZkError::Codec { during, source })?
                    .size
            }
            _ => return Self::expect(first, during).map(|_| Bytes::new()),
        };
        // The size comes from outside: do not trust it for the allocation.
        let mut out = BytesMut::with_capacity((size as usize).min(16 << 20));
        let chunk = self.config.chunk();
        let mut start: u32 = 0;
        while start < size {
            let length = chunk.min(size - start);
            self.read_chunk(start, length, &mut out, during).await?;
            start += length;
        }
        if out.len() != size as usize {
            return Err(ZkError::Unexpected {
                during,
                command: cmd::DATA,
                detail: format!("{} bytes received for a {size}-byte buffer", out.len()),
            });
        }
        self.command(cmd::FREE_DATA, Bytes::new(), "free data")
            .await?;
        Ok(out.freeze())
    }

    async fn read_chunk(
        &mut self,
        start: u32,
        length: u32,
        out: &mut BytesMut,
        during: &'static str,
    ) -> Result<(), ZkError> {
        let request = ChunkRequest {
            start: i32::try_from(start).unwrap_or(i32::MAX),
            length: i32::try_from(length).unwrap_or(i32::MAX),
        };
        let first = self
            .request(cmd::DATA_RDY, request.encode(), during)
            .await?;
        let want = match first.command {
            // Some firmware answers a chunk request with the data directly.
            cmd::DATA => {
                out.extend_from_slice(&first.data);
                return Ok(());
            }
            cmd::PREPARE_DATA => {
                PrepareData::decode(&first.data)
                    .map_err(|source| ZkError::Codec { during, source })?
                    .length as usize
            }
            _ => return Self::expect(first, during).map(drop),
        };
        if want > length as usize {
            return Err(ZkError::Unexpected {
                during,
                command: cmd::PREPARE_DATA,
                detail: format!("{want} bytes announced for a {length}-byte chunk"),
            });
        }
        let mut got = 0;
        while got < want {
            let p = self.recv_reply(during).await?;
            if p.command != cmd::DATA {
                return Err(ZkError::Unexpected {
                    during,
                    command: p.command,
                    detail: format!("DATA expected, {got} of {want} bytes received"),
                });
            }
            got += p.data.len();
            if got > want {
                return Err(ZkError::Unexpected {
                    during,
                    command: p.command,
                    detail: format!("{got} bytes received for a {want}-byte chunk"),
                });
            }
            out.extend_from_slice(&p.data);
        }
        let ack = self.recv_reply(during).await?;
        Self::expect(ack, during).map(drop)
    }

    /// The user table. Its layout is derived from the user count of `sizes` (read it with
    /// [`ZkClient::free_sizes`]); errors with [`ZkError::Codec`] when it matches no layout.
    pub async fn read_users(&mut self, sizes: &FreeSizes) -> Result<Vec<UserRecord>, ZkError> {
        let during = "read users";
        let count = usize::try_from(sizes.users).unwrap_or(0);
        if count == 0 {
            return Ok(Vec::new());
        }
        let codec = |source| ZkError::Codec { during, source };
        let dataset = self.read_buffer(BufferRequest::USERS, during).await?;
        let body = dataset_body(&dataset).map_err(codec)?;
        let Some(layout): Option<UserLayout> = user_layout(body.len(), count).map_err(codec)?
        else {
            return Ok(Vec::new());
        };
        decode_user_records(layout, body).map_err(codec)
    }

    /// All attendance records, through the buffered read. The layout is derived from the
    /// record count of `sizes`; a count of 0 skips the download, as pyzk does.
    pub async fn read_attendance(&mut self, sizes: &FreeSizes) -> Result<AttendanceDump, ZkError> {
        let during = "read attendance";
        let count = usize::try_from(sizes.records).unwrap_or(0);
        if count == 0 {
            return Ok(AttendanceDump::default());
        }
        let codec = |source| ZkError::Codec { during, source };
        let dataset = self.read_buffer(BufferRequest::ATTENDANCE, during).await?;
        let body = dataset_body(&dataset).map_err(codec)?;
        let layout = attendance_layout(body.len(), count).map_err(codec)?;
        let records = match layout {
            Some(layout) => decode_attendance_records(layout, body).map_err(codec)?,
            None => Vec::new(),
        };
        let raw = dataset.slice(4..4 + body.len());
        Ok(AttendanceDump {
            layout,
            records,
            raw,
        })
    }

    /// The complete pull in the recommended order: disable the terminal, read the counters,
    /// the users and the attendance records, then enable the terminal again on every path,
    /// errors included. Records become scans in `tz` (see [`records_to_scans`]).
    pub async fn pull(&mut self, machine: &MachineId, tz: Tz) -> Result<Pull, ZkError> {
        self.disable_device().await?;
        let result = self.pull_disabled().await;
        let enabled = self.enable_device().await;
        let (users, dump) = match (result, enabled) {
            (Ok(r), Ok(())) => r,
            (Err(e), enabled) => {
                if let Err(again) = enabled {
                    tracing::warn!(error = %again, "could not enable the device after a failed pull");
                }
                return Err(e);
            }
            (Ok(_), Err(e)) => return Err(e),
        };
        let (scans, bad_records) = records_to_scans(&dump, &users, machine, tz);
        if !bad_records.is_empty() {
            tracing::warn!(
                machine = %machine,
                bad = bad_records.len(),
                "ZK records that could not become scans"
            );
        }
        Ok(Pull {
            users,
            layout: dump.layout,
            scans,
            bad_records,
        })
    }

    async fn pull_disabled(&mut self) -> Result<(Vec<UserRecord>, AttendanceDump), ZkError> {
        let sizes = self.free_sizes().await?;
        let users = self.read_users(&sizes).await?;
        let dump = self.read_attendance(&sizes).await?;
        Ok((users, dump))
    }

    /// Registers for realtime attendance events and returns the capture. End it with
    /// [`LiveCapture::stop`] to get the client back.
    pub async fn live_capture(mut self) -> Result<LiveCapture, ZkError> {
        self.command(
            cmd::REG_EVENT,
            Bytes::copy_from_slice(&u32::from(event_flag::ATTLOG).to_le_bytes()),
            "register events",
        )
        .await?;
        Ok(LiveCapture { client: self })
    }

    /// Ends the session (`CMD_EXIT`) and closes the connection.
    pub async fn disconnect(mut self) -> Result<(), ZkError> {
        self.command(cmd::EXIT, Bytes::new(), "exit")
            .await
            .map(drop)
    }
}

/// A realtime event from the device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiveEvent {
    /// An attendance punch, with its raw data.
    Attendance {
        /// The decoded punch.
        event: RealtimeAttendance,
        /// The event data as sent.
        data: Bytes,
    },
    /// Another event kind (flag other than 1), kept raw.
    Other {
        /// The event flag.
        flag: u16,
        /// The event data.
        data: Bytes,
    },
}

/// A client registered for realtime events. Every event is acknowledged as it arrives.
#[derive(Debug)]
pub struct LiveCapture {
    client: ZkClient,
}

impl LiveCapture {
    /// Waits (without timeout: punches may be hours apart) for the next event. Errors with
    /// [`ZkError::Disconnected`] when the device closes the connection and with
    /// [`ZkError::Codec`] for an attendance event of unknown size.
    pub async fn next_event(&mut self) -> Result<LiveEvent, ZkError> {
        let during = "live capture";
        let packet = loop {
            if let Some(p) = self.client.events.pop_front() {
                break p;
            }
            let p = self
                .client
                .link
                .recv(self.client.config.checksum_policy)
                .await
                .map_err(|e| ZkError::from_recv(e, during, self.client.config.addr))?;
            if ZkClient::is_event(&p) {
                self.client.ack_event().await?;
                break p;
            }
            tracing::debug!(
                command = p.command,
                "ignoring a non-event packet during live capture"
            );
        };
        if packet.session & event_flag::ATTLOG != 0 {
            let event = RealtimeAttendance::decode(&packet.data)
                .map_err(|source| ZkError::Codec { during, source })?;
            Ok(LiveEvent::Attendance {
                event,
                data: packet.data,
            })
        } else {
            Ok(LiveEvent::Other {
                flag: packet.session,
                data: packet.data,
            })
        }
    }

    /// Waits for the next attendance punch and converts it to a scan (other events are
    /// skipped). A punch with an impossible date or PIN is logged and skipped.
    pub async fn next_scan(&mut self, machine: &MachineId, tz: Tz) -> Result<ScanData, ZkError> {
        loop {
            if let LiveEvent::Attendance { event, data } = self.next_event().await? {
                match event_to_scan(&event, &data, machine, tz) {
                    Ok(scan) => return Ok(scan),
                    Err(reason) => tracing::warn!(%reason, "skipping a bad realtime punch"),
                }
            }
        }
    }

    /// The punches as a stream of scans; it ends after the first error.
    pub fn into_scans(
        self,
        machine: MachineId,
        tz: Tz,
    ) -> impl Stream<Item = Result<ScanData, ZkError>> {
        futures::stream::unfold(Some(self), move |state| {
            let machine = machine.clone();
            async move {
                let mut capture = state?;
                match capture.next_scan(&machine, tz).await {
                    Ok(scan) => Some((Ok(scan), Some(capture))),
                    Err(e) => Some((Err(e), None)),
                }
            }
        })
    }

    /// Unregisters (flags 0), acknowledging events that arrive meanwhile (they stay queued for
    /// nobody and are dropped), and returns the client.
    pub async fn stop(mut self) -> Result<ZkClient, ZkError> {
        self.client
            .command(
                cmd::REG_EVENT,
                Bytes::copy_from_slice(&0u32.to_le_bytes()),
                "unregister events",
            )
            .await?;
        self.client.events.clear();
        Ok(self.client)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_numbers_wrap_like_pyzk() {
        assert_eq!(next_reply(65_534), 0);
        assert_eq!(next_reply(0), 1);
        assert_eq!(next_reply(65_535), 0);
    }

    #[test]
    fn verify_modes() {
        assert_eq!(verify_mode(1), VerifyMode::Fingerprint);
        assert_eq!(verify_mode(15), VerifyMode::Face);
        assert_eq!(verify_mode(4), VerifyMode::Other(4));
    }

    #[test]
    fn bad_dates_spoil_only_their_record() {
        let good = AttendanceRecord {
            uid: 1,
            user_id: "1001".into(),
            verify_type: 1,
            punch_state: 0,
            time: 836_035_200,
            work_code: 0,
        };
        let feb31 = AttendanceRecord {
            time: (26 * 12 * 31 + 31 + 30) * 86_400,
            ..good.clone()
        };
        let mut raw = BytesMut::new();
        good.encode(RecordLayout::Text40, &mut raw).unwrap();
        feb31.encode(RecordLayout::Text40, &mut raw).unwrap();
        let dump = AttendanceDump {
            layout: Some(RecordLayout::Text40),
            records: vec![good, feb31],
            raw: raw.freeze(),
        };
        let machine = MachineId::parse("M1").unwrap();
        let (scans, bad) = records_to_scans(&dump, &[], &machine, chrono_tz::Asia::Dhaka);
        assert_eq!(scans.len(), 1);
        // 08:00 in Dhaka (UTC+6) is 02:00 UTC.
        assert_eq!(scans[0].timestamp.to_rfc3339(), "2026-01-05T02:00:00+00:00");
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].index, 1);
        assert!(matches!(bad[0].reason, BadRecordReason::Time(_)));
    }
}
