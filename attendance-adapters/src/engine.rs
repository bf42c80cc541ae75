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
//!   employee.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use attendance_core::access::Owner;
use attendance_core::employee::{DeviceUserId, Employee, EmployeeCode};
use attendance_core::report::DailySummary;
use attendance_core::scan::{MachineId, PunchState, ScanData, VerifyMode};
use attendance_core::service::{AttendanceService, ChangeObserver, ServiceError};
use attendance_core::store::{IngestOutcome, ScanBatch, StoreError};
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use serde::Serialize;
use serde::ser::SerializeMap;
use thiserror::Error;
use tokio::sync::{Notify, broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep, timeout};
use tracing::{debug, error, warn};

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
    /// How many set-aside scans are kept for [`EngineHandle::set_aside`] (the oldest go).
    pub set_aside_kept: usize,
    /// How often shift windows that closed with no scan are looked for, so those days become
    /// `Absent` without anyone asking ([`AttendanceService::close_windows`]); the first pass
    /// at start looks two days back. `None`: never (tests that count records exactly).
    pub close_interval: Option<Duration>,
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
            status_interval: Duration::from_secs(30),
            retry_delay: Duration::from_millis(200),
            max_retry_delay: Duration::from_secs(10),
            event_capacity: 4_096,
            drain_timeout: Duration::from_secs(30),
            earliest_scan: default_earliest_scan(),
            future_tolerance: Duration::from_secs(24 * 3600),
            set_aside_kept: 1_000,
            close_interval: Some(Duration::from_secs(60)),
        }
    }
}

/// A new scan, as `scan_received` publishes it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScanReceived {
    /// The machine.
    pub machine_id: MachineId,
    /// The PIN on the machine.
    pub device_user_id: DeviceUserId,
    /// The employee, if someone is enrolled as that PIN.
    pub employee_id: Option<EmployeeCode>,
    /// Their name.
    pub employee_name: Option<String>,
    /// When (UTC, RFC 3339).
    pub timestamp: DateTime<Utc>,
    /// The device's punch state.
    pub punch_state: PunchState,
    /// How the person was verified.
    pub verify_mode: VerifyMode,
}

/// A machine's connection changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConnectionChange {
    /// The machine.
    pub machine_id: MachineId,
    /// Why, when it is a disconnection or an error.
    pub reason: Option<String>,
}

/// Something failed that an operator should see.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorEvent {
    /// Where (`ingest`, a machine id, …).
    pub source: String,
    /// A short kind (`store`, `invalid_batch`, …).
    pub kind: String,
    /// What happened.
    pub message: String,
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
    /// Batches dropped because the store refused them as invalid.
    pub batches_rejected: u64,
    /// Scans given up at shutdown because the store kept failing past the drain timeout.
    pub scans_abandoned: u64,
    /// Seconds since the engine started.
    pub uptime_seconds: u64,
    /// The background recompute running now, or the last one (a settings change recomputes a
    /// range of days for every active employee).
    pub recompute_job: Option<RecomputeJob>,
}

/// A background recompute of every active employee's days in a range, and how far it got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecomputeJob {
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
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it ended (`None` while it runs).
    pub finished_at: Option<DateTime<Utc>>,
    /// Why it failed, if it did.
    pub error: Option<String>,
}

/// The background recompute: the job running (or last run) and the range asked for meanwhile.
#[derive(Debug, Default)]
struct Jobs {
    current: Option<RecomputeJob>,
    running: bool,
    queued: Option<(NaiveDate, NaiveDate, String)>,
}

/// What the bus carries. Serialised as `{"type": "scan_received", "data": {…}}`; the machine
/// events also carry `machine_id` at the top level (`{"type": "machine_connected",
/// "machine_id": "GATE-1", "data": {"machine_id": "GATE-1", …}}`), where clients of the
/// original system read it.
#[derive(Debug, Clone, PartialEq)]
pub enum EngineEvent {
    /// A new scan was stored.
    ScanReceived(ScanReceived),
    /// An employee's day was recomputed; the data is the day as the summary shows it.
    AttendanceUpdated(Box<DailySummary>),
    /// A machine connected.
    MachineConnected(ConnectionChange),
    /// A machine disconnected.
    MachineDisconnected(ConnectionChange),
    /// Something failed.
    ErrorOccurred(ErrorEvent),
    /// The periodic status.
    SystemStatus(EngineStats),
}

