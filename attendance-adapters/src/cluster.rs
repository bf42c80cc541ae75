//! Several instances on one shared store acting as one system, through core's
//! [`ClusterStore`] port (PostgreSQL's implements it; a store without one keeps the runtime a
//! single instance). Started by [`crate::runtime::MachineRuntime::start`] when
//! [`crate::runtime::RuntimeConfig::cluster`] is set.
//!
//! - **Machine leases.** Every [`ClusterConfig::renew_every`] the lease round refreshes this
//!   instance's heartbeat, renews its leases (each `lease` long, by the database's clock) and
//!   takes or gives back machines so that each live instance holds about its share
//!   ([`fair_share`]: the ceiling of enabled machines over live instances). A machine's task
//!   runs only on the instance holding its lease: won, the task starts; lost or given back,
//!   it stops first and the lease is released after. An instance that cannot renew for a whole
//!   lease stops every task (another may hold them by then). A dead instance's leases expire
//!   and the others take its machines on their next round: within `lease + renew_every`. The
//!   push routes (ADMS, Hikvision) take every enabled push machine on every instance, so a
//!   device or a load balancer may post to any.
//! - **One job runner.** The lease [`LEADER`] is claimed in the same round by whoever finds it
//!   free; its holder keeps the engine's [`JobsGate`] open (the window-closing pass, the leave
//!   year-end, the stored background recomputes), every other instance keeps it closed. A dead
//!   leader's lease expires and another instance opens its gate (and resumes a background
//!   recompute from the resume point its last chunk saved).
//! - **Events across instances.** Every event published on this instance's bus (except the
//!   periodic `system_status`, which is per instance, and the events that came from another
//!   instance) is broadcast, gathered in batches of what is waiting, as
//!   `{"o": instance, "e": [{"a": audience, "v": event}, …]}`; every instance's listener
//!   publishes the others' events on its own bus as [`EngineEvent::Remote`] with their
//!   audience, so WebSocket clients and caches see them like local ones, and skips its own.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use attendance_core::access::Owner;
use attendance_core::machine::Machine;
use attendance_core::scan::MachineId;
use attendance_core::store::StoreError;
use attendance_core::store::cluster::{
    ClusterStore, InstanceInfo, InstanceRecord, LEADER, Lease, fair_share, machine_resource,
    resource_machine,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::engine::{EngineEvent, EngineHandle, JobsGate, Published, RemoteEvent};
use crate::runtime::MachineRuntime;

/// The default lease: an instance that dies loses its machines within this plus one round.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(5);

/// The most events one broadcast gathers.
const MAX_EVENTS_PER_BROADCAST: usize = 500;

/// The size the events of one broadcast are packed into payloads of: under PostgreSQL's
/// notification limit (8,000 bytes), so they need no table.
const PAYLOAD_TARGET: usize = 7_500;

/// How an instance joins a cluster.
#[derive(Clone)]
pub struct ClusterConfig {
    /// The shared store's cluster port.
    pub store: Arc<dyn ClusterStore>,
    /// This instance (a new id at every start).
    pub instance: InstanceInfo,
    /// How long a lease lasts unless renewed (default [`DEFAULT_LEASE`]).
    pub lease: Duration,
    /// How often the lease round runs (default a third of the lease).
    pub renew_every: Duration,
}

impl std::fmt::Debug for ClusterConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterConfig")
            .field("instance", &self.instance)
            .field("lease", &self.lease)
            .field("renew_every", &self.renew_every)
            .finish_non_exhaustive()
    }
}

impl ClusterConfig {
    /// Joins through `store` as `instance`, with `lease` (renewed every third of it; at least
    /// 300 ms).
    pub fn new(store: Arc<dyn ClusterStore>, instance: InstanceInfo, lease: Duration) -> Self {
        let lease = lease.max(Duration::from_millis(300));
        Self {
            store,
            instance,
            lease,
            renew_every: lease / 3,
        }
    }
}

/// A new instance id: `name`, the process id and a random suffix (unique per start).
pub fn new_instance_id(name: &str) -> String {
    let mut hasher = DefaultHasher::new();
    Utc::now().timestamp_nanos_opt().hash(&mut hasher);
    std::process::id().hash(&mut hasher);
    name.hash(&mut hasher);
    format!(
        "{name}-{}-{:08x}",
        std::process::id(),
        hasher.finish() & 0xffff_ffff
    )
}

