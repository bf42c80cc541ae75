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

pub mod cluster;
#[cfg(feature = "testkit")]
pub mod conformance;
mod jobs;
#[cfg(feature = "testkit")]
pub mod memory;
mod oversight;

pub use jobs::{JobProgress, MemoryJobs, RecomputeJobRecord, RecomputeJobStore};
pub use oversight::{
    AuditStore, CorrectionQuery, CorrectionStore, DayOverrideStore, OversightStore, ScanId,
    ScanVoid, ScanVoidStore, SetAsideScan, SetAsideStore,
};

use std::collections::BTreeSet;
use std::error::Error as StdError;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::access::Role;
use crate::calendar::LeaveType;
use crate::daily::{DailyRecord, DayTally};
use crate::employee::{Department, DeviceUserId, Employee, EmployeeCode};
use crate::holiday::Holiday;
pub use crate::ingest::{IngestOutcome, MachineCursor, ScanBatch};
use crate::leave::{
    LeaveDocument, LeaveDocumentFile, LeaveDocumentId, LeaveLedger, LeavePolicy, LeaveRequest,
    LeaveRequestId, LedgerEntry, RequestStatus,
};
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

/// [`StoreError::Invalid`] when a scan of `batch` names another machine than the batch: the
/// check every [`ScanStore::record_scans`] makes before it writes.
pub fn check_batch_machine(batch: &ScanBatch) -> StoreResult<()> {
    match batch
        .scans
        .iter()
        .find(|s| s.machine_id != batch.machine_id)
    {
        Some(stray) => Err(StoreError::Invalid(format!(
            "scan from machine {} in a batch of machine {}",
            stray.machine_id, batch.machine_id
        ))),
        None => Ok(()),
    }
}

