//! Generic TCP devices ([`MachineType::GenericTcp`]): cheap terminals that write one text line
//! per scan to whoever connects. The adapter connects as a client and reads lines.
//!
//! Layers, as for ZKTeco: [`LineFormat`] is the pure line codec (decode with typed
//! [`LineError`]s, and an encoder used by the fake device); [`GenericTcpAdapter`] reads lines from
//! the socket in a background task into a bounded queue (a slow reader slows the device through
//! TCP flow control, never grows memory), and the fake device lives in [`fake`] (feature
//! `fakes`).
//!
//! A bad line (wrong field count, unparsable time, not UTF-8, too long, cut by a closed
//! connection) is logged, counted in [`Fetch::skipped`] and skipped; it never ends the session.
//!
//! Configuration (every field optional):
//!
//! ```json
//! { "delimiter": ",", "fields": ["user", "timestamp", "punch", "verify"],
//!   "time_format": "%Y-%m-%d %H:%M:%S", "port": 5005, "connect_timeout_ms": 5000,
//!   "partial_line_timeout_ms": 5000, "idle_timeout_ms": null, "max_line_len": 1024,
//!   "queue": 1024 }
//! ```
//!
//! `fields` names the columns in order: `user` and `timestamp` once each (required), `punch`
//! (a 0–255 code or `in`/`out`), `verify` (a number, or `finger`, `face`, `card`, `password`,
//! `palm`) and `ignore` for columns to skip. `time_format` is a chrono strftime format read as the
//! machine's local time, or `unix` for seconds since the epoch (UTC). The timestamp column may
//! contain the delimiter when the time format does (a space between date and time).
//!
//! ```
//! use attendance_adapters::generic_tcp::{Field, GenericLine, LineFormat};
//! use attendance_core::scan::{MachineId, PunchState};
//!
//! let format = LineFormat::new(",", vec![Field::User, Field::Timestamp, Field::Punch], "%Y-%m-%d %H:%M:%S")?;
//! let machine = MachineId::parse("GATE-2").unwrap();
//! let scan = format.decode(b"1001,2026-01-05 08:00:00,0\r\n", &machine, chrono_tz::Asia::Dhaka)?;
//! assert_eq!(scan.device_user_id.as_str(), "1001");
//! assert_eq!(scan.timestamp.to_rfc3339(), "2026-01-05T02:00:00+00:00");
//! assert_eq!(scan.punch_state, PunchState::CheckIn);
//! # Ok::<(), attendance_adapters::generic_tcp::LineError>(())
//! ```

#[cfg(feature = "fakes")]
pub mod fake;

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use attendance_core::employee::DeviceUserId;
use attendance_core::machine::{Machine, MachineType};
use attendance_core::scan::{MachineId, PunchState, ScanData, VerifyMode};
use attendance_core::store::MachineCursor;
use attendance_core::time::local_to_utc;
use bytes::BytesMut;
use chrono::format::{Item, StrftimeItems};
use chrono::{DateTime, NaiveDate, NaiveDateTime, SecondsFormat, Utc};
use chrono_tz::Tz;
use serde::Deserialize;
use thiserror::Error;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::adapter::{
    AdapterError, BaseMachineAdapter, ConnectionReport, Fetch, ScanStream, parse_config,
};
use crate::zk::client::verify_mode;

/// A column of a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    /// The device user id (required, once).
    User,
    /// The time (required, once).
    Timestamp,
    /// The punch state.
    Punch,
    /// The verify mode.
    Verify,
    /// A column to skip.
    Ignore,
}

/// Why a line could not become a scan, or why a format is unusable.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LineError {
    /// The line is empty (or only whitespace).
    #[error("empty line")]
    Empty,
    /// The line is not UTF-8 text.
    #[error("the line is not UTF-8 text")]
    NotText,
    /// The line is longer than the configured limit.
    #[error("the line is longer than {max} bytes")]
    TooLong {
        /// The limit.
        max: usize,
    },
    /// The line was cut off (the connection closed inside it).
    #[error("the line was cut off")]
    Truncated,
    /// The line has another number of columns than the format.
    #[error("expected {expected} columns, got {got}")]
    FieldCount {
        /// Columns the format has.
        expected: usize,
        /// Columns the line has.
        got: usize,
    },
    /// The user column is not a valid device user id.
    #[error("bad user id `{value}`: {reason}")]
    User {
        /// The text.
        value: String,
        /// Why.
        reason: String,
    },
    /// The time column does not match the time format.
    #[error("bad time `{value}`: {reason}")]
    Time {
        /// The text.
        value: String,
        /// Why.
        reason: String,
    },
    /// The punch column is not a code or a known word.
    #[error("bad punch state `{0}`")]
    Punch(String),
    /// The verify column is not a code or a known word.
    #[error("bad verify mode `{0}`")]
    Verify(String),
    /// The format itself is unusable (no user column, a bad strftime string, …).
    #[error("invalid line format: {0}")]
    Format(String),
}

