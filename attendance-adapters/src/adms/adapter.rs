//! [`AdmsAdapter`]: the [`BaseMachineAdapter`] of a push device. It never opens a connection: the
//! device calls the [`super::router`], and the adapter reads what the [`AdmsHub`] received for its
//! serial.

use std::time::Duration;

use async_trait::async_trait;
use attendance_core::machine::Machine;
use attendance_core::store::MachineCursor;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::sources::AllowedSources;

use super::server::{AdmsDevice, AdmsHub};
use crate::adapter::{AdapterError, BaseMachineAdapter, ConnectionReport, Fetch, parse_config};

/// The `config` JSON of a `zkteco_adms` machine.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdmsMachineConfig {
    /// The serial the device sends as `SN=`; the machine id when absent.
    #[serde(default)]
    pub serial: Option<String>,
    /// How long after its last request the device still counts as reachable (default 300 s).
    #[serde(default)]
    pub stale_after_secs: Option<u64>,
    /// The addresses the device may push from (CIDR blocks or addresses); empty: any.
    #[serde(default)]
    pub allowed_sources: AllowedSources,
}

/// The adapter of one ADMS machine over a shared [`AdmsHub`].
///
/// - [`connect`](BaseMachineAdapter::connect) puts the device on the hub's allow-list (with the
///   machine's id and zone); disconnecting leaves it there, so the device can keep pushing.
/// - [`fetch_scans`](BaseMachineAdapter::fetch_scans) returns no scans: the router has already
///   stored every upload through the engine before acknowledging it, so each scan enters the
///   engine once. It returns the device's last stored `Stamp` as the cursor and counts the
///   lines the router could not read as `skipped`.
/// - no live stream (for the same reason);
/// - [`test_connection`](BaseMachineAdapter::test_connection) reports the last contact: an error
///   when the device has never called or has been silent longer than `stale_after_secs`.
///
/// The manager still runs it like any machine, for its health and connection events.
#[derive(Debug)]
pub struct AdmsAdapter {
    machine: Machine,
    hub: AdmsHub,
    serial: String,
    stale_after: Duration,
    connected: bool,
}

impl AdmsAdapter {
    /// The adapter of `machine` over `hub`; fails with [`AdapterError::Config`] when the config
    /// JSON does not parse.
    pub fn new(machine: Machine, hub: AdmsHub) -> Result<Self, AdapterError> {
        let config: AdmsMachineConfig = parse_config(&machine)?;
        let serial = config
            .serial
            .filter(|s| !s.trim().is_empty())
            .unwrap_or_else(|| machine.machine_id.as_str().to_owned());
        Ok(Self {
            machine,
            hub,
            serial,
            stale_after: Duration::from_secs(config.stale_after_secs.unwrap_or(300)),
            connected: false,
        })
    }

    /// The serial the device pushes with.
    pub fn serial(&self) -> &str {
        &self.serial
    }

    fn not_connected(&self) -> AdapterError {
        AdapterError::NotConnected {
            target: self.serial.clone(),
        }
    }
}

#[async_trait]
impl BaseMachineAdapter for AdmsAdapter {
    fn machine(&self) -> &Machine {
        &self.machine
    }

    async fn connect(&mut self) -> Result<(), AdapterError> {
        self.hub
            .allow(AdmsDevice::from_machine(&self.machine, Some(&self.serial)));
        self.connected = true;
        Ok(())
    }

    async fn disconnect(&mut self) -> Result<(), AdapterError> {
        self.connected = false;
        Ok(())
    }

    async fn test_connection(
        &mut self,
        now: DateTime<Utc>,
    ) -> Result<ConnectionReport, AdapterError> {
        self.connect().await?;
        let status = self.hub.status(&self.serial).unwrap_or_default();
        let Some(last) = status.last_contact else {
            return Err(AdapterError::Unreachable {
                target: self.serial.clone(),
                message: "the device has not contacted the server yet".into(),
            });
        };
        let silent = (now - last).to_std().unwrap_or(Duration::ZERO);
        if silent > self.stale_after {
            return Err(AdapterError::Unreachable {
                target: self.serial.clone(),
                message: format!("last contact at {last} ({} s ago)", silent.as_secs()),
            });
        }
        Ok(ConnectionReport {
            reachable: true,
            authenticated: true,
            serial: Some(self.serial.clone()),
            firmware: status.firmware().map(str::to_owned),
            device_time: None,
            clock_drift_seconds: None,
            record_count: status.record_count(),
            elapsed_ms: 0,
        })
    }

    async fn fetch_scans(&mut self, since: Option<&MachineCursor>) -> Result<Fetch, AdapterError> {
        if !self.connected {
            return Err(self.not_connected());
        }
        let drained = self.hub.drain(&self.serial);
        Ok(Fetch {
            scans: Vec::new(),
            cursor: drained.cursor.or_else(|| since.cloned()),
            skipped: drained.skipped,
        })
    }
}
