//! The [`MachineManager`]: every machine in its own tokio task, reading scans into one bounded
//! queue of [`ScanBatch`]es.
//!
//! A machine's task loops: connect, test the connection (serial, clock drift), fetch the scans
//! since the stored cursor (read through a [`CursorSource`]), then either follow live events
//! (when the adapter supports them and [`ManagerConfig::live`] is set) or fetch again every
//! [`ManagerConfig::poll_interval`]. A failure is recorded in the machine's [`MachineHealth`],
//! published as a [`MachineEvent`], and followed by a reconnect after an exponential backoff
//! with jitter ([`Backoff`]); after [`BreakerPolicy::failure_threshold`] consecutive failures the
//! circuit opens for [`BreakerPolicy::cool_down`], then one trial decides whether it closes again
//! ([`CircuitBreaker`]).
//!
//! Output: either straight into the engine ([`MachineManager::into_engine`], what the
//! [`crate::runtime::Runtime`] does), where each task submits its batch and waits for the
//! commit before it reads further, or a bounded [`mpsc`] channel of batches for a host that
//! stores them itself ([`MachineManager::new`]). When the engine or the consumer is slow, a
//! task waits, does not read its device meanwhile, and shows
//! [`MachineHealth::waiting_on_output`]; memory never grows with the backlog.
//!
//! Cursors: each batch carries the cursor that follows it; the scans and the cursor are stored
//! in one transaction. Into the engine, the task's cursor advances only once that transaction
//! committed; a batch not confirmed ends the session, and the reconnect resumes from the stored
//! cursor. Into a channel, the task resumes from the stored cursor on every (re)connect, except
//! while batches it sent are still queued in the channel (the store is then behind), when it
//! resumes from the cursor of the last batch it handed over. Live scans travel in batches
//! without a cursor; a catch-up fetch after a reconnect may repeat some of them, and the store's
//! dedupe (machine, user, second) absorbs those.
//!
//! Shutdown: [`MachineManager::remove_machine`] and [`MachineManager::shutdown`] stop the tasks
//! and wait for them; dropping the manager also stops every task (they watch a channel whose
//! sender the manager owns).
//!
//! ```
//! use std::sync::Arc;
//! use attendance_adapters::manager::{MachineManager, ManagerConfig, MemoryCursors};
//! use attendance_core::machine::{Machine, NewMachine};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // A server passes its store here (any `ScanStore` is a `CursorSource`).
//! let cursors = Arc::new(MemoryCursors::new());
//! let (manager, mut batches) = MachineManager::new(ManagerConfig::default(), cursors.clone());
//! let mut events = manager.subscribe();
//! let machine = Machine::parse(
//!     &NewMachine {
//!         machine_id: "SIM-1".into(),
//!         name: "Demo gate".into(),
//!         machine_type: "simulated".into(),
//!         config: Some(serde_json::json!({"speed_up": 60.0, "start": "2026-01-05T07:30:00"})),
//!         ..NewMachine::default()
//!     },
//!     chrono_tz::Asia::Dhaka,
//! )?;
//! manager.add_machine(machine)?;
//!
//! // The ingest stage: store the scans and the cursor in one transaction.
//! let batch = batches.recv().await.expect("the first batch");
//! assert!(!batch.scans.is_empty());
//! if let Some(cursor) = &batch.cursor {
//!     cursors.set(&batch.machine_id, cursor.clone());
//! }
//! let event = events.recv().await?;
//! println!("{}", serde_json::to_string(&event)?); // {"machine_id":"SIM-1","at":…,"event":"connected","live":true}
//! println!("{:?}", manager.health()[0].state);
//! manager.shutdown().await;
//! # Ok(())
//! # }
//! ```

use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use attendance_core::machine::{Machine, MachineType};
use attendance_core::scan::{MachineId, ScanData};
use attendance_core::store::{MachineCursor, MachineStatus, ScanBatch, ScanStore, StoreError};
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use futures::{FutureExt, StreamExt};
use serde::Serialize;
use thiserror::Error;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;

use crate::adapter::{AdapterError, BaseMachineAdapter};
use crate::engine::{IngestError, IngestSender};
use crate::registry::adapter_for;
use crate::simulator::SplitMix;

/// Where the manager reads a machine's stored cursor.
#[async_trait]
pub trait CursorSource: Send + Sync {
    /// The cursor last stored for `machine`, if any.
    async fn cursor(&self, machine: &MachineId) -> Result<Option<MachineCursor>, StoreError>;
}

#[async_trait]
impl<S: ScanStore + ?Sized> CursorSource for S {
    async fn cursor(&self, machine: &MachineId) -> Result<Option<MachineCursor>, StoreError> {
        self.machine_cursor(machine).await
    }
}

/// A shared `dyn ScanStore` as a [`CursorSource`] (a concrete store is one already).
#[derive(Clone)]
pub struct StoreCursors(pub Arc<dyn ScanStore>);

