//! Use cases written only against the store ports: storing scans and recomputing the days they
//! touch, submitting and deciding leave, changing holidays. A server, a CLI or a host application
//! calls these instead of the stores and the rules separately, so every path keeps the derived
//! daily records in step with what they derive from.
//!
//! ```
//! # #[cfg(feature = "testkit")] {
//! use std::sync::Arc;
//! use attendance_core::service::AttendanceService;
//! use attendance_core::store::memory::MemoryStore;
//!
//! let service = AttendanceService::new(Arc::new(MemoryStore::new()));
//! # let _ = service;
//! # }
//! ```
//!
//! What is recomputed, and why it is enough:
//! - a batch of scans: the work dates of the new scans of each enrolled employee (duplicates
//!   change nothing, so they recompute nothing);
//! - a leave decision: the request's dates, once it becomes approved or an approved request is
//!   cancelled;
//! - a holiday change: the dates of the old and the new holiday, for every active employee;
//! - an employee change that the rules read (shift, level of work, device user, active state, or
//!   a new employee): their dates from the first day of the previous month
//!   ([`EMPLOYEE_CHANGE_MONTHS`]) to today;
//! - a work window closing ([`AttendanceService::close_windows`], run periodically by the
//!   caller): the dates whose window closed and whose record is missing or was computed before
//!   it closed, so a day without scans becomes `Absent` when its window closes, not when the
//!   next scan comes;
//! - a settings change or month-end: [`AttendanceService::recompute_range`], over the range the
//!   caller gives, or [`AttendanceService::recompute_range_after`], the same resumable after an
//!   employee code (a background job stored in [`RecomputeJobStore`] resumes where it stopped).
//!
//! Leave and holiday changes recompute dates up to today (in the site's zone) only: later days
//! have no scans and get their records when they come. Holiday changes look back at most
//! [`HOLIDAY_LOOKBACK_DAYS`], so editing a recurring holiday does not rewrite years of closed
//! payroll.
//!
//! Recomputing is set-based ([`AttendanceService::recompute_days`]): the (employee, work date)
//! pairs are taken [`RECOMPUTE_CHUNK`] employees at a time, and each chunk is one bulk read of
//! the employees (when not known already), one of their leave requests, one of their scans per
//! span of nearby dates (usually one), the rules
//! ([`compute_days`](crate::daily::compute_days), per employee and run of consecutive dates,
//! exactly as for one employee) and one [`DailyRecordStore::upsert_records`], the next chunk's
//! reads running while the last chunk is stored. Settings and holidays are read once per call.
//! [`AttendanceService::recompute`] keeps the per-employee path (one employee, a read per run of
//! dates), which gives the same records.
//!
//! Every write that stores new scans or recomputed records tells the
//! [`ChangeObserver`] given with [`AttendanceService::with_observer`], if any, once it is
//! stored: a server publishes from there, whichever use case wrote.
//!
//! Every employee is scored on their own regular shift (`Employee::shift`, looked up in the
//! site's catalogue, [`AttendanceSettings::shifts`]; `None` is the default shift), on every path
//! that builds a roster: a batch's work dates, recomputing, leave and holiday changes. A stored
//! employee naming a shift the site no longer has is not an error (a batch must not fail for
//! it): they are scored on the default shift and named in [`IngestReport::unknown_shifts`] for
//! the caller to log. Dated shift assignments (rotations) are not stored yet.
//!
//! The use cases by concept: [`AttendanceService::record_scans`] and the other ingest paths
//! (`ingest.rs`), recomputing (`recompute.rs`, over the chunked pipeline of `chunks.rs`), leave
//! (`leave.rs`), holidays (`holidays.rs`), voids, overrides and the audit trail (`oversight.rs`)
//! and attendance corrections (`corrections.rs`); the service type, its errors and its observer
//! are here.
//!
//! Day overrides are stored apart from the records, so a recompute never touches them; every
//! summary the service builds (the ones it returns and the ones it tells the observer) has the
//! override of its day applied, read once per chunk (or per call on the per-employee path).

mod chunks;
mod corrections;
mod holidays;
mod ingest;
mod leave;
mod leave_year;
mod oversight;
mod recompute;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, Datelike, Months, NaiveDate, Utc};
use thiserror::Error;

