//! The ingest stage: takes what is queued as one group commit, sets aside the scans outside the
//! storable window, stores the rest with their cursors (retrying a failing store), answers each
//! submitter, and hands the new scans to the recompute stage.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use attendance_core::scan::ScanData;
use attendance_core::service::{AttendanceService, ServiceError};
use attendance_core::store::{IngestOutcome, ScanBatch, StoreError};
use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{Instant, sleep, timeout};
use tracing::{debug, error, warn};

use super::events::Bus;
use super::queue::Job;
use super::recompute::Backlog;
use super::{Committed, Counters, EngineConfig, IngestError, Stop, error_chain};
use crate::telemetry;

/// A scan the engine did not store as attendance because its time is outside the storable
/// window; kept in the store for HR ([`SetAsideStore`](attendance_core::store::SetAsideStore)).
pub use attendance_core::store::SetAsideScan as SetAside;

/// How storing a group ended.
#[derive(Debug)]
enum Stored {
    /// Stored: one outcome per batch.
    Done(Vec<IngestOutcome>),
    /// The store refused it as invalid.
    Refused(String),
    /// Given up at shutdown with the store still failing.
    Abandoned,
}
/// A job of a flush with its scans screened: the batch to store and what was set aside.
struct Screened {
    batch: ScanBatch,
    source: &'static str,
    set_aside: usize,
    aside: Vec<SetAside>,
    reply: Option<oneshot::Sender<Result<Committed, IngestError>>>,
}

impl Screened {
    fn answer(self, result: Result<Committed, IngestError>) {
        if let Some(reply) = self.reply {
            // The submitter may have stopped waiting (its own timeout); the result stands.
            let _ = reply.send(result);
        }
    }
}

/// The first stage (see the module documentation).
pub(super) struct Ingest {
    pub(super) service: AttendanceService,
    pub(super) config: EngineConfig,
    pub(super) bus: Arc<Bus>,
    pub(super) counters: Arc<Counters>,
    pub(super) backlog: Arc<Backlog>,
}

impl Ingest {
    pub(super) async fn run(
        self,
        mut receiver: mpsc::Receiver<Job>,
        signal: watch::Receiver<bool>,
    ) {
        let mut stop = Stop::new(signal, self.config.drain_timeout);
        loop {
            // Wait for the first batch of a flush (or the stop).
            let first = tokio::select! {
                job = receiver.recv() => job,
                _ = stop.wait() => None,
            };
            let Some(first) = first else { break };
            let mut jobs = Vec::new();
            let mut scans = first.batch.scans.len();
            jobs.push(first);
            // What is queued now joins this group commit.
            while scans < self.config.max_batch_scans {
                match receiver.try_recv() {
                    Ok(job) => {
                        scans += job.batch.scans.len();
                        jobs.push(job);
                    }
                    Err(_) => break,
                }
            }
            if !self.config.max_batch_delay.is_zero() {
                let deadline = Instant::now() + self.config.max_batch_delay;
                while scans < self.config.max_batch_scans {
                    match timeout(
                        deadline.saturating_duration_since(Instant::now()),
                        receiver.recv(),
                    )
                    .await
                    {
                        Ok(Some(job)) => {
                            scans += job.batch.scans.len();
                            jobs.push(job);
                        }
                        Ok(None) | Err(_) => break,
                    }
                }
            }
            self.flush(jobs, &mut stop).await;
        }
        // Drain: refuse new batches, store every one already accepted.
        receiver.close();
        stop.asked();
        let mut jobs = Vec::new();
        let mut scans = 0;
        while let Some(job) = receiver.recv().await {
            scans += job.batch.scans.len();
            jobs.push(job);
            if scans >= self.config.max_batch_scans {
                self.flush(std::mem::take(&mut jobs), &mut stop).await;
                scans = 0;
            }
        }
        if !jobs.is_empty() {
            self.flush(jobs, &mut stop).await;
        }
        self.backlog.close();
    }

