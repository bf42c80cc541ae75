//! A fake ZKTeco terminal on 127.0.0.1 (feature `fakes`), speaking [`super::codec`] from the
//! device side over TCP or UDP, following the rules of `docs/protocols/zkteco-binary.md` §13: one
//! write per reply, no unsolicited bytes except realtime events after `CMD_REG_EVENT`,
//! `PREPARE_DATA` with exactly 8 data bytes, several frames per read, counts that match the data,
//! reply numbers echoed, one event per frame waiting for the client's ACK (with a timeout), valid
//! dates only, UDP `DATA` datagrams of at most 1,024 data bytes and one protocol state per UDP
//! peer.
//!
//! The protocol logic is [`DeviceSession`], a pure state machine (packet in, [`Action`]s out;
//! file `session`); [`FakeDevice::serve_tcp`] and [`FakeDevice::serve_udp`] are thin socket loops
//! around it (file `serve`).

mod serve;
mod session;

#[cfg(test)]
mod tests;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{NaiveDate, NaiveDateTime, TimeDelta};
use futures::future::BoxFuture;
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{broadcast, oneshot};
use tokio::task::JoinHandle;

use super::codec::{
    AttendanceRecord, CodecError, EventLayout, RealtimeAttendance, RecordLayout, TCP_CHUNK,
    UserLayout, UserRecord, encode_timehex, encode_zk_time,
};

pub use session::{Action, DeviceSession, Link};

use session::Datasets;

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

    /// A punch the device stores in its log and pushes live (see [`FakeDevice::punch`]).
    pub fn punch(&self, user_id: &str, time: NaiveDateTime) -> Result<usize, CodecError> {
        self.device.punch(user_id, time)
    }

    /// A punch the device stores in its log but whose realtime event reaches nobody: what a
    /// client sees of a punch made between its log read and its registration for events.
    pub fn punch_unseen(&self, user_id: &str, time: NaiveDateTime) -> Result<(), CodecError> {
        self.device.data.append(&AttendanceRecord {
            uid: 0,
            user_id: user_id.to_owned(),
            verify_type: 1,
            punch_state: 0,
            time: encode_zk_time(time)?,
            work_code: 0,
        })
    }

    /// The records in the device's attendance log now (generated ones and punches).
    pub fn record_count(&self) -> usize {
        self.device.data.record_count()
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

    /// A punch of `user_id` at the device's local `time`, as a real terminal makes one: stored
    /// at the end of its attendance log (every later table read holds it, whether or not a
    /// client was listening) and pushed as a realtime event (finger, check-in) to the clients
    /// registered for events. Returns how many connections received the event. Fails when the
    /// time or user id cannot be encoded.
    pub fn punch(&self, user_id: &str, time: NaiveDateTime) -> Result<usize, CodecError> {
        self.data.append(&AttendanceRecord {
            uid: 0,
            user_id: user_id.to_owned(),
            verify_type: 1,
            punch_state: 0,
            time: encode_zk_time(time)?,
            work_code: 0,
        })?;
        Ok(self.push_event(RealtimeAttendance {
            user_id: user_id.to_owned(),
            verify_type: 1,
            punch_state: 0,
            time: encode_timehex(time)?,
        }))
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
}
