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

mod backoff;
mod cursors;
mod health;
mod worker;

use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use attendance_core::machine::Machine;
use attendance_core::scan::MachineId;
use attendance_core::store::ScanBatch;
use chrono::Utc;
use thiserror::Error;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;

use crate::adapter::{AdapterError, BaseMachineAdapter};
use crate::engine::IngestSender;
use crate::registry::adapter_for;
use crate::simulator::SplitMix;

pub use backoff::{Backoff, BreakerPolicy, BreakerState, CircuitBreaker};
pub use cursors::{CursorSource, MemoryCursors, StoreCursors};
pub use health::{ConnectionState, MachineEvent, MachineEventKind, MachineHealth};

use health::{HealthCell, SharedHealth};
use worker::Worker;

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
    /// Catch-up of a live session (default 2 s; `None`: none): a device's log is read before
    /// its live stream opens, so a punch made between the two is in neither; the session ends
    /// at its first quiet moment this long (no event), and the reconnect's fetch from the
    /// stored cursor reads such a punch (the store keeps it once). The session a catch-up
    /// opens has the same gap, so it catches up too, five times later (2 s, 10 s, 50 s,
    /// 250 s, 1,250 s by default; none once the idle refresh comes first); the session after
    /// any other end starts again at this delay.
    pub live_catch_up: Option<Duration>,
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
            live_catch_up: Some(Duration::from_secs(2)),
            commit_timeout: Duration::from_secs(60),
        }
    }
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
            catch_ups: 0,
            caught_up: false,
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