impl std::fmt::Debug for StoreCursors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreCursors")
    }
}

#[async_trait]
impl CursorSource for StoreCursors {
    async fn cursor(&self, machine: &MachineId) -> Result<Option<MachineCursor>, StoreError> {
        self.0.machine_cursor(machine).await
    }
}

/// Cursors kept in memory: for tests, demos and hosts that store cursors themselves.
#[derive(Debug, Default)]
pub struct MemoryCursors {
    cursors: Mutex<HashMap<MachineId, MachineCursor>>,
}

impl MemoryCursors {
    /// No cursors.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records `cursor` as stored for `machine` (what a consumer does after storing a batch).
    pub fn set(&self, machine: &MachineId, cursor: MachineCursor) {
        self.cursors
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(machine.clone(), cursor);
    }

    /// The cursor stored for `machine`.
    pub fn get(&self, machine: &MachineId) -> Option<MachineCursor> {
        self.cursors
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(machine)
            .cloned()
    }
}

#[async_trait]
impl CursorSource for MemoryCursors {
    async fn cursor(&self, machine: &MachineId) -> Result<Option<MachineCursor>, StoreError> {
        Ok(self.get(machine))
    }
}

/// Exponential backoff with jitter between reconnects.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// The delay after the first failure.
    pub initial: Duration,
    /// The longest delay.
    pub max: Duration,
    /// Growth per consecutive failure (at least 1).
    pub multiplier: f64,
    /// Share of the delay taken off at random, in [0, 1]: 0.2 gives delays in [0.8 d, d].
    pub jitter: f64,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(60),
            multiplier: 2.0,
            jitter: 0.2,
        }
    }
}

impl Backoff {
    /// The delay after `failures` consecutive failures (1 for the first), with `unit` a random
    /// number in [0, 1) for the jitter. Always in `[0, max]`; out-of-range settings are clamped.
    pub fn delay(&self, failures: u32, unit: f64) -> Duration {
        let exponent = i32::try_from(failures.saturating_sub(1)).unwrap_or(i32::MAX);
        let max = self.max.as_secs_f64();
        let base = (self.initial.as_secs_f64() * self.multiplier.max(1.0).powi(exponent)).min(max);
        let jitter = self.jitter.clamp(0.0, 1.0) * unit.clamp(0.0, 1.0);
        let secs = (base * (1.0 - jitter)).clamp(0.0, max);
        if secs.is_finite() {
            Duration::from_secs_f64(secs)
        } else {
            self.max
        }
    }
}

/// When the circuit opens and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerPolicy {
    /// Consecutive failures that open the circuit (at least 1).
    pub failure_threshold: u32,
    /// How long the circuit stays open before one trial.
    pub cool_down: Duration,
}

impl Default for BreakerPolicy {
    fn default() -> Self {
        Self {
            failure_threshold: 5,
            cool_down: Duration::from_secs(300),
        }
    }
}

/// A circuit breaker's position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    /// Calls go through.
    Closed,
    /// Calls wait for the cool-down.
    Open,
    /// One trial call decides.
    HalfOpen,
}

/// A circuit breaker counting consecutive failures (pure: the caller waits the cool-down).
#[derive(Debug, Clone)]
pub struct CircuitBreaker {
    policy: BreakerPolicy,
    consecutive: u32,
    state: BreakerState,
}

impl CircuitBreaker {
    /// A closed breaker.
    pub fn new(policy: BreakerPolicy) -> Self {
        Self {
            policy,
            consecutive: 0,
            state: BreakerState::Closed,
        }
    }

    /// Its state.
    pub fn state(&self) -> BreakerState {
        self.state
    }

    /// Consecutive failures so far.
    pub fn failures(&self) -> u32 {
        self.consecutive
    }

    /// A call succeeded: the circuit closes.
    pub fn on_success(&mut self) {
        self.consecutive = 0;
        self.state = BreakerState::Closed;
    }

    /// A call failed; returns the new state (open after the threshold, or after a failed trial).
    pub fn on_failure(&mut self) -> BreakerState {
        self.consecutive = self.consecutive.saturating_add(1);
        if self.state == BreakerState::HalfOpen
            || self.consecutive >= self.policy.failure_threshold.max(1)
        {
            self.state = BreakerState::Open;
        }
        self.state
    }

    /// The cool-down is over: allow one trial.
    pub fn half_open(&mut self) {
        if self.state == BreakerState::Open {
            self.state = BreakerState::HalfOpen;
        }
    }
}

