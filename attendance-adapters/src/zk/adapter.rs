//! The ZKTeco binary protocol as a [`BaseMachineAdapter`]: [`ZkAdapter`] over [`ZkClient`].
//!
//! The machine's `config` JSON is read into [`ZkMachineConfig`] (unknown fields are refused):
//!
//! ```json
//! { "comm_key": 12, "transport": "tcp", "timeout_ms": 5000, "port": 4370,
//!   "strict_checksums": false, "chunk_size": 65472 }
//! ```
//!
//! Every field is optional. The address is the machine's `ip_address` and `port` (the config's
//! `port` overrides the latter); device clocks are read in the machine's `time_zone`.
//!
//! # The cursor
//!
//! A ZKTeco terminal has no record numbers: a pull always downloads the whole log, in the order
//! the device stored it. The cursor ([`ZkCursor`]) is therefore the number of records already
//! taken plus the raw bytes (hex) of the last one taken, written `zk1:<count>:<hex>`. A fetch
//! returns the records from index `count` on, after checking that the record at `count - 1` still
//! has the same bytes. When the log is shorter than `count`, or that record differs, the log was
//! cleared (or replaced) since the last fetch: the adapter logs a warning and returns the whole
//! log again instead of silently skipping records. Scans re-read this way are exact duplicates
//! (same machine, user and second) that the store's dedupe absorbs.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use attendance_core::machine::{Machine, MachineType};
use attendance_core::store::MachineCursor;
use attendance_core::time::local_to_utc;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::Deserialize;

use super::client::{AttendanceDump, ZkClient, ZkConfig, ZkError, records_to_scans};
use super::codec::ChecksumPolicy;
use crate::adapter::{
    AdapterError, BaseMachineAdapter, ConnectionReport, Fetch, ScanStream, parse_config,
};

/// The transport named in the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ZkTransport {
    /// TCP (the default).
    #[default]
    Tcp,
    /// UDP.
    Udp,
}

fn default_timeout_ms() -> u64 {
    5_000
}

/// The typed `config` of a ZKTeco machine; every field has a default.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZkMachineConfig {
    /// The comm key set on the terminal (none by default).
    #[serde(default)]
    pub comm_key: Option<u32>,
    /// `tcp` (default) or `udp`.
    #[serde(default)]
    pub transport: ZkTransport,
    /// The longest wait for any answer, in milliseconds (default 5000, at least 1).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// A port that overrides the machine's.
    #[serde(default)]
    pub port: Option<u16>,
    /// Reject packets with a wrong checksum instead of only logging them.
    #[serde(default)]
    pub strict_checksums: bool,
    /// Bytes per chunk request (default: 0xFFC0 on TCP, 16 KiB on UDP).
    #[serde(default)]
    pub chunk_size: Option<u32>,
}

impl Default for ZkMachineConfig {
    fn default() -> Self {
        Self {
            comm_key: None,
            transport: ZkTransport::Tcp,
            timeout_ms: default_timeout_ms(),
            port: None,
            strict_checksums: false,
            chunk_size: None,
        }
    }
}

/// The position of a fetch in a ZKTeco log (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ZkCursor {
    /// How many records of the log have been taken.
    pub count: usize,
    /// The raw bytes of the last record taken, as lowercase hex (empty when `count` is 0).
    pub last_record: String,
}

impl ZkCursor {
    const PREFIX: &'static str = "zk1:";

    /// Reads a stored cursor; `None` when it is not a ZK cursor (it is then ignored and the whole
    /// log is read).
    pub fn parse(cursor: &MachineCursor) -> Option<Self> {
        let rest = cursor.0.strip_prefix(Self::PREFIX)?;
        let (count, last) = rest.split_once(':')?;
        let count = count.parse().ok()?;
        if !last.bytes().all(|b| b.is_ascii_hexdigit()) || (count == 0) != last.is_empty() {
            return None;
        }
        Some(Self {
            count,
            last_record: last.to_ascii_lowercase(),
        })
    }

