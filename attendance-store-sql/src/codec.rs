//! Domain values ↔ column values, shared by both stores.
//!
//! Scans are stored as plain columns (they are the bulk of the data and the hot path). The
//! richer values (employees, machines, records, requests, …) are stored whole as JSON text beside
//! the columns the queries filter and sort on; their serde implementations validate, so a row
//! that was tampered with fails to decode instead of producing an invalid value.

use attendance_core::employee::DeviceUserId;
use attendance_core::scan::{MachineId, PunchState, ScanData, VerifyMode};
use attendance_core::store::{StoreError, StoreResult};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Seconds in a UTC day (no leap seconds in Unix time).
pub const SECONDS_PER_DAY: i64 = 86_400;

/// A scan as its columns hold it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanRow {
    /// The machine id.
    pub machine_id: String,
    /// The device user id.
    pub device_user_id: String,
    /// The instant truncated to the second (Unix seconds).
    pub at_second: i64,
    /// The instant in Unix nanoseconds.
    pub at_ns: i64,
    /// [`punch_code`] of the punch state.
    pub punch_state: i32,
    /// [`verify_code`] of the verify mode.
    pub verify_mode: i32,
    /// The raw record.
    pub raw: Option<String>,
}

impl ScanRow {
    /// The UTC day of the scan: whole days since 1970-01-01, negative before (floor division,
    /// so a scan one second before 1970 is on day −1).
    pub fn at_day(&self) -> i64 {
        self.at_second.div_euclid(SECONDS_PER_DAY)
    }

    /// The key PostgreSQL stores scans by, `(device_user_id, at_second, machine_id)`. Rows are
    /// inserted in this order: every writer takes the index's row locks in the same order (two
    /// transactions inserting overlapping scans cannot deadlock), and the B-tree is walked in
    /// order.
    pub fn pg_key(&self) -> (&str, i64, &str) {
        (&self.device_user_id, self.at_second, &self.machine_id)
    }

    /// The key SQLite stores scans by, `(at_day, device_user_id, at_second, machine_id)`.
    pub fn day_key(&self) -> (i64, &str, i64, &str) {
        (
            self.at_day(),
            &self.device_user_id,
            self.at_second,
            &self.machine_id,
        )
    }

    /// The columns of `scan`; [`StoreError::Invalid`] when its instant lies outside the years
    /// 1678–2261 that nanoseconds since 1970 can hold in 64 bits.
    pub fn from_scan(scan: &ScanData) -> StoreResult<Self> {
        let at_ns = scan.timestamp.timestamp_nanos_opt().ok_or_else(|| {
            StoreError::Invalid(format!(
                "scan instant {} is out of the storable range",
                scan.timestamp
            ))
        })?;
        Ok(Self {
            machine_id: scan.machine_id.as_str().to_owned(),
            device_user_id: scan.device_user_id.as_str().to_owned(),
            at_second: scan.timestamp.timestamp(),
            at_ns,
            punch_state: punch_code(scan.punch_state),
            verify_mode: verify_code(scan.verify_mode),
            raw: scan.raw.clone(),
        })
    }

    /// The scan back; [`StoreError::Backend`] when a stored value does not validate.
    pub fn into_scan(self) -> StoreResult<ScanData> {
        Ok(ScanData {
            machine_id: MachineId::parse(&self.machine_id).map_err(corrupt("scan machine id"))?,
            device_user_id: DeviceUserId::parse(&self.device_user_id)
                .map_err(corrupt("scan device user id"))?,
            timestamp: DateTime::<Utc>::from_timestamp_nanos(self.at_ns),
            punch_state: punch_state(self.punch_state)?,
            verify_mode: verify_mode(self.verify_mode)?,
            raw: self.raw,
        })
    }
}

/// One scan of a user as SQLite's grouped read aggregates it (`SQLITE_SCAN_JSON` of
/// `attendance-store-sqlite`): `[at_ns, punch_state, verify_mode, machine_id, raw]`.
type ScanJson = (i64, i32, i32, String, Option<String>);