/// How the manager runs machines.
#[derive(Debug, Clone)]
pub struct ManagerConfig {
    /// Time between fetches of a machine that is polled (default 30 s).
    pub poll_interval: Duration,
    /// Follow live events when the adapter supports them (default true); otherwise poll.
    pub live: bool,
    /// Reconnect delays.
    pub backoff: Backoff,
    /// The circuit breaker.
    pub breaker: BreakerPolicy,
    /// Capacity of the output channel of batches (default 64, at least 1).
    pub output_capacity: usize,
    /// Capacity of the event broadcast (default 256, at least 1).
    pub event_capacity: usize,
    /// Bound on one connect, connection test or fetch, over the adapter's own timeouts
    /// (default 120 s).
    pub operation_timeout: Duration,
    /// Bound on the polite disconnect when a session ends (default 2 s).
    pub disconnect_timeout: Duration,
    /// Most live scans gathered into one batch when they arrive together (default 500).
    pub max_live_batch: usize,
    /// End a live session that brought nothing for this long, and reconnect at once (default
    /// 30 min; `None`: never). The reconnect notices a device that died without closing the
    /// connection, refreshes the clock drift and catches up through a fetch.
    pub live_idle_refresh: Option<Duration>,
    /// Into the engine: how long a batch waits for its commit before the session ends and
    /// resumes from the stored cursor (default 60 s).
    pub commit_timeout: Duration,
}

impl Default for ManagerConfig {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_secs(30),
            live: true,
            backoff: Backoff::default(),
            breaker: BreakerPolicy::default(),
            output_capacity: 64,
            event_capacity: 256,
            operation_timeout: Duration::from_secs(120),
            disconnect_timeout: Duration::from_secs(2),
            max_live_batch: 500,
            live_idle_refresh: Some(Duration::from_secs(30 * 60)),
            commit_timeout: Duration::from_secs(60),
        }
    }
}

/// Where a machine's task is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionState {
    /// Opening a session.
    Connecting,
    /// A session is open (fetching, polling or following live events).
    Connected,
    /// Waiting before reconnecting after a failure.
    BackingOff,
    /// Too many failures: waiting for the cool-down.
    CircuitOpen,
    /// The task has ended.
    Stopped,
}

/// What the manager knows about one machine, as a snapshot.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MachineHealth {
    /// The machine.
    pub machine_id: MachineId,
    /// Its type.
    pub machine_type: MachineType,
    /// Where its task is.
    pub state: ConnectionState,
    /// Whether the session follows live events (false when polling).
    pub live: bool,
    /// When the device last answered.
    pub last_seen: Option<DateTime<Utc>>,
    /// The last failure, if any (kept after recovery; see `consecutive_failures`).
    pub last_error: Option<String>,
    /// Its kind (`timeout`, `auth`, …).
    pub last_error_kind: Option<String>,
    /// Failures since the last success.
    pub consecutive_failures: u32,
    /// Sessions opened so far.
    pub connections: u64,
    /// Scans handed to the output today (the machine's local date).
    pub scans_today: u64,
    /// Scans handed to the output since the task started.
    pub scans_total: u64,
    /// Batches handed to the output.
    pub batches_sent: u64,
    /// Records or lines the adapter skipped as bad.
    pub skipped_total: u64,
    /// The task is waiting for room in the output channel (back-pressure).
    pub waiting_on_output: bool,
    /// How many times a send found the output channel full.
    pub output_waits: u64,
    /// Device clock minus ours, in seconds, at the last connection test.
    pub clock_drift_seconds: Option<i64>,
    /// The serial number the device reported.
    pub serial: Option<String>,
    /// The firmware it reported.
    pub firmware: Option<String>,
    /// When the next connection attempt is due (while backing off or open).
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// When this snapshot last changed.
    pub updated_at: DateTime<Utc>,
}

impl MachineHealth {
    fn new(machine: &Machine) -> Self {
        Self {
            machine_id: machine.machine_id.clone(),
            machine_type: machine.machine_type,
            state: ConnectionState::Connecting,
            live: false,
            last_seen: None,
            last_error: None,
            last_error_kind: None,
            consecutive_failures: 0,
            connections: 0,
            scans_today: 0,
            scans_total: 0,
            batches_sent: 0,
            skipped_total: 0,
            waiting_on_output: false,
            output_waits: 0,
            clock_drift_seconds: None,
            serial: None,
            firmware: None,
            next_attempt_at: None,
            updated_at: Utc::now(),
        }
    }

    /// The status a store keeps for the machine ([`attendance_core::store::MachineStore`]).
    pub fn to_status(&self) -> MachineStatus {
        MachineStatus {
            machine_id: self.machine_id.clone(),
            connected: self.state == ConnectionState::Connected,
            last_seen: self.last_seen,
            last_error: if self.consecutive_failures > 0 {
                self.last_error.clone()
            } else {
                None
            },
            clock_drift_seconds: self.clock_drift_seconds,
            updated_at: self.updated_at,
        }
    }
}

