//! The real-time engine: every scan (the manager's pulls, the ADMS and Hikvision push
//! receivers, imports) goes through one bounded queue into an ingest stage that stores what is
//! queued as one group commit, answers each submitter once its own batch is committed, and then
//! recomputes the affected (employee, work date) pairs set-wise in a second stage and publishes
//! events on a bus.
//!
//! ```no_run
//! # async fn demo(service: attendance_core::service::AttendanceService, batch: attendance_core::store::ScanBatch) {
//! use std::time::Duration;
//! use attendance_adapters::engine::{Engine, EngineConfig};
//!
//! let engine = Engine::start(service, EngineConfig::default());
//! let mut events = engine.subscribe();
//! let scans = engine.sender(); // give it to the MachineManager and the push routers
//! // A push receiver answers its device only once the batch is committed:
//! match scans.submit(batch, Duration::from_secs(2), Duration::from_secs(20)).await {
//!     Ok(committed) => println!("stored {} new scans", committed.inserted),
//!     Err(e) => println!("answer 503, the device re-sends: {e}"),
//! }
//! while let Ok(event) = events.recv().await {
//!     println!("{}", serde_json::to_string(&event).unwrap_or_default());
//! }
//! engine.shutdown().await; // drains the queue: nothing accepted is lost
//! # }
//! ```
//!
//! Invariants:
//! - the queue is bounded: a slow store makes senders wait (or [`IngestSender::submit`] answer
//!   [`IngestError::Busy`]), memory does not grow;
//! - nothing is acknowledged before it is stored: [`IngestSender::submit`] returns only after
//!   the transaction that stores the batch (and its cursor) committed; concurrent submitters
//!   share one group commit and each waits for its own;
//! - group commit without waiting: a flush takes what is queued when the store becomes free
//!   (up to [`EngineConfig::max_batch_scans`]), so under load groups grow and when idle a
//!   batch is stored at once ([`EngineConfig::max_batch_delay`] can add a gathering delay);
//! - a scan outside the storable window (before [`EngineConfig::earliest_scan`] or later than
//!   now plus [`EngineConfig::future_tolerance`]) is set aside: counted, kept for HR to see
//!   ([`EngineHandle::set_aside`]), never stored as attendance, and never blocks the valid scans
//!   of its batch;
//! - a batch accepted by the queue is stored before [`EngineHandle::shutdown`] returns; a store
//!   that fails transiently is retried with backoff (the batch is held, and the queue fills
//!   behind it); a batch the store refuses as invalid is reported and dropped (retrying cannot
//!   help); when a group is refused, its batches are stored one by one, so one machine's bad
//!   batch does not hold back the others;
//! - each affected (employee, work date) pair is recomputed once per recompute pass, however
//!   many flushes touched it meanwhile, by core's set-based
//!   [`AttendanceService::recompute_days`];
//! - every change the engine's service stores is published ([`Engine::start`] gives the
//!   service a [`ChangeObserver`] on the bus), so manual scans, imports, leave and holiday
//!   changes reach the same clients as device scans; events about one employee carry the
//!   employee as their audience, so a server forwards them only to clients allowed to see that
//!   employee;
//! - a background recompute ([`EngineHandle::recompute_in_background`]) is stored before the
//!   call returns and runs only while the [`JobsGate`] is open, its resume point saved after
//!   every chunk: a gate that closes stops it after its chunk, and whoever opens a gate next
//!   (this engine again, the next leader, the next start) resumes it from there.
//!
//! [`ChangeObserver`]: attendance_core::service::ChangeObserver

mod events;
mod ingest;
mod queue;
mod recompute;
mod year_end;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use attendance_core::access::Owner;
use attendance_core::service::{AttendanceService, ServiceError};
use attendance_core::store::{JobProgress, Page, RecomputeJobRecord};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use serde::Serialize;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep};
use tracing::{error, warn};

