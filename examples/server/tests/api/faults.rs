//! Faults (issue 15, item 3), each bounded, on 127.0.0.1 only, stopping by itself; each prints
//! its figures (lost, doubled, gap, latencies). `scripts/faults.sh` runs them all, the opt-in
//! ones included, with longer outages.
//!
//! - `postgres_outage_*`: the server on PostgreSQL reached through a TCP proxy in the test; a
//!   fake ZKTeco terminal (read live through the real adapter; every punch also kept in its log)
//!   and an ADMS device stream while the proxy drops every connection and refuses new ones for
//!   `ATT_FAULT_OUTAGE_SECS` (22 s by default: past the ADMS commit timeout of 20 s, so pushes
//!   must hear 503 + `Retry-After`), then lets them through again. Afterwards every record the
//!   terminal holds and every ADMS line answered `OK` is in the scans table exactly once; the
//!   gap (restore to the first scan stored after it) is printed. With `ATT_FAULT_PG_RESTART=1`
//!   the same scenario restarts the real cluster (`pg_ctlcluster … restart`) instead: opt-in,
//!   since it breaks other users of the server.
//! - `sqlite_full_disk_and_read_only_*`: the data directory on a 4 MiB tmpfs (mounted by the
//!   test; needs root, skipped otherwise), filled up under the running server: a push is answered
//!   503 + `Retry-After`, an import 503, `system-status` is `degraded` naming the database's own
//!   error; once space is back the held scans are stored and the status is `ok` again. Then the
//!   directory is remounted read-only (possible only with the server stopped: the kernel refuses
//!   it under open files) and `serve` must refuse to start, saying why.
//! - `sigkill_*`: the `serve` binary killed 20 times while a fake ZKTeco terminal in this process,
//!   the simulator and an ADMS pusher stream; every record each holds is stored exactly once
//!   after the last start.
//! - `bad_devices_*`: a terminal that answers garbage, one that stalls mid-transfer, one that
//!   drops the connection mid-transfer and one that accepts and never answers are added beside a
//!   good one: each bad machine backs off on its own, and the good one's latency (punch on the
//!   device to scan stored) is measured before and with them.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use attendance_adapters::zk::fake::{FakeConfig, FakeDevice, FakeHandle, Fault};
use attendance_core::employee::{Employee, NewEmployee};
use attendance_core::scan::MachineId;
use attendance_core::store::Store;
use attendance_server::cli::{Cli, Server};
use attendance_store_postgres::testkit;
use chrono::{NaiveDate, NaiveDateTime, TimeDelta, TimeZone, Utc};
use clap::Parser;
use reqwest::Method;
use serde_json::{Value, json};
use sqlx::Connection;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use crate::helpers::{PASSWORD, TestApp};
use crate::machines::spawn_machine_app;
use crate::realtime::{wait_live, zk_machine};

const ZONE: chrono_tz::Tz = chrono_tz::Asia::Dhaka;
const EMPLOYEES: u64 = 20;
/// The device user id of the first employee (the seeded test stores use 1, 2, …).
const FIRST_PIN: u64 = 101;
const ADMS_SERIAL: &str = "FAULTADMS001";
const ZK_MACHINE: &str = "ZK-FAULT";

fn env_secs(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// The `n`-th punch of a stream: device user `FIRST_PIN + n % EMPLOYEES`, one every 2 s from
/// `start`.
fn nth(start: NaiveDateTime, n: u64) -> (String, NaiveDateTime) {
    (
        (FIRST_PIN + n % EMPLOYEES).to_string(),
        start + TimeDelta::seconds(2 * n as i64),
    )
}

/// The stored key of a punch: (device user, Unix second).
fn key(pin: &str, local: NaiveDateTime) -> (String, i64) {
    (
        pin.to_owned(),
        ZONE.from_local_datetime(&local)
            .single()
            .unwrap()
            .timestamp(),
    )
}

fn day(y: i32, m: u32, d: u32) -> NaiveDateTime {
    NaiveDate::from_ymd_opt(y, m, d)
        .unwrap()
        .and_hms_opt(6, 0, 0)
        .unwrap()
}

/// The command line of `serve` on `database_url` or, when `None`, on SQLite in `data`, with an
/// admin.
fn server_cli(database_url: Option<&str>, data: &Path) -> Cli {
    let mut args = vec![
        "attendance-server".to_owned(),
        "serve".into(),
        "--bind".into(),
        "127.0.0.1:0".into(),
        "--data-dir".into(),
        data.to_str().unwrap().into(),
        "--admin-user".into(),
        "admin".into(),
        "--admin-password".into(),
        PASSWORD.into(),
    ];
    if let Some(url) = database_url {
        args.extend(["--database-url".into(), url.to_owned()]);
    }
    Cli::try_parse_from(args).unwrap()
}

/// The server of the product (`Server::start`, as `serve` runs it, see [`server_cli`]) and a
/// client with the admin's token.
async fn start_server(database_url: Option<&str>, data: &Path) -> (Server, TestApp, String) {
    let server = Server::start(&server_cli(database_url, data))
        .await
        .unwrap();
    let app = TestApp {
        base: format!("http://{}", server.addr),
        client: http(),
        store: server.state.store.clone(),
    };
    let token = app.token("admin").await;
    (server, app, token)
}

/// Employees `EMP00101`… enrolled as device users `FIRST_PIN`….
async fn enrol(store: &dyn Store) {
    for pin in FIRST_PIN..FIRST_PIN + EMPLOYEES {
        let employee = Employee::parse(&NewEmployee {
            employee_id: format!("EMP{pin:05}"),
            employee_name: format!("Employee {pin}"),
            department: "Sewing".into(),
            designation: "Operator".into(),
            level_of_work: "Worker".into(),
            device_user_id: Some(pin.to_string()),
            ..NewEmployee::default()
        })
        .unwrap();
        store.create_employee(&employee).await.unwrap();
    }
}

async fn add_adms(app: &TestApp, token: &str) {
    app.call_json(
        Method::POST,
        "/api/attendance/machines/",
        token,
        Some(json!({
            "machine_id": ADMS_SERIAL,
            "name": "Gate",
            "machine_type": "zkteco_adms",
            "time_zone": ZONE.name(),
            "config": {"serial": ADMS_SERIAL},
        })),
        201,
    )
    .await;
    let status = app
        .client
        .get(app.url(&format!("/iclock/cdata?SN={ADMS_SERIAL}&options=all")))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200, "the ADMS handshake");
}

