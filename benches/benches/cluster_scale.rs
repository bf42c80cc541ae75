//! Scale-out on PostgreSQL, end to end: 1,000 fake ZKTeco terminals (in this process, on
//! 127.0.0.1, the `zk::fake` device that `pyzk` accepts) each make one live punch a second for
//! 60 s, read by 2 real `attendance-server serve` processes on one fresh PostgreSQL database
//! (each terminal leased by one instance), with one WebSocket client on each instance.
//!
//! Per run:
//! 1. start the instances (`--lease-ms`, `--instance-name`), 1,000 employees (device user ids
//!    1..=1000) and the terminals through the REST API of the first; wait until every terminal's
//!    lease is held and the leases are balanced;
//! 2. a WebSocket client (the super admin) on every instance; one warm-up punch per terminal,
//!    waited for on every client (so every live stream is open);
//! 3. timed: terminal `i` punches (employee `i + 1`, one second later on its clock each time)
//!    at `i / terminals` of every second, for the run's seconds; the moment each punch is made
//!    is kept;
//! 4. measured: for every punch and every client, punch → `scan_received` on that client
//!    (p50/p95/p99/max), split into the client on the instance holding the terminal (`local`) and
//!    the others (`remote`, through `LISTEN/NOTIFY`); punches some client never saw within 10 s
//!    of the end; the scans stored (every punch exactly once); each instance's resident memory
//!    (`VmRSS` sampled every 250 ms during the timed part, and `VmHWM`) and CPU time.
//!
//! The baseline, in the same run: the same terminals and punches on one instance alone.
//! Goals (issue 16): punch → event p99 < 100 ms, resident memory < 100 MB per instance.
//!
//! Criterion is the harness; each configuration is one long run (a minute of load), printed as
//! a table. The server binary is built first as `adms_end_to_end` does (`ATT_E2E_SERVER_BIN` to
//! use another). Needs `DATABASE_URL` (skipped with a note without it).
//!
//! Environment: `ATT_CLUSTER_MACHINES` (1,000), `ATT_CLUSTER_SECS` (60), `ATT_CLUSTER_INSTANCES`
//! (2), `ATT_CLUSTER_BASELINE` (`0`: no single-instance run), `ATT_CLUSTER_LEASE_MS` (5,000),
//! `ATT_E2E_RUST_LOG` (the servers' `RUST_LOG`, default `warn`). Without `--bench` (criterion's
//! test mode) the run is 20 terminals for 5 s.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use attendance_adapters::zk::fake::{FakeConfig, FakeDevice, FakeHandle};
use attendance_benches::env_usize;
use attendance_benches::pg::PgServer;
use attendance_benches::server::{ServerProcess, cpu_time, login, post_created, server_binary};
use chrono::{NaiveDateTime, TimeDelta, TimeZone, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use futures::StreamExt;
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

const ZONE: chrono_tz::Tz = chrono_tz::Asia::Dhaka;
const SECRET: &str = "the benchmark's shared token secret, 32 bytes or more";
/// The goals of issue 16.
const GOAL_P99_MS: f64 = 100.0;
const GOAL_RSS_MB: f64 = 100.0;

/// A scan as events and the table key it: (machine, device user, Unix second).
type Key = (String, String, i64);
/// When each scan event reached one client.
type Seen = Arc<Mutex<HashMap<Key, Instant>>>;

#[derive(Debug, Clone, Copy)]
struct Plan {
    machines: usize,
    seconds: usize,
    instances: usize,
    lease_ms: usize,
}

#[derive(Debug, Default)]
struct Latencies(Vec<Duration>);

impl Latencies {
    fn quantile(&self, q: f64) -> Duration {
        if self.0.is_empty() {
            return Duration::ZERO;
        }
        let i = ((self.0.len() - 1) as f64 * q).round() as usize;
        self.0[i]
    }

    fn line(&mut self) -> String {
        self.0.sort_unstable();
        if self.0.is_empty() {
            return "—".into();
        }
        format!(
            "p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} samples)",
            ms(self.quantile(0.5)),
            ms(self.quantile(0.95)),
            ms(self.quantile(0.99)),
            ms(*self.0.last().unwrap()),
            self.0.len()
        )
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

struct InstanceFigures {
    name: String,
    machines: usize,
    rss_max: u64,
    hwm: u64,
    cpu: Duration,
}

struct RunResult {
    plan: Plan,
    /// Per table, over the timed part: sequential scans, index scans, rows inserted, updated,
    /// deleted; then (for the database, as `transactions`) commits.
    table_delta: Vec<(String, [i64; 5])>,
    /// CPU time over the timed part: PostgreSQL's processes, this benchmark's process.
    postgres_cpu: Duration,
    bench_cpu: Duration,
    ready: Duration,
    sent: usize,
    local: Latencies,
    remote: Latencies,
    all: Latencies,
    missing: usize,
    stored: i64,
    expected: i64,
    instances: Vec<InstanceFigures>,
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

async fn status(client: &reqwest::Client, base: &str, token: &str) -> Value {
    client
        .get(format!("{base}/api/attendance/system-status/"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Machine id → the name of the instance holding its lease.
fn holders(status: &Value) -> HashMap<String, String> {
    let names: HashMap<&str, &str> = status["cluster"]["instances"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|i| Some((i["instance_id"].as_str()?, i["name"].as_str()?)))
        .collect();
    status["cluster"]["leases"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|l| {
            let holder = l["holder"].as_str()?;
            Some((
                l["machine_id"].as_str()?.to_owned(),
                names.get(holder).copied().unwrap_or(holder).to_owned(),
            ))
        })
        .collect()
}

/// A WebSocket client on `base` recording when each `scan_received` arrives.
async fn watch_scans(base: &str, token: &str) -> Seen {
    let url = format!("{}/ws?token={token}", base.replace("http://", "ws://"));
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let seen: Seen = Arc::default();
    let record = seen.clone();
    tokio::spawn(async move {
        while let Some(Ok(frame)) = socket.next().await {
            let Message::Text(text) = frame else { continue };
            let now = Instant::now();
            if !text.as_str().contains("\"scan_received\"") {
                continue;
            }
            let Ok(event) = serde_json::from_str::<Value>(text.as_str()) else {
                continue;
            };
            let data = &event["data"];
            let Some(at) = data["timestamp"]
                .as_str()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
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
            record.lock().unwrap().entry(key).or_insert(now);
        }
    });
    seen
}

/// CPU time of every `postgres` process now (the server's backends come and go; the run's
/// connections are pooled, so this counts nearly all of its work).
fn postgres_cpu() -> Duration {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let pid = entry.file_name().into_string().ok()?;
            pid.parse::<u32>().ok()?;
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
            (comm.trim() == "postgres")
                .then(|| cpu_time(&pid))
                .flatten()
        })
        .sum()
}

/// The database's table counters (`pg_stat_user_tables`: sequential scans, index scans, rows
/// inserted, updated, deleted) and its commits (as the row `transactions`, in the last place).
async fn table_stats(db: &mut PgConnection) -> Vec<(String, [i64; 5])> {
    let rows: Vec<(String, i64, i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT relname::text, seq_scan, COALESCE(idx_scan, 0), n_tup_ins, n_tup_upd, n_tup_del \
         FROM pg_stat_user_tables \
         UNION ALL SELECT 'transactions', 0, 0, 0, 0, xact_commit FROM pg_stat_database \
         WHERE datname = current_database()",
    )
    .fetch_all(db)
    .await
    .unwrap();
    rows.into_iter()
        .map(|(name, a, b, c, d, e)| (name, [a, b, c, d, e]))
        .collect()
}

fn terminal_id(i: usize) -> String {
    format!("ZK-{i:04}")
}

/// Terminal `i`'s punch (employee `i + 1`) at `local`; its key.
fn punch(fake: &FakeHandle, i: usize, local: NaiveDateTime) -> Key {
    let user = (i + 1).to_string();
    fake.punch(&user, local).unwrap();
    let at = ZONE.from_local_datetime(&local).single().unwrap();
    (terminal_id(i), user, at.timestamp())
}

/// Waits until every key in `keys` was seen by every client, at most `limit`; how many were
/// not.
async fn wait_seen(seen: &[Seen], keys: &[Key], limit: Duration) -> usize {
    let deadline = Instant::now() + limit;
    loop {
        let missing = seen
            .iter()
            .map(|s| {
                let s = s.lock().unwrap();
                keys.iter().filter(|k| !s.contains_key(*k)).count()
            })
            .max()
            .unwrap_or(0);
        if missing == 0 || Instant::now() >= deadline {
            return missing;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn run_once(binary: &Path, pg: &PgServer, plan: Plan) -> RunResult {
    let (db_name, url) = pg.create("cluster_scale").await.unwrap();
    let began = Instant::now();
    let dirs: Vec<tempfile::TempDir> = (0..plan.instances)
        .map(|_| tempfile::tempdir().unwrap())
        .collect();
    let lease = plan.lease_ms.to_string();
    let servers: Vec<ServerProcess> = dirs
        .iter()
        .enumerate()
        .map(|(n, dir)| {
            let name = format!("node{n}");
            ServerProcess::start_with(
                binary,
                dir.path(),
                Some(&url),
                &[
                    "--jwt-secret",
                    SECRET,
                    "--lease-ms",
                    &lease,
                    "--instance-name",
                    &name,
                ],
            )
        })
        .collect();
    let http = client();
    let mut tokens = Vec::new();
    for server in &servers {
        tokens.push(login(&http, &server.base).await);
    }
    let (base, token) = (servers[0].base.clone(), tokens[0].clone());

    // Employees and terminals, through the first instance.
    futures::stream::iter(1..=plan.machines)
        .map(|pin| {
            let (http, base, token) = (&http, &base, &token);
            let department = ["Sewing", "Cutting", "Finishing", "Quality"][pin % 4];
            async move {
                post_created(
                    http,
                    format!("{base}/api/attendance/employees/"),
                    token,
                    json!({
                        "employee_id": format!("EMP{pin:05}"),
                        "employee_name": format!("Employee {pin}"),
                        "department": department,
                        "designation": "Operator",
                        "level_of_work": "Worker",
                        "device_user_id": pin.to_string(),
                    }),
                )
                .await;
            }
        })
        .buffer_unordered(8)
        .collect::<Vec<()>>()
        .await;
    let start_local = Utc::now().with_timezone(&ZONE).naive_local();
    let mut fakes = Vec::with_capacity(plan.machines);
    for i in 0..plan.machines {
        fakes.push(
            FakeDevice::spawn_tcp(
                FakeConfig {
                    serial: format!("SCALE{i:09}"),
                    records: 0,
                    users: 0,
                    clock: start_local,
                    first_record: start_local,
                    ..FakeConfig::default()
                },
                0,
            )
            .await
            .unwrap(),
        );
    }
    futures::stream::iter(fakes.iter().enumerate())
        .map(|(i, fake)| {
            let (http, base, token) = (&http, &base, &token);
            async move {
                post_created(
                    http,
                    format!("{base}/api/attendance/machines/"),
                    token,
                    json!({
                        "machine_id": terminal_id(i),
                        "name": format!("Gate {i}"),
                        "machine_type": "zkteco",
                        "ip_address": "127.0.0.1",
                        "port": fake.local_addr().port(),
                        "time_zone": "Asia/Dhaka",
                        "config": {"timeout_ms": 5000},
                    }),
                )
                .await;
            }
        })
        .buffer_unordered(8)
        .collect::<Vec<()>>()
        .await;

    // Every lease held, balanced.
    let share = plan.machines.div_ceil(plan.instances);
    let deadline = Instant::now() + Duration::from_secs(180);
    let holder = loop {
        let holders = holders(&status(&http, &base, &token).await);
        let mut per: HashMap<&str, usize> = HashMap::new();
        for name in holders.values() {
            *per.entry(name.as_str()).or_default() += 1;
        }
        if holders.len() == plan.machines && per.values().all(|n| *n <= share) {
            break holders;
        }
        assert!(
            Instant::now() < deadline,
            "the leases were not all held and balanced within 180 s: {} held, {per:?}",
            holders.len()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };

    // A client on every instance; a warm-up punch per terminal seen by all.
    let mut seen = Vec::new();
    for (server, token) in servers.iter().zip(&tokens) {
        seen.push(watch_scans(&server.base, token).await);
    }
    let warm: Vec<Key> = fakes
        .iter()
        .enumerate()
        .map(|(i, fake)| punch(fake, i, start_local))
        .collect();
    let unseen = wait_seen(&seen, &warm, Duration::from_secs(120)).await;
    if unseen > 0 {
        let per_client: Vec<usize> = seen
            .iter()
            .map(|s| {
                let s = s.lock().unwrap();
                warm.iter().filter(|k| !s.contains_key(*k)).count()
            })
            .collect();
        let mut db = PgConnection::connect(&url).await.unwrap();
        let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM att_scans")
            .fetch_one(&mut db)
            .await
            .unwrap();
        panic!(
            "warm-up punches not seen within 120 s: per client {per_client:?}; {stored} of {} stored",
            warm.len()
        );
    }
    let ready = began.elapsed();

    // Timed: each terminal once a second, spread over the second.
    let cpu_before: Vec<Duration> = servers
        .iter()
        .map(|s| s.cpu_time().unwrap_or_default())
        .collect();
    let mut stats_db = PgConnection::connect(&url).await.unwrap();
    let tables_before = table_stats(&mut stats_db).await;
    let postgres_before = postgres_cpu();
    let bench_before = cpu_time("self").unwrap_or_default();
    let rss_max: Arc<Mutex<Vec<u64>>> = Arc::new(Mutex::new(vec![0; servers.len()]));
    let sampling = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let pids: Vec<u32> = servers.iter().map(|s| s.child.id()).collect();
    let sampler = {
        let (rss_max, sampling) = (rss_max.clone(), sampling.clone());
        tokio::spawn(async move {
            while sampling.load(std::sync::atomic::Ordering::Relaxed) {
                for (n, pid) in pids.iter().enumerate() {
                    let rss = std::fs::read_to_string(format!("/proc/{pid}/status"))
                        .unwrap_or_default()
                        .lines()
                        .find_map(|l| l.strip_prefix("VmRSS:"))
                        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                        .unwrap_or(0)
                        * 1024;
                    let mut max = rss_max.lock().unwrap();
                    max[n] = max[n].max(rss);
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })
    };
    let mut sent: Vec<(Key, Instant)> = Vec::with_capacity(plan.machines * plan.seconds);
    let t0 = Instant::now();
    for second in 1..=plan.seconds {
        let local = start_local + TimeDelta::seconds(second as i64);
        for (i, fake) in fakes.iter().enumerate() {
            let slot = t0
                + Duration::from_secs((second - 1) as u64)
                + Duration::from_secs(1) * i as u32 / plan.machines as u32;
            tokio::time::sleep_until(slot).await;
            let at = Instant::now();
            sent.push((punch(fake, i, local), at));
        }
    }
    let keys: Vec<Key> = sent.iter().map(|(k, _)| k.clone()).collect();
    let missing = wait_seen(&seen, &keys, Duration::from_secs(10)).await;
    let postgres_used = postgres_cpu().saturating_sub(postgres_before);
    // The statistics collector reports a backend's counts at its transactions' ends, within
    // about a second.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let tables_after = table_stats(&mut stats_db).await;
    let _ = stats_db.close().await;
    let table_delta: Vec<(String, [i64; 5])> = tables_after
        .iter()
        .map(|(name, after)| {
            let before = tables_before
                .iter()
                .find(|(n, _)| n == name)
                .map_or([0; 5], |(_, b)| *b);
            (name.clone(), std::array::from_fn(|i| after[i] - before[i]))
        })
        .filter(|(_, d)| d.iter().any(|v| *v != 0))
        .collect();
    let bench_used = cpu_time("self")
        .unwrap_or_default()
        .saturating_sub(bench_before);
    sampling.store(false, std::sync::atomic::Ordering::Relaxed);
    sampler.await.unwrap();

    // Latencies, per client: local where its instance holds the terminal.
    let names: Vec<String> = (0..servers.len()).map(|n| format!("node{n}")).collect();
    let (mut local, mut remote, mut all) = (
        Latencies::default(),
        Latencies::default(),
        Latencies::default(),
    );
    for (n, client_seen) in seen.iter().enumerate() {
        let client_seen = client_seen.lock().unwrap();
        for (key, at) in &sent {
            let Some(arrived) = client_seen.get(key) else {
                continue;
            };
            let latency = arrived.saturating_duration_since(*at);
            all.0.push(latency);
            if holder.get(&key.0) == Some(&names[n]) {
                local.0.push(latency);
            } else {
                remote.0.push(latency);
            }
        }
    }

    let mut db = PgConnection::connect(&url).await.unwrap();
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM att_scans")
        .fetch_one(&mut db)
        .await
        .unwrap();
    let _ = db.close().await;
    let rss_max = rss_max.lock().unwrap().clone();
    let instances = servers
        .iter()
        .enumerate()
        .map(|(n, server)| InstanceFigures {
            name: names[n].clone(),
            machines: holder.values().filter(|h| **h == names[n]).count(),
            rss_max: rss_max[n],
            hwm: server.peak_rss().unwrap_or(0),
            cpu: server
                .cpu_time()
                .unwrap_or_default()
                .saturating_sub(cpu_before[n]),
        })
        .collect();
    drop(servers);
    for fake in fakes {
        fake.shutdown().await;
    }
    if let Err(e) = pg.drop_database(&db_name).await {
        eprintln!("cluster_scale: database {db_name} not dropped: {e}");
    }
    RunResult {
        plan,
        table_delta,
        postgres_cpu: postgres_used,
        bench_cpu: bench_used,
        ready,
        sent: sent.len(),
        local,
        remote,
        all,
        missing,
        stored,
        expected: (plan.machines * (plan.seconds + 1)) as i64,
        instances,
    }
}

fn print_run(result: &mut RunResult) {
    let plan = result.plan;
    println!(
        "\ncluster_scale: {} terminals × 1 punch/s × {} s on {} instance(s), lease {} ms",
        plan.machines, plan.seconds, plan.instances, plan.lease_ms
    );
    println!(
        "  ready (instances up, employees and terminals registered, leases balanced, warm-up seen): {:.1} s",
        result.ready.as_secs_f64()
    );
    println!(
        "  punches {}; not seen by some client within 10 s: {}; scans stored {} of {} expected",
        result.sent, result.missing, result.stored, result.expected
    );
    println!("  punch → event, every client:   {}", result.all.line());
    println!("  punch → event, holding instance: {}", result.local.line());
    if plan.instances > 1 {
        println!(
            "  punch → event, other instance:   {}",
            result.remote.line()
        );
    }
    for i in &result.instances {
        println!(
            "  {}: {} terminals, RSS max {:.1} MB during the load (VmHWM {:.1} MB), CPU {:.1} s over the timed part ({:.0} % of a core)",
            i.name,
            i.machines,
            mb(i.rss_max),
            mb(i.hwm),
            i.cpu.as_secs_f64(),
            100.0 * i.cpu.as_secs_f64() / plan.seconds as f64
        );
    }
    println!(
        "  PostgreSQL: CPU {:.1} s ({:.0} % of a core); this benchmark (terminals and clients): CPU {:.1} s ({:.0} %)",
        result.postgres_cpu.as_secs_f64(),
        100.0 * result.postgres_cpu.as_secs_f64() / plan.seconds as f64,
        result.bench_cpu.as_secs_f64(),
        100.0 * result.bench_cpu.as_secs_f64() / plan.seconds as f64
    );
    println!(
        "  PostgreSQL per second of the timed part (seq scans, index scans, rows inserted, updated, deleted):"
    );
    for (name, d) in &result.table_delta {
        let per = |v: i64| v as f64 / plan.seconds as f64;
        if name == "transactions" {
            println!("    commits: {:.0}/s", per(d[4]));
        } else {
            println!(
                "    {name}: {:.0}, {:.0}, {:.0}, {:.0}, {:.0}",
                per(d[0]),
                per(d[1]),
                per(d[2]),
                per(d[3]),
                per(d[4])
            );
        }
    }
    let p99 = ms(result.all.quantile(0.99));
    let rss = result
        .instances
        .iter()
        .map(|i| mb(i.rss_max.max(i.hwm)))
        .fold(0.0, f64::max);
    println!(
        "  goals: p99 {p99:.1} ms (< {GOAL_P99_MS} ms: {}), RSS {rss:.1} MB per instance at most (< {GOAL_RSS_MB} MB: {}), every punch stored once ({})",
        if p99 < GOAL_P99_MS { "met" } else { "NOT met" },
        if rss < GOAL_RSS_MB { "met" } else { "NOT met" },
        if result.stored == result.expected && result.missing == 0 {
            "yes"
        } else {
            "NO"
        }
    );
}

fn cluster_scale(_: &mut Criterion) {
    let Some(pg) = PgServer::from_env("cluster_scale", "benchmark (all of it)") else {
        return;
    };
    let quick = !std::env::args().any(|a| a == "--bench");
    let plan = Plan {
        machines: if quick {
            20
        } else {
            env_usize("ATT_CLUSTER_MACHINES", 1_000).max(1)
        },
        seconds: if quick {
            5
        } else {
            env_usize("ATT_CLUSTER_SECS", 60).max(1)
        },
        instances: env_usize("ATT_CLUSTER_INSTANCES", 2).max(1),
        lease_ms: env_usize("ATT_CLUSTER_LEASE_MS", 5_000),
    };
    let baseline = std::env::var("ATT_CLUSTER_BASELINE").map_or(true, |v| v != "0");
    let binary = server_binary();
    let runtime = attendance_benches::runtime().unwrap();
    let mut plans = vec![plan];
    if baseline && plan.instances > 1 {
        plans.push(Plan {
            instances: 1,
            ..plan
        });
    }
    for plan in plans {
        let mut result = runtime.block_on(run_once(&binary, &pg, plan));
        print_run(&mut result);
    }
}

criterion_group!(benches, cluster_scale);
criterion_main!(benches);
