//! ADMS push end to end, over real HTTP against the real `attendance-server serve` binary: the
//! workload a peer ZKTeco push server was measured with, replayed against ours.
//!
//! Per backend (SQLite in the data directory; PostgreSQL on a fresh database per run when
//! `DATABASE_URL` is set, else skipped with a note) and per run:
//! 1. start the server as a child process on `127.0.0.1:0` with a fresh data directory;
//! 2. through the REST API (bearer token of the first admin): 1,000 employees (device user ids
//!    1..=1000) and 4 `zkteco_adms` machines whose serials are their ids; wait until each
//!    device's handshake `GET /iclock/cdata?SN=…&options=all` answers 200;
//! 3. timed: 4 concurrent devices, each POSTing its share of 100,000 punches (30 days, site zone
//!    Asia/Dhaka, chronological, device local time) as 500-line `ATTLOG` batches to
//!    `/iclock/cdata?SN=…&table=ATTLOG&Stamp=…`, one request in flight per device, a new TCP
//!    connection per request; a 503 is counted and the batch re-sent after a short wait;
//! 4. measured: (a) from the first upload until every batch is answered `OK`; (b) from the first
//!    upload until every daily record exists and together they hold every punch (the store is
//!    read directly: the SQLite file read-only, or the PostgreSQL database); (c) the request
//!    latencies' p50 and p99 (every request a device made, 503s included); (d) the server's peak
//!    RSS (`VmHWM`); (e) the scans stored, which must be exactly the punches sent.
//!
//! Criterion measures (b); a plain table per backend follows, beside the peer's figures.
//!
//! The server binary is built first (`cargo build --profile bench -p attendance-server`, a no-op
//! when it is up to date) into the target directory this benchmark runs from; set
//! `ATT_E2E_SERVER_BIN` to use another binary instead.
//!
//! Environment:
//! - `ATT_E2E_PUNCHES` (default 100,000), `ATT_E2E_EMPLOYEES` (default punches / 100, at most
//!   1,000), `ATT_E2E_DAYS` (30), `ATT_E2E_DEVICES` (4), `ATT_E2E_BATCH` (500 lines);
//! - `ATT_E2E_ONLY=sqlite|postgres`: one backend;
//! - `ATT_E2E_TRACE=PATH`: every request's start and latency, per backend, into
//!   `PATH.<backend>.csv` (to see where the slow requests sit); `ATT_E2E_RUST_LOG` the server's
//!   `RUST_LOG` (default `warn`) and `ATT_E2E_SERVER_LOG=PATH` its log kept as
//!   `PATH.<backend>.log`;
//! - `ATT_E2E_ONCE=1`: one measured run per backend (printed, no criterion sampling), instead
//!   of criterion's warm-up run and 10 samples;
//! - `ATT_E2E_TIMEOUT_SECS` (600): the most a run waits for its records, and
//!   `ATT_E2E_STALL_SECS` (60) the most it waits with no new scan or record stored; a run that
//!   gives up is reported as incomplete with what was stored.
//!
//! Without `--bench` (criterion's test mode, `cargo test --benches`) the workload is 2,000
//! punches.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use attendance_benches::Rng;
use chrono::{NaiveDate, NaiveDateTime, TimeDelta};
use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use futures::StreamExt;
use serde_json::{Value, json};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, PgConnection, SqliteConnection};

const ADMIN: &str = "admin";
const PASSWORD: &str = "bench password 2026";
/// The site's zone; the devices' clocks run in it.
const ZONE: &str = "Asia/Dhaka";
/// The peer's time until every record existed, seconds: SQLite-equivalent, PostgreSQL-equivalent.
const PEER_SQLITE_SECS: f64 = 148.0;
const PEER_POSTGRES_SECS: f64 = 250.0;
/// The goals: 50 times the peer's speed (about 3 s), p99 under 100 ms, RSS under 150 MB.
const GOAL_RECORDS_SECS: f64 = 3.0;
const GOAL_P99_MS: f64 = 100.0;
const GOAL_RSS_MB: f64 = 150.0;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().replace('_', "").parse().ok())
        .unwrap_or(default)
}

fn bench_mode() -> bool {
    std::env::args().any(|a| a == "--bench")
}

// ---------------------------------------------------------------------------------------------
// The workload.

