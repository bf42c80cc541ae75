//! The port of durable background recomputes: a settings change queues a recompute of a range
//! of days for every active employee, and whichever instance runs the site's jobs (the leader
//! of a cluster, or the one instance) takes it, saves its resume point after every chunk and
//! finishes it. A job outlives the process that queued or ran it: another instance, or the same
//! one after a restart, resumes it from its resume point.
//!
//! Employees are recomputed in code order, so a job's resume point is the last employee code
//! done ([`RecomputeJobRecord::resume_after`]): resuming recomputes exactly the employees after
//! it ([`AttendanceService::recompute_range_after`]).
//!
//! [`AttendanceService::recompute_range_after`]: crate::service::AttendanceService::recompute_range_after

use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::{StoreError, StoreResult};
use crate::employee::EmployeeCode;

/// A background recompute of every active employee's days in `[from, to]`, as the store keeps
/// it: queued (not started), running (started, not finished; it may be paused while no
/// instance runs jobs), or finished (with its records or its error).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecomputeJobRecord {
    /// Given by the store, increasing.
    pub id: i64,
    /// Why it runs (`settings changed`; merged jobs list each reason once, joined by `; `).
    pub reason: String,
    /// The first date.
    pub from: NaiveDate,
    /// The last date.
    pub to: NaiveDate,
    /// The last employee code whose days are recomputed and stored (employees go in code
    /// order); `None` until the first chunk is done.
    pub resume_after: Option<EmployeeCode>,
    /// Employees done (of the active employees when the last chunk was saved).
    pub done: u64,
    /// Active employees in all.
    pub total: u64,
    /// Records stored so far.
    pub records: u64,
    /// When it was queued.
    pub created_at: DateTime<Utc>,
    /// When an instance first took it; `None` while queued.
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended; `None` until then.
    pub finished_at: Option<DateTime<Utc>>,
    /// Why it failed, if it did.
    pub error: Option<String>,
}

/// What a job has done, saved after each chunk ([`RecomputeJobStore::save_recompute_progress`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobProgress {
    /// The last employee code done: the job resumes after it.
    pub resume_after: EmployeeCode,
    /// Employees done.
    pub done: u64,
    /// Employees in all.
    pub total: u64,
    /// Records stored so far.
    pub records: u64,
}

impl RecomputeJobRecord {
    /// A job queued at `now` (its id 0 until the store gives one).
    pub fn queued(from: NaiveDate, to: NaiveDate, reason: &str, now: DateTime<Utc>) -> Self {
        Self {
            id: 0,
            reason: reason.to_owned(),
            from: from.min(to),
            to: to.max(from),
            resume_after: None,
            done: 0,
            total: 0,
            records: 0,
            created_at: now,
            started_at: None,
            finished_at: None,
            error: None,
        }
    }

    /// Whether an instance has taken it.
    pub fn is_started(&self) -> bool {
        self.started_at.is_some()
    }

    /// Whether it ended (done or failed).
    pub fn is_finished(&self) -> bool {
        self.finished_at.is_some()
    }

    /// Widens a queued job to cover `[from, to]` too, adding `reason` unless it is listed.
    pub fn merge(&mut self, from: NaiveDate, to: NaiveDate, reason: &str) {
        self.from = self.from.min(from.min(to));
        self.to = self.to.max(to.max(from));
        if !self.reason.split("; ").any(|r| r == reason) {
            self.reason = format!("{}; {reason}", self.reason);
        }
    }

    /// Marks it started at `now` unless it was.
    pub fn start(&mut self, now: DateTime<Utc>) {
        self.started_at.get_or_insert(now);
    }

    /// Takes `progress` as its state.
    pub fn advance(&mut self, progress: &JobProgress) {
        self.resume_after = Some(progress.resume_after.clone());
        self.done = progress.done;
        self.total = progress.total;
        self.records = progress.records;
    }

    /// Ends it at `now`: `Ok(records)` stored in all, or `Err(why)` it failed.
    pub fn finish(&mut self, now: DateTime<Utc>, outcome: Result<u64, String>) {
        self.start(now);
        self.finished_at = Some(now);
        match outcome {
            Ok(records) => {
                self.records = records;
                self.done = self.total.max(self.done);
                self.error = None;
            }
            Err(why) => self.error = Some(why),
        }
    }
}