/// One line's content, as the fake device writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenericLine {
    /// The device user id.
    pub user: String,
    /// The device's local time (for `unix` formats: the UTC time).
    pub local_time: NaiveDateTime,
    /// The punch state code, if the line carries one.
    pub punch: Option<u8>,
    /// The verify code, if the line carries one.
    pub verify: Option<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum TimeFormat {
    Unix,
    Strftime(String),
}

/// A validated line format: delimiter, columns and time format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineFormat {
    delimiter: String,
    fields: Vec<Field>,
    time: TimeFormat,
    // How many times the delimiter occurs inside a formatted timestamp.
    time_splits: usize,
}

fn sample_time() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2026, 1, 5)
        .and_then(|d| d.and_hms_opt(8, 9, 10))
        .unwrap_or_default()
}

fn format_time(fmt: &str, t: NaiveDateTime) -> Result<String, LineError> {
    let mut out = String::new();
    write!(out, "{}", t.format(fmt))
        .map_err(|_| LineError::Format(format!("`{fmt}` cannot format a local time")))?;
    Ok(out)
}

impl LineFormat {
    /// Validates a format. Returns [`LineError::Format`] when the delimiter is empty or a line
    /// break, `user` or `timestamp` is missing or repeated, or the time format is not a strftime
    /// string that formats and parses back a local date and time (or `unix`).
    pub fn new(delimiter: &str, fields: Vec<Field>, time_format: &str) -> Result<Self, LineError> {
        let bad = |m: &str| Err(LineError::Format(m.into()));
        if delimiter.is_empty() || delimiter.contains(['\n', '\r']) {
            return bad("the delimiter must be non-empty and not a line break");
        }
        for required in [Field::User, Field::Timestamp] {
            if fields.iter().filter(|f| **f == required).count() != 1 {
                return bad("`fields` must name `user` and `timestamp` exactly once each");
            }
        }
        for optional in [Field::Punch, Field::Verify] {
            if fields.iter().filter(|f| **f == optional).count() > 1 {
                return bad("`punch` and `verify` may appear at most once each");
            }
        }
        let time = if time_format == "unix" {
            TimeFormat::Unix
        } else {
            if StrftimeItems::new(time_format).any(|i| matches!(i, Item::Error)) {
                return Err(LineError::Format(format!(
                    "`{time_format}` is not a valid strftime format"
                )));
            }
            let text = format_time(time_format, sample_time())?;
            if NaiveDateTime::parse_from_str(&text, time_format).is_err() {
                return Err(LineError::Format(format!(
                    "`{time_format}` does not give a complete date and time"
                )));
            }
            TimeFormat::Strftime(time_format.to_owned())
        };
        let time_splits = match &time {
            TimeFormat::Unix => 0,
            TimeFormat::Strftime(f) => format_time(f, sample_time())?.matches(delimiter).count(),
        };
        Ok(Self {
            delimiter: delimiter.to_owned(),
            fields,
            time,
            time_splits,
        })
    }

    /// The columns, in order.
    pub fn fields(&self) -> &[Field] {
        &self.fields
    }