/// A fake ZKTeco terminal, its clock now: with an empty log, or with a log of 100 records when
/// it injects `fault` (the faults strike when a table is read).
async fn zk_fake(fault: Option<Fault>) -> FakeHandle {
    FakeDevice::spawn_tcp(
        FakeConfig {
            records: if fault.is_some() { 100 } else { 0 },
            users: 0,
            clock: Utc::now().with_timezone(&ZONE).naive_local(),
            fault,
            ..FakeConfig::default()
        },
        0,
    )
    .await
    .unwrap()
}

/// What an ADMS pusher saw.
#[derive(Debug, Default)]
struct PushLog {
    /// Lines of batches answered `OK: n`, by stored key.
    acked: Vec<(String, i64)>,
    ok: usize,
    /// 503 with a `Retry-After`.
    busy: usize,
    /// 503 without `Retry-After`, or any other status (500…): each a defect.
    wrong: Vec<String>,
    /// No answer at all (connection refused or reset).
    unanswered: usize,
}

/// Pushes ATTLOG batches of 10 distinct lines every 100 ms until `stop`; a batch not answered
/// `OK` is re-sent (as a device does) after its `Retry-After`, bounded by `stop`.
async fn adms_pusher(
    base: Arc<Mutex<String>>,
    start: NaiveDateTime,
    stop: Arc<AtomicBool>,
) -> PushLog {
    let client = http();
    let mut log = PushLog::default();
    let mut next = 0u64;
    let mut pending: Option<Vec<(String, NaiveDateTime)>> = None;
    while !stop.load(Ordering::SeqCst) {
        let batch = pending
            .take()
            .unwrap_or_else(|| (next..next + 10).map(|n| nth(start, n)).collect());
        let body: String = batch
            .iter()
            .map(|(pin, at)| format!("{pin}\t{}\t0\t1\t0\t0\n", at.format("%Y-%m-%d %H:%M:%S")))
            .collect();
        let base = base.lock().unwrap().clone();
        let url = format!("{base}/iclock/cdata?SN={ADMS_SERIAL}&table=ATTLOG&Stamp={next}");
        match client.post(url).body(body).send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                let retry_after = response.headers().get("retry-after").cloned();
                let text = response.text().await.unwrap_or_default();
                if status == 200 && text.trim() == format!("OK: {}", batch.len()) {
                    log.ok += 1;
                    log.acked
                        .extend(batch.iter().map(|(pin, at)| key(pin, *at)));
                    next = next.max(stamp_of(start, &batch) + 1);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
                if status == 503 && retry_after.is_some() {
                    log.busy += 1;
                } else {
                    log.wrong.push(format!("{status} {retry_after:?} {text}"));
                }
            }
            Err(_) => log.unanswered += 1,
        }
        pending = Some(batch);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    log
}

/// The index after the last punch of `batch` (punches are 2 s apart from `start`).
fn stamp_of(start: NaiveDateTime, batch: &[(String, NaiveDateTime)]) -> u64 {
    batch
        .last()
        .map(|(_, at)| ((*at - start).num_seconds() / 2) as u64)
        .unwrap_or(0)
}

/// Punches on `fake` every 100 ms until `stop`; the punches made, by stored key.
async fn zk_puncher(
    fake: Arc<FakeHandle>,
    start: NaiveDateTime,
    stop: Arc<AtomicBool>,
) -> Vec<(String, i64)> {
    let mut made = Vec::new();
    let mut n = 0;
    while !stop.load(Ordering::SeqCst) {
        let (pin, at) = nth(start, n);
        fake.punch(&pin, at).unwrap();
        made.push(key(&pin, at));
        n += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    made
}

/// A TCP proxy on 127.0.0.1 to `target` that the test can cut (every connection dropped, new
/// ones accepted and closed at once) and restore.
struct Proxy {
    addr: SocketAddr,
    up: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
    task: JoinHandle<()>,
}

impl Proxy {
    async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let links: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (up2, links2) = (up.clone(), links.clone());
        let task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !up2.load(Ordering::SeqCst) {
                    let _ = inbound.shutdown().await;
                    continue;
                }
                let link = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                let mut links = links2.lock().unwrap();
                links.retain(|l| !l.is_finished());
                links.push(link);
            }
        });
        Self {
            addr,
            up,
            links,
            task,
        }
    }

    /// Drops every connection and refuses new ones.
    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }
}