    /// Sets aside the scans of `batch` outside the storable window, keeping the others.
    fn screen(&self, job: Job, now: DateTime<Utc>) -> Screened {
        let Job {
            mut batch,
            source,
            reply,
        } = job;
        let latest = now
            + chrono::TimeDelta::from_std(self.config.future_tolerance)
                .unwrap_or(chrono::TimeDelta::MAX);
        let earliest = self.config.earliest_scan;
        let outside = |s: &ScanData| s.timestamp < earliest || s.timestamp > latest;
        if !batch.scans.iter().any(outside) {
            return Screened {
                batch,
                source,
                set_aside: 0,
                aside: Vec::new(),
                reply,
            };
        }
        let (kept, aside): (Vec<ScanData>, Vec<ScanData>) =
            batch.scans.into_iter().partition(|s| !outside(s));
        batch.scans = kept;
        let count = aside.len();
        self.counters
            .scans_set_aside
            .fetch_add(count as u64, Ordering::Relaxed);
        metrics::counter!(telemetry::SCANS_SET_ASIDE, "source" => source).increment(count as u64);
        warn!(
            machine = %batch.machine_id,
            set_aside = count,
            first = %aside.first().map(|s| s.timestamp.to_rfc3339()).unwrap_or_default(),
            "scans outside the storable window set aside (device clock?)"
        );
        let aside = aside
            .into_iter()
            .map(|scan| {
                let reason = if scan.timestamp < earliest {
                    format!("before {}", earliest.to_rfc3339())
                } else {
                    format!(
                        "more than {:?} after the time it arrived",
                        self.config.future_tolerance
                    )
                };
                SetAside {
                    machine_id: scan.machine_id,
                    device_user_id: scan.device_user_id,
                    timestamp: scan.timestamp,
                    reason,
                    raw: scan.raw,
                    received_at: now,
                }
            })
            .collect();
        Screened {
            batch,
            source,
            set_aside: count,
            aside,
            reply,
        }
    }

    /// Stores the jobs as one group commit and answers each; if the store refuses the group as
    /// invalid, stores them one by one, so only the bad batch is refused.
    async fn flush(&self, jobs: Vec<Job>, stop: &mut Stop) {
        let now = Utc::now();
        let mut screened: Vec<Screened> = jobs.into_iter().map(|j| self.screen(j, now)).collect();
        let aside: Vec<SetAside> = screened
            .iter_mut()
            .flat_map(|s| std::mem::take(&mut s.aside))
            .collect();
        // What is set aside is kept before anything of the flush is acknowledged.
        if !self.keep_aside(&aside, stop).await {
            for job in screened {
                job.answer(Err(IngestError::Abandoned));
            }
            return;
        }
        let mut inserted = Vec::new();
        let group: Vec<&ScanBatch> = screened.iter().map(|s| &s.batch).collect();
        let started = Instant::now();
        let stored = self.store(&group, stop).await;
        debug!(
            batches = group.len(),
            scans = group.iter().map(|b| b.scans.len()).sum::<usize>(),
            took_ms = started.elapsed().as_secs_f64() * 1e3,
            "group commit"
        );
        match stored {
            Stored::Done(outcomes) => {
                for (job, outcome) in screened.into_iter().zip(outcomes) {
                    self.answer(job, outcome, &mut inserted);
                }
            }
            Stored::Refused(message) if screened.len() == 1 => {
                for job in screened {
                    self.refused(&job.batch, &message);
                    job.answer(Err(IngestError::Refused(message.clone())));
                }
            }
            Stored::Refused(message) => {
                warn!(%message, batches = screened.len(), "group refused by the store; storing its batches one by one");
                for job in screened {
                    match self.store(&[&job.batch], stop).await {
                        Stored::Done(outcomes) => {
                            if let Some(outcome) = outcomes.into_iter().next() {
                                self.answer(job, outcome, &mut inserted);
                            }
                        }
                        Stored::Refused(message) => {
                            self.refused(&job.batch, &message);
                            job.answer(Err(IngestError::Refused(message)));
                        }
                        Stored::Abandoned => job.answer(Err(IngestError::Abandoned)),
                    }
                }
            }
            Stored::Abandoned => {
                for job in screened {
                    job.answer(Err(IngestError::Abandoned));
                }
            }
        }
        self.after_commit(inserted).await;
    }