impl EngineEvent {
    /// The event's `type`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::ScanReceived(_) => "scan_received",
            Self::AttendanceUpdated(_) => "attendance_updated",
            Self::MachineConnected(_) => "machine_connected",
            Self::MachineDisconnected(_) => "machine_disconnected",
            Self::ErrorOccurred(_) => "error_occurred",
            Self::SystemStatus(_) => "system_status",
        }
    }
}

impl Serialize for EngineEvent {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("type", self.kind())?;
        match self {
            Self::ScanReceived(data) => map.serialize_entry("data", data)?,
            Self::AttendanceUpdated(data) => map.serialize_entry("data", data)?,
            Self::MachineConnected(data) | Self::MachineDisconnected(data) => {
                map.serialize_entry("machine_id", &data.machine_id)?;
                map.serialize_entry("data", data)?;
            }
            Self::ErrorOccurred(data) => map.serialize_entry("data", data)?,
            Self::SystemStatus(data) => map.serialize_entry("data", data)?,
        }
        map.end()
    }
}

/// An event and who may receive it.
#[derive(Debug, Clone, PartialEq)]
pub struct Published {
    /// The event.
    pub event: EngineEvent,
    /// The employee it is about; `None` for site-wide events (machines, errors, status), which
    /// only roles with site-wide access should receive.
    pub audience: Option<Owner>,
}

impl Serialize for Published {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.event.serialize(serializer)
    }
}

/// A scan the engine did not store because its time is outside the storable window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SetAside {
    /// The machine it came from.
    pub machine_id: MachineId,
    /// The PIN on the machine.
    pub device_user_id: DeviceUserId,
    /// The time the device gave.
    pub timestamp: DateTime<Utc>,
    /// Why it was set aside.
    pub reason: String,
    /// The device's own line or record, when the adapter kept it.
    pub raw: Option<String>,
    /// When it arrived.
    pub received_at: DateTime<Utc>,
}

/// What committing one submitted batch stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Committed {
    /// Scans stored as new.
    pub inserted: usize,
    /// Scans that were stored already (or repeated in the batch).
    pub duplicates: usize,
    /// Scans set aside as outside the storable window (not stored; see [`SetAside`]).
    pub set_aside: usize,
}

/// Why a batch was not (or not surely) stored.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IngestError {
    /// The queue stayed full: answer "retry later" (a device re-sends, nothing is lost).
    #[error("the ingest queue stayed full for {0:?}; retry later")]
    Busy(Duration),
    /// The engine has stopped.
    #[error("the ingest engine is stopped")]
    Stopped,
    /// The store refused the batch as invalid; sending it again cannot help.
    #[error("the store refused the batch: {0}")]
    Refused(String),
    /// The engine shut down while the store was still failing: the batch was not stored.
    #[error("not stored: the engine shut down while the store was failing")]
    Abandoned,
    /// No commit within the wait: the store is slow or failing. The batch may still be stored
    /// later; sending it again is safe (stores deduplicate).
    #[error("not confirmed as stored within {0:?}; retry later")]
    TimedOut(Duration),
}

impl IngestError {
    /// Whether sending the same batch later may succeed.
    pub fn is_retryable(&self) -> bool {
        !matches!(self, Self::Refused(_))
    }
}

/// One submission in the queue: the batch and, when the submitter waits, where to answer.
#[derive(Debug)]
struct Job {
    batch: ScanBatch,
    reply: Option<oneshot::Sender<Result<Committed, IngestError>>>,
}

