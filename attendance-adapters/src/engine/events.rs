//! What the engine publishes: the events, who may receive them, and the bus that is the
//! service's [`ChangeObserver`].

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};

use attendance_core::access::Owner;
use attendance_core::employee::{DeviceUserId, Employee, EmployeeCode};
use attendance_core::report::DailySummary;
use attendance_core::scan::{MachineId, PunchState, ScanData, VerifyMode};
use attendance_core::service::ChangeObserver;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::ser::SerializeMap;
use tokio::sync::broadcast;

use super::{Counters, EngineStats};

/// A new scan, as `scan_received` publishes it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScanReceived {
    /// The machine.
    pub machine_id: MachineId,
    /// The PIN on the machine.
    pub device_user_id: DeviceUserId,
    /// The employee, if someone is enrolled as that PIN.
    pub employee_id: Option<EmployeeCode>,
    /// Their name.
    pub employee_name: Option<String>,
    /// When (UTC, RFC 3339).
    pub timestamp: DateTime<Utc>,
    /// The device's punch state.
    pub punch_state: PunchState,
    /// How the person was verified.
    pub verify_mode: VerifyMode,
}

/// A machine's connection changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConnectionChange {
    /// The machine.
    pub machine_id: MachineId,
    /// Why, when it is a disconnection or an error.
    pub reason: Option<String>,
}

/// Something failed that an operator should see.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorEvent {
    /// Where (`ingest`, a machine id, …).
    pub source: String,
    /// A short kind (`store`, `invalid_batch`, …).
    pub kind: String,
    /// What happened.
    pub message: String,
}
/// What the bus carries. Serialised as `{"type": "scan_received", "data": {…}}`; the machine
/// events also carry `machine_id` at the top level (`{"type": "machine_connected",
/// "machine_id": "GATE-1", "data": {"machine_id": "GATE-1", …}}`), where clients of the
/// original system read it.
#[derive(Debug, Clone, PartialEq)]
pub enum EngineEvent {
    /// A new scan was stored.
    ScanReceived(ScanReceived),
    /// An employee's day was recomputed; the data is the day as the summary shows it.
    AttendanceUpdated(Box<DailySummary>),
    /// A machine connected.
    MachineConnected(ConnectionChange),
    /// A machine disconnected.
    MachineDisconnected(ConnectionChange),
    /// Something failed.
    ErrorOccurred(ErrorEvent),
    /// The periodic status.
    SystemStatus(EngineStats),
    /// An event published on another instance of a cluster (see [`crate::cluster`]), as that
    /// instance serialised it.
    Remote(RemoteEvent),
}

/// An event of another instance: its `type` and the event as it was serialised there.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteEvent {
    /// Its `type` (one of [`EngineEvent::kind`]'s).
    pub kind: &'static str,
    /// The event, as its instance serialised it (`{"type": …, "data": …}`).
    pub event: serde_json::Value,
}

impl RemoteEvent {
    /// The event of `value`, if its `type` is one an instance publishes to the others.
    pub fn parse(event: serde_json::Value) -> Option<Self> {
        let kind = match event.get("type")?.as_str()? {
            "scan_received" => "scan_received",
            "attendance_updated" => "attendance_updated",
            "machine_connected" => "machine_connected",
            "machine_disconnected" => "machine_disconnected",
            "error_occurred" => "error_occurred",
            _ => return None,
        };
        Some(Self { kind, event })
    }

    /// The work date of an `attendance_updated` event.
    pub fn updated_date(&self) -> Option<chrono::NaiveDate> {
        if self.kind != "attendance_updated" {
            return None;
        }
        self.event.get("data")?.get("date")?.as_str()?.parse().ok()
    }
}

impl EngineEvent {
    /// The event's `type`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::ScanReceived(_) => "scan_received",
            Self::AttendanceUpdated(_) => "attendance_updated",
            Self::MachineConnected(_) => "machine_connected",
            Self::MachineDisconnected(_) => "machine_disconnected",
            Self::ErrorOccurred(_) => "error_occurred",
            Self::SystemStatus(_) => "system_status",
            Self::Remote(remote) => remote.kind,
        }
    }
}

