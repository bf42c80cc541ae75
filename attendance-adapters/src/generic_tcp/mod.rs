//! Generic TCP devices ([`MachineType::GenericTcp`]): cheap terminals that write one text line
//! per scan to whoever connects. The adapter connects as a client and reads lines.
//!
//! Layers, as for ZKTeco: [`LineFormat`] is the pure line codec (decode with typed
//! [`LineError`]s, and an encoder used by the fake device); [`GenericTcpAdapter`] reads lines from
//! the socket in a background task into a bounded queue (a slow reader slows the device through
//! TCP flow control, never grows memory), and the fake device lives in [`fake`] (feature
//! `fakes`). The protocol notes are `docs/protocols/generic-tcp.md`.
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
//!
//! Files: `line` (the line codec), `adapter` (the socket reader and the adapter), `fake`.
//!
//! [`MachineType::GenericTcp`]: attendance_core::machine::MachineType::GenericTcp
//! [`Fetch::skipped`]: crate::Fetch::skipped

mod adapter;
#[cfg(feature = "fakes")]
pub mod fake;
mod line;

use serde::Deserialize;

pub use adapter::GenericTcpAdapter;
pub use line::{Field, GenericLine, LineError, LineFormat};

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
