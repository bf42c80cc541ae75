//! Our async ZKTeco client over TCP or UDP: connect (with the comm key), device information,
//! buffered downloads of users and attendance records, conversion to
//! [`attendance_core::scan::ScanData`] in the machine's time zone, and live capture.
//!
//! Every wait for the device is bounded by [`ZkConfig::timeout`] (except the wait for the next
//! live event, which may be hours) and every failure is a typed [`ZkError`].
//!
//! The session and its requests are here; `download` holds the buffered reads and the pull,
//! `scans` the conversion of records and events to scans, `live` the realtime capture.

mod download;
mod live;
mod scans;

#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use chrono::NaiveDateTime;
use thiserror::Error;

use super::codec::{
    ChecksumPolicy, CodecError, FreeSizes, Packet, TCP_CHUNK, UDP_CHUNK, cmd, decode_zk_time,
    event_flag, make_commkey, reply_text,
};
use super::transport::{PacketLink, RecvError};

pub use live::{LiveCapture, LiveEvent};
pub use scans::{
    AttendanceDump, BadRecord, BadRecordReason, Pull, event_to_scan, records_to_scans, verify_mode,
};

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