/// The punches, as each device sends them.
#[derive(Debug)]
struct Workload {
    employees: usize,
    punches: usize,
    /// Distinct (employee, work date) pairs: the daily records to expect.
    expected_records: usize,
    /// Per device: its serial and its `ATTLOG` bodies in order, with the line count of each.
    devices: Vec<(String, Vec<(String, usize)>)>,
}

/// One punch: local device time, the PIN, the status column, the device.
struct Punch {
    time: NaiveDateTime,
    pin: usize,
    status: u8,
    device: usize,
}

/// `punches` punches of `employees` people over `days` days from 1 November 2026, deterministic:
/// on each day about 96 % of the people come (in 07:30–08:30, out 17:00–17:59), and the punches
/// beyond two a day are spread over the days worked as break punches between 12:00 and 16:00.
/// Most punches are made at the person's own gate (device), some at another.
fn workload(
    punches: usize,
    employees: usize,
    days: usize,
    devices: usize,
    batch: usize,
) -> Workload {
    let mut rng = Rng::new(0xADA5_2026);
    let first = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
    // The days each person works.
    let mut present: Vec<(usize, usize)> = Vec::new();
    for day in 0..days {
        for pin in 1..=employees {
            if rng.below(100) < 96 {
                present.push((day, pin));
            }
        }
    }
    // Fewer punches than two a day worked: drop days worked, chosen at random.
    while present.len() * 2 > punches && !present.is_empty() {
        let i = rng.below(present.len() as u64) as usize;
        present.swap_remove(i);
    }
    present.sort_unstable();
    let extra = punches.saturating_sub(present.len() * 2);
    let (each, rest) = if present.is_empty() {
        (0, 0)
    } else {
        (extra / present.len(), extra % present.len())
    };
    // The `rest` days that get one more break punch.
    let mut one_more: HashSet<usize> = HashSet::new();
    while one_more.len() < rest {
        one_more.insert(rng.below(present.len() as u64) as usize);
    }
    let mut all = Vec::with_capacity(punches);
    for (i, &(day, pin)) in present.iter().enumerate() {
        let date = first + TimeDelta::days(day as i64);
        let at = |secs: u64| date.and_hms_opt(0, 0, 0).unwrap() + TimeDelta::seconds(secs as i64);
        let home = pin % devices;
        let device = |rng: &mut Rng| {
            if rng.below(10) < 8 {
                home
            } else {
                rng.below(devices as u64) as usize
            }
        };
        all.push(Punch {
            time: at(7 * 3600 + 1800 + rng.below(3600)),
            pin,
            status: 0,
            device: device(&mut rng),
        });
        let breaks = each + usize::from(one_more.contains(&i));
        let mut seconds = HashSet::new();
        while seconds.len() < breaks {
            seconds.insert(12 * 3600 + rng.below(4 * 3600));
        }
        let mut seconds: Vec<u64> = seconds.into_iter().collect();
        seconds.sort_unstable();
        for (k, s) in seconds.into_iter().enumerate() {
            all.push(Punch {
                time: at(s),
                pin,
                status: if k % 2 == 0 { 2 } else { 3 },
                device: device(&mut rng),
            });
        }
        all.push(Punch {
            time: at(17 * 3600 + rng.below(3600)),
            pin,
            status: 1,
            device: device(&mut rng),
        });
    }
    all.sort_by_key(|p| (p.time, p.pin));
    let serials: Vec<String> = (1..=devices).map(|d| format!("E2EADMS{d:04}")).collect();
    let mut lines: Vec<Vec<String>> = vec![Vec::new(); devices];
    for p in &all {
        lines[p.device].push(format!(
            "{}\t{}\t{}\t1\t0\t0",
            p.pin,
            p.time.format("%Y-%m-%d %H:%M:%S"),
            p.status
        ));
    }
    let devices = serials
        .into_iter()
        .zip(lines)
        .map(|(serial, lines)| {
            let bodies = lines
                .chunks(batch.max(1))
                .map(|chunk| {
                    let mut body = chunk.join("\n");
                    body.push('\n');
                    (body, chunk.len())
                })
                .collect();
            (serial, bodies)
        })
        .collect();
    Workload {
        employees,
        punches: all.len(),
        expected_records: present.len(),
        devices,
    }
}

// ---------------------------------------------------------------------------------------------
// The server binary and its process.