/// Raw scans. Scans are immutable and stored once.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait ScanStore: Send + Sync {
    /// Stores a batch idempotently and, in the same transaction, the machine's cursor: either
    /// both are stored or neither. A scan whose (machine, device user, second) is stored already
    /// is counted as a duplicate, never stored twice. Returns [`StoreError::Invalid`] when a scan
    /// names another machine than the batch.
    async fn record_scans(&self, batch: ScanBatch) -> StoreResult<IngestOutcome>;

    /// Stores a group of batches (usually one per machine), each exactly as [`record_scans`]
    /// would in the given order, and returns one outcome per batch in that order: a scan that an
    /// earlier batch of the group stored counts as a duplicate in a later one. A store may write
    /// the whole group in one transaction (one commit instead of one per batch); the default
    /// implementation stores the batches one by one.
    ///
    /// Every batch is checked before anything is written: [`StoreError::Invalid`] when a scan
    /// names another machine than its batch, and then nothing of the group is stored. On any
    /// other error a prefix of whole batches (each with its cursor) may have been stored; since
    /// storing is idempotent, storing the group again is safe.
    ///
    /// [`record_scans`]: ScanStore::record_scans
    async fn record_scan_batches(
        &self,
        batches: Vec<ScanBatch>,
    ) -> StoreResult<Vec<IngestOutcome>> {
        for batch in &batches {
            check_batch_machine(batch)?;
        }
        let mut outcomes = Vec::with_capacity(batches.len());
        for batch in batches {
            outcomes.push(self.record_scans(batch).await?);
        }
        Ok(outcomes)
    }

    /// The cursor last stored for `machine`, if any.
    async fn machine_cursor(&self, machine: &MachineId) -> StoreResult<Option<MachineCursor>>;

    /// The scans of one device user in `[from, to)`, from every machine, in time order.
    async fn scans_of_user(
        &self,
        user: &DeviceUserId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<ScanData>>;

    /// The scans of every device user of `users` in `[from, to)`, from every machine, ordered by
    /// device user (bytewise), then time, then machine id: what [`scans_of_user`] gives for each
    /// user, the users in order. A user named twice is read once; users with no scans add
    /// nothing. A store reads many users in one query (the SQL stores: one per chunk of users);
    /// the default implementation calls [`scans_of_user`] once per user.
    ///
    /// [`scans_of_user`]: ScanStore::scans_of_user
    async fn scans_of_users(
        &self,
        users: &[DeviceUserId],
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> StoreResult<Vec<ScanData>> {
        let users: BTreeSet<&DeviceUserId> = users.iter().collect();
        let mut scans = Vec::new();
        for user in users {
            scans.extend(self.scans_of_user(user, from, to).await?);
        }
        Ok(scans)
    }

    /// How many scans are stored.
    async fn count_scans(&self) -> StoreResult<u64>;
}

/// Employees.
#[cfg_attr(test, mockall::automock)]
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
    /// The employees enrolled as the device users of `users`, by code, each once; users no
    /// employee is enrolled as are simply absent. A store reads many in one query (the SQL
    /// stores: one per chunk of users); the default implementation calls
    /// [`employee_by_device_user`](EmployeeStore::employee_by_device_user) once per user.
    async fn employees_by_device_users(
        &self,
        users: &[DeviceUserId],
    ) -> StoreResult<Vec<Employee>> {
        let users: BTreeSet<&DeviceUserId> = users.iter().collect();
        let mut found = Vec::new();
        for user in users {
            found.extend(self.employee_by_device_user(user).await?);
        }
        found.sort_by(|a, b| a.employee_id.cmp(&b.employee_id));
        Ok(found)
    }
    /// The employees with the codes of `codes`, by code, each once; codes no employee has are
    /// simply absent. A store reads many in one query (the SQL stores: one per chunk of codes);
    /// the default implementation calls [`employee`](EmployeeStore::employee) once per code.
    async fn employees_by_codes(&self, codes: &[EmployeeCode]) -> StoreResult<Vec<Employee>> {
        let codes: BTreeSet<&EmployeeCode> = codes.iter().collect();
        let mut found = Vec::new();
        for code in codes {
            match self.employee(code).await {
                Ok(employee) => found.push(employee),
                Err(StoreError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(found)
    }
    /// Employees, by code, optionally of one department only.
    async fn list_employees(&self, department: Option<Department>) -> StoreResult<Vec<Employee>>;
    /// Removes an employee and their daily records; [`StoreError::NotFound`] if there is none,
    /// [`StoreError::Conflict`] if a user account or leave requests still refer to them.
    async fn delete_employee(&self, code: &EmployeeCode) -> StoreResult<()>;
}

/// Machines.
#[cfg_attr(test, mockall::automock)]
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
    /// Removes a machine (its scans stay, and so does its cursor, so a machine registered again
    /// under the same id resumes where it stopped); [`StoreError::NotFound`] if there is none.
    async fn delete_machine(&self, id: &MachineId) -> StoreResult<()>;
    /// Records what the platform last saw of a machine; [`StoreError::NotFound`] if the machine
    /// is not registered.
    async fn put_machine_status(&self, status: &MachineStatus) -> StoreResult<()>;
    /// The statuses recorded, by machine id (machines never seen have none).
    async fn machine_statuses(&self) -> StoreResult<Vec<MachineStatus>>;
}

/// What the platform last saw of a machine: its connection, its last contact and error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MachineStatus {
    /// The machine.
    pub machine_id: MachineId,
    /// Whether a session with it is open now.
    pub connected: bool,
    /// When it last answered.
    pub last_seen: Option<DateTime<Utc>>,
    /// The last error, if the last attempt failed.
    pub last_error: Option<String>,
    /// The device clock minus ours, in seconds, as last measured.
    pub clock_drift_seconds: Option<i64>,
    /// When this status was recorded.
    pub updated_at: DateTime<Utc>,
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
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait DailyRecordStore: Send + Sync {
    /// Inserts or replaces records by (employee, date) in one transaction.
    async fn upsert_records(&self, records: &[DailyRecord]) -> StoreResult<()>;
    /// The most records the real-time recompute hands [`Self::upsert_records`] at once. A store
    /// whose writes wait for one another (SQLite has one writer) answers a small number, so a
    /// push's scans commit between two writes of records instead of behind a month of them; a
    /// store whose commits are costly and concurrent (PostgreSQL) keeps the default, a whole
    /// recompute chunk per write.
    fn records_per_write(&self) -> usize {
        usize::MAX
    }
    /// One record, if stored.
    async fn record(
        &self,
        employee: &EmployeeCode,
        date: NaiveDate,
    ) -> StoreResult<Option<DailyRecord>>;
    /// Records matching `query`.
    async fn query_records(&self, query: &RecordQuery) -> StoreResult<Page<DailyRecord>>;
    /// What a report counts of the records matching `query` (its filters, order and page, as
    /// [`Self::query_records`] reads them; no count), without the rest of each record: the SQL
    /// stores read these fields out of the stored JSON in the database instead of decoding
    /// whole records. The default reads whole records.
    async fn query_record_tallies(&self, query: &RecordQuery) -> StoreResult<Vec<DayTally>> {
        Ok(self
            .query_records(query)
            .await?
            .results
            .iter()
            .map(DayTally::from)
            .collect())
    }
    /// Removes a record; [`StoreError::NotFound`] if there is none.
    async fn delete_record(&self, employee: &EmployeeCode, date: NaiveDate) -> StoreResult<()>;
    /// How many records of each status match the query's dates, employee, department and status
    /// (its order and page are ignored), for statistics. Statuses with no record are left out.
    async fn count_records_by_status(
        &self,
        query: &RecordQuery,
    ) -> StoreResult<Vec<(AttendanceStatus, u64)>>;
}

/// A holiday as stored, with the id the store gave it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredHoliday {
    /// The store's id for it.
    pub id: i64,
    /// The holiday.
    pub holiday: Holiday,
}

/// Holidays.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait HolidayStore: Send + Sync {
    /// Adds a holiday and returns it with its new id.
    async fn create_holiday(&self, holiday: &Holiday) -> StoreResult<StoredHoliday>;
    /// Replaces holiday `id` and returns what it was; [`StoreError::NotFound`] if there is none.
    async fn update_holiday(&self, id: i64, holiday: &Holiday) -> StoreResult<Holiday>;
    /// Removes holiday `id` and returns what it was; [`StoreError::NotFound`] if there is none.
    async fn delete_holiday(&self, id: i64) -> StoreResult<Holiday>;
    /// One holiday.
    async fn holiday(&self, id: i64) -> StoreResult<StoredHoliday>;
    /// Every holiday, by start date then id.
    async fn list_holidays(&self) -> StoreResult<Vec<StoredHoliday>>;
}