pub use events::{ConnectionChange, EngineEvent, ErrorEvent, Published, RemoteEvent, ScanReceived};
pub use ingest::SetAside;
pub use queue::{
    Committed, IngestError, IngestReceiver, IngestSender, Submission, UNNAMED_SOURCE,
    ingest_channel,
};

use events::Bus;
use ingest::Ingest;
use queue::Job;
use recompute::{Backlog, Jobs, Recompute, run_jobs};

/// How the engine batches, retries and reports.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Batches the queue holds before senders wait.
    pub queue_capacity: usize,
    /// The most scans a flush gathers (under a backlog, a flush takes what is queued up to
    /// this many, all stored in one transaction by the SQL stores).
    pub max_batch_scans: usize,
    /// How long a flush waits for more batches after the first (zero, the default: it takes
    /// what is queued and stores it at once; batches arriving meanwhile form the next group).
    pub max_batch_delay: Duration,
    /// Under a steady stream of scans, the shortest time between the starts of two real-time
    /// recomputes (default 50 ms): the pairs touched meanwhile gather and are recomputed
    /// together, in a few queries, instead of a handful of queries for every small flush. A
    /// recompute after a quiet moment starts at once; scan events are not delayed by it (they
    /// are published as their flush is stored).
    pub recompute_interval: Duration,
    /// How often a `system_status` event is published.
    pub status_interval: Duration,
    /// The first wait before a failed store write is retried (doubling up to `max_retry_delay`).
    pub retry_delay: Duration,
    /// The longest wait between retries.
    pub max_retry_delay: Duration,
    /// Events the bus keeps for a slow subscriber before it starts missing them.
    pub event_capacity: usize,
    /// After a shutdown is asked for, how long a failing store is still retried before the
    /// batches left are given up (and logged with their count).
    pub drain_timeout: Duration,
    /// Scans before this instant are set aside (a device whose clock was reset).
    pub earliest_scan: DateTime<Utc>,
    /// Scans later than now plus this are set aside (a device clock far ahead).
    pub future_tolerance: Duration,
    /// How often shift windows that closed with no scan are looked for, so those days become
    /// `Absent` without anyone asking ([`AttendanceService::close_windows`]); the first pass
    /// at start looks two days back. `None`: never (tests that count records exactly).
    pub close_interval: Option<Duration>,
    /// How often the leave year-end job is looked at
    /// ([`AttendanceService::start_of_year`]: once a year, it rolls the year before over and
    /// allocates the new year's entitlements); the first look is at start. `None`: never.
    pub leave_year_interval: Option<Duration>,
    /// How often the background recompute runner looks at the stored jobs without being woken:
    /// for jobs queued by other instances and for the [`JobsGate`] opening (this instance
    /// becoming the leader), and to refresh the job shown in [`EngineStats::recompute_job`].
    pub jobs_poll_interval: Duration,
}

/// The default [`EngineConfig::earliest_scan`]: 2010-01-01 00:00 UTC.
pub fn default_earliest_scan() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2010, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            queue_capacity: 1_024,
            max_batch_scans: 20_000,
            max_batch_delay: Duration::ZERO,
            recompute_interval: Duration::from_millis(50),
            status_interval: Duration::from_secs(30),
            retry_delay: Duration::from_millis(200),
            max_retry_delay: Duration::from_secs(10),
            event_capacity: 4_096,
            drain_timeout: Duration::from_secs(30),
            earliest_scan: default_earliest_scan(),
            future_tolerance: Duration::from_secs(24 * 3600),
            close_interval: Some(Duration::from_secs(60)),
            leave_year_interval: Some(Duration::from_secs(3600)),
            jobs_poll_interval: Duration::from_secs(1),
        }
    }
}
/// Whether this engine runs the site's jobs (the window-closing pass, the leave year-end and
/// the background recomputes stored by any instance): open unless closed. A cluster keeps it
/// open only on the instance holding the leader lease (see [`crate::cluster`]), so the jobs run
/// on one instance at a time and another takes them over when that one dies (a background
/// recompute from the resume point its last chunk saved).
#[derive(Debug, Clone)]
pub struct JobsGate(Arc<std::sync::atomic::AtomicBool>);