/// The scans of device user `user` from the JSON array SQLite's grouped read gives for them
/// (`sqlite_select_scans_of_users` of `attendance-store-sqlite`), in time order, then machine
/// id; [`StoreError::Backend`] when the text or a value does not decode.
pub fn scans_from_json(user: &str, json: &str) -> StoreResult<Vec<ScanData>> {
    let device_user_id = DeviceUserId::parse(user).map_err(corrupt("scan device user id"))?;
    let entries: Vec<ScanJson> = from_json("scans", json)?;
    let mut scans = entries
        .into_iter()
        .map(|(at_ns, punch, verify, machine, raw)| {
            Ok(ScanData {
                machine_id: MachineId::parse(&machine).map_err(corrupt("scan machine id"))?,
                device_user_id: device_user_id.clone(),
                timestamp: DateTime::<Utc>::from_timestamp_nanos(at_ns),
                punch_state: punch_state(punch)?,
                verify_mode: verify_mode(verify)?,
                raw,
            })
        })
        .collect::<StoreResult<Vec<ScanData>>>()?;
    scans.sort_by(|a, b| (a.timestamp, &a.machine_id).cmp(&(b.timestamp, &b.machine_id)));
    Ok(scans)
}

/// `t` in Unix nanoseconds, clamped to the 64-bit range (for query bounds, which may be far).
pub fn nanos_clamped(t: DateTime<Utc>) -> i64 {
    t.timestamp_nanos_opt().unwrap_or(if t.timestamp() < 0 {
        i64::MIN
    } else {
        i64::MAX
    })
}

const PUNCH_OTHER: i32 = 1_000;
const VERIFY_OTHER: i32 = 100_000;

/// The stored code of a punch state: the device codes 0–5, -1 for unknown, 1000 + n for
/// `Other(n)` (so `Other(3)` never reads back as `BreakIn`).
pub fn punch_code(state: PunchState) -> i32 {
    match state {
        PunchState::CheckIn => 0,
        PunchState::CheckOut => 1,
        PunchState::BreakOut => 2,
        PunchState::BreakIn => 3,
        PunchState::OvertimeIn => 4,
        PunchState::OvertimeOut => 5,
        PunchState::Unknown => -1,
        PunchState::Other(n) => PUNCH_OTHER + i32::from(n),
    }
}

/// The punch state of a stored code; [`StoreError::Backend`] for a code no state has.
pub fn punch_state(code: i32) -> StoreResult<PunchState> {
    Ok(match code {
        0 => PunchState::CheckIn,
        1 => PunchState::CheckOut,
        2 => PunchState::BreakOut,
        3 => PunchState::BreakIn,
        4 => PunchState::OvertimeIn,
        5 => PunchState::OvertimeOut,
        -1 => PunchState::Unknown,
        n => PunchState::Other(
            u8::try_from(n - PUNCH_OTHER)
                .map_err(|_| corrupt_value("punch state", n.to_string()))?,
        ),
    })
}

/// The stored code of a verify mode: 0–5 for the named ones, -1 for unknown, 100000 + n for
/// `Other(n)`.
pub fn verify_code(mode: VerifyMode) -> i32 {
    match mode {
        VerifyMode::Fingerprint => 0,
        VerifyMode::Face => 1,
        VerifyMode::Card => 2,
        VerifyMode::Password => 3,
        VerifyMode::Palm => 4,
        VerifyMode::Manual => 5,
        VerifyMode::Unknown => -1,
        VerifyMode::Other(n) => VERIFY_OTHER + i32::from(n),
    }
}

/// The verify mode of a stored code; [`StoreError::Backend`] for a code no mode has.
pub fn verify_mode(code: i32) -> StoreResult<VerifyMode> {
    Ok(match code {
        0 => VerifyMode::Fingerprint,
        1 => VerifyMode::Face,
        2 => VerifyMode::Card,
        3 => VerifyMode::Password,
        4 => VerifyMode::Palm,
        5 => VerifyMode::Manual,
        -1 => VerifyMode::Unknown,
        n => VerifyMode::Other(
            u16::try_from(n - VERIFY_OTHER)
                .map_err(|_| corrupt_value("verify mode", n.to_string()))?,
        ),
    })
}

/// `value` as JSON text; [`StoreError::Invalid`] if it cannot be serialised.
pub fn to_json<T: Serialize>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value)
        .map_err(|e| StoreError::Invalid(format!("value cannot be stored as JSON: {e}")))
}

/// A stored JSON value back; [`StoreError::Backend`] naming `what` when it does not decode or
/// validate.
pub fn from_json<T: DeserializeOwned>(what: &'static str, text: &str) -> StoreResult<T> {
    serde_json::from_str(text).map_err(|e| StoreError::Backend {
        message: format!("stored {what} could not be decoded"),
        source: Some(Box::new(e)),
    })
}

