//! Month-end recompute through the store: the factory month of 10,000 employees × 31 days
//! (about 1.24 M scans, `attendance_benches::factory_month`) stored once, then every
//! employee-day recomputed and stored again with `AttendanceService::recompute_range`
//! (set-based: chunks of employees, a few bulk reads and one upsert each), beside the
//! per-employee path (`AttendanceService::recompute` for one employee after the other: a leave
//! account read, a scan read and an upsert each) over a slice of the employees, whose time is
//! also printed scaled to all of them.
//! - SQLite: a file with the store's defaults (`synchronous=FULL`), loaded with syncing off.
//! - PostgreSQL (when `DATABASE_URL` is set): a fresh database on that server.
//!
//! `ATT_BENCH_EMPLOYEES` scales the month (default 10,000); `ATT_BENCH_SLICE` the per-employee
//! slice (500); `ATT_BENCH_ONLY` (`sqlite`, `postgres`) runs one store.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use attendance_benches::pg::PgServer;
use attendance_benches::{
    FactoryMonth, env_usize, factory_month, flat_group, load_month, runtime, selected,
};
use attendance_core::service::AttendanceService;
use attendance_core::store::{RecordQuery, Store};
use attendance_store_postgres::{PgOptions, PgStore};
use attendance_store_sqlite::{SqliteOptions, SqliteStore, Synchronous};
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sqlx::{Connection, PgConnection};

/// The month, and when it is recomputed: two days after its last scan, every window closed.
struct Month {
    month: FactoryMonth,
    now: DateTime<Utc>,
    dates: BTreeSet<NaiveDate>,
}

impl Month {
    fn new(employees: usize) -> Self {
        let month = factory_month(employees, 42);
        let now = month
            .scans
            .iter()
            .map(|s| s.timestamp)
            .max()
            .unwrap_or_default()
            + TimeDelta::days(2);
        let dates = month
            .first
            .iter_days()
            .take_while(|d| *d <= month.last)
            .collect();
        Self { month, now, dates }
    }

    fn days(&self) -> usize {
        self.month.employees.len() * self.dates.len()
    }
}

/// Checks the month came out as the rules give it: one record per employee-day.
async fn check(store: &dyn Store, month: &Month) {
    let page = store
        .query_records(&RecordQuery {
            limit: 1,
            ..RecordQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(page.count as usize, month.days());
}

/// The two ways, timed: every employee-day set-based, and the slice one employee at a time.
fn bench_store(
    c: &mut Criterion,
    runtime: &tokio::runtime::Runtime,
    name: &str,
    store: Arc<dyn Store>,
    month: &Arc<Month>,
) {
    let service = AttendanceService::new(store.clone());
    let days = month.days();
    let slice = env_usize("ATT_BENCH_SLICE", 500).min(month.month.employees.len());
    let mut group = flat_group(
        c,
        format!("recompute_month_{name}"),
        Duration::from_millis(100),
        Duration::from_secs(30),
    );

    group.throughput(Throughput::Elements(days as u64));
    let (s, m) = (service.clone(), month.clone());
    group.bench_function(format!("set_based_recompute_range_{days}_days"), |b| {
        b.to_async(runtime).iter_custom(|iters| {
            let (s, m) = (s.clone(), m.clone());
            async move {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let started = Instant::now();
                    let stored = s
                        .recompute_range(m.month.first, m.month.last, m.now, &mut |_, _| {})
                        .await
                        .unwrap();
                    total += started.elapsed();
                    assert_eq!(stored, m.days());
                }
                total
            }
        })
    });
    runtime.block_on(check(&*store, month));

    let slice_days = slice * month.dates.len();
    group.throughput(Throughput::Elements(slice_days as u64));
    let (s, m) = (service.clone(), month.clone());
    let per_iteration: Arc<std::sync::Mutex<Vec<Duration>>> = Arc::default();
    group.bench_function(
        format!(
            "per_employee_recompute_{slice}_of_{}_employees",
            m.month.employees.len()
        ),
        |b| {
            b.to_async(runtime).iter_custom(|iters| {
                let (s, m, per_iteration) = (s.clone(), m.clone(), per_iteration.clone());
                async move {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let started = Instant::now();
                        let mut stored = 0;
                        for e in &m.month.employees[..slice] {
                            stored += s.recompute(e, &m.dates, m.now).await.unwrap().len();
                        }
                        let took = started.elapsed();
                        per_iteration.lock().unwrap().push(took);
                        total += took;
                        assert_eq!(stored, slice * m.dates.len());
                    }
                    total
                }
            })
        },
    );
    group.finish();
    let runs = per_iteration.lock().map(|r| r.clone()).unwrap_or_default();
    if !runs.is_empty() {
        let mean = runs.iter().map(Duration::as_secs_f64).sum::<f64>() / runs.len() as f64;
        let scaled = mean * month.month.employees.len() as f64 / slice as f64;
        eprintln!(
            "recompute_month_{name}: the per-employee path took {mean:.3} s for {slice} employees \
             (mean of {} runs), {scaled:.1} s scaled to all {} ({:.0} days/s)",
            runs.len(),
            month.month.employees.len(),
            slice_days as f64 / mean
        );
    }
}