impl Default for JobsGate {
    fn default() -> Self {
        Self(Arc::new(std::sync::atomic::AtomicBool::new(true)))
    }
}

impl JobsGate {
    /// Whether the jobs run here.
    pub fn is_open(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// Opens (`true`) or closes the gate; a window-closing pass or year-end running keeps
    /// running to its end, a background recompute stops after its chunk (stored, it resumes
    /// where the gate opens next).
    pub fn set(&self, open: bool) {
        self.0.store(open, Ordering::Relaxed);
    }
}

/// The engine's counters, as `system_status` publishes them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct EngineStats {
    /// Batches waiting in the queue.
    pub queue_depth: usize,
    /// The queue's capacity.
    pub queue_capacity: usize,
    /// Scans stored as new.
    pub scans_stored: u64,
    /// Scans that were already stored.
    pub duplicates: u64,
    /// Scans set aside: outside the storable window (see [`EngineHandle::set_aside`]).
    pub scans_set_aside: u64,
    /// Store writes (one per flush, plus one per batch when a refused group is retried batch
    /// by batch).
    pub store_writes: u64,
    /// Daily records recomputed (by the engine and by every other write of its service).
    pub records_recomputed: u64,
    /// New scans waiting for the recompute stage (to be published and their days recomputed).
    pub recompute_backlog: usize,
    /// Failed store writes (each retry counts).
    pub store_errors: u64,
    /// The store's failure now: set while the latest write failed (the engine is retrying, the
    /// push receivers answer 503), cleared by the next write that succeeds.
    pub store_failure: Option<StoreFailure>,
    /// Batches dropped because the store refused them as invalid.
    pub batches_rejected: u64,
    /// Scans given up at shutdown because the store kept failing past the drain timeout.
    pub scans_abandoned: u64,
    /// Seconds since the engine started.
    pub uptime_seconds: u64,
    /// The background recompute running now, or the last one (a settings change recomputes a
    /// range of days for every active employee): the stored job, whichever instance runs it.
    pub recompute_job: Option<RecomputeJob>,
}

/// The store failing the engine's writes: why (the error with its causes, e.g. the database's
/// own `database or disk is full`), since when and how many attempts failed in a row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoreFailure {
    /// The error and its causes, outermost first, joined by `: `.
    pub message: String,
    /// When the first failed attempt of this run of failures was made.
    pub since: DateTime<Utc>,
    /// Failed attempts in a row.
    pub attempts: u64,
}

/// `error` and its sources, outermost first, joined by `: ` (a store error's own text names
/// only the operation; its source says why).
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // Some errors repeat their source in their own text: said once.
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// A background recompute of every active employee's days in a range, and how far it got: the
/// stored job ([`RecomputeJobRecord`]) as `system-status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecomputeJob {
    /// The stored job's id.
    pub id: i64,
    /// `queued` (not started), `running` (started; paused while no instance runs the jobs),
    /// `done` or `failed`.
    pub state: &'static str,
    /// Why it runs (`settings changed`, …).
    pub reason: String,
    /// The first date.
    pub from: NaiveDate,
    /// The last date.
    pub to: NaiveDate,
    /// Employees done.
    pub done: usize,
    /// Employees in all.
    pub total: usize,
    /// Records stored so far.
    pub records: usize,
    /// The last employee code done: a run taking the job over resumes after it.
    pub resume_after: Option<String>,
    /// When it was queued.
    pub created_at: DateTime<Utc>,
    /// When it started (when it was queued, while it is).
    pub started_at: DateTime<Utc>,
    /// When it ended (`None` while it runs).
    pub finished_at: Option<DateTime<Utc>>,
    /// Why it failed, if it did.
    pub error: Option<String>,
}