/// One employee's leave as stored: requests, ledgers and the version every change checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaveAccount {
    /// The employee.
    pub employee: EmployeeCode,
    /// Grows by one with every committed [`LeaveChange`]; 0 before the first.
    pub version: u64,
    /// The employee's requests, by id.
    pub requests: Vec<LeaveRequest>,
    /// One ledger per leave type that has entries, by type; entries in the order they were
    /// written.
    pub ledgers: Vec<LeaveLedger>,
}

impl LeaveAccount {
    /// The ledger of `leave_type`, empty if it has no entries yet.
    pub fn ledger(&self, leave_type: &LeaveType) -> LeaveLedger {
        self.ledgers
            .iter()
            .find(|l| l.leave_type() == leave_type)
            .cloned()
            .unwrap_or_else(|| LeaveLedger::new(self.employee.clone(), leave_type.clone()))
    }
}

/// A change to one employee's leave, applied all at once or not at all: requests to insert or
/// replace (a submission, an approval, a rejection, a cancellation) and ledger entries to append.
///
/// The store applies it only if the account's version is still `expected_version`, else it
/// returns [`StoreError::Conflict`] and writes nothing. The caller read the account at that
/// version and checked the request's state and the balance against it with the pure rules, so a
/// change that commits was checked against exactly what is stored: of two decisions racing for
/// the last days of a balance, the second gets a conflict, reads again and is refused by the rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaveChange {
    /// The employee whose account changes.
    pub employee: EmployeeCode,
    /// The version the change was computed from.
    pub expected_version: u64,
    /// Requests to insert or replace; each must be the employee's.
    pub requests: Vec<LeaveRequest>,
    /// Ledger entries to append, with their leave type.
    pub entries: Vec<(LeaveType, LedgerEntry)>,
}

