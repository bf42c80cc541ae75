//! What the manager reports about each machine: its [`MachineHealth`] snapshot and the
//! [`MachineEvent`]s of its connection.

use std::sync::{Arc, Mutex, PoisonError};

use attendance_core::machine::{Machine, MachineType};
use attendance_core::scan::MachineId;
use attendance_core::store::MachineStatus;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

/// Where a machine's task is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionState {
    /// Opening a session.
    Connecting,
    /// A session is open (fetching, polling or following live events).
    Connected,
    /// Waiting before reconnecting after a failure.
    BackingOff,
    /// Too many failures: waiting for the cool-down.
    CircuitOpen,
    /// The task has ended.
    Stopped,
}

/// What the manager knows about one machine, as a snapshot.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MachineHealth {
    /// The machine.
    pub machine_id: MachineId,
    /// Its type.
    pub machine_type: MachineType,
    /// Where its task is.
    pub state: ConnectionState,
    /// Whether the session follows live events (false when polling).
    pub live: bool,
    /// When the device last answered.
    pub last_seen: Option<DateTime<Utc>>,
    /// The last failure, if any (kept after recovery; see `consecutive_failures`).
    pub last_error: Option<String>,
    /// Its kind (`timeout`, `auth`, …).
    pub last_error_kind: Option<String>,
    /// Failures since the last success.
    pub consecutive_failures: u32,
    /// Sessions opened so far.
    pub connections: u64,
    /// Scans handed to the output today (the machine's local date).
    pub scans_today: u64,
    /// Scans handed to the output since the task started.
    pub scans_total: u64,
    /// Batches handed to the output.
    pub batches_sent: u64,
    /// Records or lines the adapter skipped as bad.
    pub skipped_total: u64,
    /// The task is waiting for room in the output channel (back-pressure).
    pub waiting_on_output: bool,
    /// How many times a send found the output channel full.
    pub output_waits: u64,
    /// Device clock minus ours, in seconds, at the last connection test.
    pub clock_drift_seconds: Option<i64>,
    /// The serial number the device reported.
    pub serial: Option<String>,
    /// The firmware it reported.
    pub firmware: Option<String>,
    /// When the next connection attempt is due (while backing off or open).
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// When this snapshot last changed.
    pub updated_at: DateTime<Utc>,
}

impl MachineHealth {
    pub(super) fn new(machine: &Machine) -> Self {
        Self {
            machine_id: machine.machine_id.clone(),
            machine_type: machine.machine_type,
            state: ConnectionState::Connecting,
            live: false,
            last_seen: None,
            last_error: None,
            last_error_kind: None,
            consecutive_failures: 0,
            connections: 0,
            scans_today: 0,
            scans_total: 0,
            batches_sent: 0,
            skipped_total: 0,
            waiting_on_output: false,
            output_waits: 0,
            clock_drift_seconds: None,
            serial: None,
            firmware: None,
            next_attempt_at: None,
            updated_at: Utc::now(),
        }
    }

    /// The status a store keeps for the machine ([`attendance_core::store::MachineStore`]).
    pub fn to_status(&self) -> MachineStatus {
        MachineStatus {
            machine_id: self.machine_id.clone(),
            connected: self.state == ConnectionState::Connected,
            last_seen: self.last_seen,
            last_error: if self.consecutive_failures > 0 {
                self.last_error.clone()
            } else {
                None
            },
            clock_drift_seconds: self.clock_drift_seconds,
            updated_at: self.updated_at,
        }
    }
}

/// What happened to a machine's connection.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum MachineEventKind {
    /// A session opened.
    Connected {
        /// Whether it follows live events.
        live: bool,
    },
    /// A session ended.
    Disconnected {
        /// Why, when it failed.
        reason: Option<String>,
    },
    /// An attempt failed.
    Error {
        /// The error kind (`timeout`, `auth`, `store`, …).
        kind: String,
        /// The message.
        message: String,
        /// Whether retrying may help.
        transient: bool,
    },
    /// Too many consecutive failures: no attempt until `until`.
    CircuitOpen {
        /// Consecutive failures.
        failures: u32,
        /// When the trial attempt is due.
        until: DateTime<Utc>,
    },
    /// The machine's task ended (removed or shut down).
    Stopped,
}

/// A connection-status event of one machine.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MachineEvent {
    /// The machine.
    pub machine_id: MachineId,
    /// When.
    pub at: DateTime<Utc>,
    /// What.
    #[serde(flatten)]
    pub kind: MachineEventKind,
}
/// A machine's health and the local date its `scans_today` counts.
#[derive(Debug)]
pub(super) struct HealthCell {
    pub(super) health: MachineHealth,
    pub(super) today: Option<NaiveDate>,
}

pub(super) type SharedHealth = Arc<Mutex<HealthCell>>;

/// Changes a machine's health and stamps `updated_at`.
pub(super) fn update(health: &SharedHealth, f: impl FnOnce(&mut MachineHealth)) {
    let mut cell = health.lock().unwrap_or_else(PoisonError::into_inner);
    f(&mut cell.health);
    cell.health.updated_at = Utc::now();
}