/// The way into the engine's queue: cheap to clone, one per producer.
#[derive(Debug, Clone)]
pub struct IngestSender {
    queue: mpsc::Sender<Job>,
}

impl IngestSender {
    /// Hands `batch` to the engine and waits until the transaction that stores it (and its
    /// cursor) has committed. Waits at most `enqueue_timeout` for room in the queue
    /// ([`IngestError::Busy`]) and then at most `commit_timeout` for the commit
    /// ([`IngestError::TimedOut`]: the batch may still be stored; re-sending is safe).
    pub async fn submit(
        &self,
        batch: ScanBatch,
        enqueue_timeout: Duration,
        commit_timeout: Duration,
    ) -> Result<Committed, IngestError> {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            batch,
            reply: Some(reply),
        };
        match self.queue.send_timeout(job, enqueue_timeout).await {
            Ok(()) => {}
            Err(mpsc::error::SendTimeoutError::Timeout(_)) => {
                return Err(IngestError::Busy(enqueue_timeout));
            }
            Err(mpsc::error::SendTimeoutError::Closed(_)) => return Err(IngestError::Stopped),
        }
        match timeout(commit_timeout, answer).await {
            Ok(Ok(result)) => result,
            // The engine dropped the answer: it stopped without storing the batch.
            Ok(Err(_)) => Err(IngestError::Abandoned),
            Err(_) => Err(IngestError::TimedOut(commit_timeout)),
        }
    }

    /// Hands `batch` over without waiting for its commit, waiting for room in the queue. For
    /// pull machines, whose cursor is stored in the batch's own transaction: until it commits
    /// the stored cursor does not move, so nothing is skipped if the batch is lost.
    pub async fn send(&self, batch: ScanBatch) -> Result<(), IngestError> {
        self.queue
            .send(Job { batch, reply: None })
            .await
            .map_err(|_| IngestError::Stopped)
    }

    /// [`IngestSender::send`] without waiting: [`IngestError::Busy`] when the queue is full.
    pub fn try_send(&self, batch: ScanBatch) -> Result<(), IngestError> {
        self.queue
            .try_send(Job { batch, reply: None })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => IngestError::Busy(Duration::ZERO),
                mpsc::error::TrySendError::Closed(_) => IngestError::Stopped,
            })
    }

    /// Whether the engine has stopped taking batches.
    pub fn is_closed(&self) -> bool {
        self.queue.is_closed()
    }
}

/// A queue of submissions that a host consumes itself instead of the engine (a host with its
/// own storage, tests): the receiving end of [`ingest_channel`].
#[derive(Debug)]
pub struct IngestReceiver {
    queue: mpsc::Receiver<Job>,
}

/// A batch submitted through an [`ingest_channel`], with its submitter's answer. Answer it
/// once the batch is stored ([`Submission::stored`]) or not ([`Submission::failed`]); a
/// submission dropped unanswered reads as [`IngestError::Abandoned`] to its submitter.
#[derive(Debug)]
pub struct Submission {
    /// The batch.
    pub batch: ScanBatch,
    reply: Option<oneshot::Sender<Result<Committed, IngestError>>>,
}

impl Submission {
    /// Tells the submitter the batch is stored.
    pub fn stored(self, committed: Committed) {
        if let Some(reply) = self.reply {
            let _ = reply.send(Ok(committed));
        }
    }

    /// Tells the submitter the batch was not stored.
    pub fn failed(self, error: IngestError) {
        if let Some(reply) = self.reply {
            let _ = reply.send(Err(error));
        }
    }
}

/// A bounded queue of submissions for a host that stores batches itself: give the
/// [`IngestSender`] to the push routers or the manager, and answer each [`Submission`] after
/// storing it.
pub fn ingest_channel(capacity: usize) -> (IngestSender, IngestReceiver) {
    let (queue, receiver) = mpsc::channel(capacity.max(1));
    (IngestSender { queue }, IngestReceiver { queue: receiver })
}