impl LeaveChange {
    /// Checks what every store must refuse before writing: a request of another employee, or a
    /// ledger entry that is not valid. Stores call it first, so they refuse alike.
    pub fn check(&self) -> StoreResult<()> {
        if let Some(stray) = self.requests.iter().find(|r| r.employee != self.employee) {
            return Err(StoreError::Invalid(format!(
                "request {} is {}'s, not {}'s",
                stray.id, stray.employee, self.employee
            )));
        }
        for (_, entry) in &self.entries {
            entry
                .validate()
                .map_err(|e| StoreError::Invalid(format!("ledger entry: {e}")))?;
        }
        Ok(())
    }
}

/// A filtered, paginated query of leave requests (newest start date first, then id).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeaveRequestQuery {
    /// Only this employee.
    pub employee: Option<EmployeeCode>,
    /// Only this department.
    pub department: Option<Department>,
    /// Only this status.
    pub status: Option<RequestStatus>,
    /// Only requests that end on or after this date.
    pub from: Option<NaiveDate>,
    /// Only requests that start on or before this date.
    pub to: Option<NaiveDate>,
    /// Skip this many.
    pub offset: u64,
    /// Return at most this many.
    pub limit: u64,
}

/// Leave policies, ledgers and requests.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait LeaveStore: Send + Sync {
    /// Inserts or replaces the policy of its leave type.
    async fn put_leave_policy(&self, policy: &LeavePolicy) -> StoreResult<()>;
    /// The policy of `leave_type`; [`StoreError::NotFound`] if none is stored.
    async fn leave_policy(&self, leave_type: &LeaveType) -> StoreResult<LeavePolicy>;
    /// Every stored policy, by leave type.
    async fn leave_policies(&self) -> StoreResult<Vec<LeavePolicy>>;
    /// The employee's leave account (version 0 and empty when nothing was ever stored).
    async fn leave_account(&self, employee: &EmployeeCode) -> StoreResult<LeaveAccount>;
    /// Applies `change` atomically if the account is still at its expected version; returns the
    /// new version. [`StoreError::Conflict`] if another change got there first,
    /// [`StoreError::Invalid`] if a request is another employee's or the employee is unknown.
    async fn commit_leave(&self, change: LeaveChange) -> StoreResult<u64>;
    /// Every request of the employees of `employees` (whatever their status), ordered by
    /// employee, then id: for each employee, the requests of their
    /// [`leave_account`](LeaveStore::leave_account) in the same order. An employee named twice
    /// is read once; unknown employees add nothing. A store reads many employees in one query
    /// (the SQL stores: one per chunk of employees); the default implementation reads one
    /// account per employee.
    async fn leave_requests_of(
        &self,
        employees: &[EmployeeCode],
    ) -> StoreResult<Vec<LeaveRequest>> {
        let employees: BTreeSet<&EmployeeCode> = employees.iter().collect();
        let mut requests = Vec::new();
        for employee in employees {
            let mut of_one = self.leave_account(employee).await?.requests;
            of_one.sort_by(|a, b| a.id.cmp(&b.id));
            requests.extend(of_one);
        }
        Ok(requests)
    }
    /// One request; [`StoreError::NotFound`] if there is none.
    async fn leave_request(&self, id: &LeaveRequestId) -> StoreResult<LeaveRequest>;
    /// Requests matching `query`.
    async fn query_leave_requests(
        &self,
        query: &LeaveRequestQuery,
    ) -> StoreResult<Page<LeaveRequest>>;
}

/// The policy that applies to `leave_type`: the one `store` holds, else the statutory default
/// ([`LeavePolicy::default_for`]). The flag is `true` when it is the default (nothing stored).
/// Any other store error is returned.
pub async fn leave_policy_or_default<S: LeaveStore + ?Sized>(
    store: &S,
    leave_type: &LeaveType,
) -> StoreResult<(LeavePolicy, bool)> {
    match store.leave_policy(leave_type).await {
        Ok(policy) => Ok((policy, false)),
        Err(StoreError::NotFound { .. }) => {
            Ok((LeavePolicy::default_for(leave_type.clone()), true))
        }
        Err(e) => Err(e),
    }
}

