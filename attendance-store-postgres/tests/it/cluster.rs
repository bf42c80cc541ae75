//! The cluster port on PostgreSQL: leases are claimed, renewed, expire, are taken over after
//! their expiry and never have two holders, even when claimed by many instances at once;
//! instances register and drop out of the live set; broadcasts reach every subscription,
//! payloads over `NOTIFY`'s limit included.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use attendance_core::store::cluster::{
    ClusterStore, InstanceInfo, LEADER, machine_resource, resource_machine,
};
use attendance_store_postgres::cluster::PgCluster;
use attendance_store_postgres::{PgOptions, PgStore, testkit};

const LONG: Duration = Duration::from_secs(60);

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test]
async fn a_lease_is_claimed_renewed_released_and_taken_over_only_after_it_expired() {
    let Some(server) = testkit::server().await else {
        return;
    };
    let store = server.store().await.unwrap();
    let cluster = store.cluster();
    let wanted = names(&["machine:A", "machine:B", LEADER]);

    // The first claimant wins all three, the second none while they are valid.
    let won = cluster.claim_leases("one", &wanted, LONG).await.unwrap();
    assert_eq!(won, names(&["leader", "machine:A", "machine:B"]));
    assert!(
        cluster
            .claim_leases("two", &wanted, LONG)
            .await
            .unwrap()
            .is_empty()
    );
    // Claiming again what one holds is a renewal.
    assert_eq!(
        cluster
            .claim_leases("one", &names(&["machine:A"]), LONG)
            .await
            .unwrap(),
        names(&["machine:A"])
    );
    assert_eq!(
        cluster.renew_leases("one", LONG).await.unwrap(),
        names(&["leader", "machine:A", "machine:B"])
    );
    assert!(cluster.renew_leases("two", LONG).await.unwrap().is_empty());

    // Released by its holder (not by another), the lease is free for the next claimant.
    cluster
        .release_leases("two", &names(&["machine:A"]))
        .await
        .unwrap();
    cluster
        .release_leases("one", &names(&["machine:A"]))
        .await
        .unwrap();
    assert_eq!(
        cluster
            .claim_leases("two", &names(&["machine:A"]), LONG)
            .await
            .unwrap(),
        names(&["machine:A"])
    );

    // A short lease that is not renewed expires (by the database's clock) and is taken over.
    let short = Duration::from_millis(300);
    cluster
        .claim_leases("three", &names(&["machine:C"]), short)
        .await
        .unwrap();
    assert!(
        cluster
            .claim_leases("two", &names(&["machine:C"]), LONG)
            .await
            .unwrap()
            .is_empty(),
        "taken before it expired"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !cluster
            .leases()
            .await
            .unwrap()
            .iter()
            .any(|l| l.resource == "machine:C"),
        "an expired lease is not listed"
    );
    assert_eq!(
        cluster
            .claim_leases("two", &names(&["machine:C"]), LONG)
            .await
            .unwrap(),
        names(&["machine:C"])
    );
    // The old holder's renewal no longer covers it.
    assert!(
        cluster
            .renew_leases("three", LONG)
            .await
            .unwrap()
            .is_empty()
    );

    let holders: HashMap<String, String> = cluster
        .leases()
        .await
        .unwrap()
        .into_iter()
        .map(|l| (l.resource, l.holder))
        .collect();
    assert_eq!(holders["machine:A"], "two");
    assert_eq!(holders["machine:B"], "one");
    assert_eq!(holders["machine:C"], "two");
    assert_eq!(holders[LEADER], "one");

    // Leaving drops the instance's leases at once.
    cluster.leave("one").await.unwrap();
    let left: Vec<String> = cluster
        .leases()
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.resource)
        .collect();
    assert_eq!(left, names(&["machine:A", "machine:C"]));
    server.cleanup().await;
}