pub use self::corrections::{ApprovedScan, CorrectionDecision};
pub use self::holidays::HolidayChange;
pub use self::ingest::{AffectedDays, IngestReport, PendingRecomputed, PendingScans};
pub use self::leave::LeaveDecision;
pub use self::leave_year::{
    BULK_YEARS_LOOKED_BACK, SYSTEM_ACTOR, YEAR_END_PROGRESS_EVERY, YearEndOutcome, YearEndScope,
    leave_year_target,
};
pub use self::oversight::{MAX_VOID_REASON_CHARS, NoOversight};
pub use self::recompute::{RangeChunk, RangeOutcome};
use crate::access::AccessDenied;
use crate::daily::DailyRecord;
use crate::employee::{DeviceUserId, Employee, EmployeeCode};
use crate::holiday::Holiday;
use crate::leave::{ApprovalError, LeaveRequestError};
use crate::report::DailySummary;
use crate::scan::ScanData;
use crate::settings::AttendanceSettings;
pub use crate::store::OversightStore;
use crate::store::{
    DailyRecordStore, EmployeeStore, HolidayStore, LeaveStore, MemoryJobs, RecomputeJobStore,
    ScanStore, SettingsStore, Store, StoreError, UserAccountStore,
};

/// How far back a holiday change recomputes, in days.
pub const HOLIDAY_LOOKBACK_DAYS: u64 = 400;

/// How many times a leave change is computed again after another change to the same employee's
/// leave got there first.
pub const LEAVE_ATTEMPTS: u32 = 5;

/// How many employees a set-based recompute reads, computes and stores together: each chunk is
/// a few bulk reads and one upsert.
pub const RECOMPUTE_CHUNK: usize = 500;

/// The most (employee, work date) pairs a chunk holds (unless one employee alone has more): a
/// chunk's upsert is one write, and a smaller write lets the scans of a push commit between
/// two of them instead of waiting behind a month of records.
pub const RECOMPUTE_CHUNK_DAYS: usize = 2_000;

/// How many months back, before the current one, [`AttendanceService::employee_changed`]
/// recomputes: 1, from the first day of the previous month (in the site's zone) to today, so
/// the open payroll month and the one just closed follow the change and older ones stay as
/// they were paid.
pub const EMPLOYEE_CHANGE_MONTHS: u32 = 1;

/// The first date an employee change (and a settings change, in the server) recomputes when
/// `today` is today: the first day of the month [`EMPLOYEE_CHANGE_MONTHS`] before `today`'s.
pub fn employee_change_start(today: NaiveDate) -> NaiveDate {
    today
        .with_day(1)
        .and_then(|first| first.checked_sub_months(Months::new(EMPLOYEE_CHANGE_MONTHS)))
        .unwrap_or(today)
}

/// (employee, work date) pairs.
pub type DayKeys = BTreeMap<EmployeeCode, BTreeSet<NaiveDate>>;

/// Daily records recomputed and stored.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Recomputed {
    /// The records, by employee then date.
    pub records: Vec<DailyRecord>,
    /// The same records as the daily summary shows them (times on the site's clock, the day's
    /// override applied), in the same order.
    pub summaries: Vec<DailySummary>,
}

impl Recomputed {
    fn append(&mut self, mut other: Recomputed) {
        self.records.append(&mut other.records);
        self.summaries.append(&mut other.summaries);
    }
}

/// Told of every write the service stores, once it is stored, so a caller can publish them
/// (a server's event bus) whichever use case wrote. Calls come from the task that ran the use
/// case, so they should be quick (hand the values on, do not wait).
pub trait ChangeObserver: Send + Sync {
    /// New scans were stored; `employees` are the enrolled employees of their device users
    /// (device users no employee is enrolled as are absent).
    fn scans_stored(&self, scans: &[ScanData], employees: &BTreeMap<DeviceUserId, Employee>);
    /// Daily records were recomputed and stored (summaries as [`DailySummary::new`] gives
    /// them, the day's override applied as [`DailySummary::with_overrides`] does), by employee
    /// then date; a large recompute tells it once per chunk.
    fn days_recomputed(&self, summaries: &[DailySummary]);
}

