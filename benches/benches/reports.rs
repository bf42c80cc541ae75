//! Reports over real HTTP against `attendance-server serve` on SQLite (the binary, run as a
//! process on loopback, as a user runs it):
//! - **monthly report**: the factory month (10,000 employees × 31 days, 1.24 M scans,
//!   `attendance_benches::factory_month`) as XLSX, beside the same report as JSON and CSV in the
//!   same run. The first request computes and stores every employee-day (cold); the samples
//!   after it read the stored days (warm). The server's peak resident memory is printed before
//!   the first report and after the last, to show whether it stays flat.
//! - **daily summary** of one date for 5,000 employees (`summary/?date=`): 64 connections
//!   each sending requests back to back, latency p50/p99, beside one connection alone.
//!
//! Knobs: `ATT_BENCH_EMPLOYEES` (10,000), `ATT_BENCH_SUMMARY_EMPLOYEES` (5,000),
//! `ATT_BENCH_CONNECTIONS` (64), `ATT_BENCH_REQUESTS` (summary requests per connection, 10),
//! `ATT_E2E_SERVER_BIN` (a server binary to use instead of building one).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use attendance_benches::server::{ServerProcess, login, server_binary};
use attendance_benches::{env_usize, factory_days, factory_month, flat_group, load_month, runtime};
use attendance_store_sqlite::{SqliteOptions, SqliteStore, Synchronous};
use criterion::{Criterion, criterion_group, criterion_main};

/// Loads `month` into `<dir>/attendance.sqlite`, the file `serve --data-dir dir` opens.
fn seed(runtime: &tokio::runtime::Runtime, dir: &Path, month: &attendance_benches::FactoryMonth) {
    let path = dir.join("attendance.sqlite");
    let path = path.to_str().unwrap().to_owned();
    let started = Instant::now();
    runtime.block_on(async {
        let loading = SqliteOptions {
            synchronous: Synchronous::Off,
            ..SqliteOptions::default()
        };
        let store = Arc::new(SqliteStore::open(&path, loading).await.unwrap());
        load_month(store.clone(), month, 1).await;
        store.close().await;
    });
    eprintln!(
        "reports: {} scans of {} employees loaded in {:.1} s",
        month.scans.len(),
        month.employees.len(),
        started.elapsed().as_secs_f64()
    );
}

/// GETs `path` and returns the body's length, asserting 200.
async fn get(client: &reqwest::Client, base: &str, token: &str, path: &str) -> usize {
    let response = client
        .get(format!("{base}{path}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body = response.bytes().await.unwrap();
    assert_eq!(
        status,
        200,
        "GET {path}: {}",
        String::from_utf8_lossy(&body)
    );
    body.len()
}

fn mib(bytes: Option<u64>) -> String {
    bytes.map_or("?".into(), |b| format!("{:.0} MiB", b as f64 / 1_048_576.0))
}

fn monthly(c: &mut Criterion, runtime: &tokio::runtime::Runtime, binary: &Path) {
    let employees = env_usize("ATT_BENCH_EMPLOYEES", 10_000);
    let month = factory_month(employees, 42);
    let dir = tempfile::tempdir().unwrap();
    seed(runtime, dir.path(), &month);
    drop(month);
    let server = ServerProcess::start(binary, dir.path(), None);
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let token = runtime.block_on(login(&client, &server.base));
    let base = server.base.clone();
    eprintln!(
        "reports: server peak RSS before the first report: {}",
        mib(server.peak_rss())
    );
    let path =
        |format: &str| format!("/api/attendance/reports/monthly/?month=2026-01&format={format}");
    let started = Instant::now();
    let bytes = runtime.block_on(get(&client, &base, &token, &path("xlsx")));
    eprintln!(
        "reports: monthly XLSX, cold (every employee-day computed and stored first): {:.2} s, {bytes} bytes",
        started.elapsed().as_secs_f64()
    );
    let mut group = flat_group(
        c,
        format!("reports_monthly_{employees}_employees"),
        Duration::from_millis(500),
        Duration::from_secs(20),
    );
    for format in ["xlsx", "csv", "json"] {
        let (client, base, token, path) =
            (client.clone(), base.clone(), token.clone(), path(format));
        group.bench_function(format!("monthly_{format}_warm"), |b| {
            b.to_async(runtime).iter(|| {
                let (client, base, token, path) =
                    (client.clone(), base.clone(), token.clone(), path.clone());
                async move { get(&client, &base, &token, &path).await }
            })
        });
    }
    group.finish();
    eprintln!(
        "reports: server peak RSS after the reports: {}",
        mib(server.peak_rss())
    );
}

/// Each of `connections` clients sends `requests` summaries back to back; all latencies.
async fn summaries(base: &str, token: &str, connections: usize, requests: usize) -> Vec<Duration> {
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (base, token) = (base.to_owned(), token.to_owned());
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::builder().no_proxy().build().unwrap();
            let path = "/api/attendance/daily-attendance/summary/?date=2026-01-02";
            let mut took = Vec::with_capacity(requests);
            for _ in 0..requests {
                let started = Instant::now();
                get(&client, &base, &token, path).await;
                took.push(started.elapsed());
            }
            took
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    all.sort();
    all
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1000.0
}

fn summary(c: &mut Criterion, runtime: &tokio::runtime::Runtime, binary: &Path) {
    let employees = env_usize("ATT_BENCH_SUMMARY_EMPLOYEES", 5_000);
    let connections = env_usize("ATT_BENCH_CONNECTIONS", 64);
    let requests = env_usize("ATT_BENCH_REQUESTS", 10);
    let days = factory_days(employees, 3, 7);
    let dir = tempfile::tempdir().unwrap();
    seed(runtime, dir.path(), &days);
    drop(days);
    let server = ServerProcess::start(binary, dir.path(), None);
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let token = runtime.block_on(login(&client, &server.base));
    let path = "/api/attendance/daily-attendance/summary/?date=2026-01-02";
    let started = Instant::now();
    runtime.block_on(get(&client, &server.base, &token, path));
    eprintln!(
        "reports: summary of {employees} employees, cold (the date computed first): {:.0} ms",
        started.elapsed().as_secs_f64() * 1000.0
    );
    for (label, n, each) in [
        ("1 connection", 1, requests * 4),
        ("concurrent", connections, requests),
    ] {
        let started = Instant::now();
        let all = runtime.block_on(summaries(&server.base, &token, n, each));
        eprintln!(
            "reports: summary of {employees} employees, {label} ({n} × {each}): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms, {:.0} requests/s",
            percentile(&all, 0.50),
            percentile(&all, 0.99),
            percentile(&all, 1.0),
            all.len() as f64 / started.elapsed().as_secs_f64()
        );
    }
    let mut group = flat_group(
        c,
        format!("reports_summary_{employees}_employees"),
        Duration::from_millis(200),
        Duration::from_secs(10),
    );
    let (base, token) = (server.base.clone(), token.clone());
    group.bench_function("summary_one_request", |b| {
        b.to_async(runtime).iter(|| {
            let (client, base, token) = (client.clone(), base.clone(), token.clone());
            async move { get(&client, &base, &token, path).await }
        })
    });
    group.finish();
}

fn reports(c: &mut Criterion) {
    let runtime = runtime().unwrap();
    let binary = server_binary();
    monthly(c, &runtime, &binary);
    summary(c, &runtime, &binary);
}

criterion_group!(benches, reports);
criterion_main!(benches);
