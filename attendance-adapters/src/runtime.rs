//! The runtime an application embeds: [`Runtime::start`] takes a store and a [`RuntimeConfig`]
//! and gives the engine (with its service and event stream), the machines and the push
//! routers, wired together. The example server only adds HTTP around it:
//!
//! ```no_run
//! # async fn run(store: std::sync::Arc<dyn attendance_core::store::Store>) -> Result<(), Box<dyn std::error::Error>> {
//! use attendance_adapters::runtime::{Runtime, RuntimeConfig};
//!
//! let runtime = Runtime::start(store, RuntimeConfig::default());
//! runtime.machines().start_stored().await?; // every enabled machine in the store
//! let mut events = runtime.engine().subscribe(); // scan_received, attendance_updated, …
//! let pushes: axum::Router = runtime.push_router(); // /iclock/… and /hikvision/events/{machine}
//! // … serve `pushes` next to the host's own routes; write through `runtime.service()` …
//! # drop((pushes, events.try_recv()));
//! runtime.shutdown().await; // machines stop, then the engine drains
//! # Ok(()) }
//! ```
//!
//! - every machine task submits its batches straight into the engine and waits for each
//!   commit ([`MachineManager::into_engine`]): a pull cursor advances only with the commit that
//!   stores its scans;
//! - the push receivers (ADMS `/iclock/…`, Hikvision `/hikvision/events/{machine}`) submit to
//!   the same engine and answer their device only once the upload is stored; their allow-lists
//!   follow the registered, enabled `zkteco_adms` and `hikvision` machines. Each scan enters
//!   the engine once: the ADMS adapter reads health from its hub, not scans, and the Hikvision
//!   adapter pulls by `serialNo` (the push is stored by the router);
//! - the manager's connection events become bus events (`machine_connected`,
//!   `machine_disconnected`, `error_occurred`, all site-wide) and the machine's
//!   [`MachineStatus`] is stored after each of them (and refreshed periodically).
//!
//! With [`RuntimeConfig::cluster`] (several instances on one shared store, see
//! [`crate::cluster`]) a machine's task runs only on the instance holding its lease, the push
//! routes take every enabled push machine on every instance, the engine's jobs run on the
//! leader only, and events cross instances.
//!
//! Starting, restarting and stopping a machine are serialised, so two concurrent edits of the
//! same machine cannot leave two tasks reading it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use attendance_core::machine::{Machine, MachineType};
use attendance_core::scan::MachineId;
use attendance_core::service::AttendanceService;
use attendance_core::store::{MachineStatus, ScanStore, Store, StoreError};
use chrono::{DateTime, Utc};
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

use crate::adapter::parse_config;
use crate::adms::{AdmsAdapter, AdmsConfig, AdmsDevice, AdmsHub, AdmsMachineConfig};
use crate::cluster::{Cluster, ClusterConfig, ClusterStatus};
use crate::engine::{
    ConnectionChange, Engine, EngineConfig, EngineEvent, EngineHandle, ErrorEvent, JobsGate,
};
use crate::hikvision::{HikPushConfig, HikPushDevice, HikPushHub};
use crate::manager::{ManagerError, StoreCursors};
use crate::sources::AllowedSources;
use crate::{
    AdapterError, BaseMachineAdapter, ConnectionReport, MachineEvent, MachineEventKind,
    MachineHealth, MachineManager, ManagerConfig, adapter_for, test_machine,
};

/// How the runtime runs the engine and the machines.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// The engine's settings (used by [`Runtime::start`]).
    pub engine: EngineConfig,
    /// The manager's settings (poll interval, backoff, breaker, …).
    pub manager: ManagerConfig,
    /// The ADMS push server's settings (its allow-list is managed by the runtime).
    pub adms: AdmsConfig,
    /// The Hikvision push receiver's settings (its allow-list is managed by the runtime).
    pub hikvision: HikPushConfig,
    /// How often every machine's status is written to the store between events.
    pub status_refresh: Duration,
    /// Several instances on one shared store (see [`crate::cluster`]); `None` (the default):
    /// this instance reads every machine and runs every job.
    pub cluster: Option<ClusterConfig>,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            engine: EngineConfig::default(),
            manager: ManagerConfig::default(),
            adms: AdmsConfig::default(),
            hikvision: HikPushConfig::default(),
            status_refresh: Duration::from_secs(30),
            cluster: None,
        }
    }
}

/// The engine and the machines, wired together; see the module documentation.
#[derive(Debug)]
pub struct Runtime {
    engine: Arc<EngineHandle>,
    machines: Arc<MachineRuntime>,
}

