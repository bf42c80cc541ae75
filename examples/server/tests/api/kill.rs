//! Stored before acknowledged, under SIGKILL: the real binary on one SQLite data directory is
//! killed (`Child::kill`, SIGKILL) 20 times while two clients are sending, each time after a
//! random number of acknowledged requests, with other requests still in flight. After the last
//! round the server is started once more; then every line (row) that was acknowledged must be in
//! the scans table exactly once.
//!
//! - ADMS: two pushers of one `zkteco_adms` device POST `ATTLOG` batches of 50–200 distinct
//!   lines to `/iclock/cdata`; a line counts as acknowledged when its batch was answered
//!   `OK: n`.
//! - Import: two HR clients POST JSON rows to `/api/attendance/scans/import/`; a row counts as
//!   acknowledged when its import was answered 200 with every row stored or a duplicate.
//!
//! Every wait is bounded, the servers are killed when the test ends whatever happens (the guard
//! kills on drop), and the random choices come from a seeded xorshift (`ATT_KILL_SEED` replays
//! another seed).

use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{NaiveDate, NaiveDateTime, TimeDelta, TimeZone};
use serde_json::{Value, json};
use sqlx::Connection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};

use crate::cli::{Running, binary, listening_url, temp_dir};

const ROUNDS: usize = 20;
const EMPLOYEES: u64 = 40;
const PUSHERS: usize = 2;
/// The most batches one pusher sends in a round (the kill usually comes first).
const BATCHES_PER_ROUND: usize = 10;
const SERIAL: &str = "KILLADMS0001";
const ADMIN_PASSWORD: &str = "kill test password";
const ZONE: chrono_tz::Tz = chrono_tz::Asia::Dhaka;

/// xorshift64*: enough randomness for kill points and batch sizes, and replayable.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn seeded() -> Self {
        let seed = std::env::var("ATT_KILL_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0x5EED_2026_u64);
        eprintln!("kill test seed: {seed} (ATT_KILL_SEED replays it)");
        Self(seed.max(1))
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// In `low..=high`.
    pub(crate) fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low + 1)
    }
}

/// One punch, by its dedupe key as the test knows it: device user id and local device time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Punch {
    pin: u64,
    local: NaiveDateTime,
}

impl Punch {
    /// The `n`-th distinct punch of the test: one every 2 s from 1 November 2026, round the
    /// employees.
    fn nth(n: u64) -> Self {
        let start = NaiveDate::from_ymd_opt(2026, 11, 1)
            .unwrap()
            .and_hms_opt(6, 0, 0)
            .unwrap();
        Self {
            pin: 1 + n % EMPLOYEES,
            local: start + TimeDelta::seconds(2 * n as i64),
        }
    }

    /// The stored key: (device user id, Unix second).
    fn key(&self) -> (String, i64) {
        let at = ZONE.from_local_datetime(&self.local).single().unwrap();
        (self.pin.to_string(), at.timestamp())
    }

    fn attlog_line(&self) -> String {
        format!(
            "{}\t{}\t0\t1\t0\t0",
            self.pin,
            self.local.format("%Y-%m-%d %H:%M:%S")
        )
    }

    fn import_row(&self) -> Value {
        json!({
            "employee_id": format!("EMP{:05}", self.pin),
            "scan_time": self.local.format("%Y-%m-%dT%H:%M:%S").to_string(),
            "scan_type": "IN",
            "reason": "kill test",
        })
    }
}

