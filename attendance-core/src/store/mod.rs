//! Storage ports: the traits a database implements so the platform can keep its data there.
//!
//! The SQLite and PostgreSQL crates implement them, and so can a host application over its own
//! database. Every trait is object safe (`Arc<dyn ScanStore>` works) and returns a typed
//! [`StoreError`]. With the `testkit` feature, [`memory::MemoryStore`] implements them in memory
//! and [`conformance::run_store_conformance`] checks any implementation against the contract:
//!
//! ```
//! # #[cfg(feature = "testkit")] {
//! use attendance_core::store::{conformance::run_store_conformance, memory::MemoryStore};
//! use std::sync::Arc;
//! use attendance_core::store::conformance::block_on;
//!
//! // A host application runs the same suite on its own store, from its own async test.
//! let report = block_on(run_store_conformance(|| async { Ok(Arc::new(MemoryStore::new())) }));
//! assert!(report.passed > 0 && report.failures.is_empty(), "{report}");
//! # }
//! ```

#[cfg(feature = "testkit")]
pub mod conformance;
#[cfg(feature = "testkit")]
pub mod memory;

use std::error::Error as StdError;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::daily::DailyRecord;
use crate::employee::{Department, DeviceUserId, Employee, EmployeeCode};
use crate::machine::Machine;
use crate::scan::{MachineId, ScanData};
use crate::settings::AttendanceSettings;
use crate::status::AttendanceStatus;

/// What a store can fail with.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The thing asked for does not exist.
    #[error("{entity} {key} was not found")]
    NotFound {
        /// What was looked for (`employee`, `machine`, …).
        entity: &'static str,
        /// Its key.
        key: String,
    },
    /// The write clashes with what is stored: a duplicate key, a stale state, a lost race.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The write breaks a rule of the store (a reference to something missing, a value out of
    /// range).
    #[error("invalid: {0}")]
    Invalid(String),
    /// The database failed; `source` says why.
    #[error("storage backend failed: {message}")]
    Backend {
        /// What was being done.
        message: String,
        /// The backend's own error.
        #[source]
        source: Option<Box<dyn StdError + Send + Sync>>,
    },
}

/// Shorthand for store results.
pub type StoreResult<T> = Result<T, StoreError>;

/// An adapter's position in a machine's log (a record count, a serial number, a timestamp),
/// opaque to the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MachineCursor(pub String);

/// Scans from one machine, with the cursor that follows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanBatch {
    /// The machine the scans came from.
    pub machine_id: MachineId,
    /// The scans (any machine id they carry must equal `machine_id`).
    pub scans: Vec<ScanData>,
    /// The cursor to store in the same transaction, if the adapter has one.
    pub cursor: Option<MachineCursor>,
}

/// What storing a batch did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestOutcome {
    /// The scans that were new, in the batch's order; the others were already stored (same
    /// machine, device user and second).
    pub inserted: Vec<ScanData>,
    /// How many scans of the batch were already stored (or repeated within the batch).
    pub duplicates: usize,
}

/// Raw scans. Scans are immutable and stored once.
#[async_trait]
pub trait ScanStore: Send + Sync {
    /// Stores a batch idempotently and, in the same transaction, the machine's cursor: either
    /// both are stored or neither. A scan whose (machine, device user, second) is stored already
    /// is counted as a duplicate, never stored twice. Returns [`StoreError::Invalid`] when a scan
    /// names another machine than the batch.
    async fn record_scans(&self, batch: ScanBatch) -> StoreResult<IngestOutcome>;

    /// The cursor last stored for `machine`, if any.
    async fn machine_cursor(&self, machine: &MachineId) -> StoreResult<Option<MachineCursor>>;