    fn answer(&self, job: Screened, outcome: IngestOutcome, inserted: &mut Vec<ScanData>) {
        let committed = Committed {
            inserted: outcome.inserted.len(),
            duplicates: outcome.duplicates,
            set_aside: job.set_aside,
        };
        self.counters
            .scans_stored
            .fetch_add(committed.inserted as u64, Ordering::Relaxed);
        self.counters
            .duplicates
            .fetch_add(committed.duplicates as u64, Ordering::Relaxed);
        metrics::counter!(telemetry::SCANS_INGESTED, "source" => job.source)
            .increment(committed.inserted as u64);
        metrics::counter!(telemetry::SCAN_DUPLICATES, "source" => job.source)
            .increment(committed.duplicates as u64);
        inserted.extend(outcome.inserted);
        job.answer(Ok(committed));
    }

    fn refused(&self, batch: &ScanBatch, message: &str) {
        self.counters
            .batches_rejected
            .fetch_add(1, Ordering::Relaxed);
        error!(machine = %batch.machine_id, %message, "batch refused by the store; dropped");
        self.bus.error_event(
            batch.machine_id.as_str(),
            "invalid_batch",
            message.to_owned(),
        );
    }

    /// Hands the new scans to the recompute stage (which publishes them and recomputes their
    /// days), waiting while its backlog is full.
    async fn after_commit(&self, inserted: Vec<ScanData>) {
        self.backlog.add(inserted, &self.counters).await;
    }

    /// Keeps the scans set aside by a flush in the store, retrying passing failures like
    /// [`Self::store`]; `false` when given up at shutdown. A store that refuses them (as
    /// invalid) is logged: they stay counted but are not kept.
    async fn keep_aside(&self, aside: &[SetAside], stop: &mut Stop) -> bool {
        if aside.is_empty() {
            return true;
        }
        let mut delay = self.config.retry_delay;
        loop {
            match self.service.keep_set_aside(aside).await {
                Ok(_) => {
                    self.counters.store_succeeded();
                    return true;
                }
                Err(ServiceError::Store(StoreError::Invalid(message))) => {
                    error!(%message, scans = aside.len(), "the store refused the set-aside scans; they are counted, not kept");
                    return true;
                }
                Err(e) => {
                    self.counters.store_failed(&e);
                    let e = error_chain(&e);
                    if stop.expired() {
                        error!(scans = aside.len(), error = %e,
                            "shutting down with the store still failing: set-aside scans not kept and their batches not acknowledged");
                        return false;
                    }
                    warn!(error = %e, retry_in = ?delay, "keeping set-aside scans failed; retrying");
                    sleep(delay).await;
                    delay = (delay * 2).min(self.config.max_retry_delay);
                }
            }
        }
    }

    /// Stores a group of batches, retrying transient failures until it is stored (or, once a
    /// shutdown is asked, until the drain timeout).
    async fn store(&self, group: &[&ScanBatch], stop: &mut Stop) -> Stored {
        let mut delay = self.config.retry_delay;
        let scans: usize = group.iter().map(|b| b.scans.len()).sum();
        loop {
            self.counters.store_writes.fetch_add(1, Ordering::Relaxed);
            // Each attempt hands the store its own copy (one copy when the first succeeds).
            let batches = group.iter().map(|b| (*b).clone()).collect();
            match self.service.store_scan_batches(batches).await {
                Ok(outcomes) => {
                    self.counters.store_succeeded();
                    return Stored::Done(outcomes);
                }
                Err(ServiceError::Store(StoreError::Invalid(message))) => {
                    return Stored::Refused(message);
                }
                Err(e) => {
                    self.counters.store_failed(&e);
                    let e = error_chain(&e);
                    metrics::counter!(telemetry::STORE_ERRORS).increment(1);
                    let machines = group
                        .iter()
                        .map(|b| b.machine_id.as_str())
                        .collect::<Vec<_>>()
                        .join(",");
                    if stop.expired() {
                        self.counters
                            .scans_abandoned
                            .fetch_add(scans as u64, Ordering::Relaxed);
                        error!(%machines, scans, error = %e,
                            "shutting down with the store still failing: scans not stored (a pull device keeps them; its cursor was not advanced; push devices were not acknowledged)");
                        return Stored::Abandoned;
                    }
                    warn!(%machines, error = %e, retry_in = ?delay, "storing scans failed; retrying");
                    for batch in group {
                        self.bus
                            .error_event(batch.machine_id.as_str(), "store", e.to_string());
                    }
                    sleep(delay).await;
                    delay = (delay * 2).min(self.config.max_retry_delay);
                }
            }
        }
    }
}
