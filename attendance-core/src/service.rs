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
//! - a holiday change: the dates of the old and the new holiday, for every active employee.
//!
//! Leave and holiday changes recompute dates up to today (in the site's zone) only: later days
//! have no scans and get their records when they come. Holiday changes look back at most
//! [`HOLIDAY_LOOKBACK_DAYS`], so editing a recurring holiday does not rewrite years of closed
//! payroll.
//!
//! Every employee is scored on their own regular shift (`Employee::shift`, looked up in the
//! site's catalogue, [`AttendanceSettings::shifts`]; `None` is the default shift), on every path
//! that builds a roster: a batch's work dates, recomputing, leave and holiday changes. A stored
//! employee naming a shift the site no longer has is not an error (a batch must not fail for
//! it): they are scored on the default shift and named in [`IngestReport::unknown_shifts`] for
//! the caller to log. Dated shift assignments (rotations) are not stored yet.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, Days, NaiveDate, Utc};
use thiserror::Error;

use crate::access::{AccessDenied, Action, Actor, Owner, Role, authorize};
use crate::attribution::Attributor;
use crate::calendar::DayCalendar;
use crate::daily::{DailyRecord, EmployeeContext, compute_days};
use crate::employee::{DeviceUserId, Employee, EmployeeCode};
use crate::holiday::{Holiday, holiday_calendar};
use crate::leave::{
    ApprovalChain, ApprovalError, ApprovalOutcome, LeaveApplication, LeavePolicy, LeaveRequest,
    LeaveRequestError, LeaveRequestId, LedgerEntry, RequestContext, approved_leave_days, submit,
};
use crate::report::DailySummary;
use crate::scan::ScanData;
use crate::settings::AttendanceSettings;
use crate::shift::ShiftId;
use crate::store::{
    DailyRecordStore, EmployeeStore, HolidayStore, LeaveAccount, LeaveChange, LeaveStore,
    ScanBatch, ScanStore, SettingsStore, Store, StoreError, StoredHoliday,
};

/// How many employees one recompute chunk holds (one query of each kind per chunk).
pub const RECOMPUTE_CHUNK: usize = 500;

/// The first day an employee change recomputes: the first day of the month before `today`'s.
pub fn employee_change_start(today: NaiveDate) -> NaiveDate {
    use chrono::Datelike;
    let first = today.with_day(1).unwrap_or(today);
    first
        .pred_opt()
        .and_then(|d| d.with_day(1))
        .unwrap_or(first)
}

/// How far back a holiday change recomputes, in days.
pub const HOLIDAY_LOOKBACK_DAYS: u64 = 400;

/// How many times a leave change is computed again after another change to the same employee's
/// leave got there first.
pub const LEAVE_ATTEMPTS: u32 = 5;

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

/// A decision on a leave request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaveDecision {
    /// Approve at the request's current level.
    Approve,
    /// Reject at the request's current level.
    Reject,
    /// Cancel (pending or approved).
    Cancel,
}

/// What storing a batch of scans did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IngestReport {
    /// The scans that were new, in the batch's order.
    pub inserted: Vec<ScanData>,
    /// How many were already stored.
    pub duplicates: usize,
    /// Device users with new scans that no employee is enrolled as (their scans are kept and
    /// count once someone is enrolled and the days are recomputed).
    pub unknown_users: BTreeSet<DeviceUserId>,
    /// The daily records recomputed and stored, by employee then date.
    pub records: Vec<DailyRecord>,
    /// The same records as the daily summary shows them (times on the site's clock), in the
    /// same order.
    pub summaries: Vec<DailySummary>,
    /// The employees enrolled as the device users of the new scans.
    pub employees: BTreeMap<DeviceUserId, Employee>,
    /// Employees of the batch whose regular shift the site does not have: they were scored on
    /// the default shift.
    pub unknown_shifts: BTreeMap<EmployeeCode, ShiftId>,
}

/// What a holiday change did.
#[derive(Debug, Clone, PartialEq)]
pub struct HolidayChange {
    /// The holiday as stored now (`None` after a deletion).
    pub holiday: Option<StoredHoliday>,
    /// How many daily records were recomputed.
    pub recomputed: usize,
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
    observer: Option<Arc<dyn ChangeObserver>>,
}

/// Told of every change the service stores, so a host can publish it (the engine's event bus
/// does). Called after the write committed; it must not block.
pub trait ChangeObserver: Send + Sync {
    /// New scans were stored; `employees` are the enrolled employees of their device users.
    fn scans_stored(&self, scans: &[ScanData], employees: &BTreeMap<DeviceUserId, Employee>);
    /// Daily records were recomputed and stored.
    fn days_recomputed(&self, summaries: &[DailySummary]);
}

/// (employee, work date) pairs.
pub type DayKeys = BTreeMap<EmployeeCode, BTreeSet<NaiveDate>>;

/// The (employee, work date) pairs that new scans touch.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AffectedDays {
    /// The work dates per enrolled employee.
    pub days: DayKeys,
    /// The employees enrolled as the scans' device users.
    pub employees: BTreeMap<DeviceUserId, Employee>,
    /// Device users no employee is enrolled as.
    pub unknown_users: BTreeSet<DeviceUserId>,
    /// Employees whose regular shift the site does not have (scored on the default shift).
    pub unknown_shifts: BTreeMap<EmployeeCode, ShiftId>,
}

/// Records recomputed and stored, by employee then date.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Recomputed {
    /// The records.
    pub records: Vec<DailyRecord>,
    /// The same records as the daily summary shows them, in the same order.
    pub summaries: Vec<DailySummary>,
}

impl std::fmt::Debug for AttendanceService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AttendanceService").finish_non_exhaustive()
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

/// Splits sorted dates into runs of consecutive dates.
fn runs(dates: &BTreeSet<NaiveDate>) -> Vec<(NaiveDate, NaiveDate)> {
    let mut out: Vec<(NaiveDate, NaiveDate)> = Vec::new();
    for &date in dates {
        match out.last_mut() {
            Some((_, end)) if end.succ_opt() == Some(date) => *end = date,
            _ => out.push((date, date)),
        }
    }
    out
}