#[tokio::test]
async fn racing_claimants_never_share_a_lease() {
    let Some(server) = testkit::server().await else {
        return;
    };
    let store = server.store().await.unwrap();
    let cluster = Arc::new(store.cluster());
    let machines: Vec<String> = (0..40)
        .map(|i| machine_resource(&format!("M{i:02}")))
        .collect();
    // Ten rounds of six instances claiming every machine (and the leader) at once, each round
    // after the leases of the round before expired.
    for round in 0..10 {
        let lease = Duration::from_millis(200);
        let claims = (0..6).map(|i| {
            let cluster = cluster.clone();
            let mut wanted = machines.clone();
            wanted.push(LEADER.to_owned());
            // Each instance asks in its own order.
            wanted.rotate_left(i * 7);
            async move {
                let holder = format!("round{round}-instance{i}");
                let won = cluster.claim_leases(&holder, &wanted, lease).await.unwrap();
                (holder, won)
            }
        });
        let results = futures::future::join_all(claims).await;
        let mut owner: HashMap<String, String> = HashMap::new();
        for (holder, won) in &results {
            for resource in won {
                if let Some(other) = owner.insert(resource.clone(), holder.clone()) {
                    panic!("{resource} won by {other} and {holder} in round {round}");
                }
            }
        }
        assert_eq!(
            owner.len(),
            machines.len() + 1,
            "round {round}: all claimed"
        );
        // What the store lists agrees with what the claimants were told.
        for listed in cluster.leases().await.unwrap() {
            assert_eq!(owner.get(&listed.resource), Some(&listed.holder));
        }
        tokio::time::sleep(lease + Duration::from_millis(100)).await;
    }
    server.cleanup().await;
}

#[tokio::test]
async fn instances_register_and_fall_out_of_the_live_set() {
    let Some(server) = testkit::server().await else {
        return;
    };
    let store = server.store().await.unwrap();
    let cluster = store.cluster();
    let info = |id: &str| InstanceInfo {
        instance_id: id.into(),
        name: format!("host {id}"),
    };
    let lease = Duration::from_millis(400);
    cluster.heartbeat(&info("a"), lease).await.unwrap();
    let both = cluster.heartbeat(&info("b"), lease).await.unwrap();
    assert_eq!(both.len(), 2);
    assert!(both.iter().all(|i| i.live));
    assert_eq!(both[0].name, "host a");
    tokio::time::sleep(Duration::from_millis(600)).await;
    // Only b keeps beating: a is still registered, no longer live.
    let now = cluster.heartbeat(&info("b"), lease).await.unwrap();
    let live: Vec<&str> = now
        .iter()
        .filter(|i| i.live)
        .map(|i| i.instance_id.as_str())
        .collect();
    assert_eq!(live, ["b"]);
    assert!(now.iter().any(|i| i.instance_id == "a" && !i.live));
    cluster.leave("a").await.unwrap();
    let after = cluster.heartbeat(&info("b"), lease).await.unwrap();
    assert_eq!(after.len(), 1);
    assert_eq!(resource_machine(&machine_resource("X")), Some("X"));
    server.cleanup().await;
}

#[tokio::test]
async fn broadcasts_reach_every_subscription_short_and_long() {
    let Some(server) = testkit::server().await else {
        return;
    };
    // Two stores (two pools, as two instances have) on one database.
    let url = server.database().await;
    let first: PgCluster = PgStore::connect(&url, PgOptions::default())
        .await
        .unwrap()
        .cluster();
    let other = PgStore::connect(&url, PgOptions::default())
        .await
        .unwrap()
        .cluster();
    let mut a = first.subscribe().await.unwrap();
    let mut b = other.subscribe().await.unwrap();
    let long = "x".repeat(20_000);
    first.broadcast("hello").await.unwrap();
    other.broadcast(&long).await.unwrap();
    for subscription in [&mut a, &mut b] {
        let got = tokio::time::timeout(Duration::from_secs(10), subscription.next())
            .await
            .expect("a broadcast within 10 s")
            .unwrap();
        assert_eq!(got, "hello");
        let got = tokio::time::timeout(Duration::from_secs(10), subscription.next())
            .await
            .expect("a broadcast within 10 s")
            .unwrap();
        assert_eq!(got.len(), 20_000, "the long payload came through the table");
    }
    server.cleanup().await;
}
