//! The set-based recompute pipeline: (employee, work date) pairs in chunks of at most
//! [`RECOMPUTE_CHUNK`] employees and [`RECOMPUTE_CHUNK_DAYS`] pairs, each chunk read in bulk,
//! computed by the rules and stored while the next chunk is read. When summaries are wanted (a
//! caller keeps them, or an observer hears of them), the chunk's day overrides are read with its
//! other inputs, in one query, and applied to the summaries.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::ControlFlow;

use chrono::{DateTime, NaiveDate, Utc};

use super::recompute::runs;
use super::{
    AttendanceService, DayKeys, RECOMPUTE_CHUNK, RECOMPUTE_CHUNK_DAYS, Recomputed, ServiceError,
    Site,
};
use crate::attribution::Attributor;
use crate::calendar::DayCalendar;
use crate::daily::{EmployeeContext, compute_days};
use crate::employee::{DeviceUserId, Employee, EmployeeCode};
use crate::holiday::holiday_calendar;
use crate::leave::{LeaveRequest, approved_leave_days};
use crate::overrides::DayOverride;
use crate::report::DailySummary;
use crate::scan::ScanData;
use crate::settings::AttendanceSettings;
#[cfg(doc)]
use crate::store::DailyRecordStore;

/// Consecutive slices of `items` of at most [`RECOMPUTE_CHUNK`] employees and, where an item
/// has `dates(item)` dates, at most [`RECOMPUTE_CHUNK_DAYS`] pairs (an item with more is a
/// slice of its own).
pub(super) fn chunked<T>(items: &[T], dates: impl Fn(&T) -> usize) -> Vec<&[T]> {
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

/// Dates of one chunk at most this many days apart are read with one scan query; a wider gap
/// starts another, so scattered dates (a recurring holiday's, a year apart) do not read the
/// scans of every day between them.
const SPAN_GAP_DAYS: i64 = 2;

/// What [`AttendanceService::run_chunks`] tells after each chunk stored: employees and records
/// stored so far and the chunk's last employee code; [`ControlFlow::Break`] leaves the rest.
pub(super) type ChunkProgress<'a> =
    dyn FnMut(usize, usize, Option<&EmployeeCode>) -> ControlFlow<()> + Send + 'a;

/// A chunk's records computed: how many employees it holds and its last employee's code.
struct Computed {
    out: Recomputed,
    employees: usize,
    last: Option<EmployeeCode>,
}

/// One employee's dates to recompute.
pub(super) type Work = (Employee, BTreeSet<NaiveDate>);

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
pub(super) enum Chunk<'a> {
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
    /// Their day overrides over the chunk's dates, per employee (read only when summaries are
    /// wanted).
    overrides: HashMap<EmployeeCode, Vec<DayOverride>>,
}

/// The records of a chunk, by employee then date (with their summaries, overrides applied, when
/// `summaries`): the rules ([`compute_days`]) per employee and run of consecutive dates, over
/// exactly the scans the per-employee path reads for that run.
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
        overrides,
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
            let of_employee = overrides
                .get(&employee.employee_id)
                .map_or(&[][..], Vec::as_slice);
            out.summaries.extend(out.records[start..].iter().map(|r| {
                DailySummary::with_overrides(employee, r, of_employee, settings.time_zone)
            }));
        }
    }
    out
}