/// The server binary: `ATT_E2E_SERVER_BIN`, else built (or found up to date) by cargo in the
/// target directory and profile this benchmark runs from.
fn server_binary() -> PathBuf {
    if let Ok(path) = std::env::var("ATT_E2E_SERVER_BIN") {
        return PathBuf::from(path);
    }
    // <target>/<profile dir>/deps/adms_end_to_end-<hash>
    let exe = std::env::current_exe().expect("the benchmark's own path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the benchmark runs from <target>/<profile>/deps")
        .to_path_buf();
    let target_dir = profile_dir
        .parent()
        .expect("a target directory")
        .to_path_buf();
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("release") => "bench",
        Some("debug") => "dev",
        Some(other) => other,
        None => "bench",
    }
    .to_owned();
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace")
        .to_path_buf();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!(
        "adms_end_to_end: building the server (cargo build --profile {profile} -p attendance-server)"
    );
    let status = Command::new(cargo)
        .args([
            "build",
            "--profile",
            &profile,
            "-p",
            "attendance-server",
            "--bin",
        ])
        .arg("attendance-server")
        .arg("--manifest-path")
        .arg(workspace.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        .status()
        .expect("running cargo to build the server");
    assert!(status.success(), "building attendance-server failed");
    let binary = profile_dir.join(format!("attendance-server{}", std::env::consts::EXE_SUFFIX));
    assert!(binary.exists(), "no server binary at {}", binary.display());
    binary
}

/// The running server; killed (and reaped) when dropped, panic or not.
struct ServerProcess {
    child: Child,
    base: String,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ServerProcess {
    /// Starts `binary serve` on a free loopback port with `data_dir` (and `database_url`);
    /// waits (at most 60 s) for the address it prints. Its log goes to `<data_dir>/server.log`.
    fn start(binary: &Path, data_dir: &Path, database_url: Option<&str>) -> Self {
        let log = std::fs::File::create(data_dir.join("server.log")).unwrap();
        let mut command = Command::new(binary);
        command
            .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(["--admin-user", ADMIN, "--admin-password", PASSWORD]);
        if let Some(url) = database_url {
            command.args(["--database-url", url]);
        }
        for var in [
            "ATTENDANCE_CONFIG",
            "ATTENDANCE_BIND",
            "ATTENDANCE_DATA_DIR",
            "ATTENDANCE_DATABASE_URL",
            "ATTENDANCE_JWT_SECRET",
            "ATTENDANCE_WS_PORT",
            "ATTENDANCE_CORS_ORIGINS",
        ] {
            command.env_remove(var);
        }
        let mut child = command
            .env(
                "RUST_LOG",
                std::env::var("ATT_E2E_RUST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("starting the server");
        let stdout = child.stdout.take().unwrap();
        let mut server = Self {
            child,
            base: String::new(),
        };
        let (tx, rx) = std::sync::mpsc::channel();
        let log_path = data_dir.join("server.log");
        // Reads the banner, then copies the rest of stdout (the log) to the log file, so the
        // server never writes into a full pipe.
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            let mut copy = std::fs::OpenOptions::new().append(true).open(log_path).ok();
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(url) = line.strip_prefix("attendance-server listening on ")
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(url.trim().to_owned());
                } else if let Some(file) = copy.as_mut() {
                    use std::io::Write;
                    let _ = writeln!(file, "{line}");
                }
            }
        });
        server.base = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the server did not print its address within 60 s");
        server
    }

    /// `VmHWM` of the process, in bytes.
    fn peak_rss(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .map(|kb| kb * 1024)
    }
}

// ---------------------------------------------------------------------------------------------
// Setup through the REST API.

async fn login(client: &reqwest::Client, base: &str) -> String {
    let response = client
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"username": ADMIN, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "login");
    let body: Value = response.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

async fn post_created(client: &reqwest::Client, url: String, token: &str, body: Value) {
    let response = client
        .post(&url)
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    if status != 201 {
        let text = response.text().await.unwrap_or_default();
        panic!("POST {url} {body}: {status} {text}");
    }
}