    /// Decodes one line (a trailing `\r\n` or `\n` is ignored) into a scan of `machine`, whose
    /// clock runs in `tz`. Never panics; every problem is a [`LineError`].
    pub fn decode(&self, line: &[u8], machine: &MachineId, tz: Tz) -> Result<ScanData, LineError> {
        let text = std::str::from_utf8(line).map_err(|_| LineError::NotText)?;
        let text = text.trim_end_matches(['\n', '\r']);
        if text.trim().is_empty() {
            return Err(LineError::Empty);
        }
        let parts: Vec<&str> = text.split(self.delimiter.as_str()).collect();
        let expected = self.fields.len() + self.time_splits;
        if parts.len() != expected {
            return Err(LineError::FieldCount {
                expected,
                got: parts.len(),
            });
        }
        let mut user = None;
        let mut timestamp = None;
        let mut punch_state = PunchState::Unknown;
        let mut verify = VerifyMode::Unknown;
        let mut i = 0;
        for field in &self.fields {
            let width = if *field == Field::Timestamp {
                self.time_splits + 1
            } else {
                1
            };
            let value = parts
                .get(i..i + width)
                .map(|p| p.join(self.delimiter.as_str()))
                .unwrap_or_default();
            i += width;
            let value = value.trim();
            match field {
                Field::User => {
                    user = Some(DeviceUserId::parse(value).map_err(|e| LineError::User {
                        value: value.to_owned(),
                        reason: e.to_string(),
                    })?);
                }
                Field::Timestamp => timestamp = Some(self.parse_time(value, tz)?),
                Field::Punch => punch_state = parse_punch(value)?,
                Field::Verify => verify = parse_verify(value)?,
                Field::Ignore => {}
            }
        }
        let (Some(device_user_id), Some(timestamp)) = (user, timestamp) else {
            return Err(LineError::Format("no user or timestamp column".into()));
        };
        Ok(ScanData {
            machine_id: machine.clone(),
            device_user_id,
            timestamp,
            punch_state,
            verify_mode: verify,
            raw: Some(text.to_owned()),
        })
    }

    fn parse_time(&self, value: &str, tz: Tz) -> Result<DateTime<Utc>, LineError> {
        let bad = |reason: String| LineError::Time {
            value: value.to_owned(),
            reason,
        };
        match &self.time {
            TimeFormat::Unix => {
                let secs: i64 = value
                    .parse()
                    .map_err(|_| bad("not a number of seconds".into()))?;
                DateTime::from_timestamp(secs, 0).ok_or_else(|| bad("out of range".into()))
            }
            TimeFormat::Strftime(f) => NaiveDateTime::parse_from_str(value, f)
                .map(|local| local_to_utc(tz, local))
                .map_err(|e| bad(e.to_string())),
        }
    }

    /// Writes `line` in this format, without the line break. Returns [`LineError::Format`] when
    /// the time cannot be written in the format.
    pub fn encode(&self, line: &GenericLine) -> Result<String, LineError> {
        let mut columns = Vec::with_capacity(self.fields.len());
        for field in &self.fields {
            columns.push(match field {
                Field::User => line.user.clone(),
                Field::Timestamp => match &self.time {
                    TimeFormat::Unix => line.local_time.and_utc().timestamp().to_string(),
                    TimeFormat::Strftime(f) => format_time(f, line.local_time)?,
                },
                Field::Punch => line.punch.map(|p| p.to_string()).unwrap_or_default(),
                Field::Verify => line.verify.map(|v| v.to_string()).unwrap_or_default(),
                Field::Ignore => String::new(),
            });
        }
        Ok(columns.join(self.delimiter.as_str()))
    }
}

fn parse_punch(value: &str) -> Result<PunchState, LineError> {
    if value.is_empty() {
        return Ok(PunchState::Unknown);
    }
    if let Ok(code) = value.parse::<u8>() {
        return Ok(PunchState::from_code(code));
    }
    match value.to_ascii_lowercase().as_str() {
        "i" | "in" | "checkin" | "check-in" | "check_in" => Ok(PunchState::CheckIn),
        "o" | "out" | "checkout" | "check-out" | "check_out" => Ok(PunchState::CheckOut),
        _ => Err(LineError::Punch(value.to_owned())),
    }
}

fn parse_verify(value: &str) -> Result<VerifyMode, LineError> {
    if value.is_empty() {
        return Ok(VerifyMode::Unknown);
    }
    if let Ok(code) = value.parse::<u16>() {
        return Ok(match u8::try_from(code) {
            Ok(small) => verify_mode(small),
            Err(_) => VerifyMode::Other(code),
        });
    }
    match value.to_ascii_lowercase().as_str() {
        "fp" | "finger" | "fingerprint" => Ok(VerifyMode::Fingerprint),
        "face" => Ok(VerifyMode::Face),
        "card" | "rfid" => Ok(VerifyMode::Card),
        "pw" | "pin" | "password" => Ok(VerifyMode::Password),
        "palm" | "vein" => Ok(VerifyMode::Palm),
        _ => Err(LineError::Verify(value.to_owned())),
    }
}