impl From<&RecomputeJobRecord> for RecomputeJob {
    fn from(job: &RecomputeJobRecord) -> Self {
        let count = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        Self {
            id: job.id,
            state: match (job.started_at, job.finished_at, &job.error) {
                (_, Some(_), Some(_)) => "failed",
                (_, Some(_), None) => "done",
                (Some(_), None, _) => "running",
                (None, None, _) => "queued",
            },
            reason: job.reason.clone(),
            from: job.from,
            to: job.to,
            done: count(job.done),
            total: count(job.total),
            records: count(job.records),
            resume_after: job.resume_after.as_ref().map(|c| c.as_str().to_owned()),
            created_at: job.created_at,
            started_at: job.started_at.unwrap_or(job.created_at),
            finished_at: job.finished_at,
            error: job.error.clone(),
        }
    }
}

impl RecomputeJob {
    /// Takes a chunk's `progress`.
    fn advance(&mut self, progress: &JobProgress) {
        let count = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        self.resume_after = Some(progress.resume_after.as_str().to_owned());
        self.done = count(progress.done);
        self.total = count(progress.total);
        self.records = count(progress.records);
    }
}

#[derive(Debug, Default)]
struct Counters {
    scans_stored: AtomicU64,
    duplicates: AtomicU64,
    scans_set_aside: AtomicU64,
    store_writes: AtomicU64,
    records_recomputed: AtomicU64,
    recompute_backlog: AtomicUsize,
    store_errors: AtomicU64,
    batches_rejected: AtomicU64,
    scans_abandoned: AtomicU64,
    store_failure: Mutex<Option<StoreFailure>>,
}

impl Counters {
    /// Records a failed store write.
    fn store_failed(&self, error: &dyn std::error::Error) {
        self.store_errors.fetch_add(1, Ordering::Relaxed);
        let mut failure = self
            .store_failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let attempts = failure.as_ref().map_or(0, |f| f.attempts) + 1;
        let since = failure.as_ref().map_or_else(Utc::now, |f| f.since);
        *failure = Some(StoreFailure {
            message: error_chain(error),
            since,
            attempts,
        });
    }

    /// Records a store write that succeeded: the store is not failing any more.
    fn store_succeeded(&self) {
        let mut failure = self
            .store_failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(f) = failure.take() {
            tracing::info!(attempts = f.attempts, since = %f.since, "the store accepts writes again");
        }
    }
}
/// Starts engines.
#[derive(Debug)]
pub struct Engine;

/// A running engine: its queue's sender, its service, its bus, its counters, and its shutdown.
#[derive(Debug)]
pub struct EngineHandle {
    sender: IngestSender,
    service: AttendanceService,
    bus: Arc<Bus>,
    counters: Arc<Counters>,
    jobs: Arc<Jobs>,
    started: Instant,
    capacity: usize,
    drain_timeout: Duration,
    stop: watch::Sender<bool>,
    jobs_gate: JobsGate,
    /// The ingest, recompute, background recompute, window-closing and status tasks, taken by
    /// the first shutdown (so a shared handle can stop the engine).
    tasks: Mutex<Option<Tasks>>,
}

#[derive(Debug)]
struct Tasks {
    ingest: JoinHandle<()>,
    recompute: JoinHandle<()>,
    jobs: JoinHandle<()>,
    others: Vec<JoinHandle<()>>,
}

impl Engine {
    /// Starts the engine's tasks on the current tokio runtime. The engine keeps `service` with
    /// its bus as the observer: use [`EngineHandle::service`] for every other write (manual
    /// scans, leave, holidays) so that it is published too.
    pub fn start(service: AttendanceService, config: EngineConfig) -> EngineHandle {
        Self::start_gated(service, config, JobsGate::default())
    }