/// What happened to a machine's connection.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum MachineEventKind {
    /// A session opened.
    Connected {
        /// Whether it follows live events.
        live: bool,
    },
    /// A session ended.
    Disconnected {
        /// Why, when it failed.
        reason: Option<String>,
    },
    /// An attempt failed.
    Error {
        /// The error kind (`timeout`, `auth`, `store`, …).
        kind: String,
        /// The message.
        message: String,
        /// Whether retrying may help.
        transient: bool,
    },
    /// Too many consecutive failures: no attempt until `until`.
    CircuitOpen {
        /// Consecutive failures.
        failures: u32,
        /// When the trial attempt is due.
        until: DateTime<Utc>,
    },
    /// The machine's task ended (removed or shut down).
    Stopped,
}

/// A connection-status event of one machine.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MachineEvent {
    /// The machine.
    pub machine_id: MachineId,
    /// When.
    pub at: DateTime<Utc>,
    /// What.
    #[serde(flatten)]
    pub kind: MachineEventKind,
}

/// Why the manager refused a request.
#[derive(Debug, Error)]
pub enum ManagerError {
    /// The machine is already running; remove it first.
    #[error("machine {0} is already running")]
    AlreadyRunning(MachineId),
    /// The machine is disabled.
    #[error("machine {0} is disabled")]
    Disabled(MachineId),
    /// No adapter could be built for it (unsupported type, bad config).
    #[error(transparent)]
    Adapter(#[from] AdapterError),
    /// Called outside a tokio runtime.
    #[error("the machine manager needs a tokio runtime")]
    NoRuntime,
}

/// Builds the adapter for a machine; [`adapter_for`] by default.
pub type AdapterFactory =
    Arc<dyn Fn(&Machine) -> Result<Box<dyn BaseMachineAdapter>, AdapterError> + Send + Sync>;

#[derive(Debug)]
struct HealthCell {
    health: MachineHealth,
    today: Option<NaiveDate>,
}

type SharedHealth = Arc<Mutex<HealthCell>>;

fn update(health: &SharedHealth, f: impl FnOnce(&mut MachineHealth)) {
    let mut cell = health.lock().unwrap_or_else(PoisonError::into_inner);
    f(&mut cell.health);
    cell.health.updated_at = Utc::now();
}

#[derive(Debug)]
struct MachineTask {
    // Sending `true` (or dropping this) asks the task to stop.
    stop: watch::Sender<bool>,
    handle: JoinHandle<()>,
    health: SharedHealth,
}

/// Where the tasks' batches go.
#[derive(Debug, Clone)]
enum Output {
    /// A channel a host reads.
    Channel(mpsc::Sender<ScanBatch>),
    /// The engine, each batch waiting for its commit.
    Engine(IngestSender),
}

struct Inner {
    config: ManagerConfig,
    cursors: Arc<dyn CursorSource>,
    factory: AdapterFactory,
    output: Output,
    events: broadcast::Sender<MachineEvent>,
    // Never held across an await.
    tasks: Mutex<HashMap<MachineId, MachineTask>>,
}

/// Runs every machine in its own task; see the module documentation.
pub struct MachineManager {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for MachineManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MachineManager")
            .field("config", &self.inner.config)
            .field("machines", &self.machines())
            .finish()
    }
}

impl MachineManager {
    /// A manager with no machines, reading cursors from `cursors`, and the receiving end of its
    /// bounded output channel of batches.
    pub fn new(
        config: ManagerConfig,
        cursors: Arc<dyn CursorSource>,
    ) -> (Self, mpsc::Receiver<ScanBatch>) {
        Self::with_factory(config, cursors, Arc::new(adapter_for))
    }

    /// The same with another way to build adapters (tests, hosts with their own devices).
    pub fn with_factory(
        config: ManagerConfig,
        cursors: Arc<dyn CursorSource>,
        factory: AdapterFactory,
    ) -> (Self, mpsc::Receiver<ScanBatch>) {
        let (output, rx) = mpsc::channel(config.output_capacity.max(1));
        (
            Self::with_output(config, cursors, factory, Output::Channel(output)),
            rx,
        )
    }

    /// A manager whose tasks submit their batches straight into the engine through `engine`,
    /// each waiting for its commit before it reads further (so a pull cursor advances only with
    /// the commit that stores its scans).
    pub fn into_engine(
        config: ManagerConfig,
        cursors: Arc<dyn CursorSource>,
        factory: AdapterFactory,
        engine: IngestSender,
    ) -> Self {
        Self::with_output(config, cursors, factory, Output::Engine(engine))
    }

    fn with_output(
        config: ManagerConfig,
        cursors: Arc<dyn CursorSource>,
        factory: AdapterFactory,
        output: Output,
    ) -> Self {
        let (events, _) = broadcast::channel(config.event_capacity.max(1));
        let inner = Arc::new(Inner {
            config,
            cursors,
            factory,
            output,
            events,
            tasks: Mutex::new(HashMap::new()),
        });
        Self { inner }
    }