fn default_delimiter() -> String {
    ",".into()
}

fn default_fields() -> Vec<Field> {
    vec![Field::User, Field::Timestamp, Field::Punch, Field::Verify]
}

fn default_time_format() -> String {
    "%Y-%m-%d %H:%M:%S".into()
}

const fn default_connect_timeout_ms() -> u64 {
    5_000
}

const fn default_partial_line_timeout_ms() -> u64 {
    5_000
}

const fn default_max_line_len() -> usize {
    1_024
}

const fn default_queue() -> usize {
    1_024
}

/// The typed `config` of a generic TCP machine.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenericTcpConfig {
    /// Column delimiter (default `,`).
    #[serde(default = "default_delimiter")]
    pub delimiter: String,
    /// Columns in order (default user, timestamp, punch, verify).
    #[serde(default = "default_fields")]
    pub fields: Vec<Field>,
    /// chrono strftime format of the local time, or `unix` (default `%Y-%m-%d %H:%M:%S`).
    #[serde(default = "default_time_format")]
    pub time_format: String,
    /// A port that overrides the machine's.
    #[serde(default)]
    pub port: Option<u16>,
    /// Longest wait for the TCP connection, in milliseconds (default 5000).
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    /// How long a started line may stay unfinished before the device counts as stalled, in
    /// milliseconds (default 5000).
    #[serde(default = "default_partial_line_timeout_ms")]
    pub partial_line_timeout_ms: u64,
    /// Reconnect when the device sends nothing at all for this long (default: never; a quiet
    /// gate is normal at night).
    #[serde(default)]
    pub idle_timeout_ms: Option<u64>,
    /// Longest line accepted, in bytes (default 1024).
    #[serde(default = "default_max_line_len")]
    pub max_line_len: usize,
    /// Scans buffered between the socket and the reader (default 1024).
    #[serde(default = "default_queue")]
    pub queue: usize,
}

impl Default for GenericTcpConfig {
    fn default() -> Self {
        Self {
            delimiter: default_delimiter(),
            fields: default_fields(),
            time_format: default_time_format(),
            port: None,
            connect_timeout_ms: default_connect_timeout_ms(),
            partial_line_timeout_ms: default_partial_line_timeout_ms(),
            idle_timeout_ms: None,
            max_line_len: default_max_line_len(),
            queue: default_queue(),
        }
    }
}

impl GenericTcpConfig {
    /// The line format this configuration describes.
    pub fn line_format(&self) -> Result<LineFormat, LineError> {
        LineFormat::new(&self.delimiter, self.fields.clone(), &self.time_format)
    }
}

type ReaderItem = Result<ScanData, AdapterError>;

/// An open connection: the reader task and the queue it fills.
#[derive(Debug)]
struct Session {
    rx: mpsc::Receiver<ReaderItem>,
    reader: JoinHandle<()>,
}

impl Drop for Session {
    fn drop(&mut self) {
        // The reader must not outlive the session (no leaked tasks, the socket closes).
        self.reader.abort();
    }
}

struct Reader {
    stream: TcpStream,
    format: Arc<LineFormat>,
    machine: MachineId,
    tz: Tz,
    target: String,
    max_line_len: usize,
    partial_timeout: Duration,
    idle_timeout: Option<Duration>,
    skipped: Arc<AtomicU64>,
    tx: mpsc::Sender<ReaderItem>,
}