/// The machine's host name (from the kernel or `HOSTNAME`), or `instance`.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "instance".into())
}

/// An instance as `system-status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InstanceStatus {
    /// Its id.
    pub instance_id: String,
    /// Its name.
    pub name: String,
    /// When it registered.
    pub started_at: DateTime<Utc>,
    /// Its last heartbeat (the database's clock).
    pub last_heartbeat: DateTime<Utc>,
    /// Whether its heartbeat is younger than a lease.
    pub live: bool,
    /// Whether it holds the leader lease (runs the jobs).
    pub leader: bool,
    /// How many machine leases it holds.
    pub machines: usize,
}

/// A machine's lease as `system-status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MachineLease {
    /// The machine.
    pub machine_id: String,
    /// The instance reading it.
    pub holder: String,
    /// When the lease expires unless renewed.
    pub expires_at: DateTime<Utc>,
}

/// The cluster as this instance saw it at its last lease round.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClusterStatus {
    /// This instance.
    pub instance_id: String,
    /// Its name.
    pub name: String,
    /// Whether this instance runs the jobs.
    pub leader: bool,
    /// The lease time, in seconds.
    pub lease_seconds: f64,
    /// The machines whose tasks run here.
    pub machines: Vec<String>,
    /// Every registered instance.
    pub instances: Vec<InstanceStatus>,
    /// Every machine lease held now.
    pub leases: Vec<MachineLease>,
    /// When the last round succeeded.
    pub updated_at: Option<DateTime<Utc>>,
    /// Why the last round failed, if it did.
    pub last_error: Option<String>,
}

/// The events of one broadcast.
#[derive(Debug, Serialize, Deserialize)]
struct Wire {
    /// The instance that published them.
    o: String,
    /// The events.
    e: Vec<WireEvent>,
}

#[derive(Debug, Serialize, Deserialize)]
struct WireEvent {
    /// Who may receive it.
    a: Option<Owner>,
    /// The event as serialised for clients.
    v: serde_json::Value,
}

#[derive(Debug, Default)]
struct State {
    /// Machines whose lease this instance holds.
    held: HashSet<MachineId>,
    /// The machine each task was started with (a stored change restarts it).
    running: HashMap<MachineId, Machine>,
    status: Option<ClusterStatus>,
    last_error: Option<String>,
}