impl Runtime {
    /// Starts the engine over `store` and the machine runtime feeding it, on the current tokio
    /// runtime (no machine yet: see [`MachineRuntime::start_stored`]).
    pub fn start(store: Arc<dyn Store>, config: RuntimeConfig) -> Self {
        // In a cluster the jobs wait for the leader lease.
        let gate = JobsGate::default();
        gate.set(config.cluster.is_none());
        let engine = Arc::new(Engine::start_gated(
            AttendanceService::new(store.clone()),
            config.engine.clone(),
            gate,
        ));
        let machines = MachineRuntime::start(store, engine.clone(), config);
        Self { engine, machines }
    }

    /// The engine: its sender, its bus, its counters.
    pub fn engine(&self) -> &Arc<EngineHandle> {
        &self.engine
    }

    /// The use cases whose every change is published on the engine's bus.
    pub fn service(&self) -> &AttendanceService {
        self.engine.service()
    }

    /// The machines.
    pub fn machines(&self) -> &Arc<MachineRuntime> {
        &self.machines
    }

    /// The push routes of both push protocols, for any host state type.
    pub fn push_router<S: Clone + Send + Sync + 'static>(&self) -> axum::Router<S> {
        self.machines.push_router()
    }

    /// Stops the machines (writing their last statuses), then drains the engine.
    pub async fn shutdown(&self) {
        self.machines.shutdown().await;
        let stats = self.engine.shutdown().await;
        tracing::info!(
            stored = stats.scans_stored,
            abandoned = stats.scans_abandoned,
            "engine drained"
        );
    }
}

/// The adapter of `machine`: [`adapter_for`], except `zkteco_adms` machines, which read the
/// push routes' `hub` (for health: the router stores their scans). Returns
/// [`AdapterError::Config`] when the config does not parse.
pub fn build_adapter(
    machine: &Machine,
    hub: &AdmsHub,
) -> Result<Box<dyn BaseMachineAdapter>, AdapterError> {
    match machine.machine_type {
        MachineType::ZktecoAdms => Ok(Box::new(AdmsAdapter::new(machine.clone(), hub.clone())?)),
        _ => adapter_for(machine),
    }
}

/// Checks that an adapter can be built from `machine`'s config (nothing is connected).
/// Returns [`AdapterError::Config`] naming the field when it cannot.
pub fn check_machine_config(machine: &Machine) -> Result<(), AdapterError> {
    match machine.machine_type {
        MachineType::ZktecoAdms => parse_config::<AdmsMachineConfig>(machine).map(drop),
        _ => adapter_for(machine).map(drop),
    }
}

/// The serial an ADMS machine pushes with: its config's `serial`, else its id.
fn adms_serial(machine: &Machine) -> String {
    parse_config::<AdmsMachineConfig>(machine)
        .ok()
        .and_then(|c| c.serial)
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| machine.machine_id.as_str().to_owned())
}

/// The machines being read; see the module documentation.
pub struct MachineRuntime {
    pub(crate) manager: MachineManager,
    hub: AdmsHub,
    hik: HikPushHub,
    pub(crate) store: Arc<dyn Store>,
    // In a cluster: the leases, and the push machines allowed from the stored list.
    pub(crate) cluster: Option<Arc<Cluster>>,
    // The serial each registered zkteco_adms machine is allowed to push with. Never held across
    // an await.
    adms_serials: Mutex<HashMap<MachineId, String>>,
    // Serialises start / restart / stop, so concurrent edits never race two tasks of a machine.
    ops: tokio::sync::Mutex<()>,
    // Tells the event task to finish.
    stop: watch::Sender<bool>,
    // The event task, awaited at shutdown.
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for MachineRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MachineRuntime")
            .field("machines", &self.manager.machines())
            .finish_non_exhaustive()
    }
}