impl Reader {
    fn skip(&self, line: &[u8], error: &LineError) {
        self.skipped.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            machine = %self.machine,
            line = %String::from_utf8_lossy(line),
            %error,
            "skipping a bad line from a generic TCP device"
        );
    }

    /// Reads until the connection fails, then sends that failure; returns early when nobody
    /// listens any more.
    async fn run(mut self) {
        let error = self.read_lines().await;
        let _ = self.tx.send(Err(error)).await;
    }

    async fn read_lines(&mut self) -> AdapterError {
        let mut buf = BytesMut::with_capacity(4096);
        // Set while a too-long line is being thrown away up to its end.
        let mut discarding = false;
        loop {
            // Hand over every complete line in the buffer.
            while let Some(end) = buf.iter().position(|&b| b == b'\n') {
                let line = buf.split_to(end + 1);
                if std::mem::take(&mut discarding) {
                    continue;
                }
                if line.len() > self.max_line_len {
                    self.skip(
                        &line[..64.min(line.len())],
                        &LineError::TooLong {
                            max: self.max_line_len,
                        },
                    );
                    continue;
                }
                match self.format.decode(&line, &self.machine, self.tz) {
                    Ok(scan) => {
                        // Waits when the queue is full: TCP flow control slows the device.
                        if self.tx.send(Ok(scan)).await.is_err() {
                            return AdapterError::NotConnected {
                                target: self.target.clone(),
                            };
                        }
                    }
                    Err(LineError::Empty) => {}
                    Err(e) => self.skip(&line, &e),
                }
            }
            if !discarding && buf.len() > self.max_line_len {
                self.skip(
                    &buf[..64.min(buf.len())],
                    &LineError::TooLong {
                        max: self.max_line_len,
                    },
                );
                buf.clear();
                discarding = true;
            }
            if discarding {
                buf.clear();
            }
            let (limit, during) = if buf.is_empty() {
                (self.idle_timeout, "waiting for scans")
            } else {
                (Some(self.partial_timeout), "reading a line")
            };
            let read = self.stream.read_buf(&mut buf);
            let read = match limit {
                Some(limit) => match tokio::time::timeout(limit, read).await {
                    Ok(r) => r,
                    Err(_) => {
                        return AdapterError::Timeout {
                            target: self.target.clone(),
                            during,
                            timeout: limit,
                        };
                    }
                },
                None => read.await,
            };
            match read {
                Ok(0) => {
                    if !buf.is_empty() && !discarding {
                        let rest = buf.split();
                        self.skip(&rest, &LineError::Truncated);
                    }
                    return AdapterError::Unreachable {
                        target: self.target.clone(),
                        message: "the device closed the connection".into(),
                    };
                }
                Ok(_) => {}
                Err(e) => {
                    return AdapterError::Unreachable {
                        target: self.target.clone(),
                        message: e.to_string(),
                    };
                }
            }
        }
    }
}

/// A generic TCP device: connects as a client and reads one scan per line.
#[derive(Debug)]
pub struct GenericTcpAdapter {
    machine: Machine,
    config: GenericTcpConfig,
    format: Arc<LineFormat>,
    target: String,
    session: Option<Session>,
    // Bad lines counted by the reader; `reported` is how many a fetch has already returned.
    skipped: Arc<AtomicU64>,
    reported: u64,
    // A failure the reader sent after scans that a fetch returned first.
    pending_error: Option<AdapterError>,
    last_scan: Option<DateTime<Utc>>,
}

impl GenericTcpAdapter {
    /// An adapter for `machine` (type `generic_tcp`); [`AdapterError::Config`] when the config
    /// does not parse or describes an unusable line format. Does not connect.
    pub fn new(machine: Machine) -> Result<Self, AdapterError> {
        let config_error = |message: String| AdapterError::Config {
            machine_type: machine.machine_type,
            message,
        };
        if machine.machine_type != MachineType::GenericTcp {
            return Err(config_error(
                "the generic TCP adapter reads only generic_tcp machines".into(),
            ));
        }
        let config: GenericTcpConfig = parse_config(&machine)?;
        let format = config
            .line_format()
            .map_err(|e| config_error(e.to_string()))?;
        if config.max_line_len < 16 || config.queue == 0 || config.partial_line_timeout_ms == 0 {
            return Err(config_error(
                "max_line_len must be at least 16, queue and partial_line_timeout_ms at least 1"
                    .into(),
            ));
        }
        let port = config.port.unwrap_or(machine.port);
        let target = match machine.ip_address.parse::<IpAddr>() {
            Ok(ip) => SocketAddr::new(ip, port).to_string(),
            Err(_) => format!("{}:{port}", machine.ip_address),
        };
        Ok(Self {
            machine,
            config,
            format: Arc::new(format),
            target,
            session: None,
            skipped: Arc::new(AtomicU64::new(0)),
            reported: 0,
            pending_error: None,
            last_scan: None,
        })
    }