async fn set_up(base: &str, work: &Workload) {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let token = login(&client, base).await;
    let employees = futures::stream::iter(1..=work.employees)
        .map(|pin| {
            let (client, token) = (&client, &token);
            async move {
                let department = ["Sewing", "Cutting", "Finishing", "Quality"][pin % 4];
                post_created(
                    client,
                    format!("{base}/api/attendance/employees/"),
                    token,
                    json!({
                        "employee_id": format!("EMP{pin:05}"),
                        "employee_name": format!("Employee {pin}"),
                        "department": department,
                        "designation": "Operator",
                        "level_of_work": if pin % 10 == 0 { "Staff" } else { "Worker" },
                        "device_user_id": pin.to_string(),
                    }),
                )
                .await;
            }
        })
        .buffer_unordered(4);
    employees.collect::<Vec<()>>().await;
    for (serial, _) in &work.devices {
        post_created(
            &client,
            format!("{base}/api/attendance/machines/"),
            &token,
            json!({
                "machine_id": serial,
                "name": format!("Gate {serial}"),
                "machine_type": "zkteco_adms",
                "time_zone": ZONE,
                "config": {"serial": serial},
            }),
        )
        .await;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    for (serial, _) in &work.devices {
        loop {
            let status = client
                .get(format!("{base}/iclock/cdata?SN={serial}&options=all"))
                .send()
                .await
                .map(|r| r.status().as_u16());
            if status.as_ref().is_ok_and(|s| *s == 200) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the handshake of {serial} did not answer 200 within 30 s: {status:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The devices.

#[derive(Debug, Default)]
struct DeviceOutcome {
    /// Every request's latency, 503s included.
    latencies: Vec<Duration>,
    /// Every request's start, from the device's first request (for `ATT_E2E_TRACE`).
    starts: Vec<Duration>,
    busy: u64,
    errors: u64,
}

/// Sends `bodies` in order, one request at a time, each on a new connection; re-sends a batch
/// answered 503 (or not answered) after a short wait, at most 1,000 times in all.
async fn push(base: String, serial: String, bodies: Vec<(String, usize)>) -> DeviceOutcome {
    let client = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    let mut out = DeviceOutcome::default();
    let mut stamp = 0usize;
    let first = Instant::now();
    for (body, lines) in bodies {
        stamp += lines;
        let url = format!("{base}/iclock/cdata?SN={serial}&table=ATTLOG&Stamp={stamp}");
        loop {
            let started = Instant::now();
            let reply = client
                .post(&url)
                .header("Content-Type", "text/plain")
                .body(body.clone())
                .send()
                .await;
            let reply = match reply {
                Ok(r) => {
                    let status = r.status().as_u16();
                    (status, r.text().await.unwrap_or_default())
                }
                Err(e) => (0, e.to_string()),
            };
            out.latencies.push(started.elapsed());
            out.starts.push(started - first);
            match reply {
                (200, text) if text.trim() == format!("OK: {lines}") => break,
                (200, text) => panic!("{serial}: unexpected reply {text:?} to {lines} lines"),
                (503, _) => out.busy += 1,
                (status, text) => {
                    out.errors += 1;
                    eprintln!("{serial}: {status} {text}; retrying");
                }
            }
            assert!(
                out.busy + out.errors < 1_000,
                "{serial}: 1,000 failed requests, giving up"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The store, read directly.

enum Db {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
}

impl Db {
    async fn open(backend: &Backend, data_dir: &Path) -> Self {
        match backend {
            Backend::Sqlite => {
                let options = SqliteConnectOptions::new()
                    .filename(data_dir.join("attendance.sqlite"))
                    .read_only(true);
                Db::Sqlite(SqliteConnection::connect_with(&options).await.unwrap())
            }
            Backend::Postgres { database, .. } => {
                Db::Postgres(PgConnection::connect(database).await.unwrap())
            }
        }
    }

    async fn count(&mut self, sql: &'static str) -> u64 {
        let n: i64 = match self {
            Db::Sqlite(c) => sqlx::query_scalar(sql).fetch_one(c).await.unwrap(),
            Db::Postgres(c) => sqlx::query_scalar(sql).fetch_one(c).await.unwrap(),
        };
        u64::try_from(n).unwrap_or(0)
    }

    async fn scans(&mut self) -> u64 {
        self.count("SELECT count(*) FROM att_scans").await
    }

    async fn records(&mut self) -> u64 {
        self.count("SELECT count(*) FROM att_daily_records").await
    }

    /// The scans the daily records hold, all together.
    async fn scans_in_records(&mut self) -> u64 {
        match self {
            Db::Sqlite(_) => {
                self.count(
                    "SELECT coalesce(sum(json_array_length(data, '$.scans')), 0) FROM att_daily_records",
                )
                .await
            }
            Db::Postgres(_) => {
                self.count(
                    "SELECT coalesce(sum(json_array_length((data::json) -> 'scans')), 0)::bigint FROM att_daily_records",
                )
                .await
            }
        }
    }

    async fn close(self) {
        match self {
            Db::Sqlite(c) => {
                let _ = c.close().await;
            }
            Db::Postgres(c) => {
                let _ = c.close().await;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// One run.

enum Backend {
    Sqlite,
    Postgres { admin: String, database: String },
}

impl Backend {
    fn name(&self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres { .. } => "postgres",
        }
    }
}

#[derive(Debug, Clone)]
struct RunResult {
    acked: Duration,
    /// `None` when the records were not complete before the timeout.
    records: Option<Duration>,
    p50: Duration,
    p99: Duration,
    max: Duration,
    requests: usize,
    peak_rss: Option<u64>,
    busy: u64,
    errors: u64,
    scans_stored: u64,
    records_stored: u64,
    scans_in_records: u64,
}

static RUN: AtomicU64 = AtomicU64::new(0);

fn database_url(admin: &str, name: &str) -> String {
    let (base, query) = match admin.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (admin, String::new()),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    format!("{base}/{name}{query}")
}

async fn admin_sql(admin: &str, sql: String) {
    let mut conn = PgConnection::connect(admin).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .execute(&mut conn)
        .await
        .unwrap();
    let _ = conn.close().await;
}

async fn run_once(binary: &Path, work: &Workload, postgres: Option<&str>) -> RunResult {
    let data = tempfile::tempdir().unwrap();
    let backend = match postgres {
        None => Backend::Sqlite,
        Some(admin) => {
            let name = format!(
                "att_e2e_{}_{}",
                std::process::id(),
                RUN.fetch_add(1, Ordering::Relaxed)
            );
            admin_sql(admin, format!("CREATE DATABASE {name}")).await;
            Backend::Postgres {
                admin: admin.to_owned(),
                database: database_url(admin, &name),
            }
        }
    };
    let result = {
        let url = match &backend {
            Backend::Sqlite => None,
            Backend::Postgres { database, .. } => Some(database.as_str()),
        };
        let server = ServerProcess::start(binary, data.path(), url);
        set_up(&server.base, work).await;
        let mut db = Db::open(&backend, data.path()).await;
        let timeout = Duration::from_secs(env_usize("ATT_E2E_TIMEOUT_SECS", 600) as u64);

        // The timed part.
        let started = Instant::now();
        let pushers: Vec<_> = work
            .devices
            .iter()
            .map(|(serial, bodies)| {
                tokio::spawn(push(server.base.clone(), serial.clone(), bodies.clone()))
            })
            .collect();
        let mut outcomes = Vec::new();
        for p in pushers {
            outcomes.push(p.await.unwrap());
        }
        let acked = started.elapsed();
        if let Ok(path) = std::env::var("ATT_E2E_TRACE") {
            let mut trace = String::from("device,start_ms,latency_ms\n");
            for (device, o) in outcomes.iter().enumerate() {
                for (start, latency) in o.starts.iter().zip(&o.latencies) {
                    trace.push_str(&format!(
                        "{device},{:.1},{:.1}\n",
                        start.as_secs_f64() * 1e3,
                        latency.as_secs_f64() * 1e3
                    ));
                }
            }
            std::fs::write(format!("{path}.{}.csv", backend.name()), trace).unwrap();
        }
        let expected_records = work.expected_records as u64;
        let punches = work.punches as u64;
        // Polled every 50 ms; given up at the timeout, or when nothing has changed for
        // `ATT_E2E_STALL_SECS` (lines lost: the counts would never be reached).
        let stall = Duration::from_secs(env_usize("ATT_E2E_STALL_SECS", 60) as u64);
        let mut last = (0, 0);
        let mut last_change = Instant::now();
        let records = loop {
            let now = (db.records().await, db.scans().await);
            if now.0 >= expected_records
                && now.1 >= punches
                && db.scans_in_records().await >= punches
            {
                break Some(started.elapsed());
            }
            if now != last {
                last = now;
                last_change = Instant::now();
            }
            if started.elapsed() > timeout || last_change.elapsed() > stall {
                break None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let peak_rss = server.peak_rss();
        let (scans_stored, records_stored, scans_in_records) = (
            db.scans().await,
            db.records().await,
            db.scans_in_records().await,
        );
        db.close().await;
        drop(server);
        if let Ok(path) = std::env::var("ATT_E2E_SERVER_LOG") {
            let _ = std::fs::copy(
                data.path().join("server.log"),
                format!("{path}.{}.log", backend.name()),
            );
        }
        let mut latencies: Vec<Duration> = outcomes
            .iter()
            .flat_map(|o| o.latencies.iter().copied())
            .collect();
        latencies.sort_unstable();
        let at = |q: f64| {
            latencies
                .get(((latencies.len() as f64 * q).ceil() as usize).saturating_sub(1))
                .copied()
                .unwrap_or_default()
        };
        RunResult {
            acked,
            records,
            p50: at(0.50),
            p99: at(0.99),
            max: latencies.last().copied().unwrap_or_default(),
            requests: latencies.len(),
            peak_rss,
            busy: outcomes.iter().map(|o| o.busy).sum(),
            errors: outcomes.iter().map(|o| o.errors).sum(),
            scans_stored,
            records_stored,
            scans_in_records,
        }
    };
    if let Backend::Postgres { admin, database } = &backend {
        let name = database
            .rsplit('/')
            .next()
            .and_then(|n| n.split('?').next())
            .unwrap_or_default()
            .to_owned();
        admin_sql(
            admin,
            format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        )
        .await;
    }
    result
}

// ---------------------------------------------------------------------------------------------
// Reporting.

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn print_run(name: &str, work: &Workload, r: &RunResult) {
    let records = r.records.map_or_else(|| "INCOMPLETE".to_owned(), secs);
    eprintln!(
        "adms_end_to_end {name}: acked {} | records {records} | p50 {} p99 {} max {} ({} requests) | RSS {} | 503s {} | errors {} | scans {}/{} | records {}/{} holding {} scans",
        secs(r.acked),
        ms(r.p50),
        ms(r.p99),
        ms(r.max),
        r.requests,
        r.peak_rss
            .map_or_else(|| "?".into(), |b| format!("{:.1} MB", b as f64 / 1e6)),
        r.busy,
        r.errors,
        r.scans_stored,
        work.punches,
        r.records_stored,
        work.expected_records,
        r.scans_in_records,
    );
}

fn median<T: Copy + Ord>(mut values: Vec<T>) -> Option<T> {
    values.sort_unstable();
    values.get(values.len() / 2).copied()
}

fn print_summary(name: &str, peer_secs: f64, work: &Workload, runs: &[RunResult]) {
    if runs.is_empty() {
        return;
    }
    let complete: Vec<Duration> = runs.iter().filter_map(|r| r.records).collect();
    let acked = median(runs.iter().map(|r| r.acked).collect()).unwrap_or_default();
    let records = median(complete.clone());
    let p50 = median(runs.iter().map(|r| r.p50).collect()).unwrap_or_default();
    let p99 = median(runs.iter().map(|r| r.p99).collect()).unwrap_or_default();
    let rss = runs.iter().filter_map(|r| r.peak_rss).max();
    let busy: u64 = runs.iter().map(|r| r.busy).sum();
    let lost: u64 = runs
        .iter()
        .map(|r| (work.punches as u64).saturating_sub(r.scans_stored))
        .sum();
    let rate = records.map(|d| work.punches as f64 / d.as_secs_f64());
    let mut t = String::new();
    t.push_str(&format!(
        "\nadms_end_to_end — {name}: {} punches, {} employees, {} devices, {} daily records, {} run(s) (medians; RSS the largest; 503s and lost lines summed)\n",
        work.punches,
        work.employees,
        work.devices.len(),
        work.expected_records,
        runs.len()
    ));
    t.push_str(&format!(
        "  {:<28} {:>14} {:>14} {:>12}\n",
        "", "ours", "peer", "goal"
    ));
    let row = |t: &mut String, what: &str, ours: String, peer: String, goal: String| {
        t.push_str(&format!("  {what:<28} {ours:>14} {peer:>14} {goal:>12}\n"));
    };
    row(
        &mut t,
        "all batches acknowledged",
        secs(acked),
        "-".into(),
        "-".into(),
    );
    row(
        &mut t,
        "all daily records",
        records.map_or_else(|| "INCOMPLETE".into(), secs),
        format!("{peer_secs:.0} s"),
        format!("≤ {GOAL_RECORDS_SECS:.0} s"),
    );
    row(
        &mut t,
        "  incomplete runs",
        format!("{}", runs.len() - complete.len()),
        "-".into(),
        "0".into(),
    );
    row(
        &mut t,
        "punches/s (to all records)",
        rate.map_or_else(|| "-".into(), |r| format!("{r:.0}")),
        format!("{:.0}", 100_000.0 / peer_secs),
        format!("≥ {:.0}", 100_000.0 / GOAL_RECORDS_SECS),
    );
    row(
        &mut t,
        "speed-up (punches/s)",
        records.map_or_else(
            || "-".into(),
            |d| {
                format!(
                    "{:.1}×",
                    peer_secs / d.as_secs_f64() * work.punches as f64 / 100_000.0
                )
            },
        ),
        "1×".into(),
        "≥ 50×".into(),
    );
    row(&mut t, "batch latency p50", ms(p50), "-".into(), "-".into());
    row(
        &mut t,
        "batch latency p99",
        ms(p99),
        "-".into(),
        format!("< {GOAL_P99_MS:.0} ms"),
    );
    row(
        &mut t,
        "peak RSS (VmHWM)",
        rss.map_or_else(|| "?".into(), |b| format!("{:.1} MB", b as f64 / 1e6)),
        "-".into(),
        format!("< {GOAL_RSS_MB:.0} MB"),
    );
    row(
        &mut t,
        "503 replies",
        busy.to_string(),
        "-".into(),
        "-".into(),
    );
    row(
        &mut t,
        "lost lines (sent − stored)",
        lost.to_string(),
        "-".into(),
        "0".into(),
    );
    eprintln!("{t}");
}

// ---------------------------------------------------------------------------------------------
// The benchmark.

fn adms_end_to_end(c: &mut Criterion) {
    let quick = !bench_mode();
    let punches = if quick {
        2_000
    } else {
        env_usize("ATT_E2E_PUNCHES", 100_000)
    };
    let employees = env_usize("ATT_E2E_EMPLOYEES", (punches / 100).clamp(1, 1_000));
    let work = workload(
        punches,
        employees,
        env_usize("ATT_E2E_DAYS", 30).max(1),
        env_usize("ATT_E2E_DEVICES", 4).max(1),
        env_usize("ATT_E2E_BATCH", 500),
    );
    let binary = server_binary();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let only = std::env::var("ATT_E2E_ONLY").unwrap_or_default();
    let once = quick || std::env::var("ATT_E2E_ONCE").is_ok_and(|v| !v.is_empty() && v != "0");
    let postgres = match std::env::var("DATABASE_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            eprintln!(
                "adms_end_to_end: DATABASE_URL is not set, the PostgreSQL backend is skipped"
            );
            None
        }
    };
    let mut backends: Vec<(&str, Option<String>, f64)> = Vec::new();
    if only.is_empty() || only == "sqlite" {
        backends.push(("sqlite", None, PEER_SQLITE_SECS));
    }
    if let Some(url) = postgres
        && (only.is_empty() || only == "postgres")
    {
        backends.push(("postgres", Some(url), PEER_POSTGRES_SECS));
    }
    for (name, url, peer) in backends {
        let runs: Mutex<Vec<RunResult>> = Mutex::new(Vec::new());
        let run = |runs: &Mutex<Vec<RunResult>>| {
            let result = runtime.block_on(run_once(&binary, &work, url.as_deref()));
            print_run(name, &work, &result);
            let took = result
                .records
                .unwrap_or(result.acked.max(Duration::from_secs(1)));
            runs.lock().unwrap().push(result);
            took
        };
        if once {
            run(&runs);
        } else {
            let mut group = c.benchmark_group(format!("adms_end_to_end_{}_punches", work.punches));
            group
                .sample_size(10)
                .sampling_mode(SamplingMode::Flat)
                .warm_up_time(Duration::from_millis(1))
                .measurement_time(Duration::from_millis(1))
                .throughput(Throughput::Elements(work.punches as u64));
            group.bench_function(format!("{name}_all_records"), |b| {
                b.iter_custom(|iters| (0..iters).map(|_| run(&runs)).sum());
            });
            group.finish();
        }
        print_summary(name, peer, &work, &runs.lock().unwrap());
    }
}

criterion_group!(benches, adms_end_to_end);
criterion_main!(benches);