fn sqlite(c: &mut Criterion, runtime: &tokio::runtime::Runtime, month: &Arc<Month>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("month.db");
    let path = path.to_str().unwrap();
    let started = Instant::now();
    runtime.block_on(async {
        let loading = SqliteOptions {
            synchronous: Synchronous::Off,
            ..SqliteOptions::default()
        };
        let store = Arc::new(SqliteStore::open(path, loading).await.unwrap());
        load_month(store.clone(), &month.month, 1).await;
        store.close().await;
    });
    eprintln!(
        "recompute_month_sqlite: {} scans of {} employees loaded in {:.1} s",
        month.month.scans.len(),
        month.month.employees.len(),
        started.elapsed().as_secs_f64()
    );
    let store = runtime
        .block_on(SqliteStore::open(path, SqliteOptions::default()))
        .unwrap();
    bench_store(c, runtime, "sqlite", Arc::new(store.clone()), month);
    runtime.block_on(store.close());
}

fn postgres(c: &mut Criterion, runtime: &tokio::runtime::Runtime, month: &Arc<Month>) {
    let Some(server) = PgServer::from_env("recompute_month", "group") else {
        return;
    };
    let started = Instant::now();
    let (name, url, store) = runtime.block_on(async {
        let (name, url) = server.create("att_bench_recompute").await.unwrap();
        let store = Arc::new(PgStore::connect(&url, PgOptions::default()).await.unwrap());
        load_month(store.clone(), &month.month, 8).await;
        (name, url, store)
    });
    eprintln!(
        "recompute_month_postgres: {} scans of {} employees loaded in {:.1} s",
        month.month.scans.len(),
        month.month.employees.len(),
        started.elapsed().as_secs_f64()
    );
    // Fresh statistics for the planner, as autovacuum would give a table that grew this much.
    runtime.block_on(async {
        let mut conn = PgConnection::connect(&url).await.unwrap();
        sqlx::query("ANALYZE").execute(&mut conn).await.unwrap();
        let _ = conn.close().await;
    });
    bench_store(c, runtime, "postgres", store.clone(), month);
    runtime.block_on(async {
        store.close().await;
        let _ = server.drop_database(&name).await;
    });
}

fn recompute_month(c: &mut Criterion) {
    let runtime = runtime().unwrap();
    let month = Arc::new(Month::new(env_usize("ATT_BENCH_EMPLOYEES", 10_000)));
    if selected("ATT_BENCH_ONLY", "sqlite") {
        sqlite(c, &runtime, &month);
    }
    if selected("ATT_BENCH_ONLY", "postgres") {
        postgres(c, &runtime, &month);
    }
}

criterion_group!(benches, recompute_month);
criterion_main!(benches);