impl MachineRuntime {
    /// Starts the machine runtime (no machine yet: see [`MachineRuntime::start_stored`]) on the
    /// current tokio runtime, feeding `engine` and keeping statuses in `store`
    /// ([`Runtime::start`] starts the engine too).
    pub fn start(
        store: Arc<dyn Store>,
        engine: Arc<EngineHandle>,
        config: RuntimeConfig,
    ) -> Arc<Self> {
        let hub = AdmsHub::new(
            config.adms.clone(),
            engine
                .sender()
                .with_source(MachineType::ZktecoAdms.as_str()),
        );
        let hik = HikPushHub::new(
            config.hikvision.clone(),
            engine.sender().with_source(MachineType::Hikvision.as_str()),
        );
        let factory_hub = hub.clone();
        let scans: Arc<dyn ScanStore> = store.clone();
        let manager = MachineManager::into_engine(
            config.manager.clone(),
            Arc::new(StoreCursors(scans)),
            Arc::new(move |machine: &Machine| build_adapter(machine, &factory_hub)),
            engine.sender(),
        );
        let (stop, stopped) = watch::channel(false);
        let cluster = config
            .cluster
            .clone()
            .map(|c| Arc::new(Cluster::new(c, engine.jobs_gate().clone())));
        let runtime = Arc::new(Self {
            hub,
            hik,
            cluster,
            store,
            adms_serials: Mutex::new(HashMap::new()),
            ops: tokio::sync::Mutex::new(()),
            stop,
            tasks: Mutex::new(Vec::new()),
            manager,
        });
        if let Some(cluster) = &runtime.cluster {
            let relays = cluster.start(&runtime, &engine, stopped.clone());
            runtime
                .tasks
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .extend(relays);
        }
        let events = tokio::spawn(relay_events(
            Arc::downgrade(&runtime),
            runtime.manager.subscribe(),
            engine,
            config.status_refresh,
            stopped,
        ));
        runtime
            .tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(events);
        runtime
    }

    /// The hub behind the ADMS push routes.
    pub fn hub(&self) -> &AdmsHub {
        &self.hub
    }

    /// The hub behind the Hikvision push route.
    pub fn hikvision_hub(&self) -> &HikPushHub {
        &self.hik
    }