fn dates_between(from: NaiveDate, to: NaiveDate) -> impl Iterator<Item = NaiveDate> {
    from.iter_days().take_while(move |d| *d <= to)
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
            leave: store,
            observer: None,
        }
    }

    /// The same use cases, telling `observer` of every change they store.
    pub fn with_observer(mut self, observer: Arc<dyn ChangeObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// The use cases over one store per port.
    pub fn from_parts(parts: StoreParts) -> Self {
        Self {
            scans: parts.scans,
            employees: parts.employees,
            records: parts.records,
            settings: parts.settings,
            holidays: parts.holidays,
            leave: parts.leave,
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

    /// Stores a batch (idempotently, with its cursor) and recomputes the work dates its new
    /// scans fall on, for each enrolled employee, as of `now`.
    pub async fn record_scans(
        &self,
        batch: ScanBatch,
        now: DateTime<Utc>,
    ) -> Result<IngestReport, ServiceError> {
        let outcome = self.scans.record_scans(batch).await?;
        self.recompute_new_scans(outcome, now).await
    }

    /// Stores a group of batches, one per machine usually, in one store call (one transaction
    /// for the SQL stores, see [`ScanStore::record_scan_batches`]) and recomputes, once, the
    /// work dates the group's new scans fall on, for each enrolled employee, as of `now`. The
    /// report covers the whole group: its new scans in group order and its duplicates summed.
    pub async fn record_scan_batches(
        &self,
        batches: Vec<ScanBatch>,
        now: DateTime<Utc>,
    ) -> Result<IngestReport, ServiceError> {
        let mut merged = crate::store::IngestOutcome::default();
        for outcome in self.scans.record_scan_batches(batches).await? {
            merged.duplicates += outcome.duplicates;
            merged.inserted.extend(outcome.inserted);
        }
        self.recompute_new_scans(merged, now).await
    }

    /// Recomputes the (employee, work date) pairs of `outcome`'s new scans and reports them.
    async fn recompute_new_scans(
        &self,
        outcome: crate::store::IngestOutcome,
        now: DateTime<Utc>,
    ) -> Result<IngestReport, ServiceError> {
        let mut report = IngestReport {
            duplicates: outcome.duplicates,
            ..IngestReport::default()
        };
        if outcome.inserted.is_empty() {
            return Ok(report);
        }
        let mut by_user: BTreeMap<&DeviceUserId, Vec<&ScanData>> = BTreeMap::new();
        for scan in &outcome.inserted {
            by_user.entry(&scan.device_user_id).or_default().push(scan);
        }
        let site = self.site().await?;
        for (user, scans) in by_user {
            let Some(employee) = self.employees.employee_by_device_user(user).await? else {
                report.unknown_users.insert(user.clone());
                continue;
            };
            if let Err(unknown) = site.settings.regular_shift(employee.shift.as_ref()) {
                report
                    .unknown_shifts
                    .insert(employee.employee_id.clone(), unknown.0);
            }
            let roster = site.settings.roster_of(&employee);
            let attributor = Attributor::new(&site.settings, &roster);
            let dates: BTreeSet<NaiveDate> = scans
                .iter()
                .map(|s| attributor.work_date_of(s.timestamp))
                .collect();
            let records = self.recompute_with(&site, &employee, &dates, now).await?;
            report.summaries.extend(
                records
                    .iter()
                    .map(|r| DailySummary::new(&employee, r, site.settings.time_zone)),
            );
            report.records.extend(records);
            report.employees.insert(user.clone(), employee);
        }
        report.inserted = outcome.inserted;
        if let Some(observer) = &self.observer {
            observer.scans_stored(&report.inserted, &report.employees);
        }
        Ok(report)
    }

    /// Stores a group of batches ([`ScanStore::record_scan_batches`]) without recomputing;
    /// one outcome per batch. The caller recomputes ([`AttendanceService::affected_days`],
    /// [`AttendanceService::recompute_days`]) and publishes.
    pub async fn store_scan_batches(
        &self,
        batches: Vec<ScanBatch>,
    ) -> Result<Vec<crate::store::IngestOutcome>, ServiceError> {
        Ok(self.scans.record_scan_batches(batches).await?)
    }

    /// The work dates `inserted` (new scans) fall on, per enrolled employee, each on their own
    /// shift.
    pub async fn affected_days(&self, inserted: &[ScanData]) -> Result<AffectedDays, ServiceError> {
        let mut affected = AffectedDays::default();
        if inserted.is_empty() {
            return Ok(affected);
        }
        let settings = self.settings.settings().await?;
        let mut by_user: BTreeMap<&DeviceUserId, Vec<&ScanData>> = BTreeMap::new();
        for scan in inserted {
            by_user.entry(&scan.device_user_id).or_default().push(scan);
        }
        for (user, scans) in by_user {
            let Some(employee) = self.employees.employee_by_device_user(user).await? else {
                affected.unknown_users.insert(user.clone());
                continue;
            };
            if let Err(unknown) = settings.regular_shift(employee.shift.as_ref()) {
                affected
                    .unknown_shifts
                    .insert(employee.employee_id.clone(), unknown.0);
            }
            let roster = settings.roster_of(&employee);
            let attributor = Attributor::new(&settings, &roster);
            affected
                .days
                .entry(employee.employee_id.clone())
                .or_default()
                .extend(scans.iter().map(|s| attributor.work_date_of(s.timestamp)));
            affected.employees.insert(user.clone(), employee);
        }
        Ok(affected)
    }

    /// The days whose work window (each active employee's own shift) closed in `(since, now]`
    /// and whose stored record is missing or `Pending`: recomputes them, so a day nobody
    /// punched becomes `Absent` when its window closes, and returns what was recomputed.
    pub async fn close_windows(
        &self,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Recomputed, ServiceError> {
        let settings = self.settings.settings().await?;
        let tz = settings.time_zone;
        let first = since.with_timezone(&tz).date_naive();
        let first = first.checked_sub_days(Days::new(1)).unwrap_or(first);
        let last = now.with_timezone(&tz).date_naive();
        let mut days = DayKeys::new();
        for employee in self.employees.list_employees(None).await? {
            if !employee.active {
                continue;
            }
            let roster = settings.roster_of(&employee);
            let attributor = Attributor::new(&settings, &roster);
            for date in dates_between(first, last) {
                let closes = attributor.window(date).closes;
                if closes <= since || closes > now {
                    continue;
                }
                let stored = self.records.record(&employee.employee_id, date).await?;
                if stored.is_none_or(|r| r.status == crate::status::AttendanceStatus::Pending) {
                    days.entry(employee.employee_id.clone())
                        .or_default()
                        .insert(date);
                }
            }
        }
        self.recompute_days(&days, now).await
    }

    /// Every active employee's days in `[from, to]` as of `now`, recomputed and stored;
    /// `progress(done, total)` is called after each chunk of employees. Returns how many records
    /// were stored.
    pub async fn recompute_range(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        now: DateTime<Utc>,
        progress: &mut (dyn FnMut(usize, usize) + Send),
    ) -> Result<usize, ServiceError> {
        let employees: Vec<Employee> = self
            .employees
            .list_employees(None)
            .await?
            .into_iter()
            .filter(|e| e.active)
            .collect();
        let dates: BTreeSet<NaiveDate> = dates_between(from, to).collect();
        let total = employees.len();
        let mut stored = 0;
        for (i, chunk) in employees.chunks(RECOMPUTE_CHUNK).enumerate() {
            let days: DayKeys = chunk
                .iter()
                .map(|e| (e.employee_id.clone(), dates.clone()))
                .collect();
            stored += self.recompute_days(&days, now).await?.records.len();
            progress(((i + 1) * RECOMPUTE_CHUNK).min(total), total);
        }
        Ok(stored)
    }

    /// After `after` was stored (created when `before` is `None`): when it is new, or its shift
    /// or active state changed, recomputes its days from the first day of the previous month
    /// (in the site's zone) to today, and returns them.
    pub async fn employee_changed(
        &self,
        before: Option<&Employee>,
        after: &Employee,
        now: DateTime<Utc>,
    ) -> Result<Recomputed, ServiceError> {
        let changed = before.is_none_or(|b| b.shift != after.shift || b.active != after.active);
        if !changed {
            return Ok(Recomputed::default());
        }
        let settings = self.settings.settings().await?;
        let today = now.with_timezone(&settings.time_zone).date_naive();
        let from = employee_change_start(today);
        let days = DayKeys::from([(
            after.employee_id.clone(),
            dates_between(from, today).collect(),
        )]);
        self.recompute_days(&days, now).await
    }

    /// Recomputes and stores exactly the pairs of `days` as of `now`. An employee who no longer
    /// exists is skipped.
    pub async fn recompute_days(
        &self,
        days: &DayKeys,
        now: DateTime<Utc>,
    ) -> Result<Recomputed, ServiceError> {
        let mut out = Recomputed::default();
        if days.is_empty() {
            return Ok(out);
        }
        let site = self.site().await?;
        for (code, dates) in days {
            let employee = match self.employees.employee(code).await {
                Ok(e) => e,
                Err(StoreError::NotFound { .. }) => continue,
                Err(e) => return Err(e.into()),
            };
            let records = self.recompute_with(&site, &employee, dates, now).await?;
            out.summaries.extend(
                records
                    .iter()
                    .map(|r| DailySummary::new(&employee, r, site.settings.time_zone)),
            );
            out.records.extend(records);
        }
        Ok(out)
    }

    /// Recomputes and stores `employee`'s records of `dates` as of `now`, and returns them.
    pub async fn recompute(
        &self,
        employee: &Employee,
        dates: &BTreeSet<NaiveDate>,
        now: DateTime<Utc>,
    ) -> Result<Vec<DailyRecord>, ServiceError> {
        let site = self.site().await?;
        self.recompute_with(&site, employee, dates, now).await
    }

    async fn recompute_with(
        &self,
        site: &Site,
        employee: &Employee,
        dates: &BTreeSet<NaiveDate>,
        now: DateTime<Utc>,
    ) -> Result<Vec<DailyRecord>, ServiceError> {
        if dates.is_empty() {
            return Ok(Vec::new());
        }
        let account = self.leave.leave_account(&employee.employee_id).await?;
        let leave = approved_leave_days(&account.requests);
        let roster = site.settings.roster_of(employee);
        let attributor = Attributor::new(&site.settings, &roster);
        let mut records = Vec::new();
        for (from, to) in runs(dates) {
            let opens = attributor.window(from).opens;
            let closes = attributor.window(to).closes;
            let scans = self
                .scans
                .scans_of_user(&employee.device_user_id, opens, closes)
                .await?;
            let calendar = DayCalendar {
                holidays: holiday_calendar(&site.holidays, from, to),
                leave: leave
                    .range(from..=to)
                    .map(|(d, l)| (*d, l.clone()))
                    .collect(),
            };
            let ctx = EmployeeContext {
                settings: &site.settings,
                employee,
                roster: &roster,
                calendar: &calendar,
            };
            records.extend(compute_days(&ctx, &scans, from, to, now));
        }
        self.records.upsert_records(&records).await?;
        if let Some(observer) = &self.observer {
            let summaries: Vec<DailySummary> = records
                .iter()
                .map(|r| DailySummary::new(employee, r, site.settings.time_zone))
                .collect();
            observer.days_recomputed(&summaries);
        }
        Ok(records)
    }

    /// Submits `application` as request `id` for `actor`, as of `now`. The request needs the
    /// department head then HR, or HR only when a department head applies for themselves; a
    /// policy that needs no approval approves it at once (and its days are recomputed). Leave
    /// types with no stored policy use the statutory defaults.
    pub async fn submit_leave(
        &self,
        actor: &Actor,
        id: LeaveRequestId,
        application: &LeaveApplication,
        now: DateTime<Utc>,
    ) -> Result<LeaveRequest, ServiceError> {
        let employee = self.employees.employee(&application.employee).await?;
        authorize(
            actor,
            Action::SubmitLeave,
            Some(&Owner {
                employee: employee.employee_id.clone(),
                department: employee.department.clone(),
            }),
        )?;
        let application = LeaveApplication {
            department: employee.department.clone(),
            ..application.clone()
        };
        let chain = if actor.role == Role::DepartmentHead
            && actor.employee.as_ref() == Some(&employee.employee_id)
        {
            ApprovalChain::hr_only()
        } else {
            ApprovalChain::default()
        };
        let site = self.site().await?;
        let policy = self.policy(&application.leave_type).await?;
        let today = site.today(now);
        let holidays = holiday_calendar(&site.holidays, application.start, application.end);
        let (request, changes_days) = self
            .commit_leave_with_retries(&employee.employee_id, |account| {
                let ledger = account.ledger(&application.leave_type);
                let ctx = RequestContext {
                    policy: &policy,
                    weekly_off_days: &site.settings.weekly_off_days,
                    holidays: &holidays,
                    ledger: &ledger,
                    requests: &account.requests,
                };
                let (request, outcome) = submit(id.clone(), &application, &ctx, &chain, today)?;
                Ok(match outcome {
                    ApprovalOutcome::Approved(done) => (request, done.debits, true),
                    ApprovalOutcome::AwaitingLevel(_) => (request, Vec::new(), false),
                })
            })
            .await?;
        if changes_days {
            self.recompute_leave_dates(&site, &employee, &request, now)
                .await?;
        }
        Ok(request)
    }

    /// Reads `employee`'s leave account, lets `decide` compute the new state of one request and
    /// the ledger entries to append (and whether the leave days change), and commits both at the
    /// version read; when another change commits first, it reads and decides again, up to
    /// [`LEAVE_ATTEMPTS`] times.
    async fn commit_leave_with_retries(
        &self,
        employee: &EmployeeCode,
        mut decide: impl FnMut(
            &LeaveAccount,
        ) -> Result<(LeaveRequest, Vec<LedgerEntry>, bool), ServiceError>,
    ) -> Result<(LeaveRequest, bool), ServiceError> {
        for _ in 0..LEAVE_ATTEMPTS {
            let account = self.leave.leave_account(employee).await?;
            let (request, entries, changes_days) = decide(&account)?;
            let change = LeaveChange {
                employee: employee.clone(),
                expected_version: account.version,
                entries: entries
                    .into_iter()
                    .map(|e| (request.leave_type.clone(), e))
                    .collect(),
                requests: vec![request.clone()],
            };
            match self.leave.commit_leave(change).await {
                Ok(_) => return Ok((request, changes_days)),
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ServiceError::Contended {
            employee: employee.to_string(),
            attempts: LEAVE_ATTEMPTS,
        })
    }

    /// Takes `decision` on request `id` for `actor`, as of `now`, with an optional note. The
    /// request's state and the employee's balance are read, checked by the rules and written
    /// back with the ledger in one atomic change; if another change to the employee's leave
    /// commits first, the decision is computed again from what is stored then (so two approvals
    /// racing for the last days of a balance cannot both pass). Days are recomputed when the
    /// request becomes approved or an approved request is cancelled.
    pub async fn decide_leave(
        &self,
        actor: &Actor,
        id: &LeaveRequestId,
        decision: LeaveDecision,
        note: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<LeaveRequest, ServiceError> {
        let first = self.leave.leave_request(id).await?;
        let site = self.site().await?;
        let policy = self.policy(&first.leave_type).await?;
        let today = site.today(now);
        let (request, changes_days) = self
            .commit_leave_with_retries(&first.employee, |account| {
                let mut request = account
                    .requests
                    .iter()
                    .find(|r| &r.id == id)
                    .cloned()
                    .ok_or_else(|| StoreError::NotFound {
                        entity: "leave request",
                        key: id.to_string(),
                    })?;
                let ledger = account.ledger(&request.leave_type);
                let (entries, changes_days) = match decision {
                    LeaveDecision::Approve => {
                        match request.approve(actor, &policy, &ledger, today, note)? {
                            ApprovalOutcome::Approved(done) => (done.debits, true),
                            ApprovalOutcome::AwaitingLevel(_) => (Vec::new(), false),
                        }
                    }
                    LeaveDecision::Reject => {
                        request.reject(actor, today, note)?;
                        (Vec::new(), false)
                    }
                    LeaveDecision::Cancel => {
                        let cancelled = request.cancel(actor, today, note)?;
                        let changes = !cancelled.released_days.is_empty();
                        (cancelled.reversals, changes)
                    }
                };
                Ok((request, entries, changes_days))
            })
            .await?;
        if changes_days {
            let employee = self.employees.employee(&request.employee).await?;
            self.recompute_leave_dates(&site, &employee, &request, now)
                .await?;
        }
        Ok(request)
    }

    async fn policy(
        &self,
        leave_type: &crate::calendar::LeaveType,
    ) -> Result<LeavePolicy, ServiceError> {
        match self.leave.leave_policy(leave_type).await {
            Ok(policy) => Ok(policy),
            Err(StoreError::NotFound { .. }) => Ok(LeavePolicy::default_for(leave_type.clone())),
            Err(e) => Err(e.into()),
        }
    }

    async fn recompute_leave_dates(
        &self,
        site: &Site,
        employee: &Employee,
        request: &LeaveRequest,
        now: DateTime<Utc>,
    ) -> Result<usize, ServiceError> {
        let today = site.today(now);
        let dates: BTreeSet<NaiveDate> =
            dates_between(request.start, request.end.min(today)).collect();
        Ok(self
            .recompute_with(site, employee, &dates, now)
            .await?
            .len())
    }

    /// Adds a holiday for `actor` and recomputes its dates (see the module docs for the bounds).
    pub async fn create_holiday(
        &self,
        actor: &Actor,
        holiday: &Holiday,
        now: DateTime<Utc>,
    ) -> Result<HolidayChange, ServiceError> {
        authorize(actor, Action::ManageHolidays, None)?;
        let stored = self.holidays.create_holiday(holiday).await?;
        let recomputed = self.recompute_holidays(&[holiday], now).await?;
        Ok(HolidayChange {
            holiday: Some(stored),
            recomputed,
        })
    }

    /// Replaces holiday `id` for `actor` and recomputes the old and the new dates.
    pub async fn update_holiday(
        &self,
        actor: &Actor,
        id: i64,
        holiday: &Holiday,
        now: DateTime<Utc>,
    ) -> Result<HolidayChange, ServiceError> {
        authorize(actor, Action::ManageHolidays, None)?;
        let old = self.holidays.update_holiday(id, holiday).await?;
        let recomputed = self.recompute_holidays(&[&old, holiday], now).await?;
        Ok(HolidayChange {
            holiday: Some(StoredHoliday {
                id,
                holiday: holiday.clone(),
            }),
            recomputed,
        })
    }

    /// Removes holiday `id` for `actor` and recomputes its dates.
    pub async fn delete_holiday(
        &self,
        actor: &Actor,
        id: i64,
        now: DateTime<Utc>,
    ) -> Result<HolidayChange, ServiceError> {
        authorize(actor, Action::ManageHolidays, None)?;
        let old = self.holidays.delete_holiday(id).await?;
        let recomputed = self.recompute_holidays(&[&old], now).await?;
        Ok(HolidayChange {
            holiday: None,
            recomputed,
        })
    }

    async fn recompute_holidays(
        &self,
        changed: &[&Holiday],
        now: DateTime<Utc>,
    ) -> Result<usize, ServiceError> {
        let site = self.site().await?;
        let today = site.today(now);
        let earliest = today
            .checked_sub_days(Days::new(HOLIDAY_LOOKBACK_DAYS))
            .unwrap_or(today);
        let dates: BTreeSet<NaiveDate> = changed
            .iter()
            .flat_map(|h| h.dates_between(earliest, today))
            .collect();
        if dates.is_empty() {
            return Ok(0);
        }
        let mut recomputed = 0;
        for employee in self.employees.list_employees(None).await? {
            if employee.active {
                recomputed += self
                    .recompute_with(&site, &employee, &dates, now)
                    .await?
                    .len();
            }
        }
        Ok(recomputed)
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Weekday};
    use mockall::Sequence;
    use mockall::predicate::eq;

    use super::*;
    use crate::calendar::LeaveType;
    use crate::employee::{Department, EmployeeCode, NewEmployee};
    use crate::leave::{
        ApprovalLevel, HalfDays, LeaveLedger, LedgerEntry, LedgerEntryKind, RequestStatus,
    };
    use crate::scan::{MachineId, PunchState, VerifyMode};
    use crate::shift::Shift;
    use crate::status::AttendanceStatus;
    use crate::store::{
        IngestOutcome, LeaveAccount, MockDailyRecordStore, MockEmployeeStore, MockHolidayStore,
        MockLeaveStore, MockScanStore, MockSettingsStore, block_on,
    };

    /// One mock per port; `site` expectations (settings, holidays) are set by the test.
    #[derive(Default)]
    struct Mocks {
        scans: MockScanStore,
        employees: MockEmployeeStore,
        records: MockDailyRecordStore,
        settings: MockSettingsStore,
        holidays: MockHolidayStore,
        leave: MockLeaveStore,
    }

    impl Mocks {
        /// Default settings (Dhaka, 08:00–17:00, Friday off) and `holidays`.
        fn with_site(self, holidays: Vec<StoredHoliday>) -> Self {
            self.with_settings(AttendanceSettings::default(), holidays)
        }

        /// `settings` and `holidays`.
        fn with_settings(
            mut self,
            settings: AttendanceSettings,
            holidays: Vec<StoredHoliday>,
        ) -> Self {
            self.settings
                .expect_settings()
                .returning(move || Ok(settings.clone()));
            self.holidays
                .expect_list_holidays()
                .returning(move || Ok(holidays.clone()));
            self
        }

        fn service(self) -> AttendanceService {
            AttendanceService::from_parts(StoreParts {
                scans: Arc::new(self.scans),
                employees: Arc::new(self.employees),
                records: Arc::new(self.records),
                settings: Arc::new(self.settings),
                holidays: Arc::new(self.holidays),
                leave: Arc::new(self.leave),
            })
        }
    }

    fn d(day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, day).unwrap()
    }

    /// Local Dhaka time on a November day, as an instant.
    fn local(day: u32, h: u32, m: u32) -> DateTime<Utc> {
        chrono_tz::Asia::Dhaka
            .with_ymd_and_hms(2026, 11, day, h, m, 0)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn now() -> DateTime<Utc> {
        local(26, 12, 0)
    }

    fn employee(code: &str, user: &str, active: bool) -> Employee {
        let mut e = Employee::parse(&NewEmployee {
            employee_id: code.into(),
            employee_name: format!("Name of {code}"),
            department: "Sewing".into(),
            designation: "Operator".into(),
            level_of_work: "Worker".into(),
            device_user_id: Some(user.into()),
            ..NewEmployee::default()
        })
        .unwrap();
        e.active = active;
        e
    }

    fn scan(user: &str, at: DateTime<Utc>) -> ScanData {
        ScanData {
            machine_id: MachineId::parse("GATE-1").unwrap(),
            device_user_id: DeviceUserId::parse(user).unwrap(),
            timestamp: at,
            punch_state: PunchState::CheckIn,
            verify_mode: VerifyMode::Fingerprint,
            raw: None,
        }
    }

    fn empty_account(code: &str, version: u64) -> LeaveAccount {
        LeaveAccount {
            employee: EmployeeCode::parse(code).unwrap(),
            version,
            requests: Vec::new(),
            ledgers: Vec::new(),
        }
    }

    fn hr() -> Actor {
        Actor::new(Role::HrStaff, None, None)
    }

    #[test]
    fn new_scans_recompute_only_their_work_dates_and_unknown_users_are_reported() {
        let mut m = Mocks::default().with_site(Vec::new());
        let scans = vec![
            scan("1", local(23, 7, 55)),
            scan("1", local(23, 17, 10)),
            scan("99", local(23, 9, 0)),
        ];
        let inserted = scans.clone();
        m.scans.expect_record_scans().times(1).returning(move |_| {
            Ok(IngestOutcome {
                inserted: inserted.clone(),
                duplicates: 1,
            })
        });
        m.employees
            .expect_employee_by_device_user()
            .with(eq(DeviceUserId::parse("1").unwrap()))
            .returning(|_| Ok(Some(employee("EMP001", "1", true))));
        m.employees
            .expect_employee_by_device_user()
            .with(eq(DeviceUserId::parse("99").unwrap()))
            .returning(|_| Ok(None));
        m.leave
            .expect_leave_account()
            .times(1)
            .returning(|_| Ok(empty_account("EMP001", 0)));
        let of_user = scans[..2].to_vec();
        m.scans
            .expect_scans_of_user()
            .times(1)
            .withf(|user, from, to| {
                // The window of the 23rd only: it opens before 07:55 and closes before the 24th's shift.
                user.as_str() == "1"
                    && *from <= local(23, 7, 55)
                    && *from > local(22, 17, 0)
                    && *to > local(23, 17, 10)
                    && *to <= local(24, 8, 0)
            })
            .returning(move |_, _, _| Ok(of_user.clone()));
        m.records
            .expect_upsert_records()
            .times(1)
            .withf(|records| {
                records.len() == 1
                    && records[0].date == d(23)
                    && records[0].status == AttendanceStatus::PresentOnTime
            })
            .returning(|_| Ok(()));
        let batch = ScanBatch {
            machine_id: MachineId::parse("GATE-1").unwrap(),
            scans: scans.clone(),
            cursor: None,
        };
        let report = block_on(m.service().record_scans(batch, now())).unwrap();
        assert_eq!(report.inserted, scans);
        assert_eq!(report.duplicates, 1);
        assert_eq!(
            report.unknown_users,
            BTreeSet::from([DeviceUserId::parse("99").unwrap()])
        );
        assert_eq!(report.records.len(), 1);
        assert_eq!(report.records[0].employee_id.as_str(), "EMP001");
    }

    /// The default settings with a night shift, 20:00–05:00, in the catalogue.
    fn with_night_shift() -> AttendanceSettings {
        let mut settings = AttendanceSettings::default();
        settings.shifts.push(
            Shift::new(
                ShiftId::parse("NIGHT").unwrap(),
                "Night",
                crate::shift::hm(20, 0),
                crate::shift::hm(5, 0),
            )
            .unwrap(),
        );
        settings.validate().unwrap();
        settings
    }

    fn on_shift(mut employee: Employee, shift: &str) -> Employee {
        employee.shift = Some(ShiftId::parse(shift).unwrap());
        employee
    }

    #[test]
    fn each_employee_of_a_batch_is_scored_on_their_own_shift() {
        let mut m = Mocks::default().with_settings(with_night_shift(), Vec::new());
        let day = [local(23, 7, 55), local(23, 17, 10)];
        let night = [local(23, 19, 55), local(24, 5, 3)];
        let ghost = [local(23, 8, 5), local(23, 17, 0)];
        let scans: Vec<ScanData> = (day.iter().map(|&t| scan("1", t)))
            .chain(night.iter().map(|&t| scan("2", t)))
            .chain(ghost.iter().map(|&t| scan("3", t)))
            .collect();
        let inserted = scans.clone();
        m.scans.expect_record_scans().times(1).returning(move |_| {
            Ok(IngestOutcome {
                inserted: inserted.clone(),
                duplicates: 0,
            })
        });
        let staff = [
            employee("EMP001", "1", true),
            on_shift(employee("EMP002", "2", true), "NIGHT"),
            on_shift(employee("EMP003", "3", true), "GHOST"),
        ];
        for e in staff.clone() {
            m.employees
                .expect_employee_by_device_user()
                .with(eq(e.device_user_id.clone()))
                .returning(move |_| Ok(Some(e.clone())));
        }
        m.leave
            .expect_leave_account()
            .times(3)
            .returning(|code| Ok(empty_account(code.as_str(), 0)));
        // The day worker and the unknown-shift one are read over the 23rd's day window only
        // (before the 24th's 08:00 start); the night worker over the night of the 23rd, which
        // holds the 05:03 check-out and ends before the 24th's 20:00 start.
        for (user, times) in [("1", day), ("3", ghost)] {
            let of_user: Vec<ScanData> = times.iter().map(|&t| scan(user, t)).collect();
            m.scans
                .expect_scans_of_user()
                .times(1)
                .withf(move |u, from, to| {
                    u.as_str() == user
                        && *from > local(22, 17, 0)
                        && *from <= local(23, 7, 55)
                        && *to > local(23, 17, 10)
                        && *to <= local(24, 8, 0)
                })
                .returning(move |_, _, _| Ok(of_user.clone()));
        }
        let of_night: Vec<ScanData> = night.iter().map(|&t| scan("2", t)).collect();
        m.scans
            .expect_scans_of_user()
            .times(1)
            .withf(|u, from, to| {
                u.as_str() == "2"
                    && *from > local(23, 5, 0)
                    && *from <= local(23, 19, 55)
                    && *to > local(24, 5, 3)
                    && *to <= local(24, 20, 0)
            })
            .returning(move |_, _, _| Ok(of_night.clone()));
        m.records
            .expect_upsert_records()
            .times(3)
            .withf(|records| records.len() == 1 && records[0].date == d(23))
            .returning(|_| Ok(()));
        let batch = ScanBatch {
            machine_id: MachineId::parse("GATE-1").unwrap(),
            scans,
            cursor: None,
        };
        let report = block_on(m.service().record_scans(batch, now())).unwrap();
        let got: Vec<(&str, NaiveDate, &str, &AttendanceStatus, i64)> = report
            .records
            .iter()
            .map(|r| {
                (
                    r.employee_id.as_str(),
                    r.date,
                    r.shift.as_str(),
                    &r.status,
                    r.late_minutes,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("EMP001", d(23), "DAY", &AttendanceStatus::PresentOnTime, 0),
                (
                    "EMP002",
                    d(23),
                    "NIGHT",
                    &AttendanceStatus::PresentOnTime,
                    0
                ),
                (
                    "EMP003",
                    d(23),
                    "DAY",
                    &AttendanceStatus::PresentConsidered,
                    5
                ),
            ]
        );
        let night_record = &report.records[1];
        assert_eq!(night_record.check_in, Some(night[0]));
        assert_eq!(night_record.check_out, Some(night[1]));
        assert_eq!(
            report.unknown_shifts,
            BTreeMap::from([(
                EmployeeCode::parse("EMP003").unwrap(),
                ShiftId::parse("GHOST").unwrap()
            )])
        );
    }

    #[test]
    fn a_night_workers_day_is_read_over_the_night_window() {
        // 20:00–05:00 with the default margins (2 h early, 10 h late): the night of the 23rd
        // opens where the night before's late margin ends (15:00) and closes at 15:00 the next
        // day, which the early margin (18:00) does not cut shorter.
        let mut m = Mocks::default().with_settings(with_night_shift(), Vec::new());
        m.leave
            .expect_leave_account()
            .returning(|code| Ok(empty_account(code.as_str(), 0)));
        m.scans
            .expect_scans_of_user()
            .with(
                eq(DeviceUserId::parse("2").unwrap()),
                eq(local(23, 15, 0)),
                eq(local(24, 15, 0)),
            )
            .times(1)
            .returning(|_, _, _| Ok(Vec::new()));
        m.records
            .expect_upsert_records()
            .times(1)
            .withf(|records| {
                records.len() == 1
                    && records[0].shift.as_str() == "NIGHT"
                    && records[0].status == AttendanceStatus::Absent
            })
            .returning(|_| Ok(()));
        let night_worker = on_shift(employee("EMP002", "2", true), "NIGHT");
        let records = block_on(m.service().recompute(
            &night_worker,
            &BTreeSet::from([d(23)]),
            now(),
        ))
        .unwrap();
        assert_eq!(records.len(), 1);
    }

    #[test]
    fn a_batch_of_duplicates_recomputes_nothing() {
        // No other expectations: any read or write beyond the ingest fails the test.
        let mut m = Mocks::default();
        m.scans.expect_record_scans().times(1).returning(|_| {
            Ok(IngestOutcome {
                inserted: Vec::new(),
                duplicates: 3,
            })
        });
        let batch = ScanBatch {
            machine_id: MachineId::parse("GATE-1").unwrap(),
            scans: Vec::new(),
            cursor: None,
        };
        let report = block_on(m.service().record_scans(batch, now())).unwrap();
        assert_eq!(report.duplicates, 3);
        assert!(report.records.is_empty());
    }

    #[test]
    fn a_failing_ingest_is_a_typed_error_and_writes_no_records() {
        let mut m = Mocks::default();
        m.scans.expect_record_scans().returning(|_| {
            Err(StoreError::Backend {
                message: "disk full".into(),
                source: None,
            })
        });
        let batch = ScanBatch {
            machine_id: MachineId::parse("GATE-1").unwrap(),
            scans: vec![scan("1", local(23, 8, 0))],
            cursor: None,
        };
        let err = block_on(m.service().record_scans(batch, now())).unwrap_err();
        assert!(
            matches!(err, ServiceError::Store(StoreError::Backend { .. })),
            "{err}"
        );
    }

    #[test]
    fn a_group_of_batches_recomputes_each_employee_day_once() {
        let mut m = Mocks::default().with_site(Vec::new());
        let gate = |n: &str, scans: Vec<ScanData>| ScanBatch {
            machine_id: MachineId::parse(n).unwrap(),
            scans,
            cursor: None,
        };
        let mut at_canteen = scan("1", local(23, 17, 10));
        at_canteen.machine_id = MachineId::parse("GATE-2").unwrap();
        let group = vec![
            gate("GATE-1", vec![scan("1", local(23, 7, 55))]),
            gate("GATE-2", vec![at_canteen.clone()]),
        ];
        let (first, second) = (group[0].scans.clone(), group[1].scans.clone());
        m.scans
            .expect_record_scan_batches()
            .times(1)
            .withf(|batches| batches.len() == 2)
            .returning(move |_| {
                Ok(vec![
                    IngestOutcome {
                        inserted: first.clone(),
                        duplicates: 2,
                    },
                    IngestOutcome {
                        inserted: second.clone(),
                        duplicates: 1,
                    },
                ])
            });
        m.employees
            .expect_employee_by_device_user()
            .times(1)
            .returning(|_| Ok(Some(employee("EMP001", "1", true))));
        // Both batches' scans fall on the 23rd: one read, one recompute, one write.
        m.leave
            .expect_leave_account()
            .times(1)
            .returning(|_| Ok(empty_account("EMP001", 0)));
        let both = vec![scan("1", local(23, 7, 55)), at_canteen.clone()];
        m.scans
            .expect_scans_of_user()
            .times(1)
            .returning(move |_, _, _| Ok(both.clone()));
        m.records
            .expect_upsert_records()
            .times(1)
            .withf(|records| records.len() == 1 && records[0].date == d(23))
            .returning(|_| Ok(()));
        let report = block_on(m.service().record_scan_batches(group, now())).unwrap();
        assert_eq!(
            report.inserted,
            vec![scan("1", local(23, 7, 55)), at_canteen]
        );
        assert_eq!(report.duplicates, 3);
        assert_eq!(report.records.len(), 1);
        assert_eq!(report.summaries.len(), 1);
    }

    /// A pending casual request of EMP001 for `start..=end`, needing HR only.
    fn pending(start: u32, end: u32) -> LeaveRequest {
        let policy = LeavePolicy::default_for(LeaveType::Casual);
        let no_holidays = BTreeMap::new();
        let ctx = RequestContext {
            policy: &policy,
            weekly_off_days: &[Weekday::Fri],
            holidays: &no_holidays,
            ledger: &LeaveLedger::from_entries(
                EmployeeCode::parse("EMP001").unwrap(),
                LeaveType::Casual,
                vec![
                    LedgerEntry::new(
                        LedgerEntryKind::Allocation,
                        2026,
                        d(1),
                        HalfDays::from_days(10),
                        "grant",
                    )
                    .unwrap(),
                ],
            )
            .unwrap(),
            requests: &[],
        };
        let application = LeaveApplication {
            employee: EmployeeCode::parse("EMP001").unwrap(),
            department: Department::parse("Sewing").unwrap(),
            leave_type: LeaveType::Casual,
            start: d(start),
            end: d(end),
            start_half: false,
            end_half: false,
            reason: String::new(),
            medical_certificate: false,
        };
        submit(
            LeaveRequestId::parse("L1").unwrap(),
            &application,
            &ctx,
            &ApprovalChain::hr_only(),
            d(2),
        )
        .unwrap()
        .0
    }

    fn account_with(version: u64, request: &LeaveRequest, granted_days: i64) -> LeaveAccount {
        let ledger = LeaveLedger::from_entries(
            request.employee.clone(),
            LeaveType::Casual,
            vec![
                LedgerEntry::new(
                    LedgerEntryKind::Allocation,
                    2026,
                    d(1),
                    HalfDays::from_days(granted_days),
                    "grant",
                )
                .unwrap(),
            ],
        )
        .unwrap();
        LeaveAccount {
            employee: request.employee.clone(),
            version,
            requests: vec![request.clone()],
            ledgers: vec![ledger],
        }
    }

    #[test]
    fn a_decision_that_loses_the_race_is_computed_again_from_the_new_version() {
        let request = pending(30, 30);
        assert_eq!(request.levels, [ApprovalLevel::Hr]);
        let mut m = Mocks::default().with_site(Vec::new());
        let stored = request.clone();
        m.leave
            .expect_leave_request()
            .returning(move |_| Ok(stored.clone()));
        m.leave
            .expect_leave_policy()
            .returning(|t| Ok(LeavePolicy::default_for(t.clone())));
        let mut seq = Sequence::new();
        let (first, second) = (account_with(3, &request, 10), account_with(4, &request, 10));
        m.leave
            .expect_leave_account()
            .times(1)
            .in_sequence(&mut seq)
            .returning(move |_| Ok(first.clone()));
        m.leave
            .expect_commit_leave()
            .times(1)
            .in_sequence(&mut seq)
            .withf(|c| c.expected_version == 3)
            .returning(|_| Err(StoreError::Conflict("version 4".into())));
        m.leave
            .expect_leave_account()
            .times(1)
            .in_sequence(&mut seq)
            .returning(move |_| Ok(second.clone()));
        m.leave
            .expect_commit_leave()
            .times(1)
            .in_sequence(&mut seq)
            .withf(|c| {
                c.expected_version == 4
                    && c.requests.len() == 1
                    && c.requests[0].status == RequestStatus::Approved
                    && c.entries.len() == 1
                    && c.entries[0].1.kind == LedgerEntryKind::Taken
                    && c.entries[0].1.amount == HalfDays::from_days(1)
            })
            .returning(|_| Ok(5));
        // The approved day (the 30th) is after today (the 26th): nothing to recompute yet.
        m.employees
            .expect_employee()
            .returning(|_| Ok(employee("EMP001", "1", true)));
        let decided = block_on(m.service().decide_leave(
            &hr(),
            &request.id,
            LeaveDecision::Approve,
            Some("ok"),
            now(),
        ))
        .unwrap();
        assert_eq!(decided.status, RequestStatus::Approved);
    }

    #[test]
    fn endless_conflicts_give_up_with_a_clear_error() {
        let request = pending(30, 30);
        let mut m = Mocks::default().with_site(Vec::new());
        let stored = request.clone();
        m.leave
            .expect_leave_request()
            .returning(move |_| Ok(stored.clone()));
        m.leave.expect_leave_policy().returning(|_| {
            Err(StoreError::NotFound {
                entity: "leave policy",
                key: "casual".into(),
            })
        });
        let account = account_with(1, &request, 10);
        m.leave
            .expect_leave_account()
            .times(LEAVE_ATTEMPTS as usize)
            .returning(move |_| Ok(account.clone()));
        m.leave
            .expect_commit_leave()
            .times(LEAVE_ATTEMPTS as usize)
            .returning(|_| Err(StoreError::Conflict("busy".into())));
        let err = block_on(m.service().decide_leave(
            &hr(),
            &request.id,
            LeaveDecision::Reject,
            None,
            now(),
        ))
        .unwrap_err();
        assert!(
            matches!(err, ServiceError::Contended { attempts, .. } if attempts == LEAVE_ATTEMPTS),
            "{err}"
        );
        assert!(err.to_string().contains("EMP001"), "{err}");
    }

    #[test]
    fn an_approval_beyond_the_balance_is_refused_and_writes_nothing() {
        let request = pending(29, 30); // Sunday and Monday: two working days
        let mut m = Mocks::default().with_site(Vec::new());
        let stored = request.clone();
        m.leave
            .expect_leave_request()
            .returning(move |_| Ok(stored.clone()));
        m.leave
            .expect_leave_policy()
            .returning(|t| Ok(LeavePolicy::default_for(t.clone())));
        let account = account_with(7, &request, 1);
        m.leave
            .expect_leave_account()
            .returning(move |_| Ok(account.clone()));
        m.leave.expect_commit_leave().times(0);
        let err = block_on(m.service().decide_leave(
            &hr(),
            &request.id,
            LeaveDecision::Approve,
            None,
            now(),
        ))
        .unwrap_err();
        assert!(
            matches!(
                err,
                ServiceError::Approval(ApprovalError::InsufficientBalance { .. })
            ),
            "{err}"
        );
    }

    #[test]
    fn an_employee_may_not_change_holidays_and_nothing_is_touched() {
        let m = Mocks::default();
        let me = Actor::new(
            Role::Employee,
            EmployeeCode::parse("EMP001").ok(),
            Department::parse("Sewing").ok(),
        );
        let holiday = Holiday::single("Victory Day", d(16)).unwrap();
        let err = block_on(m.service().create_holiday(&me, &holiday, now())).unwrap_err();
        assert!(matches!(err, ServiceError::Denied(_)), "{err}");
    }

    #[test]
    fn moving_a_holiday_recomputes_its_old_and_new_dates_for_active_employees() {
        let new = Holiday::single("Founders Day", d(23)).unwrap();
        let old = Holiday::single("Founders Day", d(19)).unwrap();
        let mut m = Mocks::default().with_site(vec![StoredHoliday {
            id: 7,
            holiday: new.clone(),
        }]);
        let was = old.clone();
        m.holidays
            .expect_update_holiday()
            .with(eq(7), eq(new.clone()))
            .times(1)
            .returning(move |_, _| Ok(was.clone()));
        m.employees.expect_list_employees().returning(|_| {
            Ok(vec![
                employee("EMP001", "1", true),
                employee("EMP002", "2", false),
            ])
        });
        m.leave
            .expect_leave_account()
            .with(eq(EmployeeCode::parse("EMP001").unwrap()))
            .times(1)
            .returning(|_| Ok(empty_account("EMP001", 0)));
        // The 19th and the 23rd are separate runs: one read each.
        m.scans
            .expect_scans_of_user()
            .times(2)
            .returning(|_, _, _| Ok(Vec::new()));
        m.records
            .expect_upsert_records()
            .times(1)
            .withf(|records| {
                let got: Vec<(NaiveDate, &AttendanceStatus)> =
                    records.iter().map(|r| (r.date, &r.status)).collect();
                got == [
                    (d(19), &AttendanceStatus::Absent),
                    (d(23), &AttendanceStatus::Holiday),
                ]
            })
            .returning(|_| Ok(()));
        let change = block_on(m.service().update_holiday(&hr(), 7, &new, now())).unwrap();
        assert_eq!(change.recomputed, 2);
        assert_eq!(change.holiday.map(|h| h.id), Some(7));
    }

    #[test]
    fn consecutive_dates_form_runs() {
        let dates = BTreeSet::from([d(1), d(2), d(3), d(5), d(7), d(8)]);
        assert_eq!(runs(&dates), [(d(1), d(3)), (d(5), d(5)), (d(7), d(8))]);
    }
}