/// The stored scans of `machine` by (device user, second), with their count, read on `url`
/// directly (not through the proxy).
async fn pg_stored(url: &str, machine: &str) -> Option<HashMap<(String, i64), i64>> {
    let mut conn = sqlx::PgConnection::connect(url).await.ok()?;
    let rows: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT device_user_id, at_second::bigint, count(*) FROM att_scans WHERE machine_id = $1 \
         GROUP BY device_user_id, at_second",
    )
    .bind(machine)
    .fetch_all(&mut conn)
    .await
    .ok()?;
    let _ = conn.close().await;
    Some(rows.into_iter().map(|(u, s, n)| ((u, s), n)).collect())
}

async fn pg_total(url: &str) -> Option<i64> {
    let mut conn = sqlx::PgConnection::connect(url).await.ok()?;
    let total: (i64,) = sqlx::query_as("SELECT count(*) FROM att_scans")
        .fetch_one(&mut conn)
        .await
        .ok()?;
    let _ = conn.close().await;
    Some(total.0)
}

/// Lost (in `expected`, not stored) and doubled (stored more than once) of one device.
fn lost_doubled(
    expected: &[(String, i64)],
    stored: &HashMap<(String, i64), i64>,
) -> (usize, usize) {
    let lost = expected.iter().filter(|k| !stored.contains_key(*k)).count();
    let doubled = stored.values().filter(|n| **n > 1).count();
    (lost, doubled)
}

/// How the outage is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outage {
    /// The test's proxy drops and refuses connections.
    Proxy,
    /// `pg_ctlcluster <version> main restart` (opt-in).
    Restart,
}

/// `pg_ctlcluster <version> <name> restart` of the cluster `ATT_FAULT_PG_CLUSTER` (`main` by
/// default; its version is the directory under `/etc/postgresql` that holds it).
fn restart_cluster() {
    let name = std::env::var("ATT_FAULT_PG_CLUSTER").unwrap_or_else(|_| "main".into());
    let version = std::fs::read_dir("/etc/postgresql")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join(&name).is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .max()
        .unwrap_or_else(|| panic!("no PostgreSQL cluster {name} under /etc/postgresql"));
    let status = std::process::Command::new("pg_ctlcluster")
        .args(["--skip-systemctl-redirect", &version, &name, "restart"])
        .status()
        .unwrap();
    assert!(
        status.success(),
        "pg_ctlcluster {version} {name} restart: {status}"
    );
}