    /// The cursor as stored.
    pub fn to_cursor(&self) -> MachineCursor {
        MachineCursor(format!(
            "{}{}:{}",
            Self::PREFIX,
            self.count,
            self.last_record
        ))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Where a fetch starts in a downloaded log: the index of the first record after `since`.
/// Returns 0 (re-read everything) when there is no cursor or it does not match the log (the log
/// is shorter than the cursor's count, or its record at `count - 1` has other bytes).
pub fn resume_index(dump: &AttendanceDump, since: Option<&ZkCursor>) -> usize {
    let Some(cursor) = since else { return 0 };
    if cursor.count == 0 {
        return 0;
    }
    let size = dump.layout.map_or(0, |l| l.size());
    let n = dump.records.len();
    // The count comes from storage: check it against the log before any arithmetic.
    let matches = cursor.count <= n
        && size > 0
        && dump
            .raw
            .get((cursor.count - 1) * size..cursor.count * size)
            .is_some_and(|raw| hex(raw) == cursor.last_record);
    if matches {
        cursor.count
    } else {
        tracing::warn!(
            stored = cursor.count,
            on_device = n,
            "the ZK attendance log no longer matches the cursor (cleared or replaced): reading it all again"
        );
        0
    }
}

/// Maps a client error to the adapter's error for the device at `target`:
/// unreachable, a closed connection and socket errors become [`AdapterError::Unreachable`],
/// timeouts [`AdapterError::Timeout`], comm-key failures [`AdapterError::Auth`], bad bytes and
/// out-of-place packets [`AdapterError::Protocol`], error replies [`AdapterError::Refused`].
pub fn map_zk_error(error: ZkError, target: &str) -> AdapterError {
    let target = target.to_owned();
    match error {
        ZkError::Unreachable { source, .. } => AdapterError::Unreachable {
            target,
            message: source.to_string(),
        },
        ZkError::Timeout { during, timeout } => AdapterError::Timeout {
            target,
            during,
            timeout,
        },
        ZkError::Auth(failure) => AdapterError::Auth {
            target,
            message: failure.to_string(),
        },
        e @ (ZkError::Codec { .. } | ZkError::Unexpected { .. }) => AdapterError::Protocol {
            target,
            message: e.to_string(),
        },
        e @ ZkError::Refused { .. } => AdapterError::Refused {
            target,
            message: e.to_string(),
        },
        e @ (ZkError::Disconnected { .. } | ZkError::Io { .. }) => AdapterError::Unreachable {
            target,
            message: e.to_string(),
        },
    }
}

/// A ZKTeco terminal on the binary protocol.
#[derive(Debug)]
pub struct ZkAdapter {
    machine: Machine,
    config: ZkMachineConfig,
    target: String,
    client: Option<ZkClient>,
}

impl ZkAdapter {
    /// An adapter for `machine`; [`AdapterError::Config`] when its config does not parse, its
    /// timeout is 0 or its type is not `zkteco`. Does not connect.
    pub fn new(machine: Machine) -> Result<Self, AdapterError> {
        if machine.machine_type != MachineType::Zkteco {
            return Err(AdapterError::Config {
                machine_type: machine.machine_type,
                message: "the ZKTeco adapter reads only zkteco machines".into(),
            });
        }
        let config: ZkMachineConfig = parse_config(&machine)?;
        if config.timeout_ms == 0 {
            return Err(AdapterError::Config {
                machine_type: machine.machine_type,
                message: "timeout_ms must be at least 1".into(),
            });
        }
        let port = config.port.unwrap_or(machine.port);
        let target = match machine.ip_address.parse::<IpAddr>() {
            Ok(ip) => SocketAddr::new(ip, port).to_string(),
            Err(_) => format!("{}:{port}", machine.ip_address),
        };
        Ok(Self {
            machine,
            config,
            target,
            client: None,
        })
    }

    /// The typed configuration.
    pub fn config(&self) -> &ZkMachineConfig {
        &self.config
    }

    /// `host:port` of the device.
    pub fn target(&self) -> &str {
        &self.target
    }

    async fn resolve(&self) -> Result<SocketAddr, AdapterError> {
        if let Ok(addr) = self.target.parse::<SocketAddr>() {
            return Ok(addr);
        }
        let unreachable = |message: String| AdapterError::Unreachable {
            target: self.target.clone(),
            message,
        };
        let mut addrs = tokio::net::lookup_host(self.target.as_str())
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        addrs
            .next()
            .ok_or_else(|| unreachable("the host name has no address".into()))
    }

    fn client_config(&self, addr: SocketAddr) -> ZkConfig {
        let base = match self.config.transport {
            ZkTransport::Tcp => ZkConfig::tcp(addr),
            ZkTransport::Udp => ZkConfig::udp(addr),
        };
        let mut config = base.with_timeout(Duration::from_millis(self.config.timeout_ms));
        config.comm_key = self.config.comm_key;
        config.chunk_size = self.config.chunk_size;
        config.checksum_policy = if self.config.strict_checksums {
            ChecksumPolicy::Strict
        } else {
            ChecksumPolicy::Lenient
        };
        config
    }

    fn err(&self, e: ZkError) -> AdapterError {
        map_zk_error(e, &self.target)
    }

    fn client(&mut self) -> Result<&mut ZkClient, AdapterError> {
        let target = self.target.clone();
        self.client
            .as_mut()
            .ok_or(AdapterError::NotConnected { target })
    }

    /// Downloads the counters, users and attendance log with the terminal disabled, enabling it
    /// again on every path.
    async fn download(
        client: &mut ZkClient,
    ) -> Result<(Vec<super::codec::UserRecord>, AttendanceDump), ZkError> {
        client.disable_device().await?;
        let result = async {
            let sizes = client.free_sizes().await?;
            let users = client.read_users(&sizes).await?;
            let dump = client.read_attendance(&sizes).await?;
            Ok::<_, ZkError>((users, dump))
        }
        .await;
        let enabled = client.enable_device().await;
        match (result, enabled) {
            (Ok(r), Ok(())) => Ok(r),
            (Err(e), enabled) => {
                if let Err(again) = enabled {
                    tracing::warn!(error = %again, "could not enable the device after a failed pull");
                }
                Err(e)
            }
            (Ok(_), Err(e)) => Err(e),
        }
    }
}

#[async_trait]
impl BaseMachineAdapter for ZkAdapter {
    fn machine(&self) -> &Machine {
        &self.machine
    }

    async fn connect(&mut self) -> Result<(), AdapterError> {
        if self.client.is_some() {
            return Ok(());
        }
        let addr = self.resolve().await?;
        let client = ZkClient::connect(self.client_config(addr))
            .await
            .map_err(|e| self.err(e))?;
        self.client = Some(client);
        Ok(())
    }

    async fn disconnect(&mut self) -> Result<(), AdapterError> {
        match self.client.take() {
            Some(client) => client.disconnect().await.map_err(|e| self.err(e)),
            None => Ok(()),
        }
    }

    async fn test_connection(
        &mut self,
        now: DateTime<Utc>,
    ) -> Result<ConnectionReport, AdapterError> {
        let started = Instant::now();
        self.connect().await?;
        let tz = self.machine.time_zone;
        let client = self.client()?;
        let result = async {
            let firmware = client.firmware_version().await?;
            let serial = client.serial_number().await?;
            let device_time = client.device_time().await?;
            let sizes = client.free_sizes().await?;
            Ok::<_, ZkError>((firmware, serial, device_time, sizes))
        }
        .await;
        let (firmware, serial, device_time, sizes) = match result {
            Ok(r) => r,
            Err(e) => {
                self.client = None;
                return Err(self.err(e));
            }
        };
        let drift = (local_to_utc(tz, device_time) - now).num_seconds();
        Ok(ConnectionReport {
            serial: Some(serial).filter(|s| !s.is_empty()),
            firmware: Some(firmware).filter(|s| !s.is_empty()),
            device_time: Some(device_time),
            clock_drift_seconds: Some(drift),
            record_count: u64::try_from(sizes.records).ok(),
            ..ConnectionReport::answered_since(started)
        })
    }

    async fn fetch_scans(&mut self, since: Option<&MachineCursor>) -> Result<Fetch, AdapterError> {
        let since = since.and_then(|c| {
            let parsed = ZkCursor::parse(c);
            if parsed.is_none() {
                tracing::warn!(cursor = %c.0, "ignoring a cursor that is not a ZK cursor");
            }
            parsed
        });
        let client = self.client()?;
        let (users, dump) = match Self::download(client).await {
            Ok(r) => r,
            Err(e) => {
                // The session is in an unknown state: the next call needs a new connection.
                self.client = None;
                return Err(self.err(e));
            }
        };
        let start = resume_index(&dump, since.as_ref());
        let size = dump.layout.map_or(0, |l| l.size());
        let n = dump.records.len();
        let new = AttendanceDump {
            layout: dump.layout,
            records: dump.records.get(start..).unwrap_or_default().to_vec(),
            raw: dump.raw.slice((start * size).min(dump.raw.len())..),
        };
        let (scans, bad) = records_to_scans(
            &new,
            &users,
            &self.machine.machine_id,
            self.machine.time_zone,
        );
        for record in &bad {
            tracing::warn!(
                machine = %self.machine.machine_id,
                index = start + record.index,
                raw = %record.raw,
                reason = %record.reason,
                "skipping a ZK record that cannot become a scan"
            );
        }
        let last_record = match n {
            0 => String::new(),
            n => dump
                .raw
                .get((n - 1) * size..n * size)
                .map(hex)
                .unwrap_or_default(),
        };
        let cursor = ZkCursor {
            count: if last_record.is_empty() { 0 } else { n },
            last_record,
        };
        Ok(Fetch {
            scans,
            cursor: Some(cursor.to_cursor()),
            skipped: bad.len(),
        })
    }

    fn supports_live(&self) -> bool {
        true
    }

    async fn live_scans(&mut self) -> Result<ScanStream, AdapterError> {
        self.connect().await?;
        let client = self.client.take().ok_or(AdapterError::NotConnected {
            target: self.target.clone(),
        })?;
        let capture = client.live_capture().await.map_err(|e| self.err(e))?;
        let target = self.target.clone();
        let stream = capture
            .into_scans(self.machine.machine_id.clone(), self.machine.time_zone)
            .map(move |item| item.map_err(|e| map_zk_error(e, &target)));
        Ok(Box::pin(stream))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use attendance_core::machine::NewMachine;

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
    fn config_defaults_and_overrides() {
        let a = ZkAdapter::new(machine(serde_json::json!({}))).unwrap();
        assert_eq!(a.config(), &ZkMachineConfig::default());
        assert_eq!(a.target(), "192.0.2.1:4370");
        let a = ZkAdapter::new(machine(
            serde_json::json!({"comm_key": 12, "transport": "udp", "port": 5000, "timeout_ms": 200}),
        ))
        .unwrap();
        assert_eq!(a.target(), "192.0.2.1:5000");
        assert_eq!(a.config().transport, ZkTransport::Udp);
        let err = ZkAdapter::new(machine(serde_json::json!({"commkey": 1}))).unwrap_err();
        assert!(matches!(err, AdapterError::Config { .. }), "{err}");
        let err = ZkAdapter::new(machine(serde_json::json!({"timeout_ms": 0}))).unwrap_err();
        assert!(err.to_string().contains("timeout_ms"), "{err}");
        let err = ZkAdapter::new(machine(serde_json::json!({"transport": "serial"}))).unwrap_err();
        assert!(matches!(err, AdapterError::Config { .. }), "{err}");
    }

    #[test]
    fn cursors_round_trip_and_reject_junk() {
        let c = ZkCursor {
            count: 3,
            last_record: "0a0b".into(),
        };
        assert_eq!(c.to_cursor().0, "zk1:3:0a0b");
        assert_eq!(ZkCursor::parse(&c.to_cursor()), Some(c));
        assert_eq!(
            ZkCursor::parse(&MachineCursor("zk1:0:".into())),
            Some(ZkCursor::default())
        );
        for junk in [
            "", "zk1:", "zk1:x:00", "zk1:2:", "zk1:0:00", "zk1:1:zz", "sim:1",
        ] {
            assert_eq!(ZkCursor::parse(&MachineCursor(junk.into())), None, "{junk}");
        }
    }

    #[test]
    fn a_cursor_beyond_the_log_rereads_it_without_overflow() {
        let dump = AttendanceDump::default();
        for count in [1, 7, usize::MAX] {
            let cursor = ZkCursor {
                count,
                last_record: "00".into(),
            };
            assert_eq!(resume_index(&dump, Some(&cursor)), 0);
        }
        assert_eq!(resume_index(&dump, None), 0);
    }

    #[test]
    fn errors_map_to_adapter_errors() {
        let t = "127.0.0.1:4370";
        assert!(matches!(
            map_zk_error(super::super::client::AuthFailure::KeyRejected.into(), t),
            AdapterError::Auth { .. }
        ));
        assert!(matches!(
            map_zk_error(
                ZkError::Timeout {
                    during: "x",
                    timeout: Duration::from_millis(1)
                },
                t
            ),
            AdapterError::Timeout { .. }
        ));
        assert!(matches!(
            map_zk_error(ZkError::Disconnected { during: "x" }, t),
            AdapterError::Unreachable { .. }
        ));
        assert!(matches!(
            map_zk_error(
                ZkError::Refused {
                    during: "x",
                    reply: 2001
                },
                t
            ),
            AdapterError::Refused { .. }
        ));
    }
}