/// What a use case can fail with.
#[derive(Debug, Error)]
pub enum ServiceError {
    /// The store failed or refused the write.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The actor may not do this.
    #[error(transparent)]
    Denied(#[from] AccessDenied),
    /// The leave application cannot be submitted.
    #[error(transparent)]
    Leave(#[from] LeaveRequestError),
    /// The leave decision cannot be taken.
    #[error(transparent)]
    Approval(#[from] ApprovalError),
    /// An input was invalid.
    #[error(transparent)]
    Invalid(#[from] crate::error::ValidationError),
    /// A correction cannot be filed or decided.
    #[error(transparent)]
    Correction(#[from] crate::correction::CorrectionError),
    /// A ledger refused an entry.
    #[error(transparent)]
    Ledger(#[from] crate::leave::LedgerError),
    /// Other changes to the same employee's leave kept winning the race.
    #[error(
        "the leave of {employee} kept changing during {attempts} attempts; try again in a moment"
    )]
    Contended {
        /// The employee.
        employee: String,
        /// How many attempts were made.
        attempts: u32,
    },
}

/// The use cases, over one store (or one store per port).
#[derive(Clone)]
pub struct AttendanceService {
    scans: Arc<dyn ScanStore>,
    employees: Arc<dyn EmployeeStore>,
    records: Arc<dyn DailyRecordStore>,
    settings: Arc<dyn SettingsStore>,
    holidays: Arc<dyn HolidayStore>,
    leave: Arc<dyn LeaveStore>,
    oversight: Arc<dyn OversightStore>,
    jobs: Arc<dyn RecomputeJobStore>,
    accounts: Option<Arc<dyn UserAccountStore>>,
    observer: Option<Arc<dyn ChangeObserver>>,
}

impl std::fmt::Debug for AttendanceService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AttendanceService")
            .field("observer", &self.observer.is_some())
            .finish_non_exhaustive()
    }
}

/// One store per port, for [`AttendanceService::from_parts`] (tests use a mock per port).
#[allow(missing_debug_implementations)]
pub struct StoreParts {
    /// Scans.
    pub scans: Arc<dyn ScanStore>,
    /// Employees.
    pub employees: Arc<dyn EmployeeStore>,
    /// Daily records.
    pub records: Arc<dyn DailyRecordStore>,
    /// Settings.
    pub settings: Arc<dyn SettingsStore>,
    /// Holidays.
    pub holidays: Arc<dyn HolidayStore>,
    /// Leave.
    pub leave: Arc<dyn LeaveStore>,
}

/// What recomputing needs from the store besides the employee, loaded once per use case.
struct Site {
    settings: AttendanceSettings,
    holidays: Vec<Holiday>,
}

impl Site {
    fn today(&self, now: DateTime<Utc>) -> NaiveDate {
        now.with_timezone(&self.settings.time_zone).date_naive()
    }
}

impl AttendanceService {
    /// The use cases over `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            scans: store.clone(),
            employees: store.clone(),
            records: store.clone(),
            settings: store.clone(),
            holidays: store.clone(),
            leave: store.clone(),
            oversight: store.clone(),
            jobs: store.clone(),
            accounts: Some(store),
            observer: None,
        }
    }

    /// The same use cases, telling `observer` of every write they store (see
    /// [`ChangeObserver`]).
    pub fn with_observer(self, observer: Arc<dyn ChangeObserver>) -> Self {
        Self {
            observer: Some(observer),
            ..self
        }
    }

    /// The same use cases with `oversight` as the store of audit entries, corrections, voids and
    /// overrides (for [`Self::from_parts`]; [`Self::new`] takes them from its store).
    pub fn with_oversight(self, oversight: Arc<dyn OversightStore>) -> Self {
        Self { oversight, ..self }
    }

    /// The same use cases with `jobs` as the store of background recompute jobs (for
    /// [`Self::from_parts`], whose jobs are kept in memory, [`MemoryJobs`], until given one;
    /// [`Self::new`] takes it from its store).
    pub fn with_jobs(self, jobs: Arc<dyn RecomputeJobStore>) -> Self {
        Self { jobs, ..self }
    }

    /// The store of background recompute jobs (durable with [`Self::new`]'s store): the engine
    /// queues, takes, saves and finishes its range recomputes there.
    pub fn recompute_jobs(&self) -> &dyn RecomputeJobStore {
        &*self.jobs
    }

    /// The same use cases asking `accounts` whether a department has an active head (leave
    /// approval; for [`Self::from_parts`], which has no account port: without one every
    /// department is taken to have a head). [`Self::new`] takes it from its store.
    pub fn with_accounts(self, accounts: Arc<dyn UserAccountStore>) -> Self {
        Self {
            accounts: Some(accounts),
            ..self
        }
    }

    /// The use cases over one store per port; the oversight ports are [`NoOversight`] (nothing
    /// voided or overridden, and the oversight use cases refused) until
    /// [`Self::with_oversight`] gives them, and the background recompute jobs are kept in
    /// memory until [`Self::with_jobs`] gives their store.
    pub fn from_parts(parts: StoreParts) -> Self {
        Self {
            scans: parts.scans,
            employees: parts.employees,
            records: parts.records,
            settings: parts.settings,
            holidays: parts.holidays,
            leave: parts.leave,
            oversight: Arc::new(NoOversight),
            jobs: Arc::new(MemoryJobs::new()),
            accounts: None,
            observer: None,
        }
    }

    async fn site(&self) -> Result<Site, ServiceError> {
        Ok(Site {
            settings: self.settings.settings().await?,
            holidays: self
                .holidays
                .list_holidays()
                .await?
                .into_iter()
                .map(|h| h.holiday)
                .collect(),
        })
    }
}