/// The store of background recompute jobs. Object safe. Taking a job does not lock it: only
/// the instance whose jobs gate is open runs jobs (the leader lease), and a chunk done twice
/// (an old leader finishing its chunk while the new one resumes) stores the same records.
#[async_trait]
pub trait RecomputeJobStore: Send + Sync {
    /// Queues a recompute of `[from, to]` for `reason` at `now`: merged into the job not yet
    /// started if there is one ([`RecomputeJobRecord::merge`]; there is at most one), else a new
    /// job. Returns the job as stored. Durable once it returns.
    async fn enqueue_recompute(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        reason: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<RecomputeJobRecord>;

    /// The job to run next: the unfinished job of the smallest id (one started before resumes
    /// from its resume point), marked started at `now` if it was not. `None` when every job is
    /// finished.
    async fn take_recompute(&self, now: DateTime<Utc>) -> StoreResult<Option<RecomputeJobRecord>>;

    /// Saves the progress of unfinished job `id`; [`StoreError::NotFound`] when no unfinished
    /// job has that id.
    async fn save_recompute_progress(&self, id: i64, progress: &JobProgress) -> StoreResult<()>;

    /// Ends unfinished job `id` at `now` ([`RecomputeJobRecord::finish`]) and returns it;
    /// [`StoreError::NotFound`] when no unfinished job has that id.
    async fn finish_recompute(
        &self,
        id: i64,
        now: DateTime<Utc>,
        outcome: Result<u64, String>,
    ) -> StoreResult<RecomputeJobRecord>;

    /// The job to show: the started, unfinished job of the smallest id (the one running), else
    /// the newest job (queued or finished); `None` when there never was one.
    async fn current_recompute(&self) -> StoreResult<Option<RecomputeJobRecord>>;
}

/// [`RecomputeJobStore`] in memory: the in-memory store's, and the one a service built from
/// parts ([`AttendanceService::from_parts`](crate::service::AttendanceService::from_parts))
/// uses until it is given another. Not durable: its jobs end with the process.
#[derive(Debug, Default)]
pub struct MemoryJobs {
    jobs: Mutex<Vec<RecomputeJobRecord>>,
}

impl MemoryJobs {
    /// No jobs.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> StoreResult<MutexGuard<'_, Vec<RecomputeJobRecord>>> {
        self.jobs.lock().map_err(|_| StoreError::Backend {
            message: "the in-memory job store's lock was poisoned by a panic".into(),
            source: None,
        })
    }
}

fn unfinished(id: i64) -> StoreError {
    StoreError::NotFound {
        entity: "unfinished recompute job",
        key: id.to_string(),
    }
}

#[async_trait]
impl RecomputeJobStore for MemoryJobs {
    async fn enqueue_recompute(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        reason: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<RecomputeJobRecord> {
        let mut jobs = self.lock()?;
        if let Some(queued) = jobs.iter_mut().find(|j| !j.is_started()) {
            queued.merge(from, to, reason);
            return Ok(queued.clone());
        }
        let mut job = RecomputeJobRecord::queued(from, to, reason, now);
        job.id = jobs.last().map_or(0, |j| j.id) + 1;
        jobs.push(job.clone());
        Ok(job)
    }

    async fn take_recompute(&self, now: DateTime<Utc>) -> StoreResult<Option<RecomputeJobRecord>> {
        let mut jobs = self.lock()?;
        Ok(jobs.iter_mut().find(|j| !j.is_finished()).map(|job| {
            job.start(now);
            job.clone()
        }))
    }

    async fn save_recompute_progress(&self, id: i64, progress: &JobProgress) -> StoreResult<()> {
        let mut jobs = self.lock()?;
        let job = jobs
            .iter_mut()
            .find(|j| j.id == id && !j.is_finished())
            .ok_or_else(|| unfinished(id))?;
        job.advance(progress);
        Ok(())
    }

    async fn finish_recompute(
        &self,
        id: i64,
        now: DateTime<Utc>,
        outcome: Result<u64, String>,
    ) -> StoreResult<RecomputeJobRecord> {
        let mut jobs = self.lock()?;
        let job = jobs
            .iter_mut()
            .find(|j| j.id == id && !j.is_finished())
            .ok_or_else(|| unfinished(id))?;
        job.finish(now, outcome);
        Ok(job.clone())
    }

    async fn current_recompute(&self) -> StoreResult<Option<RecomputeJobRecord>> {
        let jobs = self.lock()?;
        Ok(jobs
            .iter()
            .find(|j| j.is_started() && !j.is_finished())
            .or(jobs.last())
            .cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, day).unwrap_or_default()
    }

    #[test]
    fn merging_widens_the_range_and_lists_each_reason_once() {
        let mut job = RecomputeJobRecord::queued(d(5), d(9), "settings changed", Utc::now());
        job.merge(d(2), d(6), "settings changed");
        assert_eq!((job.from, job.to), (d(2), d(9)));
        assert_eq!(job.reason, "settings changed");
        job.merge(d(12), d(10), "holidays imported");
        assert_eq!((job.from, job.to), (d(2), d(12)));
        assert_eq!(job.reason, "settings changed; holidays imported");
        job.merge(d(3), d(3), "holidays imported");
        assert_eq!(job.reason, "settings changed; holidays imported");
    }
}
