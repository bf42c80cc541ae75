//! The storage ports of oversight: the audit trail, attendance corrections, voided scans, day
//! overrides and the scans set aside at ingest, and the scan id the API names a scan by.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::{Page, StoreResult};
use crate::audit::{AuditEntry, AuditQuery, NewAuditEntry};
use crate::correction::{Correction, CorrectionId, CorrectionStatus};
use crate::employee::{DeviceUserId, EmployeeCode};
use crate::error::ValidationError;
use crate::overrides::DayOverride;
use crate::scan::{MachineId, ScanData};

/// A scan's id in the API: `MACHINE~USER~UNIX_SECONDS`, the scan's dedupe key
/// ([`ScanData::dedupe_key`]) as text. Machine ids and device user ids never hold `~`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ScanId {
    /// The machine.
    pub machine_id: MachineId,
    /// The device user.
    pub device_user_id: DeviceUserId,
    /// The instant, in whole seconds since the Unix epoch.
    pub unix_seconds: i64,
}

impl ScanId {
    /// The id of `scan`.
    pub fn of(scan: &ScanData) -> Self {
        Self {
            machine_id: scan.machine_id.clone(),
            device_user_id: scan.device_user_id.clone(),
            unix_seconds: scan.timestamp.timestamp(),
        }
    }

    /// Parses `MACHINE~USER~UNIX_SECONDS`.
    pub fn parse(text: &str) -> Result<Self, ValidationError> {
        let invalid = || ValidationError::Invalid {
            field: "scan_id",
            reason: "must look like MACHINE~USER~UNIX_SECONDS",
            value: text.to_owned(),
        };
        let mut parts = text.rsplitn(3, '~');
        let (Some(seconds), Some(user), Some(machine)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid());
        };
        let unix_seconds: i64 = seconds.parse().map_err(|_| invalid())?;
        DateTime::<Utc>::from_timestamp(unix_seconds, 0).ok_or_else(invalid)?;
        Ok(Self {
            machine_id: MachineId::parse(machine)?,
            device_user_id: DeviceUserId::parse(user)?,
            unix_seconds,
        })
    }

    /// The scan's instant.
    pub fn timestamp(&self) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(self.unix_seconds, 0).unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    /// Whether `scan` is the scan this id names.
    pub fn names(&self, scan: &ScanData) -> bool {
        scan.machine_id == self.machine_id
            && scan.device_user_id == self.device_user_id
            && scan.timestamp.timestamp() == self.unix_seconds
    }
}

impl std::fmt::Display for ScanId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}~{}~{}",
            self.machine_id, self.device_user_id, self.unix_seconds
        )
    }
}

impl TryFrom<String> for ScanId {
    type Error = ValidationError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<ScanId> for String {
    fn from(value: ScanId) -> String {
        value.to_string()
    }
}

/// A voided scan: kept as it arrived, left out of every computation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanVoid {
    /// The scan.
    pub scan: ScanId,
    /// Why (required).
    pub reason: String,
    /// Who voided it (a username).
    pub voided_by: String,
    /// When.
    pub voided_at: DateTime<Utc>,
}

/// A scan the ingest did not store as attendance because its time is outside the storable
/// window (a device clock set to 1970 or 2099, a line dated `0000-01-01`): kept for HR to see,
/// never counted. Its key is the scan's dedupe key (machine, device user, instant truncated to
/// the second), so a device sending it again does not add a second row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetAsideScan {
    /// The machine it came from.
    pub machine_id: MachineId,
    /// The PIN on the machine.
    pub device_user_id: DeviceUserId,
    /// The time the device gave.
    pub timestamp: DateTime<Utc>,
    /// Why it was set aside.
    pub reason: String,
    /// The device's own line or record, when the adapter kept it.
    pub raw: Option<String>,
    /// When it arrived.
    pub received_at: DateTime<Utc>,
}

/// Which corrections to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CorrectionQuery {
    /// Only these employees (`None`: everyone).
    pub employees: Option<Vec<EmployeeCode>>,
    /// Only this status.
    pub status: Option<CorrectionStatus>,
    /// How many to skip (newest first).
    pub offset: u64,
    /// At most this many.
    pub limit: u64,
}

/// The audit trail: append and read, never change (the port has no method to edit or delete an
/// entry).
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends an entry and returns its id (greater than every id before it).
    async fn append_audit(&self, entry: &NewAuditEntry) -> StoreResult<i64>;
    /// The entries `query` admits, newest first, `offset`/`limit` applied; `count` is every match.
    async fn query_audit(
        &self,
        query: &AuditQuery,
        offset: u64,
        limit: u64,
    ) -> StoreResult<Page<AuditEntry>>;
}