async fn postgres_outage(outage: Outage) {
    let Some(pg) = testkit::server().await else {
        return;
    };
    let direct = pg.database().await;
    let options: sqlx::postgres::PgConnectOptions = direct.parse().unwrap();
    let host_port = format!("{}:{}", options.get_host(), options.get_port());
    let target = tokio::net::lookup_host(&host_port)
        .await
        .unwrap()
        .next()
        .unwrap();
    let proxy = Proxy::start(target).await;
    let through = direct.replacen(&host_port, &proxy.addr.to_string(), 1);
    assert_ne!(
        through, direct,
        "DATABASE_URL must name host:port ({host_port}) for the proxy"
    );
    let server_url = if outage == Outage::Proxy {
        through.as_str()
    } else {
        direct.as_str()
    };
    let data = std::env::temp_dir().join(format!("attendance-faults-pg-{}", uuid::Uuid::new_v4()));
    let (server, app, token) = start_server(Some(server_url), &data).await;
    enrol(app.store.as_ref()).await;
    add_adms(&app, &token).await;
    let fake = Arc::new(zk_fake(None).await);
    app.call_json(
        Method::POST,
        "/api/attendance/machines/",
        &token,
        Some(zk_machine(ZK_MACHINE, &fake)),
        201,
    )
    .await;
    wait_live(server.state.machines.as_ref().unwrap(), ZK_MACHINE).await;

    let stop = Arc::new(AtomicBool::new(false));
    let pusher = tokio::spawn(adms_pusher(
        Arc::new(Mutex::new(app.base.clone())),
        day(2026, 11, 2),
        stop.clone(),
    ));
    let puncher = tokio::spawn(zk_puncher(fake.clone(), day(2026, 11, 3), stop.clone()));
    tokio::time::sleep(Duration::from_secs(2)).await;

    let seconds = env_secs("ATT_FAULT_OUTAGE_SECS", 22);
    let (restored, mid_status) = match outage {
        Outage::Proxy => {
            proxy.cut();
            eprintln!("postgres outage: proxy cut for {seconds} s");
            tokio::time::sleep(Duration::from_secs(seconds / 2)).await;
            let mid = app
                .client
                .get(app.url("/api/attendance/system-status/"))
                .bearer_auth(&token)
                .send()
                .await
                .map(|r| r.status().as_u16());
            tokio::time::sleep(Duration::from_secs(seconds - seconds / 2)).await;
            proxy.restore();
            (Instant::now(), mid)
        }
        Outage::Restart => {
            eprintln!("postgres outage: pg_ctlcluster restart");
            tokio::task::spawn_blocking(restart_cluster).await.unwrap();
            (Instant::now(), Ok(0))
        }
    };
    let before = pg_total(&direct).await.unwrap_or(0);
    // The gap: from the restore to the first scan stored after it.
    let mut gap = None;
    let deadline = Instant::now() + Duration::from_secs(60);
    while gap.is_none() && Instant::now() < deadline {
        if pg_total(&direct).await.unwrap_or(0) > before {
            gap = Some(restored.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::SeqCst);
    let pushed = tokio::time::timeout(Duration::from_secs(90), pusher)
        .await
        .expect("the pusher stops within 90 s")
        .unwrap();
    let punched = puncher.await.unwrap();

    // Everything the terminal holds and every acknowledged line: stored within 60 s.
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut zk, mut adms) = (HashMap::new(), HashMap::new());
    loop {
        if let (Some(z), Some(a)) = (
            pg_stored(&direct, ZK_MACHINE).await,
            pg_stored(&direct, ADMS_SERIAL).await,
        ) {
            (zk, adms) = (z, a);
        }
        let done = lost_doubled(&punched, &zk).0 == 0 && lost_doubled(&pushed.acked, &adms).0 == 0;
        if done || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (zk_lost, zk_doubled) = lost_doubled(&punched, &zk);
    let (adms_lost, adms_doubled) = lost_doubled(&pushed.acked, &adms);
    let health = server
        .state
        .machines
        .as_ref()
        .unwrap()
        .health_of(&MachineId::parse(ZK_MACHINE).unwrap());
    let stats = server.state.engine.stats();
    eprintln!(
        "postgres outage ({}): gap {gap:?}; ZKTeco: {} punches held, {} stored, \
         {zk_lost} lost, {zk_doubled} doubled; ADMS: {} batches OK ({} lines), {} answered 503 + \
         Retry-After, {} unanswered, wrong answers {:?}, {} lines stored, {adms_lost} lost, \
         {adms_doubled} doubled; system-status mid-outage: {mid_status:?}; engine store errors \
         {}, failure now {:?}; ZK machine failures {:?}",
        match outage {
            Outage::Proxy => format!("proxy cut for {seconds} s"),
            Outage::Restart => "pg_ctlcluster restart".into(),
        },
        punched.len(),
        zk.len(),
        pushed.ok,
        pushed.acked.len(),
        pushed.busy,
        pushed.unanswered,
        pushed.wrong,
        adms.len(),
        stats.store_errors,
        stats.store_failure,
        health.map(|h| (h.connections, h.last_error)),
    );
    server.stop().await;
    drop(proxy);
    let _ = std::fs::remove_dir_all(&data);
    assert!(!punched.is_empty() && pushed.ok > 0, "nothing streamed");
    assert!(
        gap.is_some(),
        "no scan was stored within 60 s of the restore"
    );
    assert!(
        pushed.wrong.is_empty(),
        "pushes answered wrongly: {:?}",
        pushed.wrong
    );
    if outage == Outage::Proxy && seconds > 20 {
        assert!(
            pushed.busy > 0,
            "an outage longer than the commit timeout must answer pushes 503 + Retry-After"
        );
    }
    assert_eq!((zk_lost, zk_doubled), (0, 0), "ZKTeco: lost, doubled");
    assert_eq!((adms_lost, adms_doubled), (0, 0), "ADMS: lost, doubled");
    assert_eq!(
        stats.store_failure, None,
        "the engine still reports a failing store"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_through_a_proxy_loses_and_doubles_nothing() {
    postgres_outage(Outage::Proxy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restart_loses_and_doubles_nothing_opt_in() {
    if std::env::var_os("ATT_FAULT_PG_RESTART").is_none() {
        eprintln!(
            "skipped: set ATT_FAULT_PG_RESTART=1 (scripts/faults.sh does) to restart the shared \
             PostgreSQL cluster"
        );
        return;
    }
    postgres_outage(Outage::Restart).await;
}

/// A tmpfs mounted on a fresh directory, unmounted on drop; `None` (after saying so) when this
/// process may not mount.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(size: &str) -> Option<Self> {
        let dir =
            std::env::temp_dir().join(format!("attendance-faults-fs-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            eprintln!("skipped: cannot mount a tmpfs here (needs root)");
            let _ = std::fs::remove_dir(&dir);
            return None;
        }
        Some(Self(dir))
    }

    /// Remounts with `mode` (`ro` or `rw`); a file system with files open for writing cannot go
    /// read-only (EBUSY), so a closing store's files are waited for, at most 10 s.
    fn remount(&self, mode: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let done = std::process::Command::new("mount")
                .args(["-o", &format!("remount,{mode}")])
                .arg(&self.0)
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if done {
                return;
            }
            assert!(Instant::now() < deadline, "remount {mode} failed for 10 s");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Fills the file system with a filler file; its path.
    fn fill(&self) -> PathBuf {
        use std::io::Write;
        let path = self.0.join("filler");
        let mut file = std::fs::File::create(&path).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        while file.write_all(&chunk).is_ok() {}
        let small = [0u8; 512];
        while file.write_all(&small).is_ok() {}
        let _ = file.sync_all();
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Posts one ATTLOG batch; (status, has Retry-After, body).
async fn push_once(
    app: &TestApp,
    lines: &[(String, NaiveDateTime)],
    stamp: u64,
) -> (u16, bool, String) {
    let body: String = lines
        .iter()
        .map(|(pin, at)| format!("{pin}\t{}\t0\t1\t0\t0\n", at.format("%Y-%m-%d %H:%M:%S")))
        .collect();
    let response = app
        .client
        .post(app.url(&format!(
            "/iclock/cdata?SN={ADMS_SERIAL}&table=ATTLOG&Stamp={stamp}"
        )))
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let retry = response.headers().contains_key("retry-after");
    (status, retry, response.text().await.unwrap_or_default())
}

async fn import_once(app: &TestApp, token: &str, n: u64) -> (u16, bool) {
    let (pin, at) = nth(day(2026, 11, 9), n);
    let response = app
        .client
        .post(app.url("/api/attendance/scans/import/"))
        .bearer_auth(token)
        .json(&json!([{
            "employee_id": format!("EMP{:05}", pin.parse::<u64>().unwrap()),
            "scan_time": at.format("%Y-%m-%dT%H:%M:%S").to_string(),
            "scan_type": "IN",
            "reason": "fault test",
        }]))
        .send()
        .await
        .unwrap();
    (
        response.status().as_u16(),
        response.headers().contains_key("retry-after"),
    )
}

async fn system_status(app: &TestApp, token: &str) -> Value {
    app.call_json(
        Method::GET,
        "/api/attendance/system-status/",
        token,
        None,
        200,
    )
    .await
}

/// One store fault on the SQLite server: a push is held and answered 503 + `Retry-After`, an
/// import 503, the status names the database's error; after `heal` the held and re-sent lines
/// are stored and the status is `ok`. Returns how long the store took to recover after `heal`.
async fn store_fault(
    app: &TestApp,
    token: &str,
    batch: &[(String, NaiveDateTime)],
    stamp: u64,
    expect_in_error: &str,
    heal: impl FnOnce(),
) -> Duration {
    let (status, retry, text) = push_once(app, batch, stamp).await;
    assert_eq!(
        (status, retry),
        (503, true),
        "push during the fault: {text}"
    );
    let (status, retry) = import_once(app, token, stamp).await;
    assert_eq!((status, retry), (503, true), "import during the fault");
    let during = system_status(app, token).await;
    eprintln!("system-status during the fault: {}", during["problems"]);
    assert_eq!(during["status"], "degraded", "{during}");
    let problems = during["problems"].to_string();
    assert!(
        problems.contains(expect_in_error),
        "system-status does not name `{expect_in_error}`: {problems}"
    );
    assert!(
        during["engine"]["store_failure"]["attempts"]
            .as_u64()
            .unwrap()
            >= 1
    );
    heal();
    let healed = Instant::now();
    let deadline = healed + Duration::from_secs(20);
    loop {
        let status = system_status(app, token).await;
        if status["engine"]["store_failure"].is_null() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the store did not recover within 20 s: {status}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let recovered = healed.elapsed();
    // The device re-sends the batch: now acknowledged (its lines were stored by the engine's
    // retry, so they are duplicates).
    let (status, _, text) = push_once(app, batch, stamp).await;
    assert_eq!(
        (status, text.trim()),
        (200, format!("OK: {}", batch.len()).as_str())
    );
    assert_eq!(system_status(app, token).await["status"], "ok");
    recovered
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_full_disk_and_read_only_are_refused_visibly_and_recovered() {
    let Some(fs) = Tmpfs::mount("4m") else {
        return;
    };
    let (server, app, token) = start_server(None, &fs.0).await;
    enrol(app.store.as_ref()).await;
    add_adms(&app, &token).await;
    let start = day(2026, 11, 5);
    let batch = |from: u64| -> Vec<(String, NaiveDateTime)> {
        (from..from + 10).map(|n| nth(start, n)).collect()
    };
    let (status, _, text) = push_once(&app, &batch(0), 10).await;
    assert_eq!((status, text.trim()), (200, "OK: 10"));

    let filler = fs.fill();
    let full = store_fault(&app, &token, &batch(10), 20, "full", || {
        std::fs::remove_file(&filler).unwrap();
    })
    .await;
    let (status, _, text) = push_once(&app, &batch(20), 30).await;
    assert_eq!((status, text.trim()), (200, "OK: 10"));
    server.stop().await;
    // The store closes when its last holder is dropped.
    drop(app);

    // Read-only: a file system cannot be remounted read-only under open database files (the
    // kernel answers EBUSY) and root ignores file modes, so the read-only case is the start:
    // the directory remounted read-only, `serve` must refuse to start and say why; remounted
    // read-write, it starts on the same data.
    fs.remount("ro");
    let refused = match Server::start(&server_cli(None, &fs.0)).await {
        Ok(server) => {
            server.stop().await;
            fs.remount("rw");
            panic!("the server started on a read-only data directory");
        }
        Err(e) => format!("{e:#}"),
    };
    fs.remount("rw");
    eprintln!("read-only data directory: the start failed with: {refused}");
    assert!(refused.to_lowercase().contains("read-only"), "{refused}");
    let (server, app, token) = start_server(None, &fs.0).await;
    let (status, _, text) = push_once(&app, &batch(30), 40).await;
    assert_eq!((status, text.trim()), (200, "OK: 10"));
    let after = system_status(&app, &token).await;
    assert!(after["engine"]["store_failure"].is_null(), "{after}");
    server.stop().await;
    drop(app);

    let stored: HashMap<(String, i64), i64> = {
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(fs.0.join("attendance.sqlite"))
            .read_only(true);
        let mut conn = sqlx::SqliteConnection::connect_with(&options)
            .await
            .unwrap();
        let rows: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT device_user_id, at_second, count(*) FROM att_scans WHERE machine_id = ? \
             GROUP BY device_user_id, at_second",
        )
        .bind(ADMS_SERIAL)
        .fetch_all(&mut conn)
        .await
        .unwrap();
        let _ = conn.close().await;
        rows.into_iter().map(|(u, s, n)| ((u, s), n)).collect()
    };
    let acked: Vec<(String, i64)> = (0..4)
        .flat_map(|b| batch(10 * b))
        .map(|(pin, at)| key(&pin, at))
        .collect();
    let (lost, doubled) = lost_doubled(&acked, &stored);
    eprintln!(
        "sqlite faults: full disk recovered {full:?} after space was freed; {} acknowledged, {} \
         stored, {lost} lost, {doubled} doubled",
        acked.len(),
        stored.len()
    );
    assert_eq!((lost, doubled), (0, 0));
}

/// A TCP server that accepts and never answers (a device whose firmware hangs).
async fn silent_device() -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    (addr, task)
}

/// `n` punches on `fake`, one at a time, each timed from the punch to its scan stored.
async fn latencies(
    fake: &FakeHandle,
    store: &dyn Store,
    start: NaiveDateTime,
    from: u64,
    n: u64,
) -> Vec<Duration> {
    let mut out = Vec::new();
    for i in from..from + n {
        let before = store.count_scans().await.unwrap();
        let (pin, at) = nth(start, i);
        let t = Instant::now();
        fake.punch(&pin, at).unwrap();
        loop {
            if store.count_scans().await.unwrap() > before {
                break;
            }
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "punch {i} not stored within 10 s"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        out.push(t.elapsed());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    out
}

fn summary(mut v: Vec<Duration>) -> String {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    format!(
        "p50 {:.1} ms, p90 {:.1} ms, max {:.1} ms over {}",
        ms(v[v.len() / 2]),
        ms(v[v.len() * 9 / 10]),
        ms(v[v.len() - 1]),
        v.len()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_devices_back_off_alone_and_leave_the_others_unaffected() {
    let m = spawn_machine_app().await;
    let app = &m.app;
    let admin = app.token("admin").await;
    enrol(app.store.as_ref()).await;
    let good = zk_fake(None).await;
    app.call_json(
        Method::POST,
        "/api/attendance/machines/",
        &admin,
        Some(zk_machine("ZK-GOOD", &good)),
        201,
    )
    .await;
    wait_live(&m.runtime, "ZK-GOOD").await;
    let start = day(2026, 11, 7);
    let rounds = env_secs("ATT_FAULT_PUNCHES", 20);
    let alone = latencies(&good, app.store.as_ref(), start, 0, rounds).await;

    let garbage = zk_fake(Some(Fault::Garbage)).await;
    let stall = zk_fake(Some(Fault::Stall)).await;
    let drop_mid = zk_fake(Some(Fault::DropMidTransfer)).await;
    let (silent, silent_task) = silent_device().await;
    let mut bad = Vec::new();
    for (id, port) in [
        ("ZK-GARBAGE", garbage.local_addr().port()),
        ("ZK-STALL", stall.local_addr().port()),
        ("ZK-DROP", drop_mid.local_addr().port()),
        ("ZK-SILENT", silent.port()),
    ] {
        let mut body = zk_machine(id, &good);
        body["port"] = json!(port);
        body["config"] = json!({"timeout_ms": 500});
        app.call_json(
            Method::POST,
            "/api/attendance/machines/",
            &admin,
            Some(body),
            201,
        )
        .await;
        bad.push(MachineId::parse(id).unwrap());
    }
    // Let each bad machine fail at least once.
    let deadline = Instant::now() + Duration::from_secs(20);
    while !bad.iter().all(|id| {
        m.runtime
            .health_of(id)
            .is_some_and(|h| h.consecutive_failures >= 1)
    }) {
        assert!(
            Instant::now() < deadline,
            "a bad machine never failed: {:?}",
            m.runtime.health()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let beside = latencies(&good, app.store.as_ref(), start, rounds, rounds).await;
    let states: Vec<String> = bad
        .iter()
        .map(|id| {
            let h = m.runtime.health_of(id).unwrap();
            format!(
                "{id}: {:?}, {} failures, {}",
                h.state,
                h.consecutive_failures,
                h.last_error.unwrap_or_default()
            )
        })
        .collect();
    let good_health = m
        .runtime
        .health_of(&MachineId::parse("ZK-GOOD").unwrap())
        .unwrap();
    eprintln!(
        "bad devices: the good machine's latency (punch to stored) alone: {}; beside 4 bad \
         machines: {}; the bad ones: {}",
        summary(alone),
        summary(beside),
        states.join("; ")
    );
    assert!(good_health.live && good_health.consecutive_failures == 0);
    for id in &bad {
        // Failing, not live, nothing read; between attempts it backs off (a stalling device
        // connects, then times out on the table: `Connected` for a moment, failures counted on).
        let h = m.runtime.health_of(id).unwrap();
        assert!(
            !h.live && h.consecutive_failures >= 1 && h.last_error.is_some() && h.scans_total == 0,
            "{id}: {h:?}"
        );
    }
    let stored = app.store.count_scans().await.unwrap();
    assert_eq!(stored, 2 * rounds, "every good punch stored once");
    silent_task.abort();
}

/// Waits (at most 15 s) until the ADMS device's handshake answers 200 at `base`.
async fn adms_handshake(base: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let status = http()
            .get(format!("{base}/iclock/cdata?SN={ADMS_SERIAL}&options=all"))
            .send()
            .await
            .map(|r| r.status().as_u16());
        if matches!(status, Ok(200)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no handshake within 15 s: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The stored cursor of `machine` in the SQLite database of `data`.
async fn sqlite_cursor(data: &Path, machine: &str) -> Option<String> {
    let options = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(data.join("attendance.sqlite"))
        .read_only(true);
    let mut conn = sqlx::SqliteConnection::connect_with(&options).await.ok()?;
    let cursor: Option<(String,)> =
        sqlx::query_as("SELECT cursor FROM att_machine_cursors WHERE machine_id = ?")
            .bind(machine)
            .fetch_optional(&mut conn)
            .await
            .ok()?;
    let _ = conn.close().await;
    cursor.map(|c| c.0)
}

fn sim_instant(cursor: &str) -> chrono::DateTime<Utc> {
    chrono::DateTime::parse_from_rfc3339(cursor.strip_prefix("sim1:").unwrap())
        .unwrap()
        .with_timezone(&Utc)
}

const SIM_MACHINE: &str = "SIM-FAULT";

/// The simulator's configuration: a steady stream of 120 scans a minute from the enrolled
/// users, an hour of history, the real clock.
fn sim_config() -> attendance_adapters::simulator::SimulatorConfig {
    attendance_adapters::simulator::SimulatorConfig {
        seed: 15,
        employees: EMPLOYEES as u32,
        first_user_id: FIRST_PIN as u32,
        history_hours: 1,
        scans_per_minute: Some(120.0),
        ..Default::default()
    }
}

/// SIGKILL of the `serve` process, `ATT_FAULT_KILLS` times (20 by default), while a fake
/// ZKTeco terminal in this process (a machine of the server, punched every 100 ms, each punch
/// kept in its log), the simulator (a machine inside the server) and an ADMS device (a pusher in
/// this process, re-sending what was not answered `OK`) stream. After the last restart:
/// - every record the terminal holds is stored exactly once;
/// - every ADMS line answered `OK` is stored exactly once;
/// - the simulator: its scans are a pure function of its seed and the time (per minute), so
///   "what it holds" is what it generated from an hour before its first cursor (its first
///   fetch reads an hour of history) to its last stored cursor: every one of those is stored
///   exactly once, and nothing it stored in that range is outside them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_while_a_zkteco_fake_the_simulator_and_adms_stream_loses_nothing() {
    use crate::kill::{Rng, kill, login, start, stored};
    let rounds = env_secs("ATT_FAULT_KILLS", 20);
    let data = crate::cli::temp_dir("faults-kill");
    let fake = Arc::new(zk_fake(None).await);
    let mut rng = Rng::seeded();
    let stop = Arc::new(AtomicBool::new(false));
    let base = Arc::new(Mutex::new(String::new()));
    let mut pusher = None;
    let mut puncher = None;
    let mut first_cursor = None;
    let started = Instant::now();
    for round in 0..rounds {
        let (child, url) = start(&data).await;
        *base.lock().unwrap() = url.clone();
        if round == 0 {
            let token = login(&url).await;
            let client = http();
            for pin in FIRST_PIN..FIRST_PIN + EMPLOYEES {
                let response = client
                    .post(format!("{url}/api/attendance/employees/"))
                    .bearer_auth(&token)
                    .json(&json!({
                        "employee_id": format!("EMP{pin:05}"),
                        "employee_name": format!("Employee {pin}"),
                        "department": "Sewing",
                        "designation": "Operator",
                        "level_of_work": "Worker",
                        "device_user_id": pin.to_string(),
                    }))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 201);
            }
            let c = sim_config();
            for body in [
                json!({"machine_id": ADMS_SERIAL, "name": "Gate", "machine_type": "zkteco_adms",
                       "time_zone": ZONE.name(), "config": {"serial": ADMS_SERIAL}}),
                zk_machine(ZK_MACHINE, &fake),
                json!({"machine_id": SIM_MACHINE, "name": "Floor", "machine_type": "simulated",
                       "time_zone": ZONE.name(),
                       "config": {"seed": c.seed, "employees": c.employees,
                                  "first_user_id": c.first_user_id,
                                  "history_hours": c.history_hours,
                                  "scans_per_minute": c.scans_per_minute}}),
            ] {
                let response = client
                    .post(format!("{url}/api/attendance/machines/"))
                    .bearer_auth(&token)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 201, "{body}");
            }
        }
        adms_handshake(&url).await;
        if round == 0 {
            pusher = Some(tokio::spawn(adms_pusher(
                base.clone(),
                day(2026, 11, 12),
                stop.clone(),
            )));
            puncher = Some(tokio::spawn(zk_puncher(
                fake.clone(),
                day(2026, 11, 13),
                stop.clone(),
            )));
            // The simulator's first cursor: its first fetch (an hour of history) stored.
            let deadline = Instant::now() + Duration::from_secs(20);
            while first_cursor.is_none() {
                first_cursor = sqlite_cursor(&data, SIM_MACHINE).await;
                assert!(
                    Instant::now() < deadline,
                    "the simulator stored nothing in 20 s"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        tokio::time::sleep(Duration::from_millis(rng.between(300, 2500))).await;
        kill(&child);
    }
    stop.store(true, Ordering::SeqCst);
    let pushed = tokio::time::timeout(Duration::from_secs(30), pusher.unwrap())
        .await
        .expect("the pusher stops")
        .unwrap();
    let punched = puncher.unwrap().await.unwrap();
    let killed_for = started.elapsed();

    // Once more: the last start, reading what the terminal and the simulator hold.
    let last_start = Utc::now();
    let (child, url) = start(&data).await;
    adms_handshake(&url).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let (mut zk, mut adms, mut cursor);
    loop {
        zk = stored(&data, ZK_MACHINE).await;
        adms = stored(&data, ADMS_SERIAL).await;
        cursor = sqlite_cursor(&data, SIM_MACHINE)
            .await
            .map(|c| sim_instant(&c));
        let done = lost_doubled(&punched, &zk).0 == 0
            && lost_doubled(&pushed.acked, &adms).0 == 0
            && cursor.is_some_and(|c| c >= last_start);
        if done || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let caught_up = Utc::now() - last_start;
    let sim_stored = stored(&data, SIM_MACHINE).await;
    kill(&child);

    let from = sim_instant(first_cursor.as_deref().unwrap()) - TimeDelta::hours(1);
    let to = cursor.expect("the simulator's cursor");
    let generator = attendance_adapters::simulator::FactoryDay::new(sim_config());
    let mut sim_expected: Vec<(String, i64)> = generator
        .scans_between(&MachineId::parse(SIM_MACHINE).unwrap(), ZONE, from, to)
        .iter()
        .map(|s| (s.device_user_id.to_string(), s.timestamp.timestamp()))
        .collect();
    sim_expected.sort();
    sim_expected.dedup();
    let in_range: Vec<&(String, i64)> = sim_stored
        .keys()
        .filter(|(_, at)| *at > from.timestamp() && *at <= to.timestamp())
        .collect();
    let strays = in_range
        .iter()
        .filter(|k| sim_expected.binary_search(k).is_err())
        .count();
    let (zk_lost, zk_doubled) = lost_doubled(&punched, &zk);
    let (adms_lost, adms_doubled) = lost_doubled(&pushed.acked, &adms);
    let (sim_lost, sim_doubled) = lost_doubled(&sim_expected, &sim_stored);
    eprintln!(
        "sigkill: {rounds} kills in {killed_for:?}, the last start caught up in {} ms; ZKTeco: {} held, {} stored, {zk_lost} lost, \
         {zk_doubled} doubled; ADMS: {} lines answered OK ({} batches, {} unanswered re-sent, \
         other answers {:?}), {} stored, {adms_lost} lost, {adms_doubled} doubled; simulator: {} \
         generated from {from} to {to}, {} stored in that range, {sim_lost} lost, {sim_doubled} \
         doubled, {strays} not generated",
        caught_up.num_milliseconds(),
        punched.len(),
        zk.len(),
        pushed.acked.len(),
        pushed.ok,
        pushed.unanswered,
        pushed.wrong,
        adms.len(),
        sim_expected.len(),
        in_range.len(),
    );
    let _ = std::fs::remove_dir_all(&data);
    assert!(!punched.is_empty() && !pushed.acked.is_empty() && !sim_expected.is_empty());
    assert_eq!((zk_lost, zk_doubled), (0, 0), "ZKTeco: lost, doubled");
    assert_eq!((adms_lost, adms_doubled), (0, 0), "ADMS: lost, doubled");
    assert_eq!(
        (sim_lost, sim_doubled, strays),
        (0, 0, 0),
        "simulator: lost, doubled, strays"
    );
}