/// A value stored as its `Display` text back through its `FromStr`; [`StoreError::Backend`]
/// naming `what` when it does not parse.
pub fn parse_stored<T>(what: &'static str, text: &str) -> StoreResult<T>
where
    T: std::str::FromStr,
    T::Err: std::error::Error + Send + Sync + 'static,
{
    text.parse().map_err(|e| StoreError::Backend {
        message: format!("stored {what} {text:?} does not parse"),
        source: Some(Box::new(e)),
    })
}

/// The text serde gives a unit enum variant (`RequestStatus::Pending` → `pending`), as stored in
/// filter columns; [`StoreError::Invalid`] for a value that does not serialise to a string.
pub fn enum_text<T: Serialize>(value: &T) -> StoreResult<String> {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => Ok(s),
        _ => Err(StoreError::Invalid(
            "value does not serialise to a string".into(),
        )),
    }
}

/// A count or version read from the database as `i64`, as the `u64` the traits use;
/// [`StoreError::Backend`] if it is negative.
pub fn to_u64(what: &'static str, value: i64) -> StoreResult<u64> {
    u64::try_from(value).map_err(|_| corrupt_value(what, value.to_string()))
}

/// A `u64` from the traits as the `i64` the databases store, saturating (a limit or offset past
/// `i64::MAX` means "all" or "none" anyway).
pub fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn corrupt<E: std::error::Error + Send + Sync + 'static>(
    what: &'static str,
) -> impl FnOnce(E) -> StoreError {
    move |e| StoreError::Backend {
        message: format!("stored {what} does not validate"),
        source: Some(Box::new(e)),
    }
}

/// [`StoreError::Backend`]: the stored `value` of `what` is not one it can hold.
pub fn corrupt_value(what: &'static str, value: String) -> StoreError {
    StoreError::Backend {
        message: format!("stored {what} {value} is not a valid value"),
        source: None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn a_users_json_scans_decode_in_time_then_machine_order() {
        let json = r#"[[2000000001,0,1,"M2",null],[1000000000,1000,100015,"M1","a\tb\"c\\"],[2000000001,-1,-1,"M1",""]]"#;
        let scans = scans_from_json("7", json).unwrap();
        let got: Vec<(i64, &str, Option<&str>)> = scans
            .iter()
            .map(|s| {
                (
                    s.timestamp.timestamp_nanos_opt().unwrap(),
                    s.machine_id.as_str(),
                    s.raw.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (1_000_000_000, "M1", Some("a\tb\"c\\")),
                (2_000_000_001, "M1", Some("")),
                (2_000_000_001, "M2", None),
            ]
        );
        assert!(scans.iter().all(|s| s.device_user_id.as_str() == "7"));
        assert_eq!(scans[0].punch_state, PunchState::Other(0));
        assert_eq!(scans[0].verify_mode, VerifyMode::Other(15));
        assert_eq!(scans[2].punch_state, PunchState::CheckIn);
        assert!(
            scans_from_json("", "[]").is_err(),
            "an invalid device user id"
        );
        assert!(
            scans_from_json("7", r#"[[1,0,1,"",null]]"#).is_err(),
            "an invalid machine id"
        );
        assert!(scans_from_json("7", "[[1,0,1]]").is_err(), "a short entry");
        assert!(scans_from_json("7", "[]").unwrap().is_empty());
    }

    #[test]
    fn codes_round_trip() {
        for code in 0..=255u8 {
            let state = PunchState::from_code(code);
            assert_eq!(punch_state(punch_code(state)).unwrap(), state);
            let other = PunchState::Other(code);
            assert_eq!(punch_state(punch_code(other)).unwrap(), other);
        }
        for mode in [
            VerifyMode::Fingerprint,
            VerifyMode::Face,
            VerifyMode::Card,
            VerifyMode::Password,
            VerifyMode::Palm,
            VerifyMode::Manual,
            VerifyMode::Unknown,
            VerifyMode::Other(0),
            VerifyMode::Other(u16::MAX),
        ] {
            assert_eq!(verify_mode(verify_code(mode)).unwrap(), mode);
        }
        assert!(punch_state(-7).is_err());
        assert!(verify_mode(i32::MAX).is_err());
    }

    #[test]
    fn scans_round_trip_with_nanoseconds() {
        let scan = ScanData {
            machine_id: MachineId::parse("M1").unwrap(),
            device_user_id: DeviceUserId::parse("7").unwrap(),
            timestamp: DateTime::<Utc>::from_timestamp_nanos(1_763_776_800_400_000_123),
            punch_state: PunchState::Other(255),
            verify_mode: VerifyMode::Face,
            raw: Some("7\t1".into()),
        };
        let row = ScanRow::from_scan(&scan).unwrap();
        assert_eq!(row.at_second, 1_763_776_800);
        assert_eq!(row.into_scan().unwrap(), scan);
    }
}
