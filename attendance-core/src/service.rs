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
//!   caller gives.
//!
//! Leave and holiday changes recompute dates up to today (in the site's zone) only: later days
//! have no scans and get their records when they come. Holiday changes look back at most
//! [`HOLIDAY_LOOKBACK_DAYS`], so editing a recurring holiday does not rewrite years of closed
//! payroll.
//!
//! Recomputing is set-based ([`AttendanceService::recompute_days`]): the (employee, work date)
//! pairs are taken [`RECOMPUTE_CHUNK`] employees at a time, and each chunk is one bulk read of
//! the employees (when not known already), one of their leave requests, one of their scans per
//! span of nearby dates (usually one), the rules ([`compute_days`], per employee and run of
//! consecutive dates, exactly as for one employee) and one [`DailyRecordStore::upsert_records`],
//! the next chunk's reads running while the last chunk is stored. Settings and holidays are
//! read once per call. [`AttendanceService::recompute`] keeps the
//! per-employee path (one employee, a read per run of dates), which gives the same records.
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

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::task::Poll;

use chrono::{DateTime, Datelike, Days, Months, NaiveDate, Utc};
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
    DailyRecordStore, EmployeeStore, HolidayStore, IngestOutcome, LeaveAccount, LeaveChange,
    LeaveStore, RecordOrder, RecordQuery, ScanBatch, ScanStore, SettingsStore, Store, StoreError,
    StoredHoliday,
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

/// Consecutive slices of `items` of at most [`RECOMPUTE_CHUNK`] employees and, where an item
/// has `dates(item)` dates, at most [`RECOMPUTE_CHUNK_DAYS`] pairs (an item with more is a
/// slice of its own).
fn chunked<T>(items: &[T], dates: impl Fn(&T) -> usize) -> Vec<&[T]> {
    let mut chunks = Vec::new();
    let (mut start, mut pairs) = (0, 0);
    for (i, item) in items.iter().enumerate() {
        let n = dates(item);
        if i > start && (i - start >= RECOMPUTE_CHUNK || pairs + n > RECOMPUTE_CHUNK_DAYS) {
            chunks.push(&items[start..i]);
            (start, pairs) = (i, 0);
        }
        pairs += n;
    }
    if start < items.len() {
        chunks.push(&items[start..]);
    }
    chunks
}

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

/// Dates of one chunk at most this many days apart are read with one scan query; a wider gap
/// starts another, so scattered dates (a recurring holiday's, a year apart) do not read the
/// scans of every day between them.
const SPAN_GAP_DAYS: i64 = 2;

/// How many stored records [`AttendanceService::close_windows`] reads per page.
const CLOSE_PAGE: u64 = 10_000;

/// (employee, work date) pairs.
pub type DayKeys = BTreeMap<EmployeeCode, BTreeSet<NaiveDate>>;

/// The (employee, work date) pairs that new scans touch, and who their device users are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AffectedDays {
    /// The work dates of the new scans, per enrolled employee (each on their own shift).
    pub days: DayKeys,
    /// The employees enrolled as the device users of the new scans.
    pub employees: BTreeMap<DeviceUserId, Employee>,
    /// Device users with new scans that no employee is enrolled as.
    pub unknown_users: BTreeSet<DeviceUserId>,
    /// Employees whose regular shift the site does not have: their dates were found on the
    /// default shift, and they are scored on it.
    pub unknown_shifts: BTreeMap<EmployeeCode, ShiftId>,
}

/// Daily records recomputed and stored.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Recomputed {
    /// The records, by employee then date.
    pub records: Vec<DailyRecord>,
    /// The same records as the daily summary shows them (times on the site's clock), in the
    /// same order.
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
    /// them), by employee then date; a large recompute tells it once per chunk.
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

/// One employee's dates to recompute.
type Work = (Employee, BTreeSet<NaiveDate>);

/// The scan reads of a chunk: for each span of its dates (dates at most [`SPAN_GAP_DAYS`]
/// apart), the device users with a date in it and the instants from the earliest window
/// opening to the latest window closing of the span's first and last date, over their shifts.
/// Windows open and close later for later dates, so every run of an employee's dates inside a
/// span is read whole.
fn scan_spans(
    settings: &AttendanceSettings,
    work: &[&Work],
) -> Vec<(DateTime<Utc>, DateTime<Utc>, Vec<DeviceUserId>)> {
    let all: BTreeSet<NaiveDate> = work.iter().flat_map(|(_, d)| d.iter().copied()).collect();
    let mut spans: Vec<(NaiveDate, NaiveDate)> = Vec::new();
    for date in all {
        match spans.last_mut() {
            Some((_, end)) if (date - *end).num_days() <= SPAN_GAP_DAYS => *end = date,
            _ => spans.push((date, date)),
        }
    }
    let mut reads = Vec::with_capacity(spans.len());
    for (start, end) in spans {
        let mut bounds: Option<(DateTime<Utc>, DateTime<Utc>)> = None;
        let mut users = Vec::new();
        for (employee, dates) in work {
            if dates.range(start..=end).next().is_none() {
                continue;
            }
            let roster = settings.roster_of(employee);
            let attributor = Attributor::new(settings, &roster);
            let (opens, closes) = (
                attributor.window(start).opens,
                attributor.window(end).closes,
            );
            bounds = Some(match bounds {
                Some((from, to)) => (from.min(opens), to.max(closes)),
                None => (opens, closes),
            });
            users.push(employee.device_user_id.clone());
        }
        if let Some((from, to)) = bounds {
            reads.push((from, to, users));
        }
    }
    reads
}

/// One chunk of a set-based recompute: employees known already with their dates, or codes to
/// read the employees of (their dates in the map).
#[derive(Clone, Copy)]
enum Chunk<'a> {
    Known(&'a [Work]),
    Codes(&'a [EmployeeCode], &'a DayKeys),
}

