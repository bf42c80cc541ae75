//! Scale-out on PostgreSQL: three real server processes (`serve`) on one fresh database act as
//! one system. Thirty fake ZKTeco terminals (in this process, on 127.0.0.1) are registered
//! through one instance and their leases spread over the three; three ADMS devices push
//! `ATTLOG` batches to the instances in turn. One instance is killed with SIGKILL while the
//! pushes go on; then:
//! - every record of every terminal's log and every ADMS line answered `OK` is stored, and no
//!   scan key is stored twice;
//! - every terminal is read again within 10 s of the kill (measured per terminal, from the kill
//!   to the first live punch of it seen on a WebSocket; printed);
//! - a WebSocket client on one instance receives the events of scans stored by another within
//!   1 s (measured against the storing instance's own client; printed);
//! - `system-status` shows the instances, one leader among the live ones and every machine's
//!   lease held by a live instance;
//! - a fourth instance that joins afterwards gets its share: the others give theirs back.
//!
//! Skipped without `DATABASE_URL` (fails with `CI` set). Bounded: every wait has a deadline, the
//! servers are killed when the test ends whatever happens, and the leases are 3 s
//! (`--lease-ms`) so the kill is noticed quickly.

use std::collections::{HashMap, HashSet};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use attendance_adapters::zk::codec::{RealtimeAttendance, encode_timehex};
use attendance_adapters::zk::fake::{FakeConfig, FakeDevice, FakeHandle};
use attendance_store_postgres::testkit;
use chrono::{DateTime, NaiveDateTime, TimeDelta, TimeZone, Utc};
use futures::StreamExt;
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use crate::cli::{Running, binary, listening_url, temp_dir};

const INSTANCES: usize = 3;
const TERMINALS: usize = 30;
const ADMS_DEVICES: usize = 3;
/// Records in each terminal's log.
const RECORDS: usize = 20;
const LEASE_MS: &str = "3000";
pub(crate) const PASSWORD: &str = "cluster test password";
const SECRET: &str = "a shared token secret of the three instances, 32+";
const DHAKA: chrono_tz::Tz = chrono_tz::Asia::Dhaka;

pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

fn terminal_id(i: usize) -> String {
    format!("ZK-{i:02}")
}

fn adms_serial(i: usize) -> String {
    format!("CLUSTERADMS{i:02}")
}

/// One instance: its process and its base URL.
struct Instance {
    name: String,
    base: String,
    process: Running,
}