/// Adds `scans` to `by_user`, per device user. They come by user (a store's bulk read), so each
/// run of one user's scans is moved in whole, its key cloned once; any order is still right.
pub(super) fn group_by_user(
    scans: Vec<ScanData>,
    by_user: &mut HashMap<DeviceUserId, Vec<ScanData>>,
) {
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

impl AttendanceService {
    /// Recomputes `work` (any order) in chunks of [`RECOMPUTE_CHUNK`] employees, by code, and
    /// returns the records by employee then date (with their summaries when `summaries`).
    pub(super) async fn recompute_work(
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
        let mut out = self.run_chunks_in_real_time(site, chunks, now).await?;
        if !summaries {
            out.summaries.clear();
        }
        Ok(out)
    }

    /// [`Self::run_chunks`] in real time: every record kept with its summary, stored in writes
    /// of the store's [`DailyRecordStore::records_per_write`], no progress to report.
    pub(super) async fn run_chunks_in_real_time(
        &self,
        site: &Site,
        chunks: Vec<Chunk<'_>>,
        now: DateTime<Utc>,
    ) -> Result<Recomputed, ServiceError> {
        let write = self.records.records_per_write();
        let (out, _, _) = self
            .run_chunks(site, chunks, now, true, write, &mut |_, _, _| {
                ControlFlow::Continue(())
            })
            .await?;
        Ok(out)
    }

    /// Recomputes `chunks` in order as a pipeline: while the records of one chunk are stored
    /// (and the observer told), the next chunk's inputs are read; then its records are computed.
    /// A chunk's records are stored in writes of at most `write` records (the store's
    /// [`DailyRecordStore::records_per_write`] in real time; whole chunks in the background).
    /// Calls `progress` after each chunk is stored, with the numbers of employees and records
    /// stored so far and the chunk's last employee code; when it answers [`ControlFlow::Break`], the chunks
    /// after that one are left undone. Returns, when `keep`, every record with its summary (else
    /// nothing), how many records were stored, and whether every chunk was.
    pub(super) async fn run_chunks(
        &self,
        site: &Site,
        chunks: Vec<Chunk<'_>>,
        now: DateTime<Utc>,
        keep: bool,
        write: usize,
        progress: &mut ChunkProgress<'_>,
    ) -> Result<(Recomputed, usize, bool), ServiceError> {
        let summaries = keep || self.observer.is_some();
        let mut out = Recomputed::default();
        let (mut stored, mut done) = (0, 0);
        // Counts a stored chunk, reports progress and keeps its records when asked.
        let mut tally = |chunk: Computed| {
            stored += chunk.out.records.len();
            done += chunk.employees;
            let flow = progress(done, stored, chunk.last.as_ref());
            if keep {
                out.append(chunk.out);
            }
            flow
        };
        let mut computed: Option<Computed> = None;
        for chunk in chunks {
            let (input, written) = futures::join!(
                self.read_chunk(site, chunk, summaries),
                self.store_chunk(computed.take(), write),
            );
            if let Some(written) = written?
                && tally(written).is_break()
            {
                return Ok((out, stored, false));
            }
            let input = input?;
            let employees = input.work.len();
            let last = input.work.last().map(|(e, _)| e.employee_id.clone());
            computed = Some(Computed {
                out: compute_chunk(site, input, now, summaries),
                employees,
                last,
            });
        }
        if let Some(written) = self.store_chunk(computed, write).await? {
            let _ = tally(written);
        }
        Ok((out, stored, true))
    }

    /// What one chunk's records are computed from: its employees with their dates (by code),
    /// their leave requests, their scans and, when `overrides`, their day overrides. One read
    /// of the employees (for a chunk of codes), one of their leave requests, one of their scans
    /// per span of dates, one of their overrides.
    async fn read_chunk(
        &self,
        site: &Site,
        chunk: Chunk<'_>,
        overrides: bool,
    ) -> Result<ChunkInput, ServiceError> {
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
            overrides: HashMap::new(),
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
            // Voided scans leave every computation: one read of the voids beside the scans.
            let scans = self.counted_scans(&users, from, to).await?;
            group_by_user(scans, &mut input.scans);
        }
        if overrides
            && let (Some(first), Some(last)) = (
                input.work.iter().filter_map(|(_, d)| d.first()).min(),
                input.work.iter().filter_map(|(_, d)| d.last()).max(),
            )
        {
            for day in self
                .oversight
                .overrides(Some(&codes), *first, *last)
                .await?
            {
                input
                    .overrides
                    .entry(day.employee_id.clone())
                    .or_default()
                    .push(day);
            }
        }
        Ok(input)
    }

    /// Stores a computed chunk's records in one upsert and tells the observer; gives the chunk
    /// back once stored (nothing to do for `None` or no records).
    async fn store_chunk(
        &self,
        computed: Option<Computed>,
        write: usize,
    ) -> Result<Option<Computed>, ServiceError> {
        let Some(chunk) = computed else {
            return Ok(None);
        };
        if !chunk.out.records.is_empty() {
            for piece in chunk.out.records.chunks(write.max(1)) {
                self.records.upsert_records(piece).await?;
            }
            if let Some(observer) = &self.observer {
                observer.days_recomputed(&chunk.out.summaries);
            }
        }
        Ok(Some(chunk))
    }
}
