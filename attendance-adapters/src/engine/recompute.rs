//! The recompute stage (the backlog of new scans, published and their (employee, work date)
//! pairs recomputed set-wise) and the background recompute jobs of a range of days.

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use attendance_core::scan::ScanData;
use attendance_core::service::{
    AttendanceService, ChangeObserver, PendingScans, RangeChunk, ServiceError,
};
use attendance_core::store::{JobProgress, RecomputeJobRecord};
use chrono::Utc;
use tokio::sync::{Notify, watch};
use tokio::time::{Instant, sleep};
use tracing::{debug, error, warn};

use super::events::Bus;
use super::{Counters, EngineConfig, JobsGate, RecomputeJob, Stop, error_chain};

/// The background recompute jobs as this engine sees them: the job shown in its stats (the
/// one it runs, or the store's current one) and the runner's wake-up.
#[derive(Debug, Default)]
pub(super) struct Jobs {
    pub(super) current: Mutex<Option<RecomputeJob>>,
    /// Wakes the runner: a job was queued here. A notification sent while it works is kept.
    pub(super) wake: Notify,
}

impl Jobs {
    pub(super) fn show(&self, job: RecomputeJob) {
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) = Some(job);
    }

    pub(super) fn shown(&self) -> Option<RecomputeJob> {
        self.current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}
/// The new scans waiting for the recompute stage, as many flushes as came while it worked: it
/// publishes them and recomputes the pairs they touch, each once however many flushes touched
/// it. Bounded: past [`BACKLOG_SCANS`] the ingest waits for the stage (back-pressure).
#[derive(Debug, Default)]
pub(super) struct Backlog {
    scans: Mutex<Vec<ScanData>>,
    // Set when the ingest stage has drained at shutdown.
    closed: std::sync::atomic::AtomicBool,
    // Wakes the recompute stage; a notification sent while it works is kept for its next wait.
    wake: Notify,
    // Wakes an ingest waiting for room.
    room: Notify,
}

/// The most new scans published while a recompute runs, at a time (live terminals' few); more
/// wait for it to end, and are published together.
const BESIDE_MAX_SCANS: usize = 256;

/// The most new scans the recompute stage may have waiting before the ingest waits for it.
const BACKLOG_SCANS: usize = 200_000;

