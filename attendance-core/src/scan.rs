//! Raw scans as the machines report them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::DeviceUserId;
use crate::text::text_newtype;

text_newtype!(
    /// A machine's id: its serial number for real devices (`BOCK200961014`), or a name the site
    /// gives it.
    MachineId,
    "machine_id",
    64,
    |text| {
        (!text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':')))
        .then_some("may hold only ASCII letters, digits, '-', '_', '.' and ':'")
    }
);

/// What the person pressed on the device (the "attendance state"). ZKTeco numbers them 0–5;
/// anything else, including 255 ("undefined"), is kept as `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PunchState {
    /// Check-in (0).
    CheckIn,
    /// Check-out (1).
    CheckOut,
    /// Break-out (2).
    BreakOut,
    /// Break-in (3).
    BreakIn,
    /// Overtime-in (4).
    OvertimeIn,
    /// Overtime-out (5).
    OvertimeOut,
    /// Not given by the device.
    Unknown,
    /// A code outside 0–5 (255 on many firmwares means "not set").
    Other(u8),
}

impl PunchState {
    /// Maps the device's numeric code.
    pub fn from_code(code: u8) -> Self {
        match code {
            0 => Self::CheckIn,
            1 => Self::CheckOut,
            2 => Self::BreakOut,
            3 => Self::BreakIn,
            4 => Self::OvertimeIn,
            5 => Self::OvertimeOut,
            other => Self::Other(other),
        }
    }

    /// The direction the state implies, or `None` when it implies none.
    pub fn direction(self) -> Option<ScanType> {
        match self {
            Self::CheckIn | Self::BreakIn | Self::OvertimeIn => Some(ScanType::In),
            Self::CheckOut | Self::BreakOut | Self::OvertimeOut => Some(ScanType::Out),
            Self::Unknown | Self::Other(_) => None,
        }
    }
}

/// How the person identified themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerifyMode {
    /// Fingerprint.
    Fingerprint,
    /// Face.
    Face,
    /// Card.
    Card,
    /// Password or PIN.
    Password,
    /// Palm or vein.
    Palm,
    /// Entered by a person (manual entry or import).
    Manual,
    /// Not known.
    Unknown,
    /// A vendor code we do not name.
    Other(u16),
}

/// Whether a scan is an arrival or a departure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ScanType {
    /// Arrival.
    #[serde(rename = "IN")]
    In,
    /// Departure.
    #[serde(rename = "OUT")]
    Out,
}

/// One scan on one machine: the unit every adapter produces and every store keeps.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ScanData {
    /// The machine's id (its serial).
    pub machine_id: MachineId,
    /// The user id enrolled on that machine.
    pub device_user_id: DeviceUserId,
    /// When the scan happened, with the machine's time zone already applied.
    pub timestamp: DateTime<Utc>,
    /// What the person pressed.
    pub punch_state: PunchState,
    /// How the person identified themselves.
    pub verify_mode: VerifyMode,
    /// The record as the device sent it (hex or text), kept for audits.
    #[serde(default)]
    pub raw: Option<String>,
}

impl ScanData {
    /// The key that makes two scans the same scan, whatever the path they arrived by: machine,
    /// device user and instant truncated to the second.
    pub fn dedupe_key(&self) -> (&MachineId, &DeviceUserId, i64) {
        (
            &self.machine_id,
            &self.device_user_id,
            self.timestamp.timestamp(),
        )
    }
}
