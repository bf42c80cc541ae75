//! Recomputing stored days: given pairs, a range of dates, the windows that closed, an employee
//! change, and the per-employee path that the set-based ones match.

use std::collections::BTreeSet;
use std::ops::ControlFlow;

use chrono::{DateTime, Days, NaiveDate, Utc};

use super::chunks::{Chunk, Work, chunked};
use super::{AttendanceService, DayKeys, Recomputed, ServiceError, Site, employee_change_start};
#[cfg(doc)]
use super::{EMPLOYEE_CHANGE_MONTHS, RECOMPUTE_CHUNK};
use crate::attribution::Attributor;
use crate::calendar::DayCalendar;
use crate::daily::{DailyRecord, EmployeeContext, compute_days};
use crate::employee::{Employee, EmployeeCode};
use crate::holiday::holiday_calendar;
use crate::leave::approved_leave_days;
use crate::report::DailySummary;
use crate::store::{RecordOrder, RecordQuery};

/// A chunk of a range recompute, stored ([`AttendanceService::recompute_range_after`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeChunk {
    /// The chunk's last employee code: the resume point.
    pub last: EmployeeCode,
    /// Active employees done, those before the resume point asked for included.
    pub done: usize,
    /// Active employees in all.
    pub total: usize,
    /// Records this call stored so far.
    pub records: usize,
}

/// How a range recompute ended ([`AttendanceService::recompute_range_after`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RangeOutcome {
    /// Records this call stored.
    pub records: usize,
    /// Whether every employee was done (`false`: the progress callback stopped it).
    pub finished: bool,
}

/// How many stored records [`AttendanceService::close_windows`] reads per page.
const CLOSE_PAGE: u64 = 10_000;

/// Splits sorted dates into runs of consecutive dates.
pub(super) fn runs(dates: &BTreeSet<NaiveDate>) -> Vec<(NaiveDate, NaiveDate)> {
    let mut out: Vec<(NaiveDate, NaiveDate)> = Vec::new();
    for &date in dates {
        match out.last_mut() {
            Some((_, end)) if end.succ_opt() == Some(date) => *end = date,
            _ => out.push((date, date)),
        }
    }
    out
}

pub(super) fn dates_between(from: NaiveDate, to: NaiveDate) -> impl Iterator<Item = NaiveDate> {
    from.iter_days().take_while(move |d| *d <= to)
}

impl AttendanceService {
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
        if days.values().all(BTreeSet::is_empty) {
            return Ok(Recomputed::default());
        }
        let site = self.site().await?;
        self.recompute_days_on(&site, days, now).await
    }

    /// [`Self::recompute_days`] on `site` (its settings and holidays) as read already.
    pub(super) async fn recompute_days_on(
        &self,
        site: &Site,
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
        let chunks = chunked(&codes, |code| days.get(code).map_or(0, BTreeSet::len))
            .into_iter()
            .map(|codes| Chunk::Codes(codes, days))
            .collect();
        self.run_chunks_in_real_time(site, chunks, now).await
    }

    /// Recomputes and stores every active employee's days from `from` to `to` (inclusive; the
    /// caller bounds the range: a settings change, month-end) as of `now`, set-based in chunks
    /// of [`RECOMPUTE_CHUNK`] employees in code order, calling `progress(done, total)`
    /// (employees) after each chunk. Returns how many records were stored.
    pub async fn recompute_range(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        now: DateTime<Utc>,
        progress: &mut (dyn FnMut(usize, usize) + Send),
    ) -> Result<usize, ServiceError> {
        let outcome = self
            .recompute_range_after(from, to, now, None, &mut |chunk| {
                progress(chunk.done, chunk.total);
                ControlFlow::Continue(())
            })
            .await?;
        Ok(outcome.records)
    }

    /// [`Self::recompute_range`], resumable: only the active employees whose code comes after
    /// `after` (all of them for `None`) are recomputed, in code order, and `progress` hears of
    /// each chunk once it is stored ([`RangeChunk`]: its last code, the resume point). When
    /// `progress` answers [`ControlFlow::Break`] the employees after that chunk are left
    /// undone and the outcome says it did not finish; called again with the last code heard,
    /// it does the rest, so the two calls store exactly the records of one uninterrupted run
    /// (as of their own `now`).
    pub async fn recompute_range_after(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        now: DateTime<Utc>,
        after: Option<&EmployeeCode>,
        progress: &mut (dyn FnMut(&RangeChunk) -> ControlFlow<()> + Send),
    ) -> Result<RangeOutcome, ServiceError> {
        let dates: BTreeSet<NaiveDate> = dates_between(from, to).collect();
        if dates.is_empty() {
            return Ok(RangeOutcome {
                records: 0,
                finished: true,
            });
        }
        let site = self.site().await?;
        let mut work = self.active_employees_on(&dates).await?;
        work.sort_by(|a, b| a.0.employee_id.cmp(&b.0.employee_id));
        let total = work.len();
        let skipped = after.map_or(0, |after| {
            work.partition_point(|(e, _)| &e.employee_id <= after)
        });
        let rest = work.get(skipped..).unwrap_or(&[]);
        let chunks = chunked(rest, |(_, dates)| dates.len())
            .into_iter()
            .map(Chunk::Known)
            .collect();
        let (_, records, finished) = self
            .run_chunks(
                &site,
                chunks,
                now,
                false,
                usize::MAX,
                &mut |done, records, last| match last {
                    Some(last) => progress(&RangeChunk {
                        last: last.clone(),
                        done: skipped + done,
                        total,
                        records,
                    }),
                    None => ControlFlow::Continue(()),
                },
            )
            .await?;
        Ok(RangeOutcome { records, finished })
    }

    /// Every active employee, each with `dates`.
    pub(super) async fn active_employees_on(
        &self,
        dates: &BTreeSet<NaiveDate>,
    ) -> Result<Vec<Work>, ServiceError> {
        Ok(self
            .employees
            .list_employees(None)
            .await?
            .into_iter()
            .filter(|e| e.active)
            .map(|e| (e, dates.clone()))
            .collect())
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
        if before.is_some_and(|b| b.department != after.department) {
            self.move_leave_requests(after).await?;
        }
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
            && let (Some(first), Some(last)) = (dates.first(), dates.last())
            && !records.is_empty()
        {
            // The observer hears of the days as shown: one read of their overrides.
            let overrides = self
                .oversight
                .overrides(
                    Some(std::slice::from_ref(&employee.employee_id)),
                    *first,
                    *last,
                )
                .await?;
            let summaries: Vec<DailySummary> = records
                .iter()
                .map(|r| {
                    DailySummary::with_overrides(employee, r, &overrides, site.settings.time_zone)
                })
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
                .counted_scans_of_user(&employee.device_user_id, opens, closes)
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
}