    /// [`Engine::start`] with the site's jobs behind `gate` (a cluster passes a closed gate
    /// and opens it on the leader only, so no job runs before the leader is known).
    pub fn start_gated(
        service: AttendanceService,
        config: EngineConfig,
        jobs_gate: JobsGate,
    ) -> EngineHandle {
        let capacity = config.queue_capacity.max(1);
        let (queue, receiver) = mpsc::channel(capacity);
        let (events, _) = broadcast::channel(config.event_capacity.max(1));
        let (stop, stopped) = watch::channel(false);
        let counters = Arc::new(Counters::default());
        let bus = Arc::new(Bus {
            events,
            counters: counters.clone(),
        });
        let service = service.with_observer(bus.clone());
        let started = Instant::now();
        let backlog = Arc::new(Backlog::default());
        let ingest = Ingest {
            service: service.clone(),
            config: config.clone(),
            bus: bus.clone(),
            counters: counters.clone(),
            backlog: backlog.clone(),
        };
        let recompute = Recompute {
            service: service.clone(),
            config: config.clone(),
            bus: bus.clone(),
            counters: counters.clone(),
            backlog,
        };
        let weak = queue.downgrade();
        let jobs = Arc::new(Jobs::default());
        let mut tasks = Tasks {
            ingest: tokio::spawn(ingest.run(receiver, stopped.clone())),
            recompute: tokio::spawn(recompute.run(stopped.clone())),
            jobs: tokio::spawn(run_jobs(
                service.clone(),
                jobs.clone(),
                jobs_gate.clone(),
                config.jobs_poll_interval,
                Stop::new(stopped.clone(), config.drain_timeout),
            )),
            others: vec![tokio::spawn(status_loop(
                config.status_interval,
                bus.clone(),
                counters.clone(),
                weak,
                capacity,
                started,
                stopped.clone(),
            ))],
        };
        if let Some(every) = config.leave_year_interval {
            tasks.others.push(tokio::spawn(year_end::leave_year_loop(
                service.clone(),
                every,
                jobs_gate.clone(),
                stopped.clone(),
            )));
        }
        if let Some(every) = config.close_interval {
            tasks.others.push(tokio::spawn(close_windows_loop(
                service.clone(),
                every,
                jobs_gate.clone(),
                stopped,
            )));
        }
        EngineHandle {
            sender: IngestSender {
                queue,
                source: queue::UNNAMED_SOURCE,
            },
            service,
            bus,
            counters,
            jobs,
            started,
            capacity,
            drain_timeout: config.drain_timeout,
            stop,
            jobs_gate,
            tasks: Mutex::new(Some(tasks)),
        }
    }
}

fn snapshot(counters: &Counters, depth: usize, capacity: usize, started: Instant) -> EngineStats {
    EngineStats {
        queue_depth: depth,
        queue_capacity: capacity,
        scans_stored: counters.scans_stored.load(Ordering::Relaxed),
        duplicates: counters.duplicates.load(Ordering::Relaxed),
        scans_set_aside: counters.scans_set_aside.load(Ordering::Relaxed),
        store_writes: counters.store_writes.load(Ordering::Relaxed),
        records_recomputed: counters.records_recomputed.load(Ordering::Relaxed),
        recompute_backlog: counters.recompute_backlog.load(Ordering::Relaxed),
        store_errors: counters.store_errors.load(Ordering::Relaxed),
        batches_rejected: counters.batches_rejected.load(Ordering::Relaxed),
        scans_abandoned: counters.scans_abandoned.load(Ordering::Relaxed),
        store_failure: counters
            .store_failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone(),
        uptime_seconds: started.elapsed().as_secs(),
        recompute_job: None,
    }
}

async fn status_loop(
    every: Duration,
    bus: Arc<Bus>,
    counters: Arc<Counters>,
    queue: mpsc::WeakSender<Job>,
    capacity: usize,
    started: Instant,
    mut stopped: watch::Receiver<bool>,
) {
    let every = every.max(Duration::from_millis(10));
    loop {
        tokio::select! {
            _ = sleep(every) => {}
            _ = stopped.changed() => return,
        }
        let depth = queue
            .upgrade()
            .map(|s| capacity.saturating_sub(s.capacity()))
            .unwrap_or(0);
        let stats = snapshot(&counters, depth, capacity, started);
        bus.send(EngineEvent::SystemStatus(stats), None);
    }
}

