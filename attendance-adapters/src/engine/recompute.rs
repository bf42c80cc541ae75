//! The recompute stage (the backlog of new scans, published and their (employee, work date)
//! pairs recomputed set-wise) and the background recompute jobs of a range of days.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};

use attendance_core::scan::ScanData;
use attendance_core::service::{AttendanceService, ChangeObserver, DayKeys, ServiceError};
use chrono::{NaiveDate, Utc};
use tokio::sync::{Notify, watch};
use tokio::time::{Instant, sleep};
use tracing::{debug, error, warn};

use super::events::Bus;
use super::{Counters, EngineConfig, RecomputeJob, Stop};

/// The background recompute: the job running (or last run) and the range asked for meanwhile.
#[derive(Debug, Default)]
pub(super) struct Jobs {
    pub(super) current: Option<RecomputeJob>,
    pub(super) running: bool,
    pub(super) queued: Option<(NaiveDate, NaiveDate, String)>,
    /// The task running the jobs, awaited at shutdown.
    pub(super) runner: Option<tokio::task::JoinHandle<()>>,
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
/// The (employee, work date) pairs published and waiting to be recomputed, merged: a pair
/// touched by several flushes meanwhile is recomputed once. Bounded: past [`BACKLOG_DAYS`]
/// pairs the publish loop waits for the days loop (and through it the ingest).
#[derive(Debug, Default)]
struct DaysBacklog {
    days: Mutex<(DayKeys, usize)>,
    closed: std::sync::atomic::AtomicBool,
    wake: Notify,
    room: Notify,
}

/// The most pairs waiting to be recomputed before the publish loop waits.
const BACKLOG_DAYS: usize = 200_000;

impl DaysBacklog {
    async fn add(&self, days: DayKeys) {
        if days.is_empty() {
            return;
        }
        loop {
            let room = self.room.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            if self.lock().1 < BACKLOG_DAYS {
                break;
            }
            room.await;
        }
        let mut pending = self.lock();
        for (employee, dates) in days {
            let entry = pending.0.entry(employee).or_default();
            let before = entry.len();
            entry.extend(dates);
            let added = entry.len() - before;
            pending.1 += added;
        }
        drop(pending);
        self.wake.notify_one();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (DayKeys, usize)> {
        self.days.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn take(&self) -> DayKeys {
        let taken = {
            let mut pending = self.lock();
            pending.1 = 0;
            std::mem::take(&mut pending.0)
        };
        self.room.notify_waiters();
        taken
    }

    fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.wake.notify_one();
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}

/// The second stage: publishes the backlog's scans and recomputes their pairs set-wise, as many as have gathered.
pub(super) struct Recompute {
    pub(super) service: AttendanceService,
    pub(super) config: EngineConfig,
    pub(super) bus: Arc<Bus>,
    pub(super) counters: Arc<Counters>,
    pub(super) backlog: Arc<Backlog>,
}

impl Recompute {
    /// Two loops in one task: the publish loop takes the new scans as they come, reads their
    /// employees, publishes them and hands their (employee, work date) pairs to the days loop,
    /// which recomputes what has gathered. A scan's event never waits for the recompute of the
    /// scans before it.
    pub(super) async fn run(self, signal: watch::Receiver<bool>) {
        let days = DaysBacklog::default();
        tokio::join!(
            self.publish_loop(&days, signal.clone()),
            self.days_loop(&days, signal)
        );
    }

    async fn publish_loop(&self, days: &DaysBacklog, signal: watch::Receiver<bool>) {
        let mut stop = Stop::new(signal, self.config.drain_timeout);
        loop {
            let scans = self.backlog.take();
            self.counters.recompute_backlog.store(0, Ordering::Relaxed);
            if scans.is_empty() {
                if self.backlog.is_closed() {
                    days.close();
                    return;
                }
                self.backlog.wake.notified().await;
                continue;
            }
            let Some(affected) = self
                .retry(&mut stop, "reading the employees of new scans", || {
                    self.service.affected_days(&scans)
                })
                .await
            else {
                // The scans are stored; publish them without their employees. Their days are
                // recomputed by their next scan or the window-closing pass.
                self.bus.scans_stored(&scans, &BTreeMap::new());
                continue;
            };
            for (employee, shift) in &affected.unknown_shifts {
                warn!(%employee, %shift, "the site has no such shift: scored on the default shift");
            }
            self.bus.scans_stored(&scans, &affected.employees);
            drop(scans);
            days.add(affected.days).await;
        }
    }

    async fn days_loop(&self, days: &DaysBacklog, signal: watch::Receiver<bool>) {
        let mut stop = Stop::new(signal, self.config.drain_timeout);
        loop {
            let pending = days.take();
            if pending.is_empty() {
                if days.is_closed() {
                    return;
                }
                days.wake.notified().await;
                continue;
            }
            // The service's observer (the bus) publishes the records.
            let started = Instant::now();
            let _ = self
                .retry(&mut stop, "recomputing days", || {
                    self.service.recompute_days(&pending, Utc::now())
                })
                .await;
            let took = started.elapsed();
            let count = pending.values().map(BTreeSet::len).sum::<usize>();
            metrics::histogram!(crate::telemetry::RECOMPUTE_SECONDS).record(took.as_secs_f64());
            metrics::counter!(crate::telemetry::DAYS_RECOMPUTED).increment(count as u64);
            debug!(
                days = count,
                took_ms = took.as_secs_f64() * 1e3,
                "recomputed"
            );
        }
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

/// Runs the queued background recomputes one after the other until none is queued (a shutdown
/// waits for them, at most its drain timeout: [`super::EngineHandle::shutdown`]).
pub(super) async fn run_jobs(service: AttendanceService, jobs: Arc<Mutex<Jobs>>) {
    loop {
        let (from, to, reason) = {
            let mut state = jobs.lock().unwrap_or_else(PoisonError::into_inner);
            match state.queued.take() {
                Some(next) => next,
                None => {
                    // In the same lock as the check, so a job queued now starts a new runner.
                    state.running = false;
                    return;
                }
            }
        };
        let started_at = Utc::now();
        let set = |f: &mut dyn FnMut(&mut RecomputeJob)| {
            if let Some(job) = jobs
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .current
                .as_mut()
            {
                f(job);
            }
        };
        jobs.lock().unwrap_or_else(PoisonError::into_inner).current = Some(RecomputeJob {
            reason: reason.clone(),
            from,
            to,
            done: 0,
            total: 0,
            records: 0,
            started_at,
            finished_at: None,
            error: None,
        });
        tracing::info!(%from, %to, %reason, "background recompute started");
        let mut progress = |done: usize, total: usize| {
            set(&mut |job| {
                job.done = done;
                job.total = total;
            });
        };
        let result = service
            .recompute_range(from, to, started_at, &mut progress)
            .await;
        let finished = Utc::now();
        match result {
            Ok(records) => {
                tracing::info!(%from, %to, records, "background recompute done");
                set(&mut |job| {
                    job.records = records;
                    job.finished_at = Some(finished);
                });
            }
            Err(e) => {
                warn!(%from, %to, error = %e, "background recompute failed");
                set(&mut |job| {
                    job.error = Some(e.to_string());
                    job.finished_at = Some(finished);
                });
            }
        }
    }
}