impl Serialize for EngineEvent {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if let Self::Remote(remote) = self {
            return remote.event.serialize(serializer);
        }
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("type", self.kind())?;
        match self {
            Self::ScanReceived(data) => map.serialize_entry("data", data)?,
            Self::AttendanceUpdated(data) => map.serialize_entry("data", data)?,
            Self::MachineConnected(data) | Self::MachineDisconnected(data) => {
                map.serialize_entry("machine_id", &data.machine_id)?;
                map.serialize_entry("data", data)?;
            }
            Self::ErrorOccurred(data) => map.serialize_entry("data", data)?,
            Self::SystemStatus(data) => map.serialize_entry("data", data)?,
            Self::Remote(_) => {}
        }
        map.end()
    }
}

/// An event and who may receive it.
#[derive(Debug, Clone)]
pub struct Published {
    /// The event.
    pub event: EngineEvent,
    /// The employee it is about; `None` for site-wide events (machines, errors, status), which
    /// only roles with site-wide access should receive.
    pub audience: Option<Owner>,
    /// The event as JSON, made by the first who asks for it ([`Published::json`]) and shared
    /// by every clone: a broadcast hands each subscriber a clone, so hundreds of WebSocket
    /// clients serialise an event once, not once each.
    json: Arc<OnceLock<Option<Arc<str>>>>,
}

impl PartialEq for Published {
    fn eq(&self, other: &Self) -> bool {
        self.event == other.event && self.audience == other.audience
    }
}

impl Published {
    /// `event` for `audience`.
    pub fn new(event: EngineEvent, audience: Option<Owner>) -> Self {
        Self {
            event,
            audience,
            json: Arc::default(),
        }
    }

    /// The event as clients receive it (JSON), serialised once for this event and every
    /// clone of it; `None` (logged once) when it cannot be serialised.
    pub fn json(&self) -> Option<Arc<str>> {
        self.json
            .get_or_init(|| match serde_json::to_string(&self.event) {
                Ok(text) => Some(text.into()),
                Err(e) => {
                    tracing::warn!(error = %e, "event not serialisable");
                    None
                }
            })
            .clone()
    }
}

impl Serialize for Published {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.event.serialize(serializer)
    }
}
/// The bus as the service's [`ChangeObserver`]: every change the engine's service stores is
/// published from here, whoever made it.
#[derive(Debug)]
pub(super) struct Bus {
    pub(super) events: broadcast::Sender<Published>,
    pub(super) counters: Arc<Counters>,
}

fn owner_of(employee: &Employee) -> Owner {
    Owner {
        employee: employee.employee_id.clone(),
        department: employee.department.clone(),
    }
}

impl Bus {
    pub(super) fn send(&self, event: EngineEvent, audience: Option<Owner>) {
        // No subscriber is fine: events are for whoever listens.
        let _ = self.events.send(Published::new(event, audience));
    }

    pub(super) fn error_event(&self, source: &str, kind: &str, message: String) {
        self.send(
            EngineEvent::ErrorOccurred(ErrorEvent {
                source: source.to_owned(),
                kind: kind.into(),
                message,
            }),
            None,
        );
    }
}

impl ChangeObserver for Bus {
    fn scans_stored(&self, scans: &[ScanData], employees: &BTreeMap<DeviceUserId, Employee>) {
        for scan in scans {
            let employee = employees.get(&scan.device_user_id);
            self.send(
                EngineEvent::ScanReceived(scan_received(scan, employee)),
                employee.map(owner_of),
            );
        }
    }

    fn days_recomputed(&self, summaries: &[DailySummary]) {
        self.counters
            .records_recomputed
            .fetch_add(summaries.len() as u64, Ordering::Relaxed);
        for summary in summaries {
            let audience = Owner {
                employee: summary.employee_id.clone(),
                department: summary.department.clone(),
            };
            self.send(
                EngineEvent::AttendanceUpdated(Box::new(summary.clone())),
                Some(audience),
            );
        }
    }
}
fn scan_received(scan: &ScanData, employee: Option<&Employee>) -> ScanReceived {
    ScanReceived {
        machine_id: scan.machine_id.clone(),
        device_user_id: scan.device_user_id.clone(),
        employee_id: employee.map(|e| e.employee_id.clone()),
        employee_name: employee.map(|e| e.employee_name.clone()),
        timestamp: scan.timestamp,
        punch_state: scan.punch_state,
        verify_mode: scan.verify_mode,
    }
}