    /// The line format.
    pub fn line_format(&self) -> &LineFormat {
        &self.format
    }

    /// Bad lines skipped since the adapter was created.
    pub fn skipped_lines(&self) -> u64 {
        self.skipped.load(Ordering::Relaxed)
    }

    fn cursor(&self, since: Option<&MachineCursor>) -> Option<MachineCursor> {
        match self.last_scan {
            Some(t) => Some(MachineCursor(format!(
                "generic1:{}",
                t.to_rfc3339_opts(SecondsFormat::Secs, true)
            ))),
            None => since.cloned(),
        }
    }
}

#[async_trait]
impl BaseMachineAdapter for GenericTcpAdapter {
    fn machine(&self) -> &Machine {
        &self.machine
    }

    async fn connect(&mut self) -> Result<(), AdapterError> {
        if self.session.is_some() {
            return Ok(());
        }
        let timeout = Duration::from_millis(self.config.connect_timeout_ms);
        let stream = tokio::time::timeout(timeout, TcpStream::connect(self.target.as_str()))
            .await
            .map_err(|_| AdapterError::Timeout {
                target: self.target.clone(),
                during: "connect",
                timeout,
            })?
            .map_err(|e| AdapterError::Unreachable {
                target: self.target.clone(),
                message: e.to_string(),
            })?;
        let (tx, rx) = mpsc::channel(self.config.queue);
        let reader = Reader {
            stream,
            format: self.format.clone(),
            machine: self.machine.machine_id.clone(),
            tz: self.machine.time_zone,
            target: self.target.clone(),
            max_line_len: self.config.max_line_len,
            partial_timeout: Duration::from_millis(self.config.partial_line_timeout_ms),
            idle_timeout: self.config.idle_timeout_ms.map(Duration::from_millis),
            skipped: self.skipped.clone(),
            tx,
        };
        self.pending_error = None;
        self.session = Some(Session {
            rx,
            reader: tokio::spawn(reader.run()),
        });
        Ok(())
    }

    async fn disconnect(&mut self) -> Result<(), AdapterError> {
        self.session = None;
        Ok(())
    }

    async fn test_connection(
        &mut self,
        _now: DateTime<Utc>,
    ) -> Result<ConnectionReport, AdapterError> {
        let started = Instant::now();
        self.connect().await?;
        Ok(ConnectionReport::answered_since(started))
    }