    /// The push routes (ADMS `/iclock/…` and Hikvision `/hikvision/events/{machine}`) over
    /// this runtime's hubs, for any host state type.
    pub fn push_router<S: Clone + Send + Sync + 'static>(&self) -> axum::Router<S> {
        crate::adms::router(self.hub.clone()).merge(crate::hikvision::push_router(self.hik.clone()))
    }

    /// Starts every enabled stored machine; returns how many started. A machine that cannot
    /// start (its config no longer parses) is logged and skipped.
    pub async fn start_stored(&self) -> Result<usize, StoreError> {
        let mut started = 0;
        for machine in self.store.list_machines().await? {
            if !machine.enabled {
                continue;
            }
            let id = machine.machine_id.clone();
            match self.run(machine).await {
                Ok(()) => started += 1,
                Err(e) => tracing::warn!(machine = %id, error = %e, "stored machine not started"),
            }
        }
        Ok(started)
    }

    /// Reads `machine` from now on, restarting it if it was running (its new settings apply),
    /// or stops it when it is disabled. The stored version wins: a machine deleted meanwhile is
    /// not started, and of two racing updates the one stored last runs. Errors when its adapter
    /// cannot be built.
    pub async fn run(&self, machine: Machine) -> Result<(), ManagerError> {
        let _serial = self.ops.lock().await;
        self.stop_locked(&machine.machine_id).await;
        let machine = match self.store.machine(&machine.machine_id).await {
            Ok(stored) => stored,
            Err(StoreError::NotFound { .. }) => return Ok(()),
            Err(e) => {
                tracing::warn!(machine = %machine.machine_id, error = %e, "cannot re-read the machine; starting it as given");
                machine
            }
        };
        if !machine.enabled {
            return Ok(());
        }
        self.allow_push(&machine).await;
        let id = machine.machine_id.clone();
        if let Some(cluster) = &self.cluster {
            // In a cluster the push routes take the machine on every instance; its task runs
            // only on the instance holding its lease (which starts it when it wins the lease).
            if !cluster.holds(&id) {
                return Ok(());
            }
            cluster.started(&machine);
        }
        let result = self.manager.add_machine(machine);
        if result.is_err() {
            if let Some(serial) = self.serials().remove(&id) {
                self.hub.forbid(&serial);
            }
            self.hik.forbid(id.as_str());
        }
        result
    }

    /// Lets `machine`'s pushes in when it is a push machine (its ADMS serial, its Hikvision
    /// id), replacing the serial it pushed with before.
    async fn allow_push(&self, machine: &Machine) {
        if machine.machine_type == MachineType::ZktecoAdms {
            let serial = adms_serial(machine);
            self.hub
                .allow(AdmsDevice::from_machine(machine, Some(&serial)));
            if let Ok(Some(cursor)) = self.store.machine_cursor(&machine.machine_id).await {
                self.hub.set_stamp(&serial, &cursor);
            }
            let old = self
                .serials()
                .insert(machine.machine_id.clone(), serial.clone());
            if let Some(old) = old.filter(|old| *old != serial) {
                self.hub.forbid(&old);
            }
        }
        if machine.machine_type == MachineType::Hikvision {
            self.hik.allow(HikPushDevice {
                machine_id: machine.machine_id.clone(),
                time_zone: machine.time_zone,
                allowed_sources: parse_config::<crate::hikvision::HikvisionConfig>(machine)
                    .map_or_else(|_| AllowedSources::nobody(), |c| c.allowed_sources),
            });
        }
    }

    /// In a cluster: makes the push allow-lists follow `enabled`, the stored enabled machines
    /// (a push machine registered, changed or removed through another instance).
    pub(crate) async fn sync_pushes(
        &self,
        enabled: &[Machine],
        known: &mut HashMap<MachineId, Machine>,
    ) {
        let _serial = self.ops.lock().await;
        for machine in enabled {
            let push = matches!(
                machine.machine_type,
                MachineType::ZktecoAdms | MachineType::Hikvision
            );
            if push && known.get(&machine.machine_id) != Some(machine) {
                self.allow_push(machine).await;
                known.insert(machine.machine_id.clone(), machine.clone());
            }
        }
        let gone: Vec<MachineId> = known
            .keys()
            .filter(|id| !enabled.iter().any(|m| &m.machine_id == *id))
            .cloned()
            .collect();
        for id in gone {
            known.remove(&id);
            if let Some(serial) = self.serials().remove(&id) {
                self.hub.forbid(&serial);
            }
            self.hik.forbid(id.as_str());
        }
    }

    /// In a cluster: stops machine `id`'s task (its lease is lost or given up); its pushes stay
    /// allowed.
    pub(crate) async fn stop_task(&self, id: &MachineId) {
        let _serial = self.ops.lock().await;
        if let Some(cluster) = &self.cluster {
            cluster.stopped(id);
        }
        self.manager.remove_machine(id).await;
    }

    /// In a cluster: this instance, the live instances, the leader and each machine's lease
    /// holder, as of the last lease round; `None` when this runtime is a single instance.
    pub fn cluster_status(&self) -> Option<ClusterStatus> {
        self.cluster.as_ref().map(|c| c.status())
    }

    /// Stops reading machine `id` (and takes it off the ADMS allow-list); `false` when it was
    /// not running.
    pub async fn stop(&self, id: &MachineId) -> bool {
        let _serial = self.ops.lock().await;
        self.stop_locked(id).await
    }

    async fn stop_locked(&self, id: &MachineId) -> bool {
        if let Some(cluster) = &self.cluster {
            cluster.stopped(id);
        }
        let removed = self.manager.remove_machine(id).await;
        let serial = self.serials().remove(id);
        if let Some(serial) = serial {
            self.hub.forbid(&serial);
        }
        self.hik.forbid(id.as_str());
        removed
    }

    fn serials(&self) -> std::sync::MutexGuard<'_, HashMap<MachineId, String>> {
        self.adms_serials
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether the runtime runs: started and not shut down (machines may still be failing;
    /// see [`MachineRuntime::health`]).
    pub fn is_running(&self) -> bool {
        !*self.stop.borrow()
    }

    /// Every running machine's health.
    pub fn health(&self) -> Vec<MachineHealth> {
        self.manager.health()
    }

    /// One machine's health, if it is running.
    pub fn health_of(&self, id: &MachineId) -> Option<MachineHealth> {
        self.manager.health_of(id)
    }

    /// Tests the connection to `machine` with a fresh adapter (the running task is left alone).
    pub async fn test(
        &self,
        machine: &Machine,
        now: DateTime<Utc>,
    ) -> Result<ConnectionReport, AdapterError> {
        if machine.machine_type != MachineType::ZktecoAdms {
            return test_machine(machine, now).await;
        }
        let mut adapter = AdmsAdapter::new(machine.clone(), self.hub.clone())?;
        // Testing allows the serial on the hub; take it off again unless the machine runs.
        let running = self.serials().contains_key(&machine.machine_id);
        let report = adapter.test_connection(now).await;
        if !running {
            self.hub.forbid(adapter.serial());
        }
        report
    }

    /// Stops every machine (each task's batch in flight is committed or given back first),
    /// writes their last statuses, and ends the runtime's tasks. Drain the engine afterwards.
    pub async fn shutdown(&self) {
        // The lease round starts and stops tasks under `ops`: it ends first.
        if let Some(cluster) = &self.cluster {
            cluster.stop_leasing().await;
        }
        let _serial = self.ops.lock().await;
        let ids = self.manager.machines();
        self.manager.shutdown().await;
        if let Some(cluster) = &self.cluster {
            // Only once no task reads: the others may take the machines at once.
            cluster.leave().await;
        }
        for id in ids {
            let status = MachineStatus {
                machine_id: id,
                connected: false,
                last_seen: None,
                last_error: None,
                clock_drift_seconds: None,
                updated_at: Utc::now(),
            };
            store_status(self.store.as_ref(), status).await;
        }
        self.stop.send_replace(true);
        let tasks: Vec<_> =
            std::mem::take(&mut *self.tasks.lock().unwrap_or_else(PoisonError::into_inner));
        for task in tasks {
            if let Err(e) = task.await {
                tracing::warn!(error = %e, "a machine runtime task failed");
            }
        }
    }
}