/// Attendance corrections.
#[async_trait]
pub trait CorrectionStore: Send + Sync {
    /// Adds a correction; [`StoreError::Conflict`](super::StoreError::Conflict) if the id is
    /// taken, [`StoreError::Invalid`](super::StoreError::Invalid) if the employee does not exist.
    async fn create_correction(&self, correction: &Correction) -> StoreResult<()>;
    /// One correction; [`StoreError::NotFound`](super::StoreError::NotFound) if none.
    async fn correction(&self, id: &CorrectionId) -> StoreResult<Correction>;
    /// Stores a decided correction, only if it is still `Pending` as stored;
    /// [`StoreError::Conflict`](super::StoreError::Conflict) if someone decided it first.
    async fn decide_correction(&self, correction: &Correction) -> StoreResult<()>;
    /// The corrections `query` admits, newest first (by request time, then id).
    async fn query_corrections(&self, query: &CorrectionQuery) -> StoreResult<Page<Correction>>;
}

/// The oversight ports as one object (every [`Store`](super::Store) is one).
pub trait OversightStore:
    AuditStore + CorrectionStore + ScanVoidStore + DayOverrideStore + SetAsideStore
{
}

impl<T> OversightStore for T where
    T: AuditStore + CorrectionStore + ScanVoidStore + DayOverrideStore + SetAsideStore
{
}

/// Scans set aside at ingest.
#[async_trait]
pub trait SetAsideStore: Send + Sync {
    /// Keeps `scans`, skipping any whose key (machine, device user, second of its timestamp) is
    /// kept already (the first kept stays); answers how many were new.
    async fn keep_set_aside(&self, scans: &[SetAsideScan]) -> StoreResult<usize>;
    /// The scans kept, newest arrival first (then by key), `offset`/`limit` applied; `count` is
    /// every one kept.
    async fn set_aside_scans(&self, offset: u64, limit: u64) -> StoreResult<Page<SetAsideScan>>;
}

/// Voided scans.
#[async_trait]
pub trait ScanVoidStore: Send + Sync {
    /// Voids a scan; [`StoreError::NotFound`](super::StoreError::NotFound) if no such scan is
    /// stored, [`StoreError::Conflict`](super::StoreError::Conflict) if it is voided already.
    async fn void_scan(&self, void: &ScanVoid) -> StoreResult<()>;
    /// The voids of `users`' scans from `from` to `to`, both inclusive, compared in whole
    /// seconds (a scan id's precision: `from.timestamp() <= unix_seconds <= to.timestamp()`),
    /// ordered by scan id (machine, device user, second). Read beside
    /// [`ScanStore::scans_of_users`](super::ScanStore::scans_of_users) over the same range, it
    /// covers every scan that read returns.
    async fn voids_of_users(
        &self,
        users: &[DeviceUserId],
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<ScanVoid>>;
}

/// Day overrides.
#[async_trait]
pub trait DayOverrideStore: Send + Sync {
    /// Sets (or replaces) the override of its employee and date and returns the one replaced;
    /// [`StoreError::Invalid`](super::StoreError::Invalid) if the employee does not exist.
    async fn put_override(&self, day: &DayOverride) -> StoreResult<Option<DayOverride>>;
    /// Removes and returns the override of `employee` on `date`;
    /// [`StoreError::NotFound`](super::StoreError::NotFound) if there is none.
    async fn remove_override(
        &self,
        employee: &EmployeeCode,
        date: NaiveDate,
    ) -> StoreResult<DayOverride>;
    /// The overrides of `employees` (`None`: everyone) from `from` to `to` (inclusive), by
    /// employee then date.
    async fn overrides(
        &self,
        employees: Option<&[EmployeeCode]>,
        from: NaiveDate,
        to: NaiveDate,
    ) -> StoreResult<Vec<DayOverride>>;
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::scan::{PunchState, VerifyMode};

    #[test]
    fn scan_ids_round_trip_and_refuse_garbage() {
        let scan = ScanData {
            machine_id: MachineId::parse("BOCK:2009.61-014").unwrap(),
            device_user_id: DeviceUserId::parse("1001").unwrap(),
            timestamp: Utc.with_ymd_and_hms(2026, 12, 7, 2, 0, 30).unwrap(),
            punch_state: PunchState::CheckIn,
            verify_mode: VerifyMode::Fingerprint,
            raw: None,
        };
        let id = ScanId::of(&scan);
        let text = id.to_string();
        assert_eq!(
            text,
            format!("BOCK:2009.61-014~1001~{}", scan.timestamp.timestamp())
        );
        assert_eq!(ScanId::parse(&text).unwrap(), id);
        assert!(id.names(&scan));
        assert_eq!(id.timestamp(), scan.timestamp);
        for bad in [
            "",
            "a~b",
            "a~b~c",
            "a~b~1.5",
            "~1~2",
            "a~~2",
            "a b~1~2",
            "a~1~99999999999999999",
        ] {
            assert!(ScanId::parse(bad).is_err(), "{bad}");
        }
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(serde_json::from_str::<ScanId>(&json).unwrap(), id);
    }
}