/// What a chunk's records are computed from.
struct ChunkInput {
    /// The employees with their dates, by code.
    work: Vec<Work>,
    /// Their leave requests, per employee.
    requests: BTreeMap<EmployeeCode, Vec<LeaveRequest>>,
    /// Their scans over the chunk's spans, per device user.
    scans: HashMap<DeviceUserId, Vec<ScanData>>,
}

/// The records of a chunk, by employee then date (with their summaries when `summaries`): the
/// rules ([`compute_days`]) per employee and run of consecutive dates, over exactly the scans
/// the per-employee path reads for that run.
fn compute_chunk(
    site: &Site,
    input: ChunkInput,
    now: DateTime<Utc>,
    summaries: bool,
) -> Recomputed {
    let ChunkInput {
        work,
        mut requests,
        mut scans,
    } = input;
    let mut out = Recomputed::default();
    let (Some(first), Some(last)) = (
        work.iter().filter_map(|(_, d)| d.first()).min().copied(),
        work.iter().filter_map(|(_, d)| d.last()).max().copied(),
    ) else {
        return out;
    };
    let settings = &site.settings;
    for of_user in scans.values_mut() {
        of_user.sort_by_key(|s| s.timestamp);
    }
    let holidays = holiday_calendar(&site.holidays, first, last);
    for (employee, dates) in &work {
        let (Some(&from), Some(&to)) = (dates.first(), dates.last()) else {
            continue;
        };
        // The account's order (by id), which decides a date two half days share.
        let mut of_employee = requests.remove(&employee.employee_id).unwrap_or_default();
        of_employee.sort_by(|a, b| a.id.cmp(&b.id));
        let calendar = DayCalendar {
            holidays: holidays
                .range(from..=to)
                .map(|(d, n)| (*d, n.clone()))
                .collect(),
            leave: approved_leave_days(&of_employee)
                .into_iter()
                .filter(|(d, _)| (from..=to).contains(d))
                .collect(),
        };
        let roster = settings.roster_of(employee);
        let attributor = Attributor::new(settings, &roster);
        let ctx = EmployeeContext {
            settings,
            employee,
            roster: &roster,
            calendar: &calendar,
        };
        let of_user: &[ScanData] = scans
            .get(&employee.device_user_id)
            .map_or(&[], Vec::as_slice);
        let start = out.records.len();
        for (a, b) in runs(dates) {
            let opens = attributor.window(a).opens;
            let closes = attributor.window(b).closes;
            let lo = of_user.partition_point(|s| s.timestamp < opens);
            let hi = of_user.partition_point(|s| s.timestamp < closes);
            let in_run = of_user.get(lo..hi).unwrap_or(&[]);
            out.records.extend(compute_days(&ctx, in_run, a, b, now));
        }
        if summaries {
            out.summaries.extend(
                out.records[start..]
                    .iter()
                    .map(|r| DailySummary::new(employee, r, settings.time_zone)),
            );
        }
    }
    out
}

/// Adds `scans` to `by_user`, per device user. They come by user (a store's bulk read), so each
/// run of one user's scans is moved in whole, its key cloned once; any order is still right.
fn group_by_user(scans: Vec<ScanData>, by_user: &mut HashMap<DeviceUserId, Vec<ScanData>>) {
    let mut run: Vec<ScanData> = Vec::new();
    let mut flush = |run: &mut Vec<ScanData>| {
        if let Some(first) = run.first() {
            by_user
                .entry(first.device_user_id.clone())
                .or_default()
                .append(run);
        }
    };
    for scan in scans {
        if run
            .last()
            .is_some_and(|last| last.device_user_id != scan.device_user_id)
        {
            flush(&mut run);
        }
        run.push(scan);
    }
    flush(&mut run);
}