async fn store_status(store: &dyn Store, status: MachineStatus) {
    match store.put_machine_status(&status).await {
        Ok(()) => {}
        // The machine was deleted meanwhile: nothing to keep.
        Err(StoreError::NotFound { .. }) => {}
        Err(e) => {
            tracing::warn!(machine = %status.machine_id, error = %e, "machine status not stored")
        }
    }
}

/// The bus event for a manager event, if it has one.
fn engine_event(event: &MachineEvent) -> Option<EngineEvent> {
    let id = event.machine_id.clone();
    match &event.kind {
        MachineEventKind::Connected { .. } => {
            Some(EngineEvent::MachineConnected(ConnectionChange {
                machine_id: id,
                reason: None,
            }))
        }
        MachineEventKind::Disconnected { reason } => {
            Some(EngineEvent::MachineDisconnected(ConnectionChange {
                machine_id: id,
                reason: reason.clone(),
            }))
        }
        MachineEventKind::Error { kind, message, .. } => {
            Some(EngineEvent::ErrorOccurred(ErrorEvent {
                source: id.to_string(),
                kind: kind.clone(),
                message: message.clone(),
            }))
        }
        MachineEventKind::CircuitOpen { failures, until } => {
            Some(EngineEvent::ErrorOccurred(ErrorEvent {
                source: id.to_string(),
                kind: "circuit_open".into(),
                message: format!(
                    "{failures} consecutive failures: the next attempt is at {}",
                    until.to_rfc3339()
                ),
            }))
        }
        MachineEventKind::Stopped => None,
    }
}

/// Publishes the manager's events on the engine's bus and stores each machine's status after
/// its events, and every machine's status every `refresh`.
async fn relay_events(
    runtime: std::sync::Weak<MachineRuntime>,
    mut events: broadcast::Receiver<MachineEvent>,
    engine: Arc<EngineHandle>,
    refresh: Duration,
    mut stopped: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(refresh.max(Duration::from_millis(100)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            changed = stopped.changed() => {
                if changed.is_err() || *stopped.borrow() {
                    return;
                }
            }
            _ = tick.tick() => {
                let Some(runtime) = runtime.upgrade() else { return };
                for health in runtime.health() {
                    store_status(runtime.store.as_ref(), health.to_status()).await;
                }
            }
            received = events.recv() => match received {
                Ok(event) => {
                    if let Some(published) = engine_event(&event) {
                        engine.publish(published, None);
                    }
                    let Some(runtime) = runtime.upgrade() else { return };
                    if let Some(health) = runtime.health_of(&event.machine_id) {
                        store_status(runtime.store.as_ref(), health.to_status()).await;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "machine events were missed; statuses refresh on the next tick");
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: MachineEventKind) -> MachineEvent {
        MachineEvent {
            machine_id: MachineId::parse("M1").unwrap(),
            at: Utc::now(),
            kind,
        }
    }

    #[test]
    fn manager_events_become_bus_events() {
        let json = |kind| serde_json::to_value(engine_event(&event(kind))).unwrap();
        assert_eq!(
            json(MachineEventKind::Connected { live: true }),
            serde_json::json!({"type": "machine_connected", "machine_id": "M1", "data": {"machine_id": "M1", "reason": null}})
        );
        let gone = json(MachineEventKind::Disconnected {
            reason: Some("gone".into()),
        });
        assert_eq!(
            (gone["machine_id"].as_str(), gone["data"]["reason"].as_str()),
            (Some("M1"), Some("gone"))
        );
        let error = json(MachineEventKind::Error {
            kind: "timeout".into(),
            message: "slow".into(),
            transient: true,
        });
        assert_eq!(error["type"], "error_occurred");
        assert_eq!(error["data"]["source"], "M1");
        assert_eq!(error["data"]["kind"], "timeout");
        let open = json(MachineEventKind::CircuitOpen {
            failures: 5,
            until: Utc::now(),
        });
        assert_eq!(open["data"]["kind"], "circuit_open");
        assert!(engine_event(&event(MachineEventKind::Stopped)).is_none());
    }
}