    /// Connection-status events of every machine from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<MachineEvent> {
        self.inner.events.subscribe()
    }

    fn tasks(&self) -> std::sync::MutexGuard<'_, HashMap<MachineId, MachineTask>> {
        self.inner
            .tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts reading `machine` in its own task. Errors: [`ManagerError::AlreadyRunning`],
    /// [`ManagerError::Disabled`], [`ManagerError::Adapter`] when no adapter can be built (the
    /// type is unsupported or the config is invalid), [`ManagerError::NoRuntime`].
    pub fn add_machine(&self, machine: Machine) -> Result<(), ManagerError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| ManagerError::NoRuntime)?;
        if !machine.enabled {
            return Err(ManagerError::Disabled(machine.machine_id));
        }
        let mut tasks = self.tasks();
        if let Some(task) = tasks.get(&machine.machine_id)
            && !task.handle.is_finished()
        {
            return Err(ManagerError::AlreadyRunning(machine.machine_id));
        }
        let adapter = (self.inner.factory)(&machine)?;
        let health = Arc::new(Mutex::new(HealthCell {
            health: MachineHealth::new(&machine),
            today: None,
        }));
        let (stop, stop_rx) = watch::channel(false);
        let mut hasher = DefaultHasher::new();
        machine.machine_id.hash(&mut hasher);
        Utc::now().timestamp_nanos_opt().hash(&mut hasher);
        let worker = Worker {
            machine_id: machine.machine_id.clone(),
            tz: machine.time_zone,
            adapter,
            config: self.inner.config.clone(),
            cursors: self.inner.cursors.clone(),
            output: self.inner.output.clone(),
            events: self.inner.events.clone(),
            health: health.clone(),
            stop: stop_rx,
            breaker: CircuitBreaker::new(self.inner.config.breaker),
            rng: SplitMix::new(hasher.finish()),
            last_sent: None,
            connected: false,
        };
        tracing::info!(machine = %machine.machine_id, machine_type = %machine.machine_type, "starting machine task");
        let handle = runtime.spawn(worker.run());
        tasks.insert(
            machine.machine_id,
            MachineTask {
                stop,
                handle,
                health,
            },
        );
        Ok(())
    }

    /// Stops a machine's task and waits for it to end; `false` when it was not running.
    pub async fn remove_machine(&self, machine: &MachineId) -> bool {
        let task = self.tasks().remove(machine);
        match task {
            Some(task) => {
                stop_task(task).await;
                true
            }
            None => false,
        }
    }

    /// The machines with a task (running or ended).
    pub fn machines(&self) -> Vec<MachineId> {
        let mut ids: Vec<MachineId> = self.tasks().keys().cloned().collect();
        ids.sort();
        ids
    }

    /// A snapshot of every machine's health, by machine id.
    pub fn health(&self) -> Vec<MachineHealth> {
        let mut all: Vec<MachineHealth> = self
            .tasks()
            .values()
            .map(|t| {
                t.health
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .health
                    .clone()
            })
            .collect();
        all.sort_by(|a, b| a.machine_id.cmp(&b.machine_id));
        all
    }

    /// A snapshot of one machine's health.
    pub fn health_of(&self, machine: &MachineId) -> Option<MachineHealth> {
        self.tasks().get(machine).map(|t| {
            t.health
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .health
                .clone()
        })
    }

    /// Stops every task and waits for all of them; the manager can take new machines afterwards.
    pub async fn shutdown(&self) {
        let tasks: Vec<MachineTask> = self.tasks().drain().map(|(_, t)| t).collect();
        futures::future::join_all(tasks.into_iter().map(stop_task)).await;
    }
}

async fn stop_task(task: MachineTask) {
    let _ = task.stop.send(true);
    if let Err(e) = task.handle.await {
        tracing::warn!(error = %e, "machine task failed");
    }
}

/// Waits until `stop` says so (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    loop {
        if *stop.borrow_and_update() {
            return;
        }
        if stop.changed().await.is_err() {
            return;
        }
    }
}

/// Runs `fut` unless the task is asked to stop first (`None`).
async fn until_stop<F: Future>(stop: &mut watch::Receiver<bool>, fut: F) -> Option<F::Output> {
    tokio::select! {
        biased;
        () = stopped(stop) => None,
        out = fut => Some(out),
    }
}

/// A failed attempt, whatever failed (the device or the cursor store).
#[derive(Debug, Clone)]
struct Failure {
    kind: String,
    message: String,
    transient: bool,
}

impl From<AdapterError> for Failure {
    fn from(e: AdapterError) -> Self {
        Self {
            kind: e.kind().to_owned(),
            message: e.to_string(),
            transient: e.is_transient(),
        }
    }
}

enum SessionEnd {
    Stopped,
    OutputClosed,
    // A quiet live session ended on purpose: reconnect without counting a failure.
    Refresh,
    Failed(Failure),
}

impl From<Failure> for SessionEnd {
    fn from(f: Failure) -> Self {
        Self::Failed(f)
    }
}

