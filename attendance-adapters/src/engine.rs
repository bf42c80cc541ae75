//! The real-time engine: scans from the machines (the manager's output, push receivers, manual
//! entry) go through a bounded queue into an ingest stage that batches them by size or time,
//! stores each flush as one group (every machine's scans idempotently with its cursor, in one
//! store call), recomputes only the affected (employee, work date) pairs once per flush and
//! publishes events on a bus.
//!
//! ```no_run
//! # async fn demo(service: attendance_core::service::AttendanceService) {
//! use attendance_adapters::engine::{Engine, EngineConfig};
//!
//! let engine = Engine::start(service, EngineConfig::default());
//! let mut events = engine.subscribe();
//! let scans = engine.sender(); // give it to the MachineManager and the push routers
//! # drop(scans);
//! while let Ok(event) = events.recv().await {
//!     println!("{}", serde_json::to_string(&event).unwrap_or_default());
//! }
//! engine.shutdown().await; // drains the queue: nothing accepted is lost
//! # }
//! ```
//!
//! Invariants:
//! - the queue is bounded: a slow store makes senders wait, memory does not grow;
//! - a batch accepted by the queue is stored before [`EngineHandle::shutdown`] returns; a store
//!   that fails transiently is retried with backoff (the batch is held, and the queue fills
//!   behind it); a batch the store refuses as invalid is reported and dropped (retrying cannot
//!   help); when a group is refused, its batches are stored one by one, so one machine's bad
//!   batch does not hold back the others;
//! - events about one employee carry the employee as their audience, so a server forwards them
//!   only to clients allowed to see that employee.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use attendance_core::access::Owner;
use attendance_core::employee::{DeviceUserId, EmployeeCode};
use attendance_core::report::DailySummary;
use attendance_core::scan::{MachineId, PunchState, ScanData, VerifyMode};
use attendance_core::service::{AttendanceService, ServiceError};
use attendance_core::store::{ScanBatch, StoreError};
use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep, timeout};
use tracing::{error, warn};

/// How the engine batches, retries and reports.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Batches the queue holds before senders wait.
    pub queue_capacity: usize,
    /// The most scans a flush gathers (under a backlog, a flush takes what is queued up to
    /// this many, all stored in one transaction by the SQL stores).
    pub max_batch_scans: usize,
    /// The longest a scan waits in the gathering stage before a flush (when scans arrive
    /// slowly, a flush holds what came within this delay).
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
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            queue_capacity: 1_024,
            max_batch_scans: 20_000,
            max_batch_delay: Duration::from_millis(100),
            status_interval: Duration::from_secs(30),
            retry_delay: Duration::from_millis(200),
            max_retry_delay: Duration::from_secs(10),
            event_capacity: 4_096,
            drain_timeout: Duration::from_secs(30),
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
    /// Store writes (one per flush, plus one per batch when a refused group is retried batch
    /// by batch).
    pub store_writes: u64,
    /// Daily records recomputed.
    pub records_recomputed: u64,
    /// Failed store writes (each retry counts).
    pub store_errors: u64,
    /// Batches dropped because the store refused them as invalid.
    pub batches_rejected: u64,
    /// Scans given up at shutdown because the store kept failing past the drain timeout.
    pub scans_abandoned: u64,
    /// Seconds since the engine started.
    pub uptime_seconds: u64,
}

/// What the bus carries. Serialised as `{"type": "scan_received", "data": {…}}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
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

#[derive(Debug, Default)]
struct Counters {
    scans_stored: AtomicU64,
    duplicates: AtomicU64,
    store_writes: AtomicU64,
    records_recomputed: AtomicU64,
    store_errors: AtomicU64,
    batches_rejected: AtomicU64,
    scans_abandoned: AtomicU64,
}

/// Starts engines.
#[derive(Debug)]
pub struct Engine;

/// A running engine: its queue's sender, its bus, its counters, and its shutdown.
#[derive(Debug)]
pub struct EngineHandle {
    sender: mpsc::Sender<ScanBatch>,
    events: broadcast::Sender<Published>,
    counters: Arc<Counters>,
    started: Instant,
    capacity: usize,
    stop: watch::Sender<bool>,
    /// The ingest and status tasks, taken by the first shutdown (so a shared handle can stop
    /// the engine).
    tasks: std::sync::Mutex<Option<(JoinHandle<()>, JoinHandle<()>)>>,
}

impl Engine {
    /// Starts the ingest and status tasks on the current tokio runtime.
    pub fn start(service: AttendanceService, config: EngineConfig) -> EngineHandle {
        let capacity = config.queue_capacity.max(1);
        let (sender, receiver) = mpsc::channel(capacity);
        let (events, _) = broadcast::channel(config.event_capacity.max(1));
        let (stop, stopped) = watch::channel(false);
        let counters = Arc::new(Counters::default());
        let started = Instant::now();
        let ingest = Ingest {
            service,
            config: config.clone(),
            events: events.clone(),
            counters: counters.clone(),
        };
        let task = tokio::spawn(ingest.run(receiver, stopped.clone()));
        let status_task = tokio::spawn(status_loop(
            config.status_interval,
            events.clone(),
            counters.clone(),
            sender.downgrade(),
            capacity,
            started,
            stopped,
        ));
        EngineHandle {
            sender,
            events,
            counters,
            started,
            capacity,
            stop,
            tasks: std::sync::Mutex::new(Some((task, status_task))),
        }
    }
}