/// Every `every`, turns the days whose shift window closed with no scan into `Absent` (and
/// publishes them through the service's observer), so nobody has to read a summary first.
async fn close_windows_loop(
    service: AttendanceService,
    every: Duration,
    gate: JobsGate,
    mut stopped: watch::Receiver<bool>,
) {
    let every = every.max(Duration::from_millis(10));
    let look_back = chrono::TimeDelta::days(2);
    // The first pass looks back two days: windows that closed while the engine was not running.
    let mut since = Utc::now() - look_back;
    loop {
        let now = Utc::now();
        if !gate.is_open() {
            // Another instance runs the pass; when this one takes over it looks back two days.
            since = now - look_back;
        } else {
            match service.close_windows(since, now).await {
                Ok(closed) => {
                    since = now;
                    if !closed.records.is_empty() {
                        tracing::info!(
                            records = closed.records.len(),
                            "shift windows closed: days recomputed"
                        );
                    }
                }
                Err(e) => warn!(error = %e, "closing shift windows failed; trying again later"),
            }
        }
        tokio::select! {
            _ = sleep(every) => {}
            _ = stopped.changed() => return,
        }
    }
}

impl EngineHandle {
    /// A sender into the queue, for the manager, the push routers and imports.
    pub fn sender(&self) -> IngestSender {
        self.sender.clone()
    }

    /// The gate of the site's jobs (open by default; see [`JobsGate`]).
    pub fn jobs_gate(&self) -> &JobsGate {
        &self.jobs_gate
    }

    /// The engine's use cases: every change made through them is published on the bus.
    pub fn service(&self) -> &AttendanceService {
        &self.service
    }

    /// A new subscription to the bus.
    pub fn subscribe(&self) -> broadcast::Receiver<Published> {
        self.bus.events.subscribe()
    }

    /// Publishes an event from outside the ingest (machine connections from the manager).
    pub fn publish(&self, event: EngineEvent, audience: Option<Owner>) {
        self.bus.send(event, audience);
    }

    /// The scans set aside (outside the storable window), as the store keeps them: newest
    /// arrival first, `offset`/`limit` applied.
    pub async fn set_aside(&self, offset: u64, limit: u64) -> Result<Page<SetAside>, ServiceError> {
        self.service.set_aside_scans(offset, limit).await
    }

    /// Whether the engine runs: its ingest and recompute tasks are alive and it takes batches
    /// (false once a shutdown began, or if a task ended unexpectedly).
    pub fn is_running(&self) -> bool {
        if *self.stop.borrow() || self.sender.is_closed() {
            return false;
        }
        self.tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .is_some_and(|t| !t.ingest.is_finished() && !t.recompute.is_finished())
    }

    /// The counters now.
    pub fn stats(&self) -> EngineStats {
        let depth = self.capacity.saturating_sub(self.sender.queue.capacity());
        let mut stats = snapshot(&self.counters, depth, self.capacity, self.started);
        stats.recompute_job = self.recompute_job();
        stats
    }

    /// The background recompute running now, or the last one, as this engine last saw it (it
    /// runs it, or it looked at the store within [`EngineConfig::jobs_poll_interval`]).
    pub fn recompute_job(&self) -> Option<RecomputeJob> {
        self.jobs.shown()
    }

    /// The background recompute running now, or the last one, read from the store (whichever
    /// instance runs it); what [`Self::recompute_job`] saw when the store cannot be read.
    pub async fn stored_recompute_job(&self) -> Option<RecomputeJob> {
        match self.service.recompute_jobs().current_recompute().await {
            Ok(Some(job)) => {
                let job = RecomputeJob::from(&job);
                self.jobs.show(job.clone());
                Some(job)
            }
            Ok(None) => self.recompute_job(),
            Err(e) => {
                warn!(error = %error_chain(&e), "reading the current background recompute failed");
                self.recompute_job()
            }
        }
    }

