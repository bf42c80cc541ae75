//! The contract every device adapter meets: [`BaseMachineAdapter`], its typed errors and what
//! it reports. An adapter owns one machine: it connects, tests the connection, fetches the scans
//! recorded since a cursor, and (where the device can) streams live scans. Every scan it returns
//! is core's [`ScanData`] with the machine's time zone already applied.

use std::fmt;
use std::pin::Pin;
use std::time::Duration;

use async_trait::async_trait;
use attendance_core::machine::{Machine, MachineType};
use attendance_core::scan::ScanData;
use attendance_core::store::MachineCursor;
use chrono::{DateTime, NaiveDateTime, Utc};
use futures::Stream;
use serde::Serialize;
use thiserror::Error;

/// What went wrong with a device, by what a caller does about it.
#[derive(Debug, Error)]
pub enum AdapterError {
    /// The machine's configuration does not parse or is out of range; fix it, do not retry.
    #[error("invalid {machine_type} configuration: {message}")]
    Config {
        /// The machine's type.
        machine_type: MachineType,
        /// What is wrong, naming the field.
        message: String,
    },
    /// The device cannot be reached (refused, no route, DNS).
    #[error("cannot reach {target}: {message}")]
    Unreachable {
        /// The address tried.
        target: String,
        /// The cause.
        message: String,
    },
    /// The device did not answer in time.
    #[error("no answer from {target} during {during} within {timeout:?}")]
    Timeout {
        /// The address.
        target: String,
        /// What was being done.
        during: &'static str,
        /// The limit.
        timeout: Duration,
    },
    /// The device refused the credentials or the comm key; do not retry quickly.
    #[error("authentication refused by {target}: {message}")]
    Auth {
        /// The address.
        target: String,
        /// What the device said.
        message: String,
    },
    /// The device sent something the protocol does not allow (garbage, a cut frame).
    #[error("protocol error from {target}: {message}")]
    Protocol {
        /// The address.
        target: String,
        /// What was wrong.
        message: String,
    },
    /// The device understood and said no (a command refused, a busy device).
    #[error("{target} refused: {message}")]
    Refused {
        /// The address.
        target: String,
        /// What it said.
        message: String,
    },
    /// The machine type cannot do this (live events on a pull-only device, say).
    #[error("{machine_type} machines cannot {what}")]
    Unsupported {
        /// The machine's type.
        machine_type: MachineType,
        /// What was asked.
        what: &'static str,
    },
    /// The call needs a connection; call [`BaseMachineAdapter::connect`] first.
    #[error("not connected to {target}")]
    NotConnected {
        /// The address.
        target: String,
    },
}

impl AdapterError {
    /// Whether trying again later may succeed (network trouble, a stalled or confused device),
    /// as opposed to a configuration or authentication problem that needs a person.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::Unreachable { .. }
                | Self::Timeout { .. }
                | Self::Protocol { .. }
                | Self::Refused { .. }
                | Self::NotConnected { .. }
        )
    }

    /// A short name for logs and events (`unreachable`, `timeout`, `auth`, …).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Config { .. } => "config",
            Self::Unreachable { .. } => "unreachable",
            Self::Timeout { .. } => "timeout",
            Self::Auth { .. } => "auth",
            Self::Protocol { .. } => "protocol",
            Self::Refused { .. } => "refused",
            Self::Unsupported { .. } => "unsupported",
            Self::NotConnected { .. } => "not_connected",
        }
    }
}

/// What [`BaseMachineAdapter::test_connection`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ConnectionReport {
    /// The device answered at all.
    pub reachable: bool,
    /// The device accepted our credentials or comm key.
    pub authenticated: bool,
    /// The serial number it reported.
    pub serial: Option<String>,
    /// Its firmware version.
    pub firmware: Option<String>,
    /// Its clock, as it reads it (naive local time in the machine's zone).
    pub device_time: Option<NaiveDateTime>,
    /// The device clock minus ours, in seconds.
    pub clock_drift_seconds: Option<i64>,
    /// How many attendance records it holds, if it says.
    pub record_count: Option<u64>,
    /// How long the test took, in milliseconds.
    pub elapsed_ms: u64,
}

impl ConnectionReport {
    /// A report of a device that answered and accepted us, timed from `started`; the adapter
    /// fills in what else it learned.
    pub fn answered_since(started: std::time::Instant) -> Self {
        Self {
            reachable: true,
            authenticated: true,
            elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            ..Self::default()
        }
    }
}