/// One instance's membership; see the module documentation.
pub(crate) struct Cluster {
    config: ClusterConfig,
    gate: JobsGate,
    state: Mutex<State>,
    stop: watch::Sender<bool>,
    round: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Cluster {
    /// Membership by `config`; `gate` is the engine's jobs gate, closed until this instance
    /// wins the leader lease.
    pub(crate) fn new(config: ClusterConfig, gate: JobsGate) -> Self {
        gate.set(false);
        Self {
            config,
            gate,
            state: Mutex::new(State::default()),
            stop: watch::channel(false).0,
            round: Mutex::new(None),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn id(&self) -> &str {
        &self.config.instance.instance_id
    }

    /// Whether this instance holds machine `id`'s lease.
    pub(crate) fn holds(&self, id: &MachineId) -> bool {
        self.state().held.contains(id)
    }

    /// `machine`'s task was started.
    pub(crate) fn started(&self, machine: &Machine) {
        self.state()
            .running
            .insert(machine.machine_id.clone(), machine.clone());
    }

    /// Machine `id`'s task was stopped.
    pub(crate) fn stopped(&self, id: &MachineId) {
        self.state().running.remove(id);
    }

    pub(crate) fn status(&self) -> ClusterStatus {
        let state = self.state();
        let mut status = state.status.clone().unwrap_or_else(|| ClusterStatus {
            instance_id: self.id().to_owned(),
            name: self.config.instance.name.clone(),
            leader: false,
            lease_seconds: self.config.lease.as_secs_f64(),
            machines: Vec::new(),
            instances: Vec::new(),
            leases: Vec::new(),
            updated_at: None,
            last_error: None,
        });
        status.last_error = state.last_error.clone();
        status
    }

    /// Starts the lease round and the two event relays; returns the relays' tasks (they end
    /// with `stopped`); the lease round is ended by [`Cluster::stop_leasing`].
    pub(crate) fn start(
        self: &Arc<Self>,
        runtime: &Arc<MachineRuntime>,
        engine: &Arc<EngineHandle>,
        stopped: watch::Receiver<bool>,
    ) -> Vec<JoinHandle<()>> {
        let round = tokio::spawn(lease_rounds(
            self.clone(),
            Arc::downgrade(runtime),
            self.stop.subscribe(),
        ));
        *self.round.lock().unwrap_or_else(PoisonError::into_inner) = Some(round);
        vec![
            tokio::spawn(send_events(
                self.config.store.clone(),
                self.id().to_owned(),
                engine.subscribe(),
                stopped.clone(),
            )),
            tokio::spawn(receive_events(
                self.config.store.clone(),
                self.id().to_owned(),
                Arc::downgrade(engine),
                stopped,
            )),
        ]
    }

    /// Ends the lease round (and waits for it).
    pub(crate) async fn stop_leasing(&self) {
        self.stop.send_replace(true);
        let round = self
            .round
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(round) = round
            && let Err(e) = round.await
        {
            tracing::warn!(error = %e, "the lease round failed");
        }
    }

    /// Leaves the cluster: no more jobs here, every lease released, the registration removed.
    pub(crate) async fn leave(&self) {
        self.gate.set(false);
        self.state().held.clear();
        if let Err(e) = self.config.store.leave(self.id()).await {
            tracing::warn!(error = %e, "could not leave the cluster; its leases expire instead");
        }
    }

    /// One lease round; see the module documentation.
    async fn round(
        &self,
        runtime: &MachineRuntime,
        pushes: &mut HashMap<MachineId, Machine>,
    ) -> Result<(), StoreError> {
        let store = &self.config.store;
        let lease = self.config.lease;
        let me = self.id().to_owned();
        let instances = store.heartbeat(&self.config.instance, lease).await?;
        let live = instances.iter().filter(|i| i.live).count().max(1);
        let mut held: BTreeSet<String> =
            store.renew_leases(&me, lease).await?.into_iter().collect();
        if !held.contains(LEADER) {
            held.extend(store.claim_leases(&me, &[LEADER.to_owned()], lease).await?);
        }
        let leader = held.contains(LEADER);
        if leader != self.gate.is_open() {
            tracing::info!(
                leader,
                "the jobs now run {}",
                if leader { "here" } else { "elsewhere" }
            );
        }
        self.gate.set(leader);

        let enabled: Vec<Machine> = runtime
            .store
            .list_machines()
            .await?
            .into_iter()
            .filter(|m| m.enabled)
            .collect();
        runtime.sync_pushes(&enabled, pushes).await;
        let by_id: HashMap<&str, &Machine> =
            enabled.iter().map(|m| (m.machine_id.as_str(), m)).collect();

        // What this instance holds of what is enabled; leases of machines gone are given back.
        let mut mine: Vec<String> = Vec::new();
        let mut give_back: Vec<String> = Vec::new();
        for resource in &held {
            if let Some(id) = resource_machine(resource) {
                if by_id.contains_key(id) {
                    mine.push(id.to_owned());
                } else {
                    give_back.push(resource.clone());
                }
            }
        }
        let target = fair_share(enabled.len(), live);
        if mine.len() > target {
            // A new instance came: give back the surplus, tasks first.
            for id in mine.split_off(target) {
                give_back.push(machine_resource(&id));
            }
        }
        let mut leases = store.leases().await?;
        if mine.len() < target {
            let taken: HashSet<&str> = leases
                .iter()
                .filter_map(|l| resource_machine(&l.resource))
                .collect();
            let mut free: Vec<&str> = by_id
                .keys()
                .copied()
                .filter(|id| !taken.contains(id))
                .collect();
            // Each instance tries the free machines in its own order, so instances claiming
            // at once mostly ask for different ones.
            free.sort_by_key(|id| {
                let mut h = DefaultHasher::new();
                (me.as_str(), *id).hash(&mut h);
                h.finish()
            });
            free.truncate(target - mine.len());
            if !free.is_empty() {
                let wanted: Vec<String> = free.iter().map(|id| machine_resource(id)).collect();
                let won = store.claim_leases(&me, &wanted, lease).await?;
                mine.extend(
                    won.iter()
                        .filter_map(|r| resource_machine(r).map(str::to_owned)),
                );
                leases = store.leases().await?;
            }
        }

        // Tasks follow the leases: stop what is no longer held, then give the leases back.
        let mine_ids: HashSet<MachineId> = mine
            .iter()
            .filter_map(|id| by_id.get(id.as_str()).map(|m| m.machine_id.clone()))
            .collect();
        self.state().held = mine_ids.clone();
        for id in runtime.manager.machines() {
            if !mine_ids.contains(&id) {
                tracing::info!(machine = %id, "machine lease lost or given back: its task stops");
                runtime.stop_task(&id).await;
            }
        }
        if !give_back.is_empty() {
            store.release_leases(&me, &give_back).await?;
        }
        // Start what is held and not running, restart what changed in the store.
        let running = runtime.manager.machines();
        for id in &mine_ids {
            let Some(machine) = by_id.get(id.as_str()) else {
                continue;
            };
            let same = self.state().running.get(id) == Some(*machine);
            if same && running.contains(id) {
                continue;
            }
            tracing::info!(machine = %id, "machine lease held: its task starts");
            if let Err(e) = runtime.run((*machine).clone()).await {
                tracing::warn!(machine = %id, error = %e, "leased machine not started");
            }
        }
        self.publish_status(instances, leases, leader, &mine_ids);
        Ok(())
    }

    fn publish_status(
        &self,
        instances: Vec<InstanceRecord>,
        leases: Vec<Lease>,
        leader: bool,
        mine: &HashSet<MachineId>,
    ) {
        let leader_id = leases
            .iter()
            .find(|l| l.resource == LEADER)
            .map(|l| l.holder.clone());
        let machine_leases: Vec<MachineLease> = leases
            .iter()
            .filter_map(|l| {
                resource_machine(&l.resource).map(|id| MachineLease {
                    machine_id: id.to_owned(),
                    holder: l.holder.clone(),
                    expires_at: l.expires_at,
                })
            })
            .collect();
        let instances = instances
            .into_iter()
            .map(|i| InstanceStatus {
                leader: leader_id.as_deref() == Some(i.instance_id.as_str()),
                machines: machine_leases
                    .iter()
                    .filter(|l| l.holder == i.instance_id)
                    .count(),
                instance_id: i.instance_id,
                name: i.name,
                started_at: i.started_at,
                last_heartbeat: i.last_heartbeat,
                live: i.live,
            })
            .collect();
        let mut machines: Vec<String> = mine.iter().map(|m| m.as_str().to_owned()).collect();
        machines.sort();
        let mut state = self.state();
        state.last_error = None;
        state.status = Some(ClusterStatus {
            instance_id: self.id().to_owned(),
            name: self.config.instance.name.clone(),
            leader,
            lease_seconds: self.config.lease.as_secs_f64(),
            machines,
            instances,
            leases: machine_leases,
            updated_at: Some(Utc::now()),
            last_error: None,
        });
    }
}

/// Runs the lease rounds until `stop`.
async fn lease_rounds(
    cluster: Arc<Cluster>,
    runtime: Weak<MachineRuntime>,
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(cluster.config.renew_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut pushes = HashMap::new();
    let mut renewed = Instant::now();
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            _ = tick.tick() => {}
        }
        if *stop.borrow() {
            return;
        }
        let Some(runtime) = runtime.upgrade() else {
            return;
        };
        match cluster.round(&runtime, &mut pushes).await {
            Ok(()) => renewed = Instant::now(),
            Err(e) => {
                tracing::warn!(error = %e, "lease round failed; trying again");
                cluster.state().last_error = Some(e.to_string());
                if renewed.elapsed() >= cluster.config.lease {
                    // The leases may have expired and be held by others now: stop reading.
                    cluster.gate.set(false);
                    cluster.state().held.clear();
                    for id in runtime.manager.machines() {
                        tracing::warn!(machine = %id, "leases not renewed in time: its task stops");
                        runtime.stop_task(&id).await;
                    }
                }
            }
        }
    }
}

/// Broadcasts this instance's events (see the module documentation).
async fn send_events(
    store: Arc<dyn ClusterStore>,
    me: String,
    mut events: broadcast::Receiver<Published>,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        let first = tokio::select! {
            _ = stopped.changed() => return,
            received = events.recv() => received,
        };
        let mut batch = Vec::new();
        let push = |published: Published, batch: &mut Vec<Published>| {
            if !matches!(
                published.event,
                EngineEvent::Remote(_) | EngineEvent::SystemStatus(_)
            ) {
                batch.push(published);
            }
        };
        match first {
            Ok(published) => push(published, &mut batch),
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                tracing::warn!(
                    missed,
                    "events were published faster than they were broadcast; some did not reach the other instances"
                );
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
        while batch.len() < MAX_EVENTS_PER_BROADCAST {
            match events.try_recv() {
                Ok(published) => push(published, &mut batch),
                Err(broadcast::error::TryRecvError::Lagged(missed)) => {
                    tracing::warn!(
                        missed,
                        "events were published faster than they were broadcast; some did not reach the other instances"
                    );
                }
                Err(_) => break,
            }
        }
        if batch.is_empty() {
            continue;
        }
        let count = batch.len();
        let payloads = pack(&me, &batch);
        if let Err(e) = store.broadcast_all(&payloads).await {
            tracing::warn!(error = %e, events = count, "events not broadcast to the other instances");
        }
    }
}

/// `events` from instance `me` as [`Wire`] payloads of at most [`PAYLOAD_TARGET`] bytes each
/// (an event longer than that alone in its own), in their order. Each event's JSON is the one
/// its WebSocket clients got ([`Published::json`]), not serialised again.
fn pack(me: &str, events: &[Published]) -> Vec<String> {
    let Some(origin) = origin_head(me) else {
        return Vec::new();
    };
    let head = format!(r#"{origin}"e":["#);
    let mut payloads = Vec::new();
    let mut current = head.clone();
    let mut in_current = 0;
    for published in events {
        let (Some(json), Ok(audience)) =
            (published.json(), serde_json::to_string(&published.audience))
        else {
            tracing::warn!("event not serialisable; not broadcast");
            continue;
        };
        // One `WireEvent`: {"a": audience, "v": event}.
        let text = format!(r#"{{"a":{audience},"v":{json}}}"#);
        if in_current > 0 && current.len() + text.len() + 3 > PAYLOAD_TARGET {
            current.push_str("]}");
            payloads.push(std::mem::replace(&mut current, head.clone()));
            in_current = 0;
        }
        if in_current > 0 {
            current.push(',');
        }
        current.push_str(&text);
        in_current += 1;
    }
    if in_current > 0 {
        current.push_str("]}");
        payloads.push(current);
    }
    payloads
}

/// How every payload of instance `me` begins (`{"o":"<me>",`): a listener skips its own by it,
/// before parsing.
fn origin_head(me: &str) -> Option<String> {
    serde_json::to_string(me)
        .ok()
        .map(|me| format!(r#"{{"o":{me},"#))
}

/// Publishes the other instances' events on this instance's bus.
async fn receive_events(
    store: Arc<dyn ClusterStore>,
    me: String,
    engine: Weak<EngineHandle>,
    mut stopped: watch::Receiver<bool>,
) {
    let retry = Duration::from_secs(1);
    // Every instance hears its own broadcasts too: skipped before any parsing.
    let own = origin_head(&me);
    loop {
        let subscribed = tokio::select! {
            _ = stopped.changed() => return,
            subscribed = store.subscribe() => subscribed,
        };
        let mut subscription = match subscribed {
            Ok(subscription) => subscription,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen to the other instances; trying again");
                tokio::select! {
                    _ = stopped.changed() => return,
                    _ = tokio::time::sleep(retry) => continue,
                }
            }
        };
        loop {
            let next = tokio::select! {
                _ = stopped.changed() => return,
                next = subscription.next() => next,
            };
            let payload = match next {
                Ok(payload) => payload,
                Err(e) => {
                    tracing::warn!(error = %e, "listening to the other instances failed; listening again");
                    break;
                }
            };
            if own.as_deref().is_some_and(|own| payload.starts_with(own)) {
                continue;
            }
            let wire: Wire = match serde_json::from_str(&payload) {
                Ok(wire) => wire,
                Err(e) => {
                    tracing::warn!(error = %e, "an unreadable broadcast was skipped");
                    continue;
                }
            };
            if wire.o == me {
                continue;
            }
            let Some(engine) = engine.upgrade() else {
                return;
            };
            for event in wire.e {
                if let Some(remote) = RemoteEvent::parse(event.v) {
                    engine.publish(EngineEvent::Remote(remote), event.a);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_ids_differ_between_starts() {
        let a = new_instance_id("host");
        std::thread::sleep(Duration::from_millis(2));
        let b = new_instance_id("host");
        assert!(a.starts_with("host-"));
        assert_ne!(a, b);
    }

    #[test]
    fn events_are_packed_in_order_into_payloads_under_the_target() {
        let remote = |v: serde_json::Value| {
            Published::new(EngineEvent::Remote(RemoteEvent::parse(v).unwrap()), None)
        };
        let events: Vec<Published> = (0..200)
            .map(|n| {
                remote(serde_json::json!({"type": "scan_received", "data": {"n": n, "pad": "x".repeat(n * 3)}}))
            })
            .collect();
        let payloads = pack("node \"0\"", &events);
        assert!(payloads.len() > 1);
        let mut seen = Vec::new();
        for payload in &payloads {
            let wire: Wire = serde_json::from_str(payload).unwrap();
            assert_eq!(wire.o, "node \"0\"");
            assert!(payload.len() <= PAYLOAD_TARGET || wire.e.len() == 1);
            seen.extend(
                wire.e
                    .into_iter()
                    .map(|e| e.v["data"]["n"].as_u64().unwrap()),
            );
        }
        assert_eq!(seen, (0..200).collect::<Vec<u64>>());
        let big = vec![remote(
            serde_json::json!({"type": "scan_received", "data": {"pad": "y".repeat(2 * PAYLOAD_TARGET)}}),
        )];
        assert_eq!(pack("me", &big).len(), 1);
        assert!(pack("me", &[]).is_empty());
    }

    #[test]
    fn a_payload_begins_with_its_origin_and_no_other() {
        let published = Published::new(
            EngineEvent::Remote(
                RemoteEvent::parse(serde_json::json!({"type": "scan_received", "data": {}}))
                    .unwrap(),
            ),
            None,
        );
        let payloads = pack("node-1", std::slice::from_ref(&published));
        assert_eq!(payloads.len(), 1);
        assert!(payloads[0].starts_with(&origin_head("node-1").unwrap()));
        for other in ["node-10", "node", "node-1\"", ""] {
            assert!(
                !payloads[0].starts_with(&origin_head(other).unwrap()),
                "{other:?} would skip node-1's payload"
            );
        }
        let wire: Wire = serde_json::from_str(&payloads[0]).unwrap();
        assert_eq!(wire.o, "node-1");
    }

    #[test]
    fn the_wire_keeps_the_audience_and_the_event() {
        let wire = Wire {
            o: "one".into(),
            e: vec![WireEvent {
                a: None,
                v: serde_json::json!({"type": "attendance_updated", "data": {"date": "2026-11-22"}}),
            }],
        };
        let back: Wire = serde_json::from_str(&serde_json::to_string(&wire).unwrap()).unwrap();
        let remote = RemoteEvent::parse(back.e[0].v.clone()).unwrap();
        assert_eq!(remote.kind, "attendance_updated");
        assert_eq!(
            remote.updated_date(),
            chrono::NaiveDate::from_ymd_opt(2026, 11, 22)
        );
        assert_eq!(
            serde_json::to_value(EngineEvent::Remote(remote)).unwrap()["data"]["date"],
            "2026-11-22"
        );
        assert!(RemoteEvent::parse(serde_json::json!({"type": "system_status"})).is_none());
    }
}
