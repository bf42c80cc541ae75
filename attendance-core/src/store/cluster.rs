//! The cluster port: what several server instances on one shared database need to act as one
//! system. A store that can be shared (PostgreSQL) implements [`ClusterStore`]; a store that
//! cannot (SQLite, the in-memory store) has none, and the runtime then keeps its
//! single-instance behaviour (it reads every machine and runs every job itself).
//!
//! - **Instances** register and refresh a heartbeat ([`ClusterStore::heartbeat`]); one whose
//!   heartbeat is older than the lease time is not live.
//! - **Leases** are named resources (`machine:<id>` for a pull machine, [`LEADER`] for the job
//!   runner) held by one instance until an expiry the holder renews. A lease can be claimed
//!   only while nobody holds it or its expiry has passed, so a resource never has two holders;
//!   expiries are compared with the database's clock, never an instance's.
//! - **Broadcasts** carry text to every subscribed instance (the sender's own subscription
//!   included: the payload says where it came from, so the sender can skip its own).
//!
//! The port is pure: durations and texts in, rows out; the implementation does the IO.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::StoreResult;

/// The lease of the one instance that runs the site's jobs (day-end absents, leave year-end).
pub const LEADER: &str = "leader";

/// The lease resource of the pull machine `machine_id`.
pub fn machine_resource(machine_id: &str) -> String {
    format!("machine:{machine_id}")
}

/// The machine id of a lease resource, when it is a machine's.
pub fn resource_machine(resource: &str) -> Option<&str> {
    resource.strip_prefix("machine:")
}

/// An instance as it registers itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceInfo {
    /// Unique per process (a new one at every start).
    pub instance_id: String,
    /// A name for people (the host, the address).
    pub name: String,
}

/// A registered instance as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceRecord {
    /// Its id.
    pub instance_id: String,
    /// Its name.
    pub name: String,
    /// When it registered (the database's clock).
    pub started_at: DateTime<Utc>,
    /// Its last heartbeat (the database's clock).
    pub last_heartbeat: DateTime<Utc>,
    /// Whether its last heartbeat is younger than the lease time asked with.
    pub live: bool,
}

/// A lease held now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// What is leased (`machine:<id>`, [`LEADER`]).
    pub resource: String,
    /// The instance holding it.
    pub holder: String,
    /// When it expires unless renewed (the database's clock).
    pub expires_at: DateTime<Utc>,
}

/// How many of `machines` each of `instances` live instances should hold: the ceiling of the
/// share, so that together they hold every machine (0 instances count as 1).
pub fn fair_share(machines: usize, instances: usize) -> usize {
    machines.div_ceil(instances.max(1))
}

/// The coordination a shared store offers; see the module documentation. Object safe
/// (`Arc<dyn ClusterStore>`).
#[async_trait]
pub trait ClusterStore: Send + Sync {
    /// Registers `instance` or refreshes its heartbeat, forgets instances dead for more than ten
    /// lease times, and returns every registered instance (`live` when its heartbeat is younger
    /// than `lease`).
    async fn heartbeat(
        &self,
        instance: &InstanceInfo,
        lease: Duration,
    ) -> StoreResult<Vec<InstanceRecord>>;

    /// Renews every lease `holder` holds to expire `lease` from now; returns their resources.
    async fn renew_leases(&self, holder: &str, lease: Duration) -> StoreResult<Vec<String>>;

    /// Claims each of `resources` that nobody holds, whose lease expired, or that `holder`
    /// already holds, for `lease` from now; returns the resources won. Two instances claiming
    /// the same resource at once never both win it.
    async fn claim_leases(
        &self,
        holder: &str,
        resources: &[String],
        lease: Duration,
    ) -> StoreResult<Vec<String>>;

    /// Gives up `holder`'s leases of `resources` (others' leases are left alone).
    async fn release_leases(&self, holder: &str, resources: &[String]) -> StoreResult<()>;

    /// Every lease that has not expired, by resource.
    async fn leases(&self) -> StoreResult<Vec<Lease>>;

    /// Removes `instance_id`'s registration and every lease it holds (a clean shutdown: the
    /// others take its machines at once instead of after the expiry).
    async fn leave(&self, instance_id: &str) -> StoreResult<()>;

    /// Sends `payload` to every subscription of every instance (any length: a payload too long
    /// for the database's notification goes through a table).
    async fn broadcast(&self, payload: &str) -> StoreResult<()>;

    /// Sends `payloads` as [`Self::broadcast`] does, in their order; a store may send them in
    /// one round trip (the default sends them one by one).
    async fn broadcast_all(&self, payloads: &[String]) -> StoreResult<()> {
        for payload in payloads {
            self.broadcast(payload).await?;
        }
        Ok(())
    }

    /// A new subscription to the broadcasts sent from now on.
    async fn subscribe(&self) -> StoreResult<Box<dyn ClusterSubscription>>;
}

/// A subscription to the broadcasts of a [`ClusterStore`].
#[async_trait]
pub trait ClusterSubscription: Send {
    /// The next payload, waiting for it. An error means some payloads may have been missed
    /// (the connection was lost); the subscription reconnects on the next call.
    async fn next(&mut self) -> StoreResult<String>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_cover_every_machine() {
        assert_eq!(fair_share(30, 3), 10);
        assert_eq!(fair_share(31, 3), 11);
        assert_eq!(fair_share(2, 3), 1);
        assert_eq!(fair_share(0, 3), 0);
        assert_eq!(fair_share(5, 0), 5);
        for machines in 0..50 {
            for instances in 1..6 {
                assert!(fair_share(machines, instances) * instances >= machines);
            }
        }
    }

    #[test]
    fn machine_resources_round_trip() {
        let resource = machine_resource("GATE-1");
        assert_eq!(resource_machine(&resource), Some("GATE-1"));
        assert_eq!(resource_machine(LEADER), None);
    }
}