fn snapshot(counters: &Counters, depth: usize, capacity: usize, started: Instant) -> EngineStats {
    EngineStats {
        queue_depth: depth,
        queue_capacity: capacity,
        scans_stored: counters.scans_stored.load(Ordering::Relaxed),
        duplicates: counters.duplicates.load(Ordering::Relaxed),
        store_writes: counters.store_writes.load(Ordering::Relaxed),
        records_recomputed: counters.records_recomputed.load(Ordering::Relaxed),
        store_errors: counters.store_errors.load(Ordering::Relaxed),
        batches_rejected: counters.batches_rejected.load(Ordering::Relaxed),
        scans_abandoned: counters.scans_abandoned.load(Ordering::Relaxed),
        uptime_seconds: started.elapsed().as_secs(),
    }
}

async fn status_loop(
    every: Duration,
    events: broadcast::Sender<Published>,
    counters: Arc<Counters>,
    sender: mpsc::WeakSender<ScanBatch>,
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
        let depth = sender
            .upgrade()
            .map(|s| capacity.saturating_sub(s.capacity()))
            .unwrap_or(0);
        let stats = snapshot(&counters, depth, capacity, started);
        // No subscriber is fine: the status is for whoever listens.
        let _ = events.send(Published {
            event: EngineEvent::SystemStatus(stats),
            audience: None,
        });
    }
}

impl EngineHandle {
    /// A sender into the queue, for the manager, the push routers and manual entry. Sending
    /// waits while the queue is full.
    pub fn sender(&self) -> mpsc::Sender<ScanBatch> {
        self.sender.clone()
    }

    /// A new subscription to the bus.
    pub fn subscribe(&self) -> broadcast::Receiver<Published> {
        self.events.subscribe()
    }

    /// Publishes an event from outside the ingest (machine connections from the manager).
    pub fn publish(&self, event: EngineEvent, audience: Option<Owner>) {
        let _ = self.events.send(Published { event, audience });
    }

    /// The counters now.
    pub fn stats(&self) -> EngineStats {
        let depth = self.capacity.saturating_sub(self.sender.capacity());
        snapshot(&self.counters, depth, self.capacity, self.started)
    }

    /// Stops accepting batches, stores every batch already accepted, and returns the final
    /// counters. Senders held elsewhere get an error from then on. Later calls return at once.
    pub async fn shutdown(&self) -> EngineStats {
        let _ = self.stop.send(true);
        let tasks = match self.tasks.lock() {
            Ok(mut guard) => guard.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some((ingest, status)) = tasks {
            if let Err(e) = ingest.await {
                error!(error = %e, "the ingest task failed");
            }
            let _ = status.await;
        }
        snapshot(&self.counters, 0, self.capacity, self.started)
    }
}

/// How storing a group ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stored {
    /// Stored, events published.
    Done,
    /// The store refused it as invalid.
    Refused,
    /// Given up at shutdown with the store still failing.
    Abandoned,
}

struct Ingest {
    service: AttendanceService,
    config: EngineConfig,
    events: broadcast::Sender<Published>,
    counters: Arc<Counters>,
}

/// Batches of one flush, merged per machine in arrival order (each keeps its last cursor).
#[derive(Default)]
struct Gathered {
    by_machine: BTreeMap<MachineId, ScanBatch>,
    order: Vec<MachineId>,
    scans: usize,
}