struct Worker {
    machine_id: MachineId,
    tz: chrono_tz::Tz,
    adapter: Box<dyn BaseMachineAdapter>,
    config: ManagerConfig,
    cursors: Arc<dyn CursorSource>,
    output: Output,
    events: broadcast::Sender<MachineEvent>,
    health: SharedHealth,
    stop: watch::Receiver<bool>,
    breaker: CircuitBreaker,
    rng: SplitMix,
    // The cursor of the last batch handed to the output.
    last_sent: Option<MachineCursor>,
    // A `Connected` event went out for this session, so a `Disconnected` must follow.
    connected: bool,
}

impl Worker {
    fn emit(&self, kind: MachineEventKind) {
        // No subscriber is fine.
        let _ = self.events.send(MachineEvent {
            machine_id: self.machine_id.clone(),
            at: Utc::now(),
            kind,
        });
    }

    fn set_state(&self, state: ConnectionState) {
        update(&self.health, |h| {
            h.state = state;
            if matches!(
                state,
                ConnectionState::Connecting | ConnectionState::Connected
            ) {
                h.next_attempt_at = None;
            }
        });
    }

    async fn run(mut self) {
        loop {
            self.set_state(ConnectionState::Connecting);
            let end = self.session().await;
            // Polite, bounded: a stalled device must not hold the task.
            let _ = tokio::time::timeout(self.config.disconnect_timeout, self.adapter.disconnect())
                .await;
            if self.connected {
                self.connected = false;
                update(&self.health, |h| h.live = false);
                let reason = match &end {
                    SessionEnd::Failed(f) => Some(f.message.clone()),
                    _ => None,
                };
                self.emit(MachineEventKind::Disconnected { reason });
            }
            match end {
                SessionEnd::Stopped | SessionEnd::OutputClosed => break,
                SessionEnd::Refresh => {
                    tracing::debug!(machine = %self.machine_id, "refreshing a quiet live session");
                }
                SessionEnd::Failed(failure) => {
                    if !self.after_failure(failure).await {
                        break;
                    }
                }
            }
        }
        self.set_state(ConnectionState::Stopped);
        update(&self.health, |h| h.waiting_on_output = false);
        self.emit(MachineEventKind::Stopped);
        tracing::info!(machine = %self.machine_id, "machine task stopped");
    }

    /// Runs one adapter call bounded by the operation timeout and the stop signal.
    async fn call<T>(
        stop: &mut watch::Receiver<bool>,
        limit: Duration,
        during: &'static str,
        target: &MachineId,
        fut: impl Future<Output = Result<T, AdapterError>>,
    ) -> Result<T, SessionEnd> {
        match until_stop(stop, tokio::time::timeout(limit, fut)).await {
            None => Err(SessionEnd::Stopped),
            Some(Err(_)) => Err(Failure::from(AdapterError::Timeout {
                target: target.to_string(),
                during,
                timeout: limit,
            })
            .into()),
            Some(Ok(Err(e))) => Err(Failure::from(e).into()),
            Some(Ok(Ok(v))) => Ok(v),
        }
    }

    async fn session(&mut self) -> SessionEnd {
        match self.open_and_read().await {
            Ok(never) => match never {},
            Err(end) => end,
        }
    }