/// Scans fetched from a device, and the cursor to store with them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fetch {
    /// The scans after the cursor, in device order.
    pub scans: Vec<ScanData>,
    /// Where the next fetch starts; store it in the same transaction as the scans.
    pub cursor: Option<MachineCursor>,
    /// Records the device returned that could not become scans (logged by the adapter).
    pub skipped: usize,
}

/// Live scans as they happen; the stream ends when the device closes the session.
pub type ScanStream = Pin<Box<dyn Stream<Item = Result<ScanData, AdapterError>> + Send>>;

/// One machine's adapter. Object safe: the manager holds `Box<dyn BaseMachineAdapter>`.
#[async_trait]
pub trait BaseMachineAdapter: Send + Sync + fmt::Debug {
    /// The machine this adapter talks to.
    fn machine(&self) -> &Machine;

    /// Opens a session (and authenticates). Connecting while connected is harmless.
    async fn connect(&mut self) -> Result<(), AdapterError>;

    /// Closes the session cleanly, if one is open.
    async fn disconnect(&mut self) -> Result<(), AdapterError>;

    /// Connects if needed and reports what the device says about itself, with its clock drift
    /// against `now`.
    async fn test_connection(
        &mut self,
        now: DateTime<Utc>,
    ) -> Result<ConnectionReport, AdapterError>;

    /// The scans recorded after `since` (all of them when `None`), with the cursor to store.
    async fn fetch_scans(&mut self, since: Option<&MachineCursor>) -> Result<Fetch, AdapterError>;

    /// Whether [`BaseMachineAdapter::live_scans`] works for this device.
    fn supports_live(&self) -> bool {
        false
    }

    /// Switches the session to live events and returns them as a stream.
    async fn live_scans(&mut self) -> Result<ScanStream, AdapterError> {
        Err(AdapterError::Unsupported {
            machine_type: self.machine().machine_type,
            what: "stream live scans",
        })
    }
}

/// A failed HTTP request to `target` as an [`AdapterError`]: a timeout (after `timeout`), an
/// unreachable host, or a protocol error naming what was being done (`during`).
pub(crate) fn http_error(
    e: &reqwest::Error,
    target: &str,
    during: &'static str,
    timeout: Duration,
) -> AdapterError {
    if e.is_timeout() {
        AdapterError::Timeout {
            target: target.to_owned(),
            during,
            timeout,
        }
    } else if e.is_connect() {
        AdapterError::Unreachable {
            target: target.to_owned(),
            message: e.to_string(),
        }
    } else {
        AdapterError::Protocol {
            target: target.to_owned(),
            message: format!("{during}: {e}"),
        }
    }
}

/// Reads a machine's `config` JSON into an adapter's typed configuration, with an error that
/// names the machine type and the field.
pub fn parse_config<T: serde::de::DeserializeOwned>(machine: &Machine) -> Result<T, AdapterError> {
    let value = if machine.config.is_null() {
        serde_json::Value::Object(serde_json::Map::new())
    } else {
        machine.config.clone()
    };
    serde_json::from_value(value).map_err(|e| AdapterError::Config {
        machine_type: machine.machine_type,
        message: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use attendance_core::machine::NewMachine;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Sample {
        #[serde(default)]
        comm_key: u32,
    }

    fn machine(config: serde_json::Value) -> Machine {
        Machine::parse(
            &NewMachine {
                machine_id: "GATE-1".into(),
                name: "Gate".into(),
                machine_type: "zkteco".into(),
                ip_address: "192.0.2.1".into(),
                config: Some(config),
                ..NewMachine::default()
            },
            chrono_tz::Asia::Dhaka,
        )
        .unwrap()
    }

    #[test]
    fn configs_parse_with_errors_that_name_the_field() {
        let ok: Sample = parse_config(&machine(serde_json::json!({"comm_key": 7}))).unwrap();
        assert_eq!(ok, Sample { comm_key: 7 });
        let err =
            parse_config::<Sample>(&machine(serde_json::json!({"comm_key": "x"}))).unwrap_err();
        assert!(
            err.to_string().contains("invalid zkteco configuration"),
            "{err}"
        );
        assert!(err.to_string().contains("expected u32"), "{err}");
        let err = parse_config::<Sample>(&machine(serde_json::json!({"comm_kee": 1}))).unwrap_err();
        assert!(err.to_string().contains("comm_kee"), "{err}");
        assert!(!err.is_transient());
    }
}