impl IngestReceiver {
    /// The next submission; `None` once every sender is gone.
    pub async fn recv(&mut self) -> Option<Submission> {
        self.queue.recv().await.map(|job| Submission {
            batch: job.batch,
            reply: job.reply,
        })
    }

    /// A plain channel of the submitted batches, each answered as stored as soon as it is in
    /// that channel (bounded by `capacity`, so a full channel still pushes back). For tests and
    /// hosts whose own consumer is responsible for what it takes.
    pub fn acknowledging(mut self, capacity: usize) -> mpsc::Receiver<ScanBatch> {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        tokio::spawn(async move {
            while let Some(submission) = self.recv().await {
                let scans = submission.batch.scans.len();
                if tx.send(submission.batch.clone()).await.is_err() {
                    submission.failed(IngestError::Stopped);
                    return;
                }
                submission.stored(Committed {
                    inserted: scans,
                    ..Committed::default()
                });
            }
        });
        rx
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
}

/// The bus as the service's [`ChangeObserver`]: every change the engine's service stores is
/// published from here, whoever made it.
#[derive(Debug)]
struct Bus {
    events: broadcast::Sender<Published>,
    counters: Arc<Counters>,
}

fn owner_of(employee: &Employee) -> Owner {
    Owner {
        employee: employee.employee_id.clone(),
        department: employee.department.clone(),
    }
}

impl Bus {
    fn send(&self, event: EngineEvent, audience: Option<Owner>) {
        // No subscriber is fine: events are for whoever listens.
        let _ = self.events.send(Published { event, audience });
    }

    fn error_event(&self, source: &str, kind: &str, message: String) {
        self.send(
            EngineEvent::ErrorOccurred(ErrorEvent {
                source: source.to_owned(),
                kind: kind.into(),
                message,
            }),
            None,
        );
    }
}

impl ChangeObserver for Bus {
    fn scans_stored(&self, scans: &[ScanData], employees: &BTreeMap<DeviceUserId, Employee>) {
        for scan in scans {
            let employee = employees.get(&scan.device_user_id);
            self.send(
                EngineEvent::ScanReceived(scan_received(scan, employee)),
                employee.map(owner_of),
            );
        }
    }