    async fn open_and_read(&mut self) -> Result<std::convert::Infallible, SessionEnd> {
        let limit = self.config.operation_timeout;
        let id = self.machine_id.clone();
        Self::call(
            &mut self.stop,
            limit,
            "connect",
            &id,
            self.adapter.connect(),
        )
        .await?;
        let report = Self::call(
            &mut self.stop,
            limit,
            "connection test",
            &id,
            self.adapter.test_connection(Utc::now()),
        )
        .await?;
        let live = self.config.live && self.adapter.supports_live();
        update(&self.health, |h| {
            h.connections += 1;
            h.last_seen = Some(Utc::now());
            h.clock_drift_seconds = report.clock_drift_seconds;
            h.serial = report.serial.clone();
            h.firmware = report.firmware.clone();
        });
        self.set_state(ConnectionState::Connected);
        self.connected = true;
        self.emit(MachineEventKind::Connected { live });
        tracing::info!(machine = %id, live, drift = ?report.clock_drift_seconds, "machine connected");

        let mut cursor = self.resume_cursor().await?;
        let fetch = Self::call(
            &mut self.stop,
            limit,
            "fetch",
            &id,
            self.adapter.fetch_scans(cursor.as_ref()),
        )
        .await?;
        self.succeeded();
        if fetch.cursor.is_some() {
            cursor.clone_from(&fetch.cursor);
        }
        self.forward(fetch.scans, fetch.cursor, fetch.skipped)
            .await?;

        if live {
            let mut stream = Self::call(
                &mut self.stop,
                limit,
                "live",
                &id,
                self.adapter.live_scans(),
            )
            .await?;
            update(&self.health, |h| h.live = true);
            loop {
                let idle = self.config.live_idle_refresh;
                let next = async {
                    match idle {
                        Some(idle) => tokio::time::timeout(idle, stream.next()).await.ok(),
                        None => Some(stream.next().await),
                    }
                };
                let first = until_stop(&mut self.stop, next)
                    .await
                    .ok_or(SessionEnd::Stopped)?
                    .ok_or(SessionEnd::Refresh)?;
                let mut failure = None;
                let mut scans: Vec<ScanData> = Vec::new();
                match first {
                    Some(Ok(scan)) => scans.push(scan),
                    Some(Err(e)) => failure = Some(Failure::from(e)),
                    None => failure = Some(Self::stream_ended(&id)),
                }
                // Take whatever else is ready, to send it as one batch.
                while failure.is_none() && scans.len() < self.config.max_live_batch.max(1) {
                    match stream.next().now_or_never() {
                        Some(Some(Ok(scan))) => scans.push(scan),
                        Some(Some(Err(e))) => failure = Some(Failure::from(e)),
                        Some(None) => failure = Some(Self::stream_ended(&id)),
                        None => break,
                    }
                }
                self.forward(scans, None, 0).await?;
                if let Some(f) = failure {
                    return Err(f.into());
                }
            }
        }
        loop {
            until_stop(
                &mut self.stop,
                tokio::time::sleep(self.config.poll_interval),
            )
            .await
            .ok_or(SessionEnd::Stopped)?;
            let fetch = Self::call(
                &mut self.stop,
                limit,
                "fetch",
                &id,
                self.adapter.fetch_scans(cursor.as_ref()),
            )
            .await?;
            if fetch.cursor.is_some() {
                cursor.clone_from(&fetch.cursor);
            }
            self.forward(fetch.scans, fetch.cursor, fetch.skipped)
                .await?;
        }
    }

    fn stream_ended(id: &MachineId) -> Failure {
        Failure::from(AdapterError::Unreachable {
            target: id.to_string(),
            message: "the live stream ended".into(),
        })
    }

    fn succeeded(&mut self) {
        self.breaker.on_success();
        update(&self.health, |h| {
            h.consecutive_failures = 0;
            h.last_seen = Some(Utc::now());
        });
    }

    /// The cursor to resume from: the stored one, unless batches this task sent are still
    /// queued (the store is behind them), then the last one handed over.
    async fn resume_cursor(&mut self) -> Result<Option<MachineCursor>, SessionEnd> {
        if let Output::Channel(output) = &self.output
            && self.last_sent.is_some()
            && output.capacity() < output.max_capacity()
        {
            return Ok(self.last_sent.clone());
        }
        let cursors = self.cursors.clone();
        match until_stop(&mut self.stop, cursors.cursor(&self.machine_id)).await {
            None => Err(SessionEnd::Stopped),
            Some(Ok(c)) => Ok(c),
            Some(Err(e)) => Err(SessionEnd::Failed(Failure {
                kind: "store".into(),
                message: format!("cannot read the stored cursor: {e}"),
                transient: true,
            })),
        }
    }