/// Documents attached to leave requests (a medical certificate), bytes and all.
///
/// A document belongs to one request and goes when its request is deleted; a decision on the
/// request (which replaces it through [`LeaveStore::commit_leave`]) keeps its documents.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait LeaveDocumentStore: Send + Sync {
    /// Attaches `file` to the request `file.document.request`, unless that request holds
    /// `max_per_request` documents already. The count is checked in the same transaction as the
    /// insert, so of uploads racing for the last place exactly one is stored.
    /// [`StoreError::NotFound`] if the request does not exist; [`StoreError::Conflict`] if it
    /// holds `max_per_request` documents or the document id is taken (by any request);
    /// [`StoreError::Invalid`] if `document.size` is not the length of the bytes. Nothing is
    /// stored on an error.
    async fn add_leave_document(
        &self,
        file: LeaveDocumentFile,
        max_per_request: u32,
    ) -> StoreResult<()>;

    /// The documents of `request` (without their bytes), in the order they were attached;
    /// [`StoreError::NotFound`] if the request does not exist.
    async fn leave_documents(&self, request: &LeaveRequestId) -> StoreResult<Vec<LeaveDocument>>;

    /// One document of `request` with its bytes; [`StoreError::NotFound`] if the request has no
    /// document `id` (a document of another request is not found either).
    async fn leave_document(
        &self,
        request: &LeaveRequestId,
        id: &LeaveDocumentId,
    ) -> StoreResult<LeaveDocumentFile>;
}

/// A login: its role and, for employees and department heads, the employee it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserAccount {
    /// The login name, unique.
    pub username: String,
    /// The argon2 hash of the password, as a PHC string (never the password).
    pub password_hash: String,
    /// What the user may do.
    pub role: Role,
    /// The employee the user is, if any (must exist).
    pub employee: Option<EmployeeCode>,
    /// Whether the user may log in.
    pub active: bool,
    /// How many times the account's tokens were revoked (a token carries the version it was issued with).
    #[serde(default)]
    pub token_version: u32,
    /// When the account was created (`None` for accounts older than the field).
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
}

/// Logins.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait UserAccountStore: Send + Sync {
    /// Adds an account; [`StoreError::Conflict`] if the username is taken,
    /// [`StoreError::Invalid`] if the linked employee does not exist.
    async fn create_account(&self, account: &UserAccount) -> StoreResult<()>;
    /// Replaces an account; [`StoreError::NotFound`] if there is none with that username.
    async fn update_account(&self, account: &UserAccount) -> StoreResult<()>;
    /// One account; [`StoreError::NotFound`] if there is none.
    async fn account(&self, username: &str) -> StoreResult<UserAccount>;
    /// Every account, by username.
    async fn list_accounts(&self) -> StoreResult<Vec<UserAccount>>;
    /// Removes an account; [`StoreError::NotFound`] if there is none.
    async fn delete_account(&self, username: &str) -> StoreResult<()>;
}

/// The site's settings.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait SettingsStore: Send + Sync {
    /// The stored settings, or the defaults when none were stored.
    async fn settings(&self) -> StoreResult<AttendanceSettings>;
    /// Replaces the settings.
    async fn put_settings(&self, settings: &AttendanceSettings) -> StoreResult<()>;
}

/// Everything the platform stores, as one object a server can hold.
pub trait Store:
    ScanStore
    + EmployeeStore
    + MachineStore
    + DailyRecordStore
    + SettingsStore
    + HolidayStore
    + LeaveStore
    + LeaveDocumentStore
    + UserAccountStore
    + OversightStore
    + RecomputeJobStore
{
}

impl<T> Store for T where
    T: ScanStore
        + EmployeeStore
        + MachineStore
        + DailyRecordStore
        + SettingsStore
        + HolidayStore
        + LeaveStore
        + LeaveDocumentStore
        + UserAccountStore
        + OversightStore
        + RecomputeJobStore
{
}

/// Runs a future to completion on the current thread, for tests and examples that have no async
/// runtime (the in-memory store never waits on IO, so this is all it needs): `futures`'
/// executor, exported here for the conformance suite's users.
#[cfg(any(test, feature = "testkit"))]
pub use futures::executor::block_on;