impl Backlog {
    /// Adds new scans; waits first while the backlog is full.
    pub(super) async fn add(&self, scans: Vec<ScanData>, counters: &Counters) {
        if scans.is_empty() {
            return;
        }
        loop {
            // Registered before the check, so a `take` in between is not missed.
            let room = self.room.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            if self.lock().len() < BACKLOG_SCANS {
                break;
            }
            room.await;
        }
        let mut pending = self.lock();
        pending.extend(scans);
        counters
            .recompute_backlog
            .store(pending.len(), Ordering::Relaxed);
        drop(pending);
        self.wake.notify_one();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<ScanData>> {
        self.scans.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn len(&self) -> usize {
        self.lock().len()
    }

    fn take(&self) -> Vec<ScanData> {
        let taken = std::mem::take(&mut *self.lock());
        self.room.notify_waiters();
        taken
    }

    /// The ingest has drained: the recompute stage ends once the backlog is empty.
    pub(super) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.wake.notify_one();
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}
/// The second stage: recomputes the backlog's pairs set-wise, as many as have gathered.
pub(super) struct Recompute {
    pub(super) service: AttendanceService,
    pub(super) config: EngineConfig,
    pub(super) bus: Arc<Bus>,
    pub(super) counters: Arc<Counters>,
    pub(super) backlog: Arc<Backlog>,
}

impl Recompute {
    /// Takes the new scans as they come, reads their employees, publishes them and gathers
    /// them by employee ([`PendingScans`]); recomputes their days at most once every
    /// [`EngineConfig::recompute_interval`] (at once after a quiet moment), so that under a
    /// steady stream of small flushes the days are recomputed in a few queries per interval,
    /// not per flush. Each scan is published as soon as it is stored, with one read (its
    /// employee: the work dates are found at the recompute, on the settings read there), and
    /// without waiting for a recompute: while one waits on the store, the scans that come are
    /// published and gathered for the next (up to [`BESIDE_MAX_SCANS`] at a time). One task:
    /// the publishing and the recompute take turns on one thread while their statements run
    /// side by side, so the stage never takes both cores from the ingest.
    pub(super) async fn run(self, signal: watch::Receiver<bool>) {
        let mut stop = Stop::new(signal.clone(), self.config.drain_timeout);
        // The publishing beside a recompute sees the shutdown through its own copy.
        let mut beside = Stop::new(signal, self.config.drain_timeout);
        let mut pending = PendingScans::default();
        let mut last_start: Option<Instant> = None;
        loop {
            let scans = self.backlog.take();
            self.counters.recompute_backlog.store(0, Ordering::Relaxed);
            if !scans.is_empty() {
                self.publish(&mut stop, scans, &mut pending).await;
                continue;
            }
            if pending.is_empty() {
                if self.backlog.is_closed() {
                    return;
                }
                self.backlog.wake.notified().await;
                continue;
            }
            // Recompute what gathered once the interval is over, unless new scans come first
            // (they are published, then the interval is looked at again).
            let due = last_start.map_or_else(Instant::now, |t| t + self.config.recompute_interval);
            if !self.backlog.is_closed() && due > Instant::now() {
                tokio::select! {
                    () = self.backlog.wake.notified() => continue,
                    () = tokio::time::sleep_until(due) => {}
                }
            }
            last_start = Some(Instant::now());
            let recompute = self.recompute(&mut stop, std::mem::take(&mut pending));
            tokio::pin!(recompute);
            loop {
                tokio::select! {
                    () = &mut recompute => break,
                    () = self.backlog.wake.notified() => {
                        // A bulk upload's scans wait for the recompute: published beside it
                        // they cost more reads for no one waiting (measured on SQLite: all
                        // records of the ADMS benchmark 0.4–0.7 s later).
                        if self.backlog.len() > BESIDE_MAX_SCANS {
                            continue;
                        }
                        let scans = self.backlog.take();
                        self.counters.recompute_backlog.store(0, Ordering::Relaxed);
                        if !scans.is_empty() {
                            self.publish(&mut beside, scans, &mut pending).await;
                        }
                    }
                }
            }
        }
    }

    /// Reads the employees of new `scans`, publishes them and adds them to `pending`.
    async fn publish(&self, stop: &mut Stop, scans: Vec<ScanData>, pending: &mut PendingScans) {
        let Some(enrolled) = self
            .retry(stop, "reading the employees of new scans", || {
                self.service.enrolled(&scans)
            })
            .await
        else {
            // The scans are stored; publish them without their employees. Their days are
            // recomputed by their next scan or the window-closing pass.
            self.bus.scans_stored(&scans, &BTreeMap::new());
            return;
        };
        self.bus.scans_stored(&scans, &enrolled);
        pending.add(&scans, &enrolled);
    }

    /// Recomputes the days of `pending` (the service's observer, the bus, publishes the
    /// records).
    async fn recompute(&self, stop: &mut Stop, pending: PendingScans) {
        let started = Instant::now();
        let done = self
            .retry(stop, "recomputing days", || {
                self.service.recompute_pending(&pending, Utc::now())
            })
            .await;
        let took = started.elapsed();
        let Some(done) = done else { return };
        for (employee, shift) in &done.unknown_shifts {
            warn!(%employee, %shift, "the site has no such shift: scored on the default shift");
        }
        metrics::histogram!(crate::telemetry::RECOMPUTE_SECONDS).record(took.as_secs_f64());
        metrics::counter!(crate::telemetry::DAYS_RECOMPUTED).increment(done.days as u64);
        debug!(
            days = done.days,
            took_ms = took.as_secs_f64() * 1e3,
            "recomputed"
        );
    }

    /// Runs `call` until it succeeds, retrying with backoff; `None` when it still fails once a
    /// shutdown's drain timeout has passed.
    async fn retry<T, F, Fut>(&self, stop: &mut Stop, what: &str, call: F) -> Option<T>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, ServiceError>>,
    {
        let mut delay = self.config.retry_delay;
        loop {
            match call().await {
                Ok(value) => return Some(value),
                Err(e) => {
                    if stop.expired() {
                        error!(error = %e, "shutting down with the store still failing: {what} given up (the days are recomputed by their next scan or the window-closing pass)");
                        return None;
                    }
                    warn!(error = %e, retry_in = ?delay, "{what} failed; retrying");
                    self.bus.error_event("recompute", "store", e.to_string());
                    sleep(delay).await;
                    delay = (delay * 2).min(self.config.max_retry_delay);
                }
            }
        }
    }
}

/// How many runs in a row of one job may fail before it is finished with the error (a store
/// that fails for a while only delays it: each failed run resumes from the resume point).
const JOB_ATTEMPTS: u32 = 3;

/// How a run of a job ended.
enum Run {
    /// Every employee done and the job finished.
    Finished,
    /// Stopped after a chunk (the gate closed, or the shutdown's drain timeout passed): the
    /// job stays stored with its resume point.
    Paused,
    /// The recompute failed: the job stays stored, tried again later.
    Failed(String),
}

/// The background recompute runner, one per engine, for its whole life. While the engine's
/// [`JobsGate`] is open it takes the store's unfinished jobs one after the other (the oldest
/// first; one started before resumes from its resume point) and runs each, saving its resume
/// point after every chunk; when the gate closes it stops after the chunk. It looks at the
/// store when woken (a job queued here) and every `poll` (jobs queued by other instances, the
/// gate opening), and keeps the job shown in the stats up to date on every instance. Asked to
/// shut down, it runs what is stored until none is left or the drain timeout passes, then
/// stops after the chunk running (the job resumes at the next start, or on the next leader).
pub(super) async fn run_jobs(
    service: AttendanceService,
    jobs: Arc<Jobs>,
    gate: JobsGate,
    poll: Duration,
    mut stop: Stop,
) {
    let poll = poll.max(Duration::from_millis(10));
    let mut failures: Option<(i64, u32)> = None;
    loop {
        // Every instance shows the stored job, wherever it runs; taking one (a write
        // transaction) is tried only when an unfinished one is stored.
        let unfinished = match service.recompute_jobs().current_recompute().await {
            Ok(Some(job)) => {
                jobs.show(RecomputeJob::from(&job));
                !job.is_finished()
            }
            Ok(None) => false,
            Err(e) => {
                debug!(error = %e, "reading the current background recompute failed");
                true
            }
        };
        while unfinished && gate.is_open() && !stop.expired() {
            let job = match service.recompute_jobs().take_recompute(Utc::now()).await {
                Ok(Some(job)) => job,
                Ok(None) => break,
                Err(e) => {
                    warn!(error = %error_chain(&e), "reading the background recompute jobs failed; trying again later");
                    break;
                }
            };
            let id = job.id;
            match run_job(&service, &jobs, &gate, &mut stop, job).await {
                Run::Finished => failures = None,
                Run::Paused => break,
                Run::Failed(why) => {
                    let attempts = match failures {
                        Some((failed, n)) if failed == id => n + 1,
                        _ => 1,
                    };
                    failures = Some((id, attempts));
                    if attempts < JOB_ATTEMPTS {
                        warn!(id, attempts, error = %why, "background recompute failed; it resumes from its resume point later");
                        break;
                    }
                    error!(id, attempts, error = %why, "background recompute failed again: given up");
                    finish(&service, &jobs, id, Err(why)).await;
                    failures = None;
                }
            }
        }
        if stop.asked() {
            return;
        }
        tokio::select! {
            _ = jobs.wake.notified() => {}
            _ = sleep(poll) => {}
            _ = stop.wait() => {}
        }
    }
}

/// Runs `job` from its resume point until it is done or stopped, its progress saved after
/// every chunk (by a writer beside the recompute, so the next chunk does not wait for it; the
/// last progress is written before the job is finished).
async fn run_job(
    service: &AttendanceService,
    jobs: &Jobs,
    gate: &JobsGate,
    stop: &mut Stop,
    job: RecomputeJobRecord,
) -> Run {
    let (id, from, to) = (job.id, job.from, job.to);
    let before = job.records;
    let after = job.resume_after.clone();
    match &after {
        Some(last) => {
            tracing::info!(id, %from, %to, reason = %job.reason, resume_after = %last, done = job.done, total = job.total, "background recompute resumed")
        }
        None => {
            tracing::info!(id, %from, %to, reason = %job.reason, "background recompute started")
        }
    }
    let mut shown = RecomputeJob::from(&job);
    jobs.show(shown.clone());
    let (saves, mut saved) = watch::channel(None::<JobProgress>);
    let writer = async {
        // Ends once the recompute drops `saves`, after writing the last progress sent.
        while saved.changed().await.is_ok() {
            let progress = saved.borrow_and_update().clone();
            if let Some(progress) = progress
                && let Err(e) = service
                    .recompute_jobs()
                    .save_recompute_progress(id, &progress)
                    .await
            {
                warn!(id, error = %error_chain(&e), "saving a background recompute's resume point failed (its last chunks are done again if it resumes)");
            }
        }
    };
    let work = async {
        let saves = saves;
        let mut progress = |chunk: &RangeChunk| {
            let progress = JobProgress {
                resume_after: chunk.last.clone(),
                done: chunk.done as u64,
                total: chunk.total as u64,
                records: before + chunk.records as u64,
            };
            shown.advance(&progress);
            jobs.show(shown.clone());
            saves.send_replace(Some(progress));
            if gate.is_open() && !stop.expired() {
                ControlFlow::Continue(())
            } else {
                ControlFlow::Break(())
            }
        };
        service
            .recompute_range_after(from, to, Utc::now(), after.as_ref(), &mut progress)
            .await
    };
    let (result, ()) = tokio::join!(work, writer);
    match result {
        Ok(outcome) if outcome.finished => {
            let records = before + outcome.records as u64;
            finish(service, jobs, id, Ok(records)).await;
            tracing::info!(id, %from, %to, records, "background recompute done");
            Run::Finished
        }
        Ok(_) => {
            let shown = jobs.shown();
            tracing::info!(
                id,
                %from,
                %to,
                resume_after = ?shown.as_ref().and_then(|j| j.resume_after.clone()),
                done = shown.as_ref().map_or(0, |j| j.done),
                total = shown.as_ref().map_or(0, |j| j.total),
                why = if gate.is_open() { "shutting down" } else { "this instance no longer runs the jobs" },
                "background recompute paused after its chunk; stored, it resumes from there"
            );
            Run::Paused
        }
        Err(e) => Run::Failed(error_chain(&e)),
    }
}

/// Finishes job `id` in the store and shows it (a failed write is logged: the job then runs
/// again from its resume point, which has nothing left, and is finished then).
async fn finish(service: &AttendanceService, jobs: &Jobs, id: i64, outcome: Result<u64, String>) {
    match service
        .recompute_jobs()
        .finish_recompute(id, Utc::now(), outcome)
        .await
    {
        Ok(job) => jobs.show(RecomputeJob::from(&job)),
        Err(e) => {
            warn!(id, error = %error_chain(&e), "finishing a background recompute failed; it is finished when it runs again")
        }
    }
}