    /// Queues a recompute of every active employee's days in `[from, to]` (the caller bounds
    /// the range) and wakes the runner; returns the job as stored. The job is durable once this
    /// returns: it runs wherever the [`JobsGate`] is open (the leader of a cluster), its
    /// progress in [`EngineStats::recompute_job`] on every instance and its records published
    /// like any other, and it is resumed from its last chunk if that instance stops. Asked
    /// while a job is queued and not started, the range is merged into that job.
    pub async fn recompute_in_background(
        &self,
        from: NaiveDate,
        to: NaiveDate,
        reason: &str,
    ) -> Result<RecomputeJob, ServiceError> {
        let job = self
            .service
            .recompute_jobs()
            .enqueue_recompute(from, to, reason, Utc::now())
            .await?;
        let job = RecomputeJob::from(&job);
        tracing::info!(id = job.id, %from, %to, %reason, "background recompute queued");
        // Shown unless this engine shows one running.
        let shown = self.jobs.shown();
        if shown.is_none_or(|s| s.state != "running" || s.id == job.id) {
            self.jobs.show(job.clone());
        }
        self.jobs.wake.notify_one();
        Ok(job)
    }

    /// Stops accepting batches, stores every batch already accepted, recomputes the days they
    /// touched, runs the stored background recomputes (when this engine runs the jobs) until
    /// none is left or the drain timeout passes, then stops the one running after its chunk
    /// (stored with its resume point, it resumes at the next start or on the next leader), and
    /// returns the final counters. Senders held elsewhere get an error from then
    /// on. Later calls return at once.
    pub async fn shutdown(&self) -> EngineStats {
        self.stop.send_replace(true);
        let tasks = self
            .tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(tasks) = tasks {
            if let Err(e) = tasks.ingest.await {
                error!(error = %e, "the ingest task failed");
            }
            if let Err(e) = tasks.recompute.await {
                error!(error = %e, "the recompute task failed");
            }
            // The runner stops by itself after the chunk running once the drain timeout
            // passed; a chunk still running long after that is cut (its job stays stored and
            // resumes from the chunk before).
            let mut runner = tasks.jobs;
            match tokio::time::timeout(self.drain_timeout * 2, &mut runner).await {
                Ok(Err(e)) => error!(error = %e, "the background recompute task failed"),
                Ok(Ok(())) => {}
                Err(_) => {
                    runner.abort();
                    warn!(
                        job = ?self.recompute_job().map(|j| (j.id, j.resume_after)),
                        "shutting down: the background recompute's chunk did not end in time and was stopped; the job resumes from its last saved chunk"
                    );
                }
            }
            for task in tasks.others {
                let _ = task.await;
            }
        }
        snapshot(&self.counters, 0, self.capacity, self.started)
    }
}
/// The shutdown signal as a stage sees it: once asked, a deadline for a failing store.
struct Stop {
    signal: watch::Receiver<bool>,
    grace: Duration,
    deadline: Option<Instant>,
}

impl Stop {
    fn new(signal: watch::Receiver<bool>, grace: Duration) -> Self {
        Self {
            signal,
            grace,
            deadline: None,
        }
    }

    fn asked(&mut self) -> bool {
        // A dropped handle counts as a shutdown.
        let asked = *self.signal.borrow() || self.signal.has_changed().is_err();
        if asked && self.deadline.is_none() {
            self.deadline = Some(Instant::now() + self.grace);
        }
        asked
    }

    fn expired(&mut self) -> bool {
        self.asked() && self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// Returns once the shutdown is asked (at once if it has been).
    async fn wait(&mut self) {
        if !self.asked() {
            // Ok: the shutdown was sent; Err: the handle was dropped. Both stop the engine.
            let _ = self.signal.changed().await;
            self.asked();
        }
    }
}