    async fn send_to_channel(
        &mut self,
        output: mpsc::Sender<ScanBatch>,
        batch: ScanBatch,
    ) -> Result<(), SessionEnd> {
        match output.try_send(batch) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(SessionEnd::OutputClosed),
            Err(mpsc::error::TrySendError::Full(batch)) => {
                update(&self.health, |h| {
                    h.waiting_on_output = true;
                    h.output_waits += 1;
                });
                tracing::debug!(machine = %self.machine_id, "output full: waiting for the consumer");
                let sent = until_stop(&mut self.stop, output.send(batch)).await;
                update(&self.health, |h| h.waiting_on_output = false);
                match sent {
                    None => Err(SessionEnd::Stopped),
                    Some(Err(_)) => Err(SessionEnd::OutputClosed),
                    Some(Ok(())) => Ok(()),
                }
            }
        }
    }

    /// Submits `batch` to the engine and waits for its commit. A batch not confirmed ends the
    /// session as a transient failure: the reconnect resumes from the stored cursor.
    async fn submit_to_engine(
        &mut self,
        engine: IngestSender,
        batch: ScanBatch,
    ) -> Result<(), SessionEnd> {
        update(&self.health, |h| h.waiting_on_output = true);
        // Room in the queue is waited for as long as it takes (back-pressure); the stop signal
        // ends the wait.
        let submitted = until_stop(
            &mut self.stop,
            engine.submit(
                batch,
                Duration::from_secs(24 * 3600),
                self.config.commit_timeout,
            ),
        )
        .await;
        update(&self.health, |h| h.waiting_on_output = false);
        match submitted {
            None => Err(SessionEnd::Stopped),
            Some(Ok(_)) => Ok(()),
            Some(Err(IngestError::Stopped)) => Err(SessionEnd::OutputClosed),
            Some(Err(e)) => Err(SessionEnd::Failed(Failure {
                kind: "store".into(),
                message: format!("the batch was not stored: {e}"),
                transient: true,
            })),
        }
    }

    /// Hands scans and their cursor to the output, waiting for room (back-pressure).
    async fn forward(
        &mut self,
        scans: Vec<ScanData>,
        cursor: Option<MachineCursor>,
        skipped: usize,
    ) -> Result<(), SessionEnd> {
        if skipped > 0 {
            update(&self.health, |h| h.skipped_total += skipped as u64);
        }
        if scans.is_empty() && (cursor.is_none() || cursor == self.last_sent) {
            return Ok(());
        }
        let count = scans.len() as u64;
        let batch = ScanBatch {
            machine_id: self.machine_id.clone(),
            scans,
            cursor: cursor.clone(),
        };
        match self.output.clone() {
            Output::Channel(output) => self.send_to_channel(output, batch).await?,
            Output::Engine(engine) => self.submit_to_engine(engine, batch).await?,
        }
        if cursor.is_some() {
            self.last_sent = cursor;
        }
        let now = Utc::now();
        let today = now.with_timezone(&self.tz).date_naive();
        let mut cell = self.health.lock().unwrap_or_else(PoisonError::into_inner);
        if cell.today != Some(today) {
            cell.today = Some(today);
            cell.health.scans_today = 0;
        }
        let h = &mut cell.health;
        h.batches_sent += 1;
        h.scans_total += count;
        h.scans_today += count;
        h.last_seen = Some(now);
        h.updated_at = now;
        Ok(())
    }

    /// Records a failure and waits before the next attempt; `false` when asked to stop.
    async fn after_failure(&mut self, failure: Failure) -> bool {
        let state = self.breaker.on_failure();
        let failures = self.breaker.failures();
        tracing::warn!(
            machine = %self.machine_id,
            kind = %failure.kind,
            error = %failure.message,
            failures,
            "machine attempt failed"
        );
        update(&self.health, |h| {
            h.last_error = Some(failure.message.clone());
            h.last_error_kind = Some(failure.kind.clone());
            h.consecutive_failures = failures;
        });
        self.emit(MachineEventKind::Error {
            kind: failure.kind.clone(),
            message: failure.message.clone(),
            transient: failure.transient,
        });
        let (wait, next_state) = if state == BreakerState::Open {
            (self.config.breaker.cool_down, ConnectionState::CircuitOpen)
        } else if failure.transient {
            let unit = self.rng.unit();
            (
                self.config.backoff.delay(failures, unit),
                ConnectionState::BackingOff,
            )
        } else {
            // A person must fix it (a comm key, a config): do not hammer the device.
            (self.config.backoff.max, ConnectionState::BackingOff)
        };
        let until = Utc::now() + TimeDelta::from_std(wait).unwrap_or(TimeDelta::MAX);
        update(&self.health, |h| {
            h.state = next_state;
            h.next_attempt_at = Some(until);
        });
        if next_state == ConnectionState::CircuitOpen {
            self.emit(MachineEventKind::CircuitOpen { failures, until });
        }
        let waited = until_stop(&mut self.stop, tokio::time::sleep(wait))
            .await
            .is_some();
        if waited {
            self.breaker.half_open();
        }
        waited
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_bounded_and_jittered() {
        let b = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
            multiplier: 2.0,
            jitter: 0.5,
        };
        assert_eq!(b.delay(1, 0.0), Duration::from_millis(100));
        assert_eq!(b.delay(2, 0.0), Duration::from_millis(200));
        assert_eq!(b.delay(3, 0.0), Duration::from_millis(400));
        assert_eq!(b.delay(10, 0.0), Duration::from_secs(1));
        assert_eq!(b.delay(u32::MAX, 0.0), Duration::from_secs(1));
        assert_eq!(b.delay(2, 0.999_999).as_millis(), 100);
        let mut rng = SplitMix::new(3);
        for n in 1..50 {
            let d = b.delay(n, rng.unit());
            assert!(d <= b.max && d >= b.delay(n, 0.0) / 2, "{n}: {d:?}");
        }
    }

    #[test]
    fn breaker_opens_after_the_threshold_and_a_failed_trial_reopens_it() {
        let mut b = CircuitBreaker::new(BreakerPolicy {
            failure_threshold: 3,
            cool_down: Duration::from_millis(10),
        });
        assert_eq!(b.on_failure(), BreakerState::Closed);
        assert_eq!(b.on_failure(), BreakerState::Closed);
        assert_eq!(b.on_failure(), BreakerState::Open);
        b.half_open();
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert_eq!(b.on_failure(), BreakerState::Open);
        b.half_open();
        b.on_success();
        assert_eq!((b.state(), b.failures()), (BreakerState::Closed, 0));
        assert_eq!(b.on_failure(), BreakerState::Closed);
    }
}