async fn start_instance(url: &str, name: &str) -> Instance {
    let data = temp_dir(&format!("cluster-{name}"));
    let mut process = Running(
        binary()
            .args(["serve", "--bind", "127.0.0.1:0", "--database-url", url])
            .arg("--data-dir")
            .arg(&data)
            .args(["--admin-user", "admin", "--admin-password", PASSWORD])
            .args(["--jwt-secret", SECRET, "--lease-ms", LEASE_MS])
            .args(["--instance-name", name])
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let base = listening_url(&mut process).await;
    Instance {
        name: name.to_owned(),
        base,
        process,
    }
}

pub(crate) async fn login(base: &str) -> String {
    let body: Value = client()
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"username": "admin", "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

pub(crate) async fn status(base: &str, token: &str) -> Value {
    client()
        .get(format!("{base}/api/attendance/system-status/"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// A scan's key as the events and the table have it: (machine, device user, Unix second).
type Key = (String, String, i64);

/// When each `scan_received` reached one WebSocket client, by scan key.
type Seen = Arc<Mutex<HashMap<Key, Instant>>>;

/// Connects a WebSocket client to `base` and records the arrival of every scan event.
async fn watch_scans(base: &str, token: &str) -> Seen {
    let url = format!("{}/ws?token={token}", base.replace("http://", "ws://"));
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let seen: Seen = Arc::default();
    let record = seen.clone();
    tokio::spawn(async move {
        while let Some(Ok(frame)) = socket.next().await {
            let Message::Text(text) = frame else { continue };
            let Ok(event) = serde_json::from_str::<Value>(text.as_str()) else {
                continue;
            };
            if event["type"] != "scan_received" {
                continue;
            }
            let data = &event["data"];
            let Some(at) = data["timestamp"]
                .as_str()
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            else {
                continue;
            };
            let key = (
                data["machine_id"].as_str().unwrap_or_default().to_owned(),
                data["device_user_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                at.timestamp(),
            );
            record.lock().unwrap().entry(key).or_insert(Instant::now());
        }
    });
    seen
}

/// A live punch of PIN 1001 at `local` on `fake`; `None` when no reader is connected.
fn punch(fake: &FakeHandle, machine: &str, local: NaiveDateTime) -> Option<Key> {
    let receivers = fake.push_event(RealtimeAttendance {
        user_id: "1001".into(),
        verify_type: 1,
        punch_state: 0,
        time: encode_timehex(local).unwrap(),
    });
    let at = DHAKA.from_local_datetime(&local).single().unwrap();
    (receivers > 0).then(|| (machine.to_owned(), "1001".to_owned(), at.timestamp()))
}

/// Distinct device times for live punches: one second apart from now (Dhaka).
struct Clock(NaiveDateTime);

impl Clock {
    fn next(&mut self) -> NaiveDateTime {
        self.0 += TimeDelta::seconds(1);
        self.0
    }
}

/// The ADMS pushers: each batch of 10 distinct lines goes to the instances in turn (the next
/// one when an instance does not answer `OK`) until `stop`; returns the lines acknowledged,
/// as scan keys.
async fn push_adms(bases: Vec<String>, stop: Arc<std::sync::atomic::AtomicBool>) -> Vec<Key> {
    let client = client();
    let start = NaiveDateTime::parse_from_str("2026-11-02 06:00:00", "%Y-%m-%d %H:%M:%S").unwrap();
    let mut acked = Vec::new();
    let mut n: i64 = 0;
    let mut turn = 0;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let device = (n as usize / 10) % ADMS_DEVICES;
        let serial = adms_serial(device);
        let lines: Vec<(String, NaiveDateTime)> = (0..10)
            .map(|k| {
                (
                    (1 + (n + k) % 40).to_string(),
                    start + TimeDelta::seconds(2 * (n + k)),
                )
            })
            .collect();
        let body: String = lines
            .iter()
            .map(|(pin, at)| format!("{pin}\t{}\t0\t1\t0\t0\n", at.format("%Y-%m-%d %H:%M:%S")))
            .collect();
        let mut stored = false;
        for _ in 0..bases.len() * 3 {
            let base = &bases[turn % bases.len()];
            turn += 1;
            let url = format!("{base}/iclock/cdata?SN={serial}&table=ATTLOG&Stamp={n}");
            let answer = match client.post(url).body(body.clone()).send().await {
                Ok(response) if response.status() == 200 => {
                    response.text().await.unwrap_or_default()
                }
                _ => String::new(),
            };
            if answer.trim() == "OK: 10" {
                stored = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if stored {
            for (pin, at) in lines {
                let at = DHAKA.from_local_datetime(&at).single().unwrap();
                acked.push((serial.clone(), pin, at.timestamp()));
            }
        }
        n += 10;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    acked
}

/// A `kB` figure of `/proc/<pid>/status` (`VmRSS:`, `VmHWM:`), 0 where there is none.
fn proc_status(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// The terminals' log records stored (every scan of a `ZK-` machine before `end`).
async fn log_stored(db: &mut PgConnection, end: i64) -> i64 {
    sqlx::query_scalar::<_, i64>(
        "SELECT count(*) FROM att_scans WHERE machine_id LIKE 'ZK-%' AND at_second < $1",
    )
    .bind(end)
    .fetch_one(db)
    .await
    .unwrap()
}

/// Waits until `check` holds, at most `limit`, polling every 200 ms; panics with `what`.
pub(crate) async fn eventually<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !check().await {
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Machine id → lease holder (instance name) as `system-status` shows it.
fn holders(status: &Value) -> HashMap<String, String> {
    let names: HashMap<&str, &str> = status["cluster"]["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["instance_id"].as_str().unwrap(),
                i["name"].as_str().unwrap(),
            )
        })
        .collect();
    status["cluster"]["leases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            let holder = l["holder"].as_str().unwrap();
            (
                l["machine_id"].as_str().unwrap().to_owned(),
                names.get(holder).copied().unwrap_or(holder).to_owned(),
            )
        })
        .collect()
}

#[tokio::test]
async fn three_instances_share_the_machines_survive_a_sigkill_and_share_their_events() {
    let Some(pg) = testkit::server().await else {
        return;
    };
    let url = pg.database().await;
    let began = Instant::now();

    // The first instance migrates the database and creates the admin; then the two others.
    let mut instances = vec![start_instance(&url, "node0").await];
    for i in 1..INSTANCES {
        instances.push(start_instance(&url, &format!("node{i}")).await);
    }
    let bases: Vec<String> = instances.iter().map(|i| i.base.clone()).collect();
    let token = login(&bases[0]).await;
    println!("3 instances up after {:?}", began.elapsed());

    // Thirty terminals with a log each, and three ADMS devices, all registered on node0.
    let now_local = Utc::now().with_timezone(&DHAKA).naive_local();
    let first_record = now_local - TimeDelta::hours(3);
    let mut fakes = Vec::new();
    for i in 0..TERMINALS {
        let fake = FakeDevice::spawn_tcp(
            FakeConfig {
                serial: format!("CLUSTERZK{i:04}"),
                records: RECORDS,
                first_record,
                clock: now_local,
                ..FakeConfig::default()
            },
            0,
        )
        .await
        .unwrap();
        let response = client()
            .post(format!("{}/api/attendance/machines/", bases[0]))
            .bearer_auth(&token)
            .json(&json!({
                "machine_id": terminal_id(i),
                "name": format!("Gate {i}"),
                "machine_type": "zkteco",
                "ip_address": "127.0.0.1",
                "port": fake.local_addr().port(),
                "time_zone": "Asia/Dhaka",
                "config": {"timeout_ms": 2000},
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
        fakes.push(fake);
    }
    for i in 0..ADMS_DEVICES {
        let response = client()
            .post(format!("{}/api/attendance/machines/", bases[0]))
            .bearer_auth(&token)
            .json(&json!({
                "machine_id": adms_serial(i),
                "name": format!("Push gate {i}"),
                "machine_type": "zkteco_adms",
                "time_zone": "Asia/Dhaka",
                "config": {"serial": adms_serial(i)},
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201);
    }

    // Every machine is leased, and the leases are balanced: 11 per instance.
    let total = TERMINALS + ADMS_DEVICES;
    let share = total.div_ceil(INSTANCES);
    eventually(
        Duration::from_secs(30),
        "every machine leased, balanced",
        || {
            let (base, token) = (bases[0].clone(), token.clone());
            async move {
                let status = status(&base, &token).await;
                let holders = holders(&status);
                let mut per: HashMap<String, usize> = HashMap::new();
                for holder in holders.values() {
                    *per.entry(holder.clone()).or_default() += 1;
                }
                holders.len() == total
                    && per.len() == INSTANCES
                    && per.values().all(|n| *n <= share)
            }
        },
    )
    .await;
    let before = status(&bases[0], &token).await;
    let leased = holders(&before);
    let mut per: HashMap<&str, usize> = HashMap::new();
    for holder in leased.values() {
        *per.entry(holder.as_str()).or_default() += 1;
    }
    println!("machines per instance: {per:?}");
    let leaders: Vec<&Value> = before["cluster"]["instances"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["leader"] == true)
        .collect();
    assert_eq!(leaders.len(), 1, "one leader: {}", before["cluster"]);

    // Every instance takes the ADMS devices' pushes.
    for base in &bases {
        for i in 0..ADMS_DEVICES {
            let serial = adms_serial(i);
            eventually(Duration::from_secs(10), "the ADMS handshake", || {
                let url = format!("{base}/iclock/cdata?SN={serial}&options=all");
                async move {
                    matches!(
                        client().get(url).send().await.map(|r| r.status().as_u16()),
                        Ok(200)
                    )
                }
            })
            .await;
        }
    }

    // Every terminal's log is read.
    let mut db = PgConnection::connect(&url).await.unwrap();
    let expected_log = (TERMINALS * RECORDS) as i64;
    let log_end = DHAKA
        .from_local_datetime(&now_local)
        .single()
        .unwrap()
        .timestamp();
    let deadline = Instant::now() + Duration::from_secs(60);
    while log_stored(&mut db, log_end).await < expected_log {
        assert!(
            Instant::now() < deadline,
            "the terminals' logs were not read within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // A WebSocket client on each instance.
    let mut seen = Vec::new();
    for base in &bases {
        seen.push(watch_scans(base, &login(base).await).await);
    }

    // Across instances: live punches on terminals read by node1 and node2, seen by node0's
    // client; the delay is from the reading instance's own client to node0's.
    let mut clock = Clock(now_local);
    let mut cross = Vec::new();
    for (i, fake) in fakes.iter().enumerate() {
        let machine = terminal_id(i);
        let holder = &leased[&machine];
        if holder == "node0" || cross.len() >= 10 {
            continue;
        }
        let local_index: usize = holder.trim_start_matches("node").parse().unwrap();
        let mut key = None;
        let deadline = Instant::now() + Duration::from_secs(10);
        while key.is_none() {
            key = punch(fake, &machine, clock.next());
            assert!(Instant::now() < deadline, "{machine} has no live reader");
            if key.is_none() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        let key = key.unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let (local, remote) = loop {
            let local = seen[local_index].lock().unwrap().get(&key).copied();
            let remote = seen[0].lock().unwrap().get(&key).copied();
            if let (Some(local), Some(remote)) = (local, remote) {
                break (local, remote);
            }
            assert!(
                Instant::now() < deadline,
                "the punch {key:?} was not seen on both instances"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        cross.push(remote.saturating_duration_since(local));
    }
    cross.sort();
    println!(
        "scan_received from another instance, after the storing instance's own client: {:?} (max {:?})",
        cross,
        cross.last()
    );
    assert!(
        cross.iter().all(|d| *d < Duration::from_secs(1)),
        "an event took over 1 s to cross instances: {cross:?}"
    );

    // The pushers run through the kill.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let pushers = tokio::spawn(push_adms(bases.clone(), stop.clone()));
    tokio::time::sleep(Duration::from_secs(2)).await;

    // SIGKILL node2.
    let victim = INSTANCES - 1;
    let orphans: Vec<usize> = (0..TERMINALS)
        .filter(|i| leased[&terminal_id(*i)] == instances[victim].name)
        .collect();
    let killed_at = Instant::now();
    let _ = instances[victim].process.0.kill();
    let _ = instances[victim].process.0.wait();
    println!(
        "killed {} holding {} terminals: {:?}",
        instances[victim].name,
        orphans.len(),
        orphans.iter().map(|i| terminal_id(*i)).collect::<Vec<_>>()
    );

    // Every terminal is read again: a live punch every 250 ms on each terminal until node0's
    // client sees one of it.
    let mut recovered: HashMap<usize, Duration> = HashMap::new();
    let mut pending: HashMap<usize, Vec<Key>> = HashMap::new();
    while recovered.len() < TERMINALS {
        assert!(
            killed_at.elapsed() < Duration::from_secs(30),
            "terminals not read again 30 s after the kill: {:?}",
            (0..TERMINALS)
                .filter(|i| !recovered.contains_key(i))
                .map(terminal_id)
                .collect::<Vec<_>>()
        );
        for (i, fake) in fakes.iter().enumerate() {
            if recovered.contains_key(&i) {
                continue;
            }
            let seen0 = seen[0].lock().unwrap();
            if let Some(first) = pending
                .get(&i)
                .into_iter()
                .flatten()
                .filter_map(|k| seen0.get(k))
                .min()
            {
                recovered.insert(i, first.saturating_duration_since(killed_at));
                continue;
            }
            drop(seen0);
            if let Some(key) = punch(fake, &terminal_id(i), clock.next()) {
                pending.entry(i).or_default().push(key);
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let mut orphan_times: Vec<Duration> = orphans.iter().map(|i| recovered[i]).collect();
    orphan_times.sort();
    let worst = recovered.values().max().copied().unwrap_or_default();
    println!(
        "read again after the kill: the killed instance's terminals {orphan_times:?}; slowest of all 30 {worst:?}"
    );
    assert!(
        worst < Duration::from_secs(10),
        "a terminal was not read again within 10 s of the kill: {worst:?}"
    );

    // The survivors hold every lease between them, one of them leading.
    let after = {
        let mut after = status(&bases[0], &token).await;
        let deadline = Instant::now() + Duration::from_secs(10);
        while holders(&after).len() < total
            || holders(&after)
                .values()
                .any(|h| h == &instances[victim].name)
        {
            assert!(
                Instant::now() < deadline,
                "leases not taken over: {}",
                after["cluster"]
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
            after = status(&bases[0], &token).await;
        }
        after
    };
    let live_leaders: Vec<String> = after["cluster"]["instances"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["live"] == true && i["leader"] == true)
        .map(|i| i["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(live_leaders.len(), 1, "{}", after["cluster"]);
    assert_ne!(live_leaders[0], instances[victim].name);

    // A new instance joins: the others give back their surplus and it takes its share.
    let joined_at = Instant::now();
    instances.push(start_instance(&url, "node3").await);
    eventually(
        Duration::from_secs(30),
        "the machines spread again over three instances",
        || {
            let (base, token) = (bases[0].clone(), token.clone());
            async move {
                let holders = holders(&status(&base, &token).await);
                let mut per: HashMap<String, usize> = HashMap::new();
                for holder in holders.values() {
                    *per.entry(holder.clone()).or_default() += 1;
                }
                holders.len() == total
                    && per.get("node3").is_some_and(|n| *n > 0)
                    && per.values().all(|n| *n <= share)
            }
        },
    )
    .await;
    println!(
        "node3 joined: machines spread over three instances again after {:?}",
        joined_at.elapsed()
    );

    // Stop pushing; every acknowledged line and every log record is stored, each once.
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let acked = pushers.await.unwrap();
    assert!(!acked.is_empty());
    let rows: Vec<(String, String, i64, i64)> = sqlx::query_as(
        "SELECT machine_id, device_user_id, at_second, count(*) FROM att_scans \
         GROUP BY machine_id, device_user_id, at_second",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    let stored: HashMap<Key, i64> = rows
        .into_iter()
        .map(|(m, u, s, n)| ((m, u, s), n))
        .collect();
    assert!(stored.values().all(|n| *n == 1), "a scan key stored twice");
    let missing: Vec<&Key> = acked.iter().filter(|k| !stored.contains_key(*k)).collect();
    assert!(
        missing.is_empty(),
        "acknowledged ADMS lines not stored: {missing:?}"
    );
    assert_eq!(log_stored(&mut db, log_end).await, expected_log);
    let distinct: HashSet<&Key> = acked.iter().collect();
    println!(
        "stored once: {} log records, {} acknowledged ADMS lines ({} distinct), {} scans in all; the test took {:?}",
        expected_log,
        acked.len(),
        distinct.len(),
        stored.len(),
        began.elapsed()
    );
    for (i, instance) in instances.iter().enumerate() {
        if i != victim {
            println!(
                "{}: resident memory {} kB (peak {} kB)",
                instance.name,
                proc_status(instance.process.0.id(), "VmRSS:"),
                proc_status(instance.process.0.id(), "VmHWM:")
            );
        }
    }
    let _ = db.close().await;
    drop(instances);
    for fake in fakes {
        fake.shutdown().await;
    }
    pg.cleanup().await;
}

/// Employees of the takeover test: enough that the settings recompute takes several seconds in
/// a debug build on PostgreSQL.
const JOB_STAFF: usize = 3_000;

/// The name of the live leader `base` shows, once there is exactly one (at most 30 s).
async fn live_leader(base: &str, token: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = status(base, token).await;
        let leaders: Vec<String> = status["cluster"]["instances"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|i| i["live"] == true && i["leader"] == true)
            .filter_map(|i| i["name"].as_str().map(str::to_owned))
            .collect();
        if let [leader] = leaders.as_slice() {
            return leader.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no single live leader: {}",
            status["cluster"]
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A settings change made through a non-leader instance queues a durable recompute that runs
/// on the leader, its progress visible on the non-leader; the leader is killed (SIGKILL)
/// mid-job and the other instance, leader once the lease (3 s) expires, finishes the job from
/// its resume point. Figures printed: the resume point and how long the takeover took.
#[tokio::test]
async fn a_settings_recompute_runs_on_the_leader_and_another_instance_finishes_it_after_a_sigkill()
{
    use attendance_core::store::RecomputeJobStore;
    use attendance_store_postgres::{PgOptions, PgStore};

    use crate::settings::{
        assert_days_follow_new_off_days, change_off_days, recompute_job, seed_staff,
    };

    let Some(pg) = testkit::server().await else {
        return;
    };
    let url = pg.database().await;
    let store = PgStore::connect(&url, PgOptions::default()).await.unwrap();
    seed_staff(&store, JOB_STAFF).await;
    let mut instances = [
        start_instance(&url, "jobs0").await,
        start_instance(&url, "jobs1").await,
    ];
    let token = login(&instances[0].base).await;
    let leader_name = live_leader(&instances[0].base, &token).await;
    let leader = instances
        .iter()
        .position(|i| i.name == leader_name)
        .unwrap();
    let other = 1 - leader;
    let base = instances[other].base.clone();
    let token = login(&base).await;

    // Through the non-leader; its system-status shows the job progressing on the leader.
    let began = Instant::now();
    let range = change_off_days(&base, &token).await;
    let mut seen: Vec<u64> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.len() < 3 {
        let job = recompute_job(&base, &token).await;
        assert!(
            job["state"] == "queued" || job["state"] == "running",
            "the job ended before the kill (raise JOB_STAFF): {job}"
        );
        let done = job["done"].as_u64().unwrap_or(0);
        if job["state"] == "running" && done > 0 && seen.last() != Some(&done) {
            seen.push(done);
        }
        assert!(
            Instant::now() < deadline,
            "no progress shown on the non-leader within 60 s: {job}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "progress seen on the non-leader {:?} after the change: {seen:?}",
        began.elapsed()
    );

    let _ = instances[leader].process.0.kill();
    let _ = instances[leader].process.0.wait();
    let killed_at = Instant::now();
    let stopped = store.current_recompute().await.unwrap().unwrap();
    println!(
        "leader {leader_name} killed: the job stored at {}/{} employees, resume after {:?}",
        stopped.done, stopped.total, stopped.resume_after
    );
    assert!(
        !stopped.is_finished() && stopped.done > 0 && stopped.resume_after.is_some(),
        "killed mid-job with a resume point past 0: {stopped:?}"
    );

    // The other instance takes the lease over and resumes the job from its resume point.
    let mut least_done = u64::MAX;
    let mut took_over = None;
    let deadline = Instant::now() + Duration::from_secs(120);
    let job = loop {
        let job = recompute_job(&base, &token).await;
        let done = job["done"].as_u64().unwrap_or(0);
        if job["state"] == "running" {
            least_done = least_done.min(done);
        }
        if took_over.is_none() && (done > stopped.done || job["state"] == "done") {
            took_over = Some(killed_at.elapsed());
        }
        if job["state"] == "done" || job["state"] == "failed" {
            break job;
        }
        assert!(
            Instant::now() < deadline,
            "not finished 120 s after the kill: {job}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    println!(
        "the job progressed again {:?} after the kill and was done {:?} after it; least progress seen: {least_done}",
        took_over.unwrap_or_default(),
        killed_at.elapsed()
    );
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(job["id"], json!(stopped.id));
    assert!(
        least_done >= stopped.done,
        "resumed from its resume point: {least_done} < {}",
        stopped.done
    );
    let days = (range.1 - range.0).num_days() as usize + 1;
    assert_eq!(job["total"], json!(JOB_STAFF), "{job}");
    assert_eq!(
        job["records"],
        json!(JOB_STAFF * days),
        "each record counted once: {job}"
    );
    assert_eq!(
        live_leader(&base, &token).await,
        instances[other].name,
        "the survivor leads"
    );
    assert_days_follow_new_off_days(&store, range, JOB_STAFF).await;
}