/// Which ingest path a run exercises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ingest {
    Adms,
    Import,
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// Starts `serve` on `data` (the first admin from the flags the first time) and waits for its
/// address (at most 30 s).
pub(crate) async fn start(data: &Path) -> (Arc<Mutex<Running>>, String) {
    let mut child = Running(
        binary()
            .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
            .arg(data)
            .args(["--admin-user", "admin", "--admin-password", ADMIN_PASSWORD])
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let base = listening_url(&mut child).await;
    (Arc::new(Mutex::new(child)), base)
}

pub(crate) fn kill(child: &Mutex<Running>) {
    let mut child = child
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let _ = child.0.kill();
    let _ = child.0.wait();
}

pub(crate) async fn login(base: &str) -> String {
    let body: Value = client()
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

pub(crate) async fn created(base: &str, token: &str, path: &str, body: Value) {
    let response = client()
        .post(format!("{base}{path}"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "POST {path} {body}");
}

/// The employees (device user ids 1..=EMPLOYEES) and, for ADMS, the device's machine.
async fn register(base: &str, token: &str, path: Ingest) {
    for pin in 1..=EMPLOYEES {
        created(
            base,
            token,
            "/api/attendance/employees/",
            json!({
                "employee_id": format!("EMP{pin:05}"),
                "employee_name": format!("Employee {pin}"),
                "department": "Sewing",
                "designation": "Operator",
                "level_of_work": "Worker",
                "device_user_id": pin.to_string(),
            }),
        )
        .await;
    }
    if path == Ingest::Adms {
        created(
            base,
            token,
            "/api/attendance/machines/",
            json!({
                "machine_id": SERIAL,
                "name": "Gate",
                "machine_type": "zkteco_adms",
                "time_zone": ZONE.name(),
                "config": {"serial": SERIAL},
            }),
        )
        .await;
    }
}

/// Waits (at most 10 s) until the device's handshake answers 200.
async fn handshake(base: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let status = client()
            .get(format!("{base}/iclock/cdata?SN={SERIAL}&options=all"))
            .send()
            .await
            .map(|r| r.status().as_u16());
        if matches!(status, Ok(200)) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the handshake did not answer 200 within 10 s: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Sends one batch; `true` when it was acknowledged (`OK: n` for ADMS, 200 with every row
/// stored or a duplicate for the import).
async fn send(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    path: Ingest,
    batch: &[Punch],
    stamp: u64,
) -> bool {
    match path {
        Ingest::Adms => {
            let body: String = batch.iter().map(|p| p.attlog_line() + "\n").collect();
            let url = format!("{base}/iclock/cdata?SN={SERIAL}&table=ATTLOG&Stamp={stamp}");
            let Ok(response) = client.post(url).body(body).send().await else {
                return false;
            };
            if response.status() != 200 {
                return false;
            }
            let text = response.text().await.unwrap_or_default();
            text.trim() == format!("OK: {}", batch.len())
        }
        Ingest::Import => {
            let rows: Vec<Value> = batch.iter().map(Punch::import_row).collect();
            let Ok(response) = client
                .post(format!("{base}/api/attendance/scans/import/"))
                .bearer_auth(token)
                .json(&rows)
                .send()
                .await
            else {
                return false;
            };
            if response.status() != 200 {
                return false;
            }
            let Ok(body) = response.json::<Value>().await else {
                return false;
            };
            let stored =
                body["new"].as_u64().unwrap_or(0) + body["duplicate"].as_u64().unwrap_or(0);
            assert_eq!(
                body["rejected"].as_array().map(Vec::len),
                Some(0),
                "import rejected rows: {body}"
            );
            stored == batch.len() as u64
        }
    }
}

/// What the rounds acknowledged: per round, the punches answered OK.
type Acked = Vec<Vec<Punch>>;

/// The stored scans of `machine` by (device user id, second), with their count.
pub(crate) async fn stored(data: &Path, machine: &str) -> HashMap<(String, i64), i64> {
    let options = SqliteConnectOptions::new()
        .filename(data.join("attendance.sqlite"))
        .read_only(true);
    let mut conn = SqliteConnection::connect_with(&options).await.unwrap();
    let rows: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT device_user_id, at_second, count(*) FROM att_scans WHERE machine_id = ? \
         GROUP BY device_user_id, at_second",
    )
    .bind(machine)
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let _ = conn.close().await;
    rows.into_iter().map(|(u, s, n)| ((u, s), n)).collect()
}

/// Acknowledged punches missing from `stored`, per round.
fn lost(acked: &Acked, stored: &HashMap<(String, i64), i64>) -> Vec<usize> {
    acked
        .iter()
        .map(|round| {
            round
                .iter()
                .filter(|p| !stored.contains_key(&p.key()))
                .count()
        })
        .collect()
}

/// Runs the 20 rounds over `path`, then checks every acknowledged punch is stored exactly once.
async fn kill_rounds(path: Ingest) {
    let data = temp_dir(match path {
        Ingest::Adms => "kill-adms",
        Ingest::Import => "kill-import",
    });
    let machine = match path {
        Ingest::Adms => SERIAL,
        Ingest::Import => "MANUAL",
    };
    let mut rng = Rng::seeded();
    let mut acked: Acked = Vec::new();
    let mut next_punch = 0u64;
    let mut token = String::new();
    let mut killed_in_flight = 0;
    for round in 0..ROUNDS {
        let (child, base) = start(&data).await;
        if round == 0 {
            // The token outlives restarts: the signing secret is kept in the data directory.
            token = login(&base).await;
            register(&base, &token, path).await;
        }
        if path == Ingest::Adms {
            handshake(&base).await;
        }
        let kill_after = rng.between(1, 6) as usize;
        let oks = Arc::new(AtomicUsize::new(0));
        let in_flight = Arc::new(AtomicUsize::new(0));
        let round_acked = Arc::new(Mutex::new(Vec::new()));
        let mut pushers = Vec::new();
        for _ in 0..PUSHERS {
            // Each batch with its `Stamp`: the count of punches made up to its end.
            let batches: Vec<(Vec<Punch>, u64)> = (0..BATCHES_PER_ROUND)
                .map(|_| {
                    let size = rng.between(50, 200);
                    let batch = (next_punch..next_punch + size).map(Punch::nth).collect();
                    next_punch += size;
                    (batch, next_punch)
                })
                .collect();
            let (child, base, token) = (child.clone(), base.clone(), token.clone());
            let (oks, in_flight, round_acked) =
                (oks.clone(), in_flight.clone(), round_acked.clone());
            pushers.push(tokio::spawn(async move {
                let client = client();
                let mut killed_with_others_in_flight = false;
                for (batch, stamp) in batches {
                    in_flight.fetch_add(1, Ordering::SeqCst);
                    let ok = send(&client, &base, &token, path, &batch, stamp).await;
                    in_flight.fetch_sub(1, Ordering::SeqCst);
                    if !ok {
                        // The server is gone (or refused the batch): nothing more this round.
                        break;
                    }
                    round_acked.lock().unwrap().extend(batch);
                    if oks.fetch_add(1, Ordering::SeqCst) + 1 == kill_after {
                        killed_with_others_in_flight = in_flight.load(Ordering::SeqCst) > 0;
                        kill(&child);
                        break;
                    }
                }
                killed_with_others_in_flight
            }));
        }
        for pusher in pushers {
            if tokio::time::timeout(Duration::from_secs(30), pusher)
                .await
                .expect("a pusher ran over 30 s")
                .unwrap()
            {
                killed_in_flight += 1;
            }
        }
        // Every round ends in a kill, reached or not.
        kill(&child);
        acked.push(std::mem::take(&mut *round_acked.lock().unwrap()));
    }
    // Once more: the server starts on what the kills left. A control batch, not followed by a
    // kill, shows the check sees what the server stores; it, and whatever the server recovers
    // on start, have up to 10 s to appear.
    let (child, base) = start(&data).await;
    if path == Ingest::Adms {
        handshake(&base).await;
    }
    let control: Vec<Punch> = (next_punch..next_punch + 20).map(Punch::nth).collect();
    assert!(
        send(&client(), &base, &token, path, &control, next_punch + 20).await,
        "{path:?}: the control batch was not acknowledged"
    );
    let control_stored =
        |scans: &HashMap<(String, i64), i64>| control.iter().all(|p| scans.contains_key(&p.key()));
    let total: usize = acked.iter().map(Vec::len).sum();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut scans = stored(&data, machine).await;
    while (!control_stored(&scans) || lost(&acked, &scans).iter().sum::<usize>() > 0)
        && tokio::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
        scans = stored(&data, machine).await;
    }
    kill(&child);
    scans = stored(&data, machine).await;
    assert!(
        control_stored(&scans),
        "{path:?}: the control batch, acknowledged with no kill after it, was not stored within \
         10 s: the check cannot see what the server stores"
    );
    let lost = lost(&acked, &scans);
    let lost_total: usize = lost.iter().sum();
    let rounds_losing = lost.iter().filter(|n| **n > 0).count();
    let twice: Vec<_> = scans.iter().filter(|(_, n)| **n > 1).collect();
    let per_round: Vec<String> = acked
        .iter()
        .zip(&lost)
        .enumerate()
        .map(|(i, (a, l))| format!("round {}: {l}/{}", i + 1, a.len()))
        .collect();
    eprintln!(
        "{path:?}: {total} acknowledged in {ROUNDS} rounds ({killed_in_flight} kills with another \
         request in flight), {} stored, {lost_total} acknowledged lost in {rounds_losing} rounds \
         (lost/acknowledged: {})",
        scans.len(),
        per_round.join(", ")
    );
    let _ = std::fs::remove_dir_all(&data);
    assert!(total > 0, "{path:?}: nothing was acknowledged");
    assert!(
        twice.is_empty(),
        "{path:?}: stored more than once: {twice:?}"
    );
    assert_eq!(
        lost_total,
        0,
        "{path:?}: {lost_total} of {total} acknowledged lines lost, in {rounds_losing} of \
         {ROUNDS} rounds (lost/acknowledged: {})",
        per_round.join(", ")
    );
}

#[tokio::test]
async fn adms_lines_acknowledged_ok_survive_sigkill() {
    kill_rounds(Ingest::Adms).await;
}

#[tokio::test]
async fn imported_rows_answered_200_survive_sigkill() {
    kill_rounds(Ingest::Import).await;
}