/// Runs `a` and `b` concurrently on the calling task and gives both outputs.
async fn both<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
    let (mut a, mut b) = (std::pin::pin!(a), std::pin::pin!(b));
    let (mut done_a, mut done_b) = (None, None);
    std::future::poll_fn(move |cx| {
        if done_a.is_none()
            && let Poll::Ready(out) = a.as_mut().poll(cx)
        {
            done_a = Some(out);
        }
        if done_b.is_none()
            && let Poll::Ready(out) = b.as_mut().poll(cx)
        {
            done_b = Some(out);
        }
        match (done_a.take(), done_b.take()) {
            (Some(a), Some(b)) => Poll::Ready((a, b)),
            (a, b) => {
                (done_a, done_b) = (a, b);
                Poll::Pending
            }
        }
    })
    .await
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

    /// The same use cases, telling `observer` of every write they store (see
    /// [`ChangeObserver`]).
    pub fn with_observer(self, observer: Arc<dyn ChangeObserver>) -> Self {
        Self {
            observer: Some(observer),
            ..self
        }
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
    /// scans fall on, for each enrolled employee, as of `now` (set-based, see
    /// [`Self::recompute_days`]). The observer hears of the new scans, then of the records.
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
    /// The observer hears of the new scans, then of the records.
    pub async fn record_scan_batches(
        &self,
        batches: Vec<ScanBatch>,
        now: DateTime<Utc>,
    ) -> Result<IngestReport, ServiceError> {
        let mut merged = IngestOutcome::default();
        for outcome in self.store_scan_batches(batches).await? {
            merged.duplicates += outcome.duplicates;
            merged.inserted.extend(outcome.inserted);
        }
        self.recompute_new_scans(merged, now).await
    }

    /// Stores a group of batches in one store call ([`ScanStore::record_scan_batches`])
    /// without recomputing anything, and returns one outcome per batch. The observer is not
    /// told: the caller, which recomputes later (with [`Self::affected_days`] and
    /// [`Self::recompute_days`]), publishes itself.
    pub async fn store_scan_batches(
        &self,
        batches: Vec<ScanBatch>,
    ) -> Result<Vec<IngestOutcome>, ServiceError> {
        Ok(self.scans.record_scan_batches(batches).await?)
    }

    /// The work dates `inserted` (new scans) fall on, per enrolled employee, each on their own
    /// shift, with the employees, the device users no one is enrolled as and the employees
    /// whose shift the site does not have. One bulk read of the employees and one of the
    /// settings.
    pub async fn affected_days(&self, inserted: &[ScanData]) -> Result<AffectedDays, ServiceError> {
        if inserted.is_empty() {
            return Ok(AffectedDays::default());
        }
        let settings = self.settings.settings().await?;
        self.affected_days_with(&settings, inserted).await
    }

    async fn affected_days_with(
        &self,
        settings: &AttendanceSettings,
        inserted: &[ScanData],
    ) -> Result<AffectedDays, ServiceError> {
        let mut affected = AffectedDays::default();
        let mut by_user: BTreeMap<&DeviceUserId, Vec<&ScanData>> = BTreeMap::new();
        for scan in inserted {
            by_user.entry(&scan.device_user_id).or_default().push(scan);
        }
        if by_user.is_empty() {
            return Ok(affected);
        }
        let users: Vec<DeviceUserId> = by_user.keys().map(|u| (*u).clone()).collect();
        let mut enrolled: BTreeMap<DeviceUserId, Employee> = self
            .employees
            .employees_by_device_users(&users)
            .await?
            .into_iter()
            .map(|e| (e.device_user_id.clone(), e))
            .collect();
        for (user, scans) in by_user {
            let Some(employee) = enrolled.remove(user) else {
                affected.unknown_users.insert(user.clone());
                continue;
            };
            if let Err(unknown) = settings.regular_shift(employee.shift.as_ref()) {
                affected
                    .unknown_shifts
                    .insert(employee.employee_id.clone(), unknown.0);
            }
            let roster = settings.roster_of(&employee);
            let attributor = Attributor::new(settings, &roster);
            affected
                .days
                .entry(employee.employee_id.clone())
                .or_default()
                .extend(scans.iter().map(|s| attributor.work_date_of(s.timestamp)));
            affected.employees.insert(user.clone(), employee);
        }
        Ok(affected)
    }

    /// Tells the observer of new scans, then recomputes the (employee, work date) pairs they
    /// touch and reports them.
    async fn recompute_new_scans(
        &self,
        outcome: IngestOutcome,
        now: DateTime<Utc>,
    ) -> Result<IngestReport, ServiceError> {
        let mut report = IngestReport {
            duplicates: outcome.duplicates,
            ..IngestReport::default()
        };
        if outcome.inserted.is_empty() {
            return Ok(report);
        }
        let site = self.site().await?;
        let affected = self
            .affected_days_with(&site.settings, &outcome.inserted)
            .await?;
        if let Some(observer) = &self.observer {
            observer.scans_stored(&outcome.inserted, &affected.employees);
        }
        let AffectedDays {
            mut days,
            employees,
            unknown_users,
            unknown_shifts,
        } = affected;
        let work: Vec<Work> = employees
            .values()
            .filter_map(|e| Some((e.clone(), days.remove(&e.employee_id)?)))
            .collect();
        let recomputed = self.recompute_work(&site, work, now, true).await?;
        report.inserted = outcome.inserted;
        report.records = recomputed.records;
        report.summaries = recomputed.summaries;
        report.employees = employees;
        report.unknown_users = unknown_users;
        report.unknown_shifts = unknown_shifts;
        Ok(report)
    }

    /// Recomputes and stores exactly the pairs of `days` as of `now`, set-based, and returns
    /// the records by employee then date. Employees are taken [`RECOMPUTE_CHUNK`] at a time;
    /// per chunk: one read of the employees, one of their leave requests, one of their scans
    /// from the earliest window opening to the latest window closing of the chunk's dates (one
    /// per span when the dates lie far apart) and one upsert. Settings and holidays are read
    /// once. Each employee is scored on their own shift (an unknown one: the default shift);
    /// codes of no stored employee are skipped. Gives exactly the records
    /// [`Self::recompute`] gives one employee at a time.
    pub async fn recompute_days(
        &self,
        days: &DayKeys,
        now: DateTime<Utc>,
    ) -> Result<Recomputed, ServiceError> {
        let codes: Vec<EmployeeCode> = days
            .iter()
            .filter(|(_, dates)| !dates.is_empty())
            .map(|(code, _)| code.clone())
            .collect();
        if codes.is_empty() {
            return Ok(Recomputed::default());
        }
        let site = self.site().await?;
        let chunks = chunked(&codes, |code| days.get(code).map_or(0, BTreeSet::len))
            .into_iter()
            .map(|codes| Chunk::Codes(codes, days))
            .collect();
        let (out, _) = self
            .run_chunks(
                &site,
                chunks,
                now,
                true,
                self.records.records_per_write(),
                &mut |_| {},
            )
            .await?;
        Ok(out)
    }

    /// Recomputes and stores every active employee's days from `from` to `to` (inclusive; the
    /// caller bounds the range: a settings change, month-end) as of `now`, set-based in chunks
    /// of [`RECOMPUTE_CHUNK`] employees, calling `progress(done, total)` (employees) after each
    /// chunk. Returns how many records were stored.
    pub async fn recompute_range(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        now: DateTime<Utc>,
        progress: &mut (dyn FnMut(usize, usize) + Send),
    ) -> Result<usize, ServiceError> {
        let dates: BTreeSet<NaiveDate> = dates_between(from, to).collect();
        if dates.is_empty() {
            return Ok(0);
        }
        let site = self.site().await?;
        let work: Vec<Work> = self
            .employees
            .list_employees(None)
            .await?
            .into_iter()
            .filter(|e| e.active)
            .map(|e| (e, dates.clone()))
            .collect();
        let total = work.len();
        let chunks = chunked(&work, |(_, dates)| dates.len())
            .into_iter()
            .map(Chunk::Known)
            .collect();
        let (_, stored) = self
            .run_chunks(&site, chunks, now, false, usize::MAX, &mut |done| {
                progress(done, total)
            })
            .await?;
        Ok(stored)
    }

    /// Absent in real time: for every active employee, the work dates whose window (on their
    /// own shift, [`Attributor::window`]`(date).closes`) closed in `(since, now]` and whose
    /// stored record is missing or was computed before the window closed (`Pending`, or a lone
    /// scan not yet a missing checkout): recomputes them as of `now`, set-based, so a day with
    /// no scan becomes `Absent` (or what the calendar says), and returns them. A caller runs it
    /// periodically, each time from where the last run stopped.
    pub async fn close_windows(
        &self,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Recomputed, ServiceError> {
        if now <= since {
            return Ok(Recomputed::default());
        }
        let site = self.site().await?;
        let settings = &site.settings;
        let zone = settings.time_zone;
        // A date's window closes between its shift's start and the next date's, so the dates
        // closing in (since, now] lie from the day before `since` (local) to `now`'s date.
        let first = since
            .with_timezone(&zone)
            .date_naive()
            .checked_sub_days(Days::new(2))
            .unwrap_or(NaiveDate::MIN);
        let last = now.with_timezone(&zone).date_naive();
        let mut work: Vec<Work> = Vec::new();
        for employee in self.employees.list_employees(None).await? {
            if !employee.active {
                continue;
            }
            let roster = settings.roster_of(&employee);
            let attributor = Attributor::new(settings, &roster);
            let dates: BTreeSet<NaiveDate> = attributor
                .windows(first, last)
                .filter(|w| since < w.closes && w.closes <= now)
                .map(|w| w.date)
                .collect();
            if !dates.is_empty() {
                work.push((employee, dates));
            }
        }
        let (Some(from), Some(to)) = (
            work.iter().filter_map(|(_, d)| d.first()).min().copied(),
            work.iter().filter_map(|(_, d)| d.last()).max().copied(),
        ) else {
            return Ok(Recomputed::default());
        };
        // Leave out the dates already stored as closed. A record missed by a page that shifted
        // under a concurrent delete is only recomputed once more.
        let mut closed: BTreeSet<(EmployeeCode, NaiveDate)> = BTreeSet::new();
        let mut offset = 0;
        loop {
            let page = self
                .records
                .query_records(&RecordQuery {
                    from: Some(from),
                    to: Some(to),
                    order: RecordOrder::EmployeeThenDate,
                    offset,
                    limit: CLOSE_PAGE,
                    ..RecordQuery::default()
                })
                .await?;
            let read = page.results.len() as u64;
            closed.extend(
                page.results
                    .into_iter()
                    .filter(|r| r.window_closed)
                    .map(|r| (r.employee_id, r.date)),
            );
            offset += read;
            if read == 0 || offset >= page.count {
                break;
            }
        }
        for (employee, dates) in &mut work {
            dates.retain(|d| !closed.contains(&(employee.employee_id.clone(), *d)));
        }
        work.retain(|(_, dates)| !dates.is_empty());
        self.recompute_work(&site, work, now, true).await
    }

    /// Recomputes `employee`'s days after a change to them is stored (`before` is what was
    /// stored, `None` for a new employee), when the change is one the rules read: their shift,
    /// level of work (overtime tiers), device user (which scans are theirs) or active state.
    /// The days from the first day of the month [`EMPLOYEE_CHANGE_MONTHS`] before the current
    /// one (in the site's zone) to today are recomputed as of `now` and returned; nothing is
    /// done for other changes.
    pub async fn employee_changed(
        &self,
        before: Option<&Employee>,
        after: &Employee,
        now: DateTime<Utc>,
    ) -> Result<Recomputed, ServiceError> {
        let changed = before.is_none_or(|b| {
            b.shift != after.shift
                || b.level_of_work != after.level_of_work
                || b.device_user_id != after.device_user_id
                || b.active != after.active
        });
        if !changed {
            return Ok(Recomputed::default());
        }
        let site = self.site().await?;
        let today = site.today(now);
        let from = employee_change_start(today);
        let dates: BTreeSet<NaiveDate> = dates_between(from, today).collect();
        self.recompute_work(&site, vec![(after.clone(), dates)], now, true)
            .await
    }

    /// Recomputes `work` (any order) in chunks of [`RECOMPUTE_CHUNK`] employees, by code, and
    /// returns the records by employee then date (with their summaries when `summaries`).
    async fn recompute_work(
        &self,
        site: &Site,
        mut work: Vec<Work>,
        now: DateTime<Utc>,
        summaries: bool,
    ) -> Result<Recomputed, ServiceError> {
        work.sort_by(|a, b| a.0.employee_id.cmp(&b.0.employee_id));
        let chunks = chunked(&work, |(_, dates)| dates.len())
            .into_iter()
            .map(Chunk::Known)
            .collect();
        let (mut out, _) = self
            .run_chunks(
                site,
                chunks,
                now,
                true,
                self.records.records_per_write(),
                &mut |_| {},
            )
            .await?;
        if !summaries {
            out.summaries.clear();
        }
        Ok(out)
    }

    /// Recomputes `chunks` in order as a pipeline: while the records of one chunk are stored
    /// (and the observer told), the next chunk's inputs are read; then its records are computed.
    /// A chunk's records are stored in writes of at most `write` records (the store's
    /// [`DailyRecordStore::records_per_write`] in real time; whole chunks in the background).
    /// Calls `progress` with the number of employees stored so far after each chunk is
    /// stored. Returns, when `keep`, every record with its summary (else nothing), and how many
    /// records were stored.
    async fn run_chunks(
        &self,
        site: &Site,
        chunks: Vec<Chunk<'_>>,
        now: DateTime<Utc>,
        keep: bool,
        write: usize,
        progress: &mut (dyn FnMut(usize) + Send),
    ) -> Result<(Recomputed, usize), ServiceError> {
        let summaries = keep || self.observer.is_some();
        let mut out = Recomputed::default();
        let (mut stored, mut done) = (0, 0);
        let mut computed: Option<(Recomputed, usize)> = None;
        for chunk in chunks {
            let (input, written) = both(
                self.read_chunk(site, chunk),
                self.store_chunk(computed.take(), write),
            )
            .await;
            if let Some((records, employees)) = written? {
                stored += records.records.len();
                done += employees;
                progress(done);
                if keep {
                    out.append(records);
                }
            }
            let input = input?;
            let employees = input.work.len();
            computed = Some((compute_chunk(site, input, now, summaries), employees));
        }
        if let Some((records, employees)) = self.store_chunk(computed, write).await? {
            stored += records.records.len();
            done += employees;
            progress(done);
            if keep {
                out.append(records);
            }
        }
        Ok((out, stored))
    }

    /// What one chunk's records are computed from: its employees with their dates (by code),
    /// their leave requests and their scans. One read of the employees (for a chunk of codes),
    /// one of their leave requests, one of their scans per span of dates.
    async fn read_chunk(&self, site: &Site, chunk: Chunk<'_>) -> Result<ChunkInput, ServiceError> {
        let work: Vec<Work> = match chunk {
            Chunk::Known(work) => work
                .iter()
                .filter(|(_, dates)| !dates.is_empty())
                .cloned()
                .collect(),
            Chunk::Codes(codes, days) => {
                let mut work: Vec<Work> = Vec::with_capacity(codes.len());
                for employee in self.employees.employees_by_codes(codes).await? {
                    if let Some(dates) = days.get(&employee.employee_id)
                        && !dates.is_empty()
                    {
                        work.push((employee, dates.clone()));
                    }
                }
                work.sort_by(|a, b| a.0.employee_id.cmp(&b.0.employee_id));
                work
            }
        };
        let mut input = ChunkInput {
            work,
            requests: BTreeMap::new(),
            scans: HashMap::new(),
        };
        if input.work.is_empty() {
            return Ok(input);
        }
        let codes: Vec<EmployeeCode> = input
            .work
            .iter()
            .map(|(e, _)| e.employee_id.clone())
            .collect();
        for request in self.leave.leave_requests_of(&codes).await? {
            input
                .requests
                .entry(request.employee.clone())
                .or_default()
                .push(request);
        }
        let refs: Vec<&Work> = input.work.iter().collect();
        for (from, to, users) in scan_spans(&site.settings, &refs) {
            let scans = self.scans.scans_of_users(&users, from, to).await?;
            group_by_user(scans, &mut input.scans);
        }
        Ok(input)
    }

    /// Stores a computed chunk's records in one upsert and tells the observer; gives the chunk
    /// back once stored (nothing to do for `None` or no records).
    async fn store_chunk(
        &self,
        computed: Option<(Recomputed, usize)>,
        write: usize,
    ) -> Result<Option<(Recomputed, usize)>, ServiceError> {
        let Some((out, employees)) = computed else {
            return Ok(None);
        };
        if !out.records.is_empty() {
            for piece in out.records.chunks(write.max(1)) {
                self.records.upsert_records(piece).await?;
            }
            if let Some(observer) = &self.observer {
                observer.days_recomputed(&out.summaries);
            }
        }
        Ok(Some((out, employees)))
    }

    /// Recomputes and stores `employee`'s records of `dates` as of `now`, and returns them: the
    /// per-employee path (one read of the leave account, one read of the scans per run of
    /// consecutive dates, one upsert), which [`Self::recompute_days`] matches for many.
    pub async fn recompute(
        &self,
        employee: &Employee,
        dates: &BTreeSet<NaiveDate>,
        now: DateTime<Utc>,
    ) -> Result<Vec<DailyRecord>, ServiceError> {
        let site = self.site().await?;
        let records = self.recompute_with(&site, employee, dates, now).await?;
        if let Some(observer) = &self.observer
            && !records.is_empty()
        {
            let summaries: Vec<DailySummary> = records
                .iter()
                .map(|r| DailySummary::new(employee, r, site.settings.time_zone))
                .collect();
            observer.days_recomputed(&summaries);
        }
        Ok(records)
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
            .recompute_work(site, vec![(employee.clone(), dates)], now, false)
            .await?
            .records
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
        let work: Vec<Work> = self
            .employees
            .list_employees(None)
            .await?
            .into_iter()
            .filter(|e| e.active)
            .map(|e| (e, dates.clone()))
            .collect();
        Ok(self
            .recompute_work(&site, work, now, false)
            .await?
            .records
            .len())
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

        fn service(mut self) -> AttendanceService {
            // Whole chunks per write unless a test says otherwise (its expectation comes first).
            self.records
                .expect_records_per_write()
                .return_const(usize::MAX);
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

    fn user(id: &str) -> DeviceUserId {
        DeviceUserId::parse(id).unwrap()
    }

    fn code(id: &str) -> EmployeeCode {
        EmployeeCode::parse(id).unwrap()
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
        // One bulk read of the employees of every device user of the batch.
        m.employees
            .expect_employees_by_device_users()
            .times(1)
            .withf(|users| users == [user("1"), user("99")])
            .returning(|_| Ok(vec![employee("EMP001", "1", true)]));
        m.leave
            .expect_leave_requests_of()
            .times(1)
            .withf(|codes| codes == [code("EMP001")])
            .returning(|_| Ok(Vec::new()));
        let of_user = scans[..2].to_vec();
        m.scans
            .expect_scans_of_users()
            .times(1)
            .withf(|users, from, to| {
                // The window of the 23rd only: it opens before 07:55 and closes before the 24th's shift.
                users == [user("1")]
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
        let enrolled = staff.to_vec();
        m.employees
            .expect_employees_by_device_users()
            .times(1)
            .returning(move |_| Ok(enrolled.clone()));
        m.leave
            .expect_leave_requests_of()
            .times(1)
            .returning(|_| Ok(Vec::new()));
        // One read for the three: from the earliest opening of the 23rd's windows (the day
        // shift's, after the 22nd's 17:00 end) to the latest closing (the night of the 23rd,
        // which holds the 05:03 check-out and ends before the 24th's 20:00 start).
        let all = scans.clone();
        m.scans
            .expect_scans_of_users()
            .times(1)
            .withf(|users, from, to| {
                users == [user("1"), user("2"), user("3")]
                    && *from > local(22, 17, 0)
                    && *from <= local(23, 7, 55)
                    && *to > local(24, 5, 3)
                    && *to <= local(24, 20, 0)
            })
            .returning(move |_, _, _| Ok(all.clone()));
        m.records
            .expect_upsert_records()
            .times(1)
            .withf(|records| records.len() == 3 && records.iter().all(|r| r.date == d(23)))
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
            .expect_employees_by_device_users()
            .times(1)
            .returning(|_| Ok(vec![employee("EMP001", "1", true)]));
        // Both batches' scans fall on the 23rd: one read, one recompute, one write.
        m.leave
            .expect_leave_requests_of()
            .times(1)
            .returning(|_| Ok(Vec::new()));
        let both = vec![scan("1", local(23, 7, 55)), at_canteen.clone()];
        m.scans
            .expect_scans_of_users()
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
            .expect_leave_requests_of()
            .withf(|codes| codes == [code("EMP001")])
            .times(1)
            .returning(|_| Ok(Vec::new()));
        // The 19th and the 23rd lie four days apart: one scan read each, not one over the days
        // between.
        m.scans
            .expect_scans_of_users()
            .withf(|users, from, to| {
                users == [user("1")] && *to - *from <= chrono::TimeDelta::hours(25)
            })
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

    /// Writes down what it is told, in order.
    #[derive(Default)]
    struct Recorder {
        events: std::sync::Mutex<Vec<String>>,
    }

    impl Recorder {
        fn events(&self) -> Vec<String> {
            self.events.lock().unwrap().clone()
        }
    }

    impl ChangeObserver for Recorder {
        fn scans_stored(&self, scans: &[ScanData], employees: &BTreeMap<DeviceUserId, Employee>) {
            let enrolled: Vec<&str> = employees
                .iter()
                .map(|(u, e)| {
                    assert_eq!(u, &e.device_user_id);
                    e.employee_id.as_str()
                })
                .collect();
            self.events
                .lock()
                .unwrap()
                .push(format!("{} scans of {enrolled:?}", scans.len()));
        }

        fn days_recomputed(&self, summaries: &[DailySummary]) {
            let days: Vec<String> = summaries
                .iter()
                .map(|s| format!("{} {} {}", s.employee_id, s.date, s.status))
                .collect();
            self.events.lock().unwrap().push(days.join(", "));
        }
    }

    #[test]
    fn the_observer_hears_of_new_scans_then_of_their_records() {
        let mut m = Mocks::default().with_site(Vec::new());
        let scans = vec![
            scan("1", local(23, 7, 55)),
            scan("99", local(23, 9, 0)),
            scan("1", local(23, 17, 10)),
        ];
        let inserted = scans.clone();
        let mut seq = Sequence::new();
        m.scans
            .expect_record_scans()
            .times(1)
            .in_sequence(&mut seq)
            .returning(move |_| {
                Ok(IngestOutcome {
                    inserted: inserted.clone(),
                    duplicates: 0,
                })
            });
        m.scans
            .expect_record_scans()
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_| {
                Ok(IngestOutcome {
                    inserted: Vec::new(),
                    duplicates: 3,
                })
            });
        m.employees
            .expect_employees_by_device_users()
            .returning(|_| Ok(vec![employee("EMP001", "1", true)]));
        m.leave
            .expect_leave_requests_of()
            .returning(|_| Ok(Vec::new()));
        let of_user = vec![scans[0].clone(), scans[2].clone()];
        m.scans
            .expect_scans_of_users()
            .returning(move |_, _, _| Ok(of_user.clone()));
        m.records.expect_upsert_records().returning(|_| Ok(()));
        let recorder = Arc::new(Recorder::default());
        let service = m.service().with_observer(recorder.clone());
        let batch = ScanBatch {
            machine_id: MachineId::parse("GATE-1").unwrap(),
            scans: scans.clone(),
            cursor: None,
        };
        let report = block_on(service.record_scans(batch.clone(), now())).unwrap();
        assert_eq!(report.records.len(), 1);
        // A resend stores nothing new: nothing is told.
        block_on(service.record_scans(batch, now())).unwrap();
        assert_eq!(
            recorder.events(),
            [
                r#"3 scans of ["EMP001"]"#,
                "EMP001 2026-11-23 Present-OnTime"
            ]
        );
    }

    #[test]
    fn storing_a_group_without_recomputing_reads_nothing_and_tells_no_one() {
        // No other expectations: any read or write beyond the ingest fails the test.
        let mut m = Mocks::default();
        let new = vec![scan("1", local(23, 7, 55))];
        let inserted = new.clone();
        m.scans
            .expect_record_scan_batches()
            .times(1)
            .returning(move |batches| {
                Ok(batches
                    .iter()
                    .map(|_| IngestOutcome {
                        inserted: inserted.clone(),
                        duplicates: 1,
                    })
                    .collect())
            });
        let recorder = Arc::new(Recorder::default());
        let service = m.service().with_observer(recorder.clone());
        let batch = ScanBatch {
            machine_id: MachineId::parse("GATE-1").unwrap(),
            scans: new.clone(),
            cursor: None,
        };
        let outcomes = block_on(service.store_scan_batches(vec![batch.clone(), batch])).unwrap();
        assert_eq!(outcomes.len(), 2);
        assert_eq!(outcomes[1].inserted, new);
        assert!(recorder.events().is_empty());
    }

    #[test]
    fn affected_days_are_found_with_one_bulk_employee_read_each_on_their_shift() {
        let mut m = Mocks::default();
        let settings = with_night_shift();
        m.settings
            .expect_settings()
            .times(1)
            .returning(move || Ok(settings.clone()));
        m.employees
            .expect_employees_by_device_users()
            .times(1)
            .returning(|_| {
                Ok(vec![
                    employee("EMP001", "1", true),
                    on_shift(employee("EMP002", "2", true), "NIGHT"),
                    on_shift(employee("EMP003", "3", true), "GHOST"),
                ])
            });
        let service = m.service();
        // The night worker's 02:00 scan belongs to the night of the 22nd; the day workers' to
        // the 23rd (their window of the 23rd opens at 03:00), and the unknown shift is the day
        // shift.
        let scans = vec![
            scan("2", local(23, 2, 0)),
            scan("1", local(23, 3, 30)),
            scan("3", local(23, 3, 30)),
            scan("2", local(23, 21, 0)),
            scan("7", local(23, 9, 0)),
        ];
        let affected = block_on(service.affected_days(&scans)).unwrap();
        assert_eq!(
            affected.days,
            DayKeys::from([
                (code("EMP001"), BTreeSet::from([d(23)])),
                (code("EMP002"), BTreeSet::from([d(22), d(23)])),
                (code("EMP003"), BTreeSet::from([d(23)])),
            ])
        );
        assert_eq!(affected.unknown_users, BTreeSet::from([user("7")]));
        assert_eq!(
            affected.unknown_shifts,
            BTreeMap::from([(code("EMP003"), ShiftId::parse("GHOST").unwrap())])
        );
        assert_eq!(
            affected.employees.keys().collect::<Vec<_>>(),
            [&user("1"), &user("2"), &user("3")]
        );
        // No scans, no reads.
        assert_eq!(
            block_on(service.affected_days(&[])).unwrap(),
            AffectedDays::default()
        );
    }

    #[test]
    fn chunks_are_bounded_by_employees_and_by_pairs() {
        let sizes = |items: &[usize]| -> Vec<usize> {
            chunked(items, |n| *n).iter().map(|c| c.len()).collect()
        };
        // 1,200 employees of one day: by employees.
        assert_eq!(sizes(&[1; 1_200]), [RECOMPUTE_CHUNK, RECOMPUTE_CHUNK, 200]);
        // 100 employees of 31 days: at most RECOMPUTE_CHUNK_DAYS (2,000) pairs a chunk, 64 × 31.
        let month = sizes(&[31; 100]);
        assert_eq!(month, [64, 36]);
        // One employee with more pairs than a chunk holds is a chunk of its own.
        assert_eq!(sizes(&[1, RECOMPUTE_CHUNK_DAYS + 1, 1]), [1, 1, 1]);
        assert_eq!(sizes(&[]), Vec::<usize>::new());
    }

    #[test]
    fn recompute_days_goes_by_chunks_of_employees_and_skips_unknown_codes() {
        let mut m = Mocks::default().with_site(Vec::new());
        let n = RECOMPUTE_CHUNK + 1;
        let staff: Vec<Employee> = (1..=n)
            .map(|i| employee(&format!("EMP{i:05}"), &i.to_string(), true))
            .collect();
        let mut days: DayKeys = staff
            .iter()
            .map(|e| (e.employee_id.clone(), BTreeSet::from([d(23), d(24)])))
            .collect();
        days.insert(code("EMP99999"), BTreeSet::from([d(23)]));
        days.insert(code("EMP99998"), BTreeSet::new());
        let stored = staff.clone();
        m.employees
            .expect_employees_by_codes()
            .times(2)
            .returning(move |codes| {
                Ok(stored
                    .iter()
                    .filter(|e| codes.contains(&e.employee_id))
                    .cloned()
                    .collect())
            });
        m.leave
            .expect_leave_requests_of()
            .times(2)
            .returning(|_| Ok(Vec::new()));
        m.scans
            .expect_scans_of_users()
            .times(2)
            .returning(|_, _, _| Ok(Vec::new()));
        let mut seq = Sequence::new();
        // A store of 400 records per write: the first chunk's 1,000 records in three writes,
        // then the second chunk's 2.
        m.records.expect_records_per_write().return_const(400_usize);
        for size in [400, 400, 200, 2] {
            m.records
                .expect_upsert_records()
                .times(1)
                .in_sequence(&mut seq)
                .withf(move |records| records.len() == size)
                .returning(|_| Ok(()));
        }
        let recorder = Arc::new(Recorder::default());
        let service = m.service().with_observer(recorder.clone());
        let done = block_on(service.recompute_days(&days, now())).unwrap();
        assert_eq!(done.records.len(), 2 * n);
        assert_eq!(done.summaries.len(), 2 * n);
        let keys: Vec<(&str, NaiveDate)> = done
            .records
            .iter()
            .map(|r| (r.employee_id.as_str(), r.date))
            .collect();
        assert_eq!(
            keys[..3],
            [
                ("EMP00001", d(23)),
                ("EMP00001", d(24)),
                ("EMP00002", d(23))
            ]
        );
        assert!(
            done.records
                .iter()
                .all(|r| r.status == AttendanceStatus::Absent)
        );
        assert_eq!(recorder.events().len(), 2, "told once per chunk");
    }

    #[test]
    fn recompute_range_takes_active_employees_by_chunks_and_reports_progress() {
        let mut m = Mocks::default().with_site(Vec::new());
        let n = RECOMPUTE_CHUNK + 1;
        let mut staff: Vec<Employee> = (1..=n)
            .map(|i| employee(&format!("EMP{i:05}"), &i.to_string(), true))
            .collect();
        staff.push(employee("EMP99999", "99999", false));
        m.employees
            .expect_list_employees()
            .times(1)
            .returning(move |_| Ok(staff.clone()));
        m.leave
            .expect_leave_requests_of()
            .times(2)
            .withf(|codes| !codes.contains(&code("EMP99999")))
            .returning(|_| Ok(Vec::new()));
        m.scans
            .expect_scans_of_users()
            .times(2)
            .returning(|_, _, _| Ok(Vec::new()));
        m.records
            .expect_upsert_records()
            .times(2)
            .returning(|_| Ok(()));
        let mut calls = Vec::new();
        let stored = block_on(m.service().recompute_range(
            d(1),
            d(3),
            now(),
            &mut |done, total| calls.push((done, total)),
        ))
        .unwrap();
        assert_eq!(stored, 3 * n);
        assert_eq!(calls, [(RECOMPUTE_CHUNK, n), (n, n)]);
    }

    /// `employee`'s record of `date` as computed at `at` with the default settings and no scans.
    fn computed(employee: &Employee, date: NaiveDate, at: DateTime<Utc>) -> DailyRecord {
        let settings = AttendanceSettings::default();
        let roster = settings.roster_of(employee);
        let calendar = DayCalendar::default();
        let ctx = EmployeeContext {
            settings: &settings,
            employee,
            roster: &roster,
            calendar: &calendar,
        };
        compute_days(&ctx, &[], date, date, at).remove(0)
    }

    #[test]
    fn closing_windows_recomputes_the_dates_that_closed_unless_stored_closed() {
        // Default day shift 08:00–17:00: the 23rd's window closes at 03:00 on the 24th. The
        // night of the 23rd (20:00–05:00) closes at 15:00 on the 24th: not yet.
        let mut m = Mocks::default().with_settings(with_night_shift(), Vec::new());
        let (pending, closed, night, gone) = (
            employee("EMP001", "1", true),
            employee("EMP002", "2", true),
            on_shift(employee("EMP003", "3", true), "NIGHT"),
            employee("EMP004", "4", false),
        );
        let staff = vec![
            pending.clone(),
            closed.clone(),
            night,
            gone,
            employee("EMP005", "5", true),
        ];
        m.employees
            .expect_list_employees()
            .returning(move |_| Ok(staff.clone()));
        let stored = vec![
            computed(&pending, d(23), local(23, 12, 0)),
            computed(&closed, d(23), local(24, 3, 30)),
        ];
        assert_eq!(stored[0].status, AttendanceStatus::Pending);
        assert_eq!(stored[1].status, AttendanceStatus::Absent);
        m.records
            .expect_query_records()
            .times(1)
            .withf(|q| q.from == Some(d(23)) && q.to == Some(d(23)) && q.offset == 0)
            .returning(move |_| {
                Ok(crate::store::Page {
                    count: 2,
                    results: stored.clone(),
                })
            });
        m.leave
            .expect_leave_requests_of()
            .times(1)
            .withf(|codes| codes == [code("EMP001"), code("EMP005")])
            .returning(|_| Ok(Vec::new()));
        m.scans
            .expect_scans_of_users()
            .times(1)
            .returning(|_, _, _| Ok(Vec::new()));
        m.records
            .expect_upsert_records()
            .times(1)
            .returning(|_| Ok(()));
        let service = m.service();
        let done = block_on(service.close_windows(local(24, 2, 0), local(24, 4, 0))).unwrap();
        let got: Vec<(&str, NaiveDate, &AttendanceStatus, bool)> = done
            .records
            .iter()
            .map(|r| (r.employee_id.as_str(), r.date, &r.status, r.window_closed))
            .collect();
        assert_eq!(
            got,
            [
                ("EMP001", d(23), &AttendanceStatus::Absent, true),
                ("EMP005", d(23), &AttendanceStatus::Absent, true),
            ]
        );
        assert_eq!(done.summaries.len(), 2);
        // Nothing closed in between: settings and employees are read, nothing else.
        let quiet = block_on(service.close_windows(local(24, 4, 0), local(24, 5, 0))).unwrap();
        assert!(quiet.records.is_empty());
        assert!(
            block_on(service.close_windows(local(24, 5, 0), local(24, 5, 0)))
                .unwrap()
                .records
                .is_empty()
        );
    }

    #[test]
    fn an_employee_change_the_rules_read_recomputes_from_the_previous_month() {
        let mut m = Mocks::default().with_site(Vec::new());
        m.leave
            .expect_leave_requests_of()
            .times(1)
            .returning(|_| Ok(Vec::new()));
        m.scans
            .expect_scans_of_users()
            .times(1)
            .returning(|_, _, _| Ok(Vec::new()));
        m.records
            .expect_upsert_records()
            .times(1)
            .returning(|_| Ok(()));
        let service = m.service();
        let before = employee("EMP001", "1", true);
        let mut renamed = before.clone();
        renamed.employee_name = "Someone else".into();
        // A change the rules do not read recomputes nothing (no reads either).
        let none = block_on(service.employee_changed(Some(&before), &renamed, now())).unwrap();
        assert!(none.records.is_empty());
        let moved = on_shift(before.clone(), "DAY");
        let done = block_on(service.employee_changed(Some(&before), &moved, now())).unwrap();
        let first = NaiveDate::from_ymd_opt(2026, 10, 1).unwrap();
        assert_eq!(done.records.len(), 31 + 26);
        assert_eq!(done.records.first().map(|r| r.date), Some(first));
        assert_eq!(done.records.last().map(|r| r.date), Some(d(26)));
    }

    #[test]
    fn scans_are_grouped_per_user_in_any_order() {
        let scans = vec![
            scan("1", local(23, 8, 0)),
            scan("1", local(23, 9, 0)),
            scan("2", local(23, 8, 0)),
            scan("1", local(23, 10, 0)),
        ];
        let mut by_user = HashMap::new();
        group_by_user(scans, &mut by_user);
        group_by_user(vec![scan("2", local(23, 9, 0))], &mut by_user);
        let times = |u: &str| -> Vec<DateTime<Utc>> {
            by_user[&user(u)].iter().map(|s| s.timestamp).collect()
        };
        assert_eq!(
            times("1"),
            [local(23, 8, 0), local(23, 9, 0), local(23, 10, 0)]
        );
        assert_eq!(times("2"), [local(23, 8, 0), local(23, 9, 0)]);
        assert_eq!(by_user.len(), 2);
    }

    #[test]
    fn consecutive_dates_form_runs() {
        let dates = BTreeSet::from([d(1), d(2), d(3), d(5), d(7), d(8)]);
        assert_eq!(runs(&dates), [(d(1), d(3)), (d(5), d(5)), (d(7), d(8))]);
    }
}