    /// Returns the scans read since the last fetch (the device keeps no log to re-read; the
    /// cursor only records the last scan's time).
    async fn fetch_scans(&mut self, since: Option<&MachineCursor>) -> Result<Fetch, AdapterError> {
        if let Some(e) = self.pending_error.take() {
            self.session = None;
            return Err(e);
        }
        let Some(session) = self.session.as_mut() else {
            return Err(AdapterError::NotConnected {
                target: self.target.clone(),
            });
        };
        let mut scans = Vec::new();
        let mut failure = None;
        loop {
            match session.rx.try_recv() {
                Ok(Ok(scan)) => scans.push(scan),
                Ok(Err(e)) => {
                    failure = Some(e);
                    break;
                }
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    failure = Some(AdapterError::NotConnected {
                        target: self.target.clone(),
                    });
                    break;
                }
            }
        }
        if let Some(e) = failure {
            if scans.is_empty() {
                self.session = None;
                return Err(e);
            }
            self.pending_error = Some(e);
        }
        if let Some(last) = scans.iter().map(|s| s.timestamp).max() {
            self.last_scan = Some(self.last_scan.map_or(last, |t| t.max(last)));
        }
        let total = self.skipped.load(Ordering::Relaxed);
        let skipped = usize::try_from(total - self.reported).unwrap_or(usize::MAX);
        self.reported = total;
        Ok(Fetch {
            cursor: self.cursor(since),
            scans,
            skipped,
        })
    }

    fn supports_live(&self) -> bool {
        true
    }

    async fn live_scans(&mut self) -> Result<ScanStream, AdapterError> {
        if let Some(e) = self.pending_error.take() {
            self.session = None;
            return Err(e);
        }
        self.connect().await?;
        let session = self.session.take().ok_or(AdapterError::NotConnected {
            target: self.target.clone(),
        })?;
        // The stream owns the session: dropping it stops the reader. It ends after the first
        // error.
        let stream = futures::stream::unfold(Some(session), |state| async move {
            let mut session = state?;
            match session.rx.recv().await {
                Some(Ok(scan)) => Some((Ok(scan), Some(session))),
                Some(Err(e)) => Some((Err(e), None)),
                None => None,
            }
        });
        Ok(Box::pin(stream))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn machine_id() -> MachineId {
        MachineId::parse("G1").unwrap()
    }

    fn check(format: &LineFormat, line: &str, expected: Result<(&str, &str), LineError>) {
        let got = format
            .decode(line.as_bytes(), &machine_id(), chrono_tz::UTC)
            .map(|s| {
                (
                    s.device_user_id.as_str().to_owned(),
                    s.timestamp.to_rfc3339(),
                )
            });
        let expected = expected.map(|(u, t)| (u.to_owned(), t.to_owned()));
        assert_eq!(got, expected, "{line:?}");
    }

    #[test]
    fn decodes_lines_with_typed_errors() {
        let f = LineFormat::new(",", default_fields(), "%Y-%m-%d %H:%M:%S").unwrap();
        check(
            &f,
            "7,2026-01-05 08:00:00,0,1\n",
            Ok(("7", "2026-01-05T08:00:00+00:00")),
        );
        check(
            &f,
            "7,2026-01-05 08:00:00,,\r\n",
            Ok(("7", "2026-01-05T08:00:00+00:00")),
        );
        check(&f, "   \n", Err(LineError::Empty));
        check(
            &f,
            "7,2026-01-05 08:00:00,0",
            Err(LineError::FieldCount {
                expected: 4,
                got: 3,
            }),
        );
        assert!(matches!(
            f.decode(
                b"x y,2026-01-05 08:00:00,0,1",
                &machine_id(),
                chrono_tz::UTC
            ),
            Err(LineError::User { .. })
        ));
        assert!(matches!(
            f.decode(b"7,2026-02-31 08:00:00,0,1", &machine_id(), chrono_tz::UTC),
            Err(LineError::Time { .. })
        ));
        assert_eq!(
            f.decode(
                b"7,2026-01-05 08:00:00,sideways,1",
                &machine_id(),
                chrono_tz::UTC
            ),
            Err(LineError::Punch("sideways".into()))
        );
        assert_eq!(
            f.decode(b"\xff\xfe", &machine_id(), chrono_tz::UTC),
            Err(LineError::NotText)
        );
        let s = f
            .decode(
                b"7,2026-01-05 08:00:00,out,face",
                &machine_id(),
                chrono_tz::UTC,
            )
            .unwrap();
        assert_eq!(
            (s.punch_state, s.verify_mode),
            (PunchState::CheckOut, VerifyMode::Face)
        );
    }

    #[test]
    fn a_space_delimiter_keeps_the_time_whole() {
        let f = LineFormat::new(
            " ",
            vec![Field::Ignore, Field::User, Field::Timestamp],
            "%d/%m/%Y %H:%M",
        )
        .unwrap();
        check(
            &f,
            "gate 42 05/01/2026 08:30",
            Ok(("42", "2026-01-05T08:30:00+00:00")),
        );
        let unix = LineFormat::new(";", vec![Field::Timestamp, Field::User], "unix").unwrap();
        check(
            &unix,
            "1767600000;9",
            Ok(("9", "2026-01-05T08:00:00+00:00")),
        );
    }

    #[test]
    fn rejects_unusable_formats() {
        for (delim, fields, time) in [
            ("", default_fields(), "%Y-%m-%d %H:%M:%S"),
            (",", vec![Field::User], "%Y-%m-%d %H:%M:%S"),
            (",", vec![Field::User, Field::User, Field::Timestamp], "%Y"),
            (",", default_fields(), "%Q"),
            (",", default_fields(), "%H:%M"),
            (",", default_fields(), "%Y-%m-%d %H:%M:%S %z"),
        ] {
            assert!(
                matches!(
                    LineFormat::new(delim, fields, time),
                    Err(LineError::Format(_))
                ),
                "{time}"
            );
        }
    }
}