impl Gathered {
    fn add(&mut self, batch: ScanBatch) {
        self.scans += batch.scans.len();
        match self.by_machine.get_mut(&batch.machine_id) {
            Some(merged) => {
                merged.scans.extend(batch.scans);
                if batch.cursor.is_some() {
                    merged.cursor = batch.cursor;
                }
            }
            None => {
                self.order.push(batch.machine_id.clone());
                self.by_machine.insert(batch.machine_id.clone(), batch);
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    fn take(&mut self) -> Vec<ScanBatch> {
        let mut by_machine = std::mem::take(&mut self.by_machine);
        self.scans = 0;
        std::mem::take(&mut self.order)
            .into_iter()
            .filter_map(|m| by_machine.remove(&m))
            .collect()
    }
}

/// The shutdown signal as the ingest sees it: once asked, a deadline for a failing store.
struct Stop {
    signal: watch::Receiver<bool>,
    grace: Duration,
    deadline: Option<Instant>,
}

impl Stop {
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

impl Ingest {
    async fn run(self, mut receiver: mpsc::Receiver<ScanBatch>, signal: watch::Receiver<bool>) {
        let mut stop = Stop {
            signal,
            grace: self.config.drain_timeout,
            deadline: None,
        };
        let mut gathered = Gathered::default();
        loop {
            // Wait for the first batch of a flush (or the stop).
            let first = tokio::select! {
                batch = receiver.recv() => batch,
                _ = stop.wait() => None,
            };
            let Some(first) = first else { break };
            gathered.add(first);
            let deadline = Instant::now() + self.config.max_batch_delay;
            while gathered.scans < self.config.max_batch_scans {
                match timeout(
                    deadline.saturating_duration_since(Instant::now()),
                    receiver.recv(),
                )
                .await
                {
                    Ok(Some(batch)) => gathered.add(batch),
                    Ok(None) | Err(_) => break,
                }
            }
            self.flush(&mut gathered, &mut stop).await;
        }
        // Drain: refuse new batches, store every one already accepted.
        receiver.close();
        stop.asked();
        while let Some(batch) = receiver.recv().await {
            gathered.add(batch);
            if gathered.scans >= self.config.max_batch_scans {
                self.flush(&mut gathered, &mut stop).await;
            }
        }
        if !gathered.is_empty() {
            self.flush(&mut gathered, &mut stop).await;
        }
    }

    /// Stores the gathered batches as one group; if the store refuses the group as invalid,
    /// stores them one by one, so only the bad batch is dropped.
    async fn flush(&self, gathered: &mut Gathered, stop: &mut Stop) {
        let group = gathered.take();
        if group.len() > 1 && self.store(group.clone(), stop).await == Stored::Refused {
            for batch in group {
                self.store(vec![batch], stop).await;
            }
        } else if group.len() == 1 {
            self.store(group, stop).await;
        }
    }

    /// Stores a group of batches, retrying transient failures until it is stored (or, once a
    /// shutdown is asked, until the drain timeout). A single batch the store refuses as invalid
    /// is reported and dropped; a refused group of several is left to the caller.
    async fn store(&self, group: Vec<ScanBatch>, stop: &mut Stop) -> Stored {
        let mut delay = self.config.retry_delay;
        let machines = group
            .iter()
            .map(|b| b.machine_id.as_str())
            .collect::<Vec<_>>()
            .join(",");
        let scans: usize = group.iter().map(|b| b.scans.len()).sum();
        loop {
            self.counters.store_writes.fetch_add(1, Ordering::Relaxed);
            match self
                .service
                .record_scan_batches(group.clone(), Utc::now())
                .await
            {
                Ok(report) => {
                    self.publish_report(report);
                    return Stored::Done;
                }
                Err(ServiceError::Store(StoreError::Invalid(message))) => {
                    if let [batch] = group.as_slice() {
                        self.counters
                            .batches_rejected
                            .fetch_add(1, Ordering::Relaxed);
                        error!(machine = %batch.machine_id, %message, "batch refused by the store; dropped");
                        self.error_event(&batch.machine_id, "invalid_batch", message);
                    } else {
                        warn!(%machines, %message, "group refused by the store; storing its batches one by one");
                    }
                    return Stored::Refused;
                }
                Err(e) => {
                    self.counters.store_errors.fetch_add(1, Ordering::Relaxed);
                    if stop.expired() {
                        self.counters
                            .scans_abandoned
                            .fetch_add(scans as u64, Ordering::Relaxed);
                        error!(%machines, scans, error = %e,
                            "shutting down with the store still failing: scans not stored (a pull device keeps them; its cursor was not advanced)");
                        return Stored::Abandoned;
                    }
                    warn!(%machines, error = %e, retry_in = ?delay, "storing scans failed; retrying");
                    for batch in &group {
                        self.error_event(&batch.machine_id, "store", e.to_string());
                    }
                    sleep(delay).await;
                    delay = (delay * 2).min(self.config.max_retry_delay);
                }
            }
        }
    }

    fn error_event(&self, machine: &MachineId, kind: &str, message: String) {
        let _ = self.events.send(Published {
            event: EngineEvent::ErrorOccurred(ErrorEvent {
                source: machine.to_string(),
                kind: kind.into(),
                message,
            }),
            audience: None,
        });
    }

    fn publish_report(&self, report: attendance_core::service::IngestReport) {
        let c = &self.counters;
        c.scans_stored
            .fetch_add(report.inserted.len() as u64, Ordering::Relaxed);
        c.duplicates
            .fetch_add(report.duplicates as u64, Ordering::Relaxed);
        c.records_recomputed
            .fetch_add(report.records.len() as u64, Ordering::Relaxed);
        for (employee, shift) in &report.unknown_shifts {
            tracing::warn!(%employee, %shift, "the site has no such shift: scored on the default shift");
        }
        for scan in &report.inserted {
            let employee = report.employees.get(&scan.device_user_id);
            let _ = self.events.send(Published {
                event: EngineEvent::ScanReceived(scan_received(scan, employee)),
                audience: employee.map(|e| Owner {
                    employee: e.employee_id.clone(),
                    department: e.department.clone(),
                }),
            });
        }
        for summary in report.summaries {
            let audience = Owner {
                employee: summary.employee_id.clone(),
                department: summary.department.clone(),
            };
            let _ = self.events.send(Published {
                event: EngineEvent::AttendanceUpdated(Box::new(summary)),
                audience: Some(audience),
            });
        }
    }
}

fn scan_received(
    scan: &ScanData,
    employee: Option<&attendance_core::employee::Employee>,
) -> ScanReceived {
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