    /// The scans of one device user in `[from, to)`, from every machine, in time order.
    async fn scans_of_user(
        &self,
        user: &DeviceUserId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<ScanData>>;

    /// How many scans are stored.
    async fn count_scans(&self) -> StoreResult<u64>;
}

/// Employees.
#[async_trait]
pub trait EmployeeStore: Send + Sync {
    /// Adds an employee; [`StoreError::Conflict`] if the code or the device user id is taken.
    async fn create_employee(&self, employee: &Employee) -> StoreResult<()>;
    /// Replaces an employee; [`StoreError::NotFound`] if there is none with that code.
    async fn update_employee(&self, employee: &Employee) -> StoreResult<()>;
    /// One employee.
    async fn employee(&self, code: &EmployeeCode) -> StoreResult<Employee>;
    /// The employee enrolled as `user`, if any.
    async fn employee_by_device_user(&self, user: &DeviceUserId) -> StoreResult<Option<Employee>>;
    /// Employees, by code, optionally of one department only.
    async fn list_employees(&self, department: Option<&Department>) -> StoreResult<Vec<Employee>>;
    /// Removes an employee; [`StoreError::NotFound`] if there is none.
    async fn delete_employee(&self, code: &EmployeeCode) -> StoreResult<()>;
}

/// Machines.
#[async_trait]
pub trait MachineStore: Send + Sync {
    /// Adds a machine; [`StoreError::Conflict`] if the id is taken.
    async fn create_machine(&self, machine: &Machine) -> StoreResult<()>;
    /// Replaces a machine; [`StoreError::NotFound`] if there is none.
    async fn update_machine(&self, machine: &Machine) -> StoreResult<()>;
    /// One machine.
    async fn machine(&self, id: &MachineId) -> StoreResult<Machine>;
    /// All machines, by id.
    async fn list_machines(&self) -> StoreResult<Vec<Machine>>;
    /// Removes a machine (its scans stay); [`StoreError::NotFound`] if there is none.
    async fn delete_machine(&self, id: &MachineId) -> StoreResult<()>;
}

/// How to order daily records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordOrder {
    /// Date, then employee (the default).
    #[default]
    DateThenEmployee,
    /// Date descending, then employee.
    DateDescThenEmployee,
    /// Employee, then date.
    EmployeeThenDate,
}

/// A filtered, ordered, paginated query of daily records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordQuery {
    /// First date (inclusive).
    pub from: Option<NaiveDate>,
    /// Last date (inclusive).
    pub to: Option<NaiveDate>,
    /// Only this employee.
    pub employee: Option<EmployeeCode>,
    /// Only employees of this department (as the employee is stored now).
    pub department: Option<Department>,
    /// Only this status.
    pub status: Option<AttendanceStatus>,
    /// The order.
    pub order: RecordOrder,
    /// Skip this many.
    pub offset: u64,
    /// Return at most this many (the store may cap it).
    pub limit: u64,
}

/// One page of results and the total count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// How many match in all.
    pub count: u64,
    /// This page.
    pub results: Vec<T>,
}

/// Derived daily records: recomputable from scans, calendar and settings at any time.
#[async_trait]
pub trait DailyRecordStore: Send + Sync {
    /// Inserts or replaces records by (employee, date) in one transaction.
    async fn upsert_records(&self, records: &[DailyRecord]) -> StoreResult<()>;
    /// One record, if stored.
    async fn record(
        &self,
        employee: &EmployeeCode,
        date: NaiveDate,
    ) -> StoreResult<Option<DailyRecord>>;
    /// Records matching `query`.
    async fn query_records(&self, query: &RecordQuery) -> StoreResult<Page<DailyRecord>>;
    /// Removes a record; [`StoreError::NotFound`] if there is none.
    async fn delete_record(&self, employee: &EmployeeCode, date: NaiveDate) -> StoreResult<()>;
}

/// The site's settings.
#[async_trait]
pub trait SettingsStore: Send + Sync {
    /// The stored settings, or the defaults when none were stored.
    async fn settings(&self) -> StoreResult<AttendanceSettings>;
    /// Replaces the settings.
    async fn put_settings(&self, settings: &AttendanceSettings) -> StoreResult<()>;
}

/// Everything the platform stores, as one object a server can hold.
pub trait Store:
    ScanStore + EmployeeStore + MachineStore + DailyRecordStore + SettingsStore
{
}

impl<T> Store for T where
    T: ScanStore + EmployeeStore + MachineStore + DailyRecordStore + SettingsStore
{
}
