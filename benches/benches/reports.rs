//! Reports over real HTTP against `attendance-server serve` on SQLite (the binary, run as a
//! process on loopback, as a user runs it):
//! - **monthly report**: the factory month (10,000 employees × 31 days, 1.24 M scans,
//!   `attendance_benches::factory_month`) as XLSX, beside the same report as JSON and CSV in the
//!   same run. The first request computes and stores every employee-day (cold); the samples
//!   after it read the stored days (warm). The server's peak resident memory is printed before
//!   the first report and after the last, to show whether it stays flat.
//! - **daily summary** of one date for 5,000 employees (`summary/?date=`), asking for gzip:
//!   the uncached path (the first request of each date, its days stored already), then the
//!   answer kept by the server: one connection alone, 64 connections each sending requests
//!   back to back once all are open (latency p50/p99), and the same without gzip; bytes per
//!   response. The
//!   client reads the bytes as they come (no decompression, no parsing).
//!
//! Knobs: `ATT_BENCH_EMPLOYEES` (10,000), `ATT_BENCH_SUMMARY_EMPLOYEES` (5,000),
//! `ATT_BENCH_CONNECTIONS` (64), `ATT_BENCH_REQUESTS` (summary requests per connection, 50),
//! `ATT_E2E_SERVER_BIN` (a server binary to use instead of building one), `ATT_BENCH_REPORTS`
//! (`monthly` or `summary`: only that half).
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
    get_as(client, base, token, path, false).await
}

/// GETs `path`, asking for gzip when `gzip`, and returns the length of the body as it came
/// over the wire (not decompressed: the client reads the bytes, as a proxy or a cache would;
/// reqwest here has no gzip feature, so nothing is decoded), asserting 200.
async fn get_as(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    path: &str,
    gzip: bool,
) -> usize {
    let mut request = client.get(format!("{base}{path}")).bearer_auth(token);
    if gzip {
        request = request.header(reqwest::header::ACCEPT_ENCODING, "gzip");
    }
    let response = request.send().await.unwrap();
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

/// Each of `connections` clients opens its connection (one request, not timed), then, once
/// all are open, sends `requests` summaries back to back (gzip asked for when `gzip`): all
/// latencies, the bytes of the last answer, and how long the timed part took. Connecting is
/// left out of the latencies as a load generator does (64 connects at once measure the
/// kernel's accept queue, not the summary).
async fn summaries(
    base: &str,
    token: &str,
    connections: usize,
    requests: usize,
    gzip: bool,
) -> (Vec<Duration>, usize, Duration) {
    let path = "/api/attendance/daily-attendance/summary/?date=2026-01-02";
    let opened = Arc::new(tokio::sync::Barrier::new(connections + 1));
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (base, token, opened) = (base.to_owned(), token.to_owned(), opened.clone());
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::builder().no_proxy().build().unwrap();
            get_as(&client, &base, &token, path, gzip).await;
            opened.wait().await;
            let mut took = Vec::with_capacity(requests);
            let mut bytes = 0;
            for _ in 0..requests {
                let started = Instant::now();
                bytes = get_as(&client, &base, &token, path, gzip).await;
                took.push(started.elapsed());
            }
            (took, bytes)
        }));
    }
    opened.wait().await;
    let started = Instant::now();
    let mut all = Vec::new();
    let mut bytes = 0;
    for task in tasks {
        let (took, b) = task.await.unwrap();
        all.extend(took);
        bytes = b;
    }
    let elapsed = started.elapsed();
    all.sort();
    (all, bytes, elapsed)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1000.0
}

fn summary(c: &mut Criterion, runtime: &tokio::runtime::Runtime, binary: &Path) {
    let employees = env_usize("ATT_BENCH_SUMMARY_EMPLOYEES", 5_000);
    let connections = env_usize("ATT_BENCH_CONNECTIONS", 64);
    let requests = env_usize("ATT_BENCH_REQUESTS", 50);
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
    // The uncached path: every day of the month computed and stored first (by the monthly
    // report, which does not touch the summaries kept), then the first summary of each of the
    // other dates, one at a time: read from the store, encoded, compressed and kept.
    let started = Instant::now();
    runtime.block_on(get(
        &client,
        &server.base,
        &token,
        "/api/attendance/reports/monthly/?month=2026-01&format=json",
    ));
    eprintln!(
        "reports: summary bench: the month's days computed and stored in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let mut uncached = Vec::new();
    let mut uncached_bytes = 0;
    for day in 3..=31 {
        let path = format!("/api/attendance/daily-attendance/summary/?date=2026-01-{day:02}");
        let started = Instant::now();
        uncached_bytes = runtime.block_on(get_as(&client, &server.base, &token, &path, true));
        uncached.push(started.elapsed());
    }
    uncached.sort();
    eprintln!(
        "reports: summary of {employees} employees, uncached (first request of a date, 1 connection, {} dates): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms, {uncached_bytes} bytes (gzip)",
        uncached.len(),
        percentile(&uncached, 0.50),
        percentile(&uncached, 0.99),
        percentile(&uncached, 1.0),
    );
    for (label, n, each, gzip) in [
        ("kept, 1 connection, gzip", 1, requests * 4, true),
        ("kept, concurrent, gzip", connections, requests, true),
        ("kept, concurrent, plain JSON", connections, requests, false),
    ] {
        let (all, bytes, elapsed) =
            runtime.block_on(summaries(&server.base, &token, n, each, gzip));
        eprintln!(
            "reports: summary of {employees} employees, {label} ({n} × {each}): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms, {:.0} requests/s, {bytes} bytes per response",
            percentile(&all, 0.50),
            percentile(&all, 0.99),
            percentile(&all, 1.0),
            all.len() as f64 / elapsed.as_secs_f64()
        );
    }
    eprintln!(
        "reports: server peak RSS after the summaries: {}",
        mib(server.peak_rss())
    );
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
            async move { get_as(&client, &base, &token, path, true).await }
        })
    });
    group.finish();
}

fn reports(c: &mut Criterion) {
    let runtime = runtime().unwrap();
    let binary = server_binary();
    let only = std::env::var("ATT_BENCH_REPORTS").unwrap_or_default();
    if only != "summary" {
        monthly(c, &runtime, &binary);
    }
    if only != "monthly" {
        summary(c, &runtime, &binary);
    }
}

criterion_group!(benches, reports);
criterion_main!(benches);
