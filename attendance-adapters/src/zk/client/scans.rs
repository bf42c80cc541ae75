//! Downloaded records and realtime events as [`ScanData`] in the machine's time zone.

use std::collections::HashMap;
use std::fmt::Write as _;

use attendance_core::ValidationError;
use attendance_core::employee::DeviceUserId;
use attendance_core::scan::{MachineId, PunchState, ScanData, VerifyMode};
use attendance_core::time::local_to_utc;
use bytes::Bytes;
use chrono::NaiveDateTime;
use chrono_tz::Tz;
use thiserror::Error;

use crate::zk::codec::{
    AttendanceRecord, CodecError, RealtimeAttendance, RecordLayout, UserRecord,
};

/// The ZK verify type as a [`VerifyMode`]: 0 password, 1 fingerprint, 2 card, 15 face, anything
/// else kept as [`VerifyMode::Other`] because its meaning varies with firmware.
pub fn verify_mode(code: u8) -> VerifyMode {
    match code {
        0 => VerifyMode::Password,
        1 => VerifyMode::Fingerprint,
        2 => VerifyMode::Card,
        15 => VerifyMode::Face,
        other => VerifyMode::Other(u16::from(other)),
    }
}

/// Why one downloaded record could not become a scan; the rest of the download is unaffected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BadRecordReason {
    /// The record's time is an impossible date.
    #[error("{0}")]
    Time(CodecError),
    /// The record's user id is not a valid device user id.
    #[error("{0}")]
    UserId(ValidationError),
}

/// A record that could not become a scan, with its raw bytes for the audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRecord {
    /// Position of the record in the download.
    pub index: usize,
    /// The record's bytes as hex.
    pub raw: String,
    /// What was wrong.
    pub reason: BadRecordReason,
}

/// The attendance records of one download, as the device stores them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AttendanceDump {
    /// The record layout, `None` when the device had no records.
    pub layout: Option<RecordLayout>,
    /// The decoded records, in device order.
    pub records: Vec<AttendanceRecord>,
    /// The records' bytes back to back (the dataset without its length prefix).
    pub raw: Bytes,
}

/// The result of [`ZkClient::pull`](super::ZkClient::pull): users, scans and the records that
/// could not be converted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pull {
    /// The user table.
    pub users: Vec<UserRecord>,
    /// The record layout found, if there were records.
    pub layout: Option<RecordLayout>,
    /// Every good record as a scan, in device order.
    pub scans: Vec<ScanData>,
    /// Records with an impossible date or user id.
    pub bad_records: Vec<BadRecord>,
}

fn to_hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

fn to_scan(
    machine: &MachineId,
    tz: Tz,
    user_id: &str,
    local: Result<NaiveDateTime, CodecError>,
    verify_type: u8,
    punch_state: u8,
    raw: String,
) -> Result<ScanData, (String, BadRecordReason)> {
    let local = match local {
        Ok(t) => t,
        Err(e) => return Err((raw, BadRecordReason::Time(e))),
    };
    let device_user_id = match DeviceUserId::parse(user_id) {
        Ok(id) => id,
        Err(e) => return Err((raw, BadRecordReason::UserId(e))),
    };
    Ok(ScanData {
        machine_id: machine.clone(),
        device_user_id,
        timestamp: local_to_utc(tz, local),
        punch_state: PunchState::from_code(punch_state),
        verify_mode: verify_mode(verify_type),
        raw: Some(raw),
    })
}

/// Converts downloaded records into scans: the device clock is naive local time in `tz`. The PIN
/// of 8-byte records comes from `users` through the uid; a uid missing from the table is used as
/// the PIN itself, as pyzk does. Records with an impossible date or PIN become [`BadRecord`]s.
pub fn records_to_scans(
    dump: &AttendanceDump,
    users: &[UserRecord],
    machine: &MachineId,
    tz: Tz,
) -> (Vec<ScanData>, Vec<BadRecord>) {
    let pins: HashMap<u16, &str> = users.iter().map(|u| (u.uid, u.user_id.as_str())).collect();
    let size = dump.layout.map_or(1, RecordLayout::size);
    let mut scans = Vec::with_capacity(dump.records.len());
    let mut bad = Vec::new();
    for (index, (record, raw)) in dump
        .records
        .iter()
        .zip(dump.raw.chunks_exact(size))
        .enumerate()
    {
        let uid_text;
        let user_id = if dump.layout == Some(RecordLayout::Compact8) {
            match pins.get(&record.uid) {
                Some(pin) => *pin,
                None => {
                    uid_text = record.uid.to_string();
                    &uid_text
                }
            }
        } else {
            &record.user_id
        };
        match to_scan(
            machine,
            tz,
            user_id,
            record.local_time(),
            record.verify_type,
            record.punch_state,
            to_hex(raw),
        ) {
            Ok(scan) => scans.push(scan),
            Err((raw, reason)) => bad.push(BadRecord { index, raw, reason }),
        }
    }
    (scans, bad)
}

/// Converts a realtime event into a scan (see [`records_to_scans`]); the raw field holds the
/// event data as hex.
pub fn event_to_scan(
    event: &RealtimeAttendance,
    data: &[u8],
    machine: &MachineId,
    tz: Tz,
) -> Result<ScanData, BadRecordReason> {
    to_scan(
        machine,
        tz,
        &event.user_id,
        event.local_time(),
        event.verify_type,
        event.punch_state,
        to_hex(data),
    )
    .map_err(|(_, reason)| reason)
}