    fn days_recomputed(&self, summaries: &[DailySummary]) {
        self.counters
            .records_recomputed
            .fetch_add(summaries.len() as u64, Ordering::Relaxed);
        for summary in summaries {
            let audience = Owner {
                employee: summary.employee_id.clone(),
                department: summary.department.clone(),
            };
            self.send(
                EngineEvent::AttendanceUpdated(Box::new(summary.clone())),
                Some(audience),
            );
        }
    }
}

/// The new scans waiting for the recompute stage, as many flushes as came while it worked: it
/// publishes them and recomputes the pairs they touch, each once however many flushes touched
/// it. Bounded: past [`BACKLOG_SCANS`] the ingest waits for the stage (back-pressure).
#[derive(Debug, Default)]
struct Backlog {
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
    async fn add(&self, scans: Vec<ScanData>, counters: &Counters) {
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
    fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.wake.notify_one();
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
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
    set_aside: Arc<Mutex<VecDeque<SetAside>>>,
    jobs: Arc<Mutex<Jobs>>,
    started: Instant,
    capacity: usize,
    stop: watch::Sender<bool>,
    /// The ingest, recompute, window-closing and status tasks, taken by the first shutdown (so
    /// a shared handle can stop the engine).
    tasks: Mutex<Option<Tasks>>,
}

#[derive(Debug)]
struct Tasks {
    ingest: JoinHandle<()>,
    recompute: JoinHandle<()>,
    others: Vec<JoinHandle<()>>,
}

impl Engine {
    /// Starts the engine's tasks on the current tokio runtime. The engine keeps `service` with
    /// its bus as the observer: use [`EngineHandle::service`] for every other write (manual
    /// scans, leave, holidays) so that it is published too.
    pub fn start(service: AttendanceService, config: EngineConfig) -> EngineHandle {
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
        let set_aside = Arc::new(Mutex::new(VecDeque::new()));
        let ingest = Ingest {
            service: service.clone(),
            config: config.clone(),
            bus: bus.clone(),
            counters: counters.clone(),
            backlog: backlog.clone(),
            set_aside: set_aside.clone(),
        };
        let recompute = Recompute {
            service: service.clone(),
            config: config.clone(),
            bus: bus.clone(),
            counters: counters.clone(),
            backlog,
        };
        let weak = queue.downgrade();
        let mut tasks = Tasks {
            ingest: tokio::spawn(ingest.run(receiver, stopped.clone())),
            recompute: tokio::spawn(recompute.run(stopped.clone())),
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
        if let Some(every) = config.close_interval {
            tasks.others.push(tokio::spawn(close_windows_loop(
                service.clone(),
                every,
                stopped,
            )));
        }
        EngineHandle {
            sender: IngestSender { queue },
            service,
            bus,
            counters,
            set_aside,
            jobs: Arc::new(Mutex::new(Jobs::default())),
            started,
            capacity,
            stop,
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
    mut stopped: watch::Receiver<bool>,
) {
    let every = every.max(Duration::from_millis(10));
    // The first pass looks back two days: windows that closed while the engine was not running.
    let mut since = Utc::now() - chrono::TimeDelta::days(2);
    loop {
        let now = Utc::now();
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

    /// The scans set aside most recently (outside the storable window), oldest first.
    pub fn set_aside(&self) -> Vec<SetAside> {
        self.set_aside
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .cloned()
            .collect()
    }

    /// The counters now.
    pub fn stats(&self) -> EngineStats {
        let depth = self.capacity.saturating_sub(self.sender.queue.capacity());
        let mut stats = snapshot(&self.counters, depth, self.capacity, self.started);
        stats.recompute_job = self.recompute_job();
        stats
    }

    /// The background recompute running now, or the last one.
    pub fn recompute_job(&self) -> Option<RecomputeJob> {
        self.jobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .current
            .clone()
    }

    /// Recomputes every active employee's days in `[from, to]` in the background (the caller
    /// bounds the range), its progress in [`EngineStats::recompute_job`] and its records
    /// published like any other. Asked while one runs, the range is merged into one job that
    /// runs next.
    pub fn recompute_in_background(&self, from: NaiveDate, to: NaiveDate, reason: &str) {
        let mut jobs = self.jobs.lock().unwrap_or_else(PoisonError::into_inner);
        let queued = match jobs.queued.take() {
            Some((f, t, r)) => (f.min(from), t.max(to), format!("{r}; {reason}")),
            None => (from, to, reason.to_owned()),
        };
        jobs.queued = Some(queued);
        if jobs.running {
            return;
        }
        jobs.running = true;
        drop(jobs);
        tokio::spawn(run_jobs(
            self.service.clone(),
            self.jobs.clone(),
            self.stop.subscribe(),
        ));
    }

    /// Stops accepting batches, stores every batch already accepted, recomputes the days they
    /// touched, and returns the final counters. Senders held elsewhere get an error from then
    /// on. Later calls return at once.
    pub async fn shutdown(&self) -> EngineStats {
        let _ = self.stop.send(true);
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
            for task in tasks.others {
                let _ = task.await;
            }
        }
        snapshot(&self.counters, 0, self.capacity, self.started)
    }
}

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

/// A job of a flush with its scans screened: the batch to store and what was set aside.
struct Screened {
    batch: ScanBatch,
    set_aside: usize,
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

struct Ingest {
    service: AttendanceService,
    config: EngineConfig,
    bus: Arc<Bus>,
    counters: Arc<Counters>,
    backlog: Arc<Backlog>,
    set_aside: Arc<Mutex<VecDeque<SetAside>>>,
}

impl Ingest {
    async fn run(self, mut receiver: mpsc::Receiver<Job>, signal: watch::Receiver<bool>) {
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
        let Job { mut batch, reply } = job;
        let latest = now
            + chrono::TimeDelta::from_std(self.config.future_tolerance)
                .unwrap_or(chrono::TimeDelta::MAX);
        let earliest = self.config.earliest_scan;
        let outside = |s: &ScanData| s.timestamp < earliest || s.timestamp > latest;
        if !batch.scans.iter().any(outside) {
            return Screened {
                batch,
                set_aside: 0,
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
        warn!(
            machine = %batch.machine_id,
            set_aside = count,
            first = %aside.first().map(|s| s.timestamp.to_rfc3339()).unwrap_or_default(),
            "scans outside the storable window set aside (device clock?)"
        );
        let mut kept_aside = self
            .set_aside
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for scan in aside {
            let reason = if scan.timestamp < earliest {
                format!("before {}", earliest.to_rfc3339())
            } else {
                format!(
                    "more than {:?} after the time it arrived",
                    self.config.future_tolerance
                )
            };
            if kept_aside.len() >= self.config.set_aside_kept.max(1) {
                kept_aside.pop_front();
            }
            kept_aside.push_back(SetAside {
                machine_id: scan.machine_id,
                device_user_id: scan.device_user_id,
                timestamp: scan.timestamp,
                reason,
                raw: scan.raw,
                received_at: now,
            });
        }
        Screened {
            batch,
            set_aside: count,
            reply,
        }
    }

    /// Stores the jobs as one group commit and answers each; if the store refuses the group as
    /// invalid, stores them one by one, so only the bad batch is refused.
    async fn flush(&self, jobs: Vec<Job>, stop: &mut Stop) {
        let now = Utc::now();
        let screened: Vec<Screened> = jobs.into_iter().map(|j| self.screen(j, now)).collect();
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
                Ok(outcomes) => return Stored::Done(outcomes),
                Err(ServiceError::Store(StoreError::Invalid(message))) => {
                    return Stored::Refused(message);
                }
                Err(e) => {
                    self.counters.store_errors.fetch_add(1, Ordering::Relaxed);
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

/// The second stage: recomputes the backlog's pairs set-wise, as many as have gathered.
struct Recompute {
    service: AttendanceService,
    config: EngineConfig,
    bus: Arc<Bus>,
    counters: Arc<Counters>,
    backlog: Arc<Backlog>,
}

impl Recompute {
    async fn run(self, signal: watch::Receiver<bool>) {
        let mut stop = Stop::new(signal, self.config.drain_timeout);
        loop {
            let scans = self.backlog.take();
            self.counters.recompute_backlog.store(0, Ordering::Relaxed);
            if scans.is_empty() {
                if self.backlog.is_closed() {
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
            let count = scans.len();
            drop(scans);
            // The service's observer (the bus) publishes the records.
            let started = Instant::now();
            let _ = self
                .retry(&mut stop, "recomputing days", || {
                    self.service.recompute_days(&affected.days, Utc::now())
                })
                .await;
            debug!(
                scans = count,
                days = affected.days.values().map(BTreeSet::len).sum::<usize>(),
                took_ms = started.elapsed().as_secs_f64() * 1e3,
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

/// Runs the queued background recomputes one after the other until none is queued.
async fn run_jobs(
    service: AttendanceService,
    jobs: Arc<Mutex<Jobs>>,
    stopped: watch::Receiver<bool>,
) {
    loop {
        let (from, to, reason) = {
            let mut state = jobs.lock().unwrap_or_else(PoisonError::into_inner);
            match state.queued.take() {
                Some(next) if !*stopped.borrow() => next,
                _ => {
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

fn scan_received(scan: &ScanData, employee: Option<&Employee>) -> ScanReceived {
    ScanReceived {
        machine_id: scan.machine_id.clone(),
        device_user_id: scan.device_user_id.clone(),
        employee_id: employee.map(|e| e.employee_id.clone()),
        employee_name: employee.map(|e| e.employee_name.clone()),
        timestamp: scan.timestamp,
        punch_state: scan.punch_state,
        verify_mode: scan.verify_mode,
    }
}
