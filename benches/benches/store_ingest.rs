//! Ingest of 1,000,000 scans through our stores, each beside the fastest plain bulk insert of
//! the same rows into a bare table with the same unique key, in the same run:
//! - SQLite: `SqliteStore` fed as the engine feeds it, in group commits (`record_scan_batches`
//!   of up to 20,000 scans, the machines' batches of 1,000 merged per machine, one transaction
//!   each, `synchronous=FULL`), and in batches of 1,000 per machine with a cursor, each its own
//!   transaction (`record_scans`); against multi-row `INSERT`s of the same rows in one
//!   transaction into a table of the same layout and key, on a file with the same pragmas.
//! - PostgreSQL (when `DATABASE_URL` is set): `PgStore` the same two ways, against one
//!   `COPY … FROM STDIN` of the same rows into a table with the same key.
//!
//! `ATT_BENCH_SCANS` scales the row count (default 1,000,000); `ATT_BENCH_BATCH` the batch size
//! (1,000); `ATT_BENCH_GROUP` the most scans of a group commit (20,000).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use attendance_benches::pg::PgServer;
use attendance_benches::{by_machine, env_usize, factory_month, flat_group, runtime, selected};
use attendance_core::scan::ScanData;
use attendance_core::store::{MachineCursor, ScanBatch, ScanStore};
use attendance_store_postgres::{PgOptions, PgStore};
use attendance_store_sql::codec::ScanRow;
use attendance_store_sqlite::{SqliteOptions, SqliteStore, Synchronous};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{Connection, PgConnection, SqliteConnection};

/// The scans, and the same scans as the engine would batch them: per machine, in device order.
struct Workload {
    rows: Vec<ScanRow>,
    batches: Vec<ScanBatch>,
    /// The batches as the engine stores them: in arrival order (the machines' batches
    /// interleaved), gathered up to `ATT_BENCH_GROUP` scans, merged per machine (last cursor).
    groups: Vec<Vec<ScanBatch>>,
}

fn engine_groups(batches: &[ScanBatch], max_scans: usize) -> Vec<Vec<ScanBatch>> {
    // Arrival order: one batch of each machine in turn.
    let mut per_machine: BTreeMap<_, std::collections::VecDeque<&ScanBatch>> = BTreeMap::new();
    for batch in batches {
        per_machine
            .entry(batch.machine_id.clone())
            .or_default()
            .push_back(batch);
    }
    let mut arrival = Vec::with_capacity(batches.len());
    while arrival.len() < batches.len() {
        for queue in per_machine.values_mut() {
            if let Some(batch) = queue.pop_front() {
                arrival.push(batch);
            }
        }
    }
    let mut groups = Vec::new();
    let mut group: Vec<ScanBatch> = Vec::new();
    let mut scans = 0;
    for batch in arrival {
        match group.iter_mut().find(|b| b.machine_id == batch.machine_id) {
            Some(merged) => {
                merged.scans.extend(batch.scans.iter().cloned());
                merged.cursor = batch.cursor.clone();
            }
            None => group.push(batch.clone()),
        }
        scans += batch.scans.len();
        if scans >= max_scans {
            groups.push(std::mem::take(&mut group));
            scans = 0;
        }
    }
    if !group.is_empty() {
        groups.push(group);
    }
    groups
}

fn workload() -> Workload {
    let n = env_usize("ATT_BENCH_SCANS", 1_000_000);
    let batch_size = env_usize("ATT_BENCH_BATCH", 1_000).max(1);
    // 4 scans a day for 31 days per employee.
    let month = factory_month(n.div_ceil(124), 7);
    let mut scans: Vec<ScanData> = month.scans;
    scans.truncate(n);
    // Exact duplicates would make the two sides store different counts; drop them up front.
    let mut seen = std::collections::HashSet::new();
    scans.retain(|s| {
        seen.insert((
            s.machine_id.clone(),
            s.device_user_id.clone(),
            s.timestamp.timestamp(),
        ))
    });
    let rows = scans
        .iter()
        .map(|s| ScanRow::from_scan(s).unwrap())
        .collect();
    let mut batches = Vec::new();
    for (machine, scans) in by_machine(&scans) {
        for (i, chunk) in scans.chunks(batch_size).enumerate() {
            batches.push(ScanBatch {
                machine_id: machine.clone(),
                scans: chunk.to_vec(),
                cursor: Some(MachineCursor(((i + 1) * batch_size).to_string())),
            });
        }
    }
    let groups = engine_groups(&batches, env_usize("ATT_BENCH_GROUP", 20_000).max(1));
    Workload {
        rows,
        batches,
        groups,
    }
}

const BARE_COLUMNS: &str =
    "machine_id, device_user_id, at_second, at_ns, punch_state, verify_mode, raw";

fn multirow_insert(table: &str, rows: usize) -> String {
    let one = "(?, ?, ?, ?, ?, ?, ?, ?)";
    let values = vec![one; rows].join(", ");
    format!("INSERT INTO {table} (at_day, {BARE_COLUMNS}) VALUES {values}")
}

async fn sqlite_baseline(path: &std::path::Path, rows: &[ScanRow]) -> Duration {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        // The same page cache as the store's default, so neither side is starved.
        .pragma("cache_size", "-65536")
        .pragma("temp_store", "memory");
    let mut conn = SqliteConnection::connect_with(&options).await.unwrap();
    // The store's layout and key (migration 2), rows inserted in key order as the store does.
    sqlx::query(
        "CREATE TABLE bare (at_day INTEGER NOT NULL, machine_id TEXT NOT NULL, \
         device_user_id TEXT NOT NULL, at_second INTEGER NOT NULL, at_ns INTEGER NOT NULL, \
         punch_state INTEGER NOT NULL, verify_mode INTEGER NOT NULL, raw TEXT, \
         PRIMARY KEY (at_day, device_user_id, at_second, machine_id)) WITHOUT ROWID",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    const CHUNK: usize = 512;
    let full = multirow_insert("bare", CHUNK);
    let started = Instant::now();
    let mut sorted: Vec<&ScanRow> = rows.iter().collect();
    sorted.sort_unstable_by(|a, b| a.day_key().cmp(&b.day_key()));
    let mut tx = conn.begin().await.unwrap();
    for chunk in sorted.chunks(CHUNK) {
        let sql = if chunk.len() == CHUNK {
            full.clone()
        } else {
            multirow_insert("bare", chunk.len())
        };
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for r in chunk {
            query = query
                .bind(r.at_day())
                .bind(r.machine_id.as_str())
                .bind(r.device_user_id.as_str())
                .bind(r.at_second)
                .bind(r.at_ns)
                .bind(r.punch_state)
                .bind(r.verify_mode)
                .bind(r.raw.as_deref());
        }
        query.execute(&mut *tx).await.unwrap();
    }
    tx.commit().await.unwrap();
    let elapsed = started.elapsed();
    let _ = conn.close().await;
    elapsed
}

/// The store's defaults, unless `ATT_BENCH_SQLITE_SYNC` (`off`, `normal`, `full`),
/// `ATT_BENCH_SQLITE_CACHE_KIB` or `ATT_BENCH_SQLITE_CHECKPOINT` say otherwise (to explore).
fn sqlite_options() -> SqliteOptions {
    let mut options = SqliteOptions::default();
    match std::env::var("ATT_BENCH_SQLITE_SYNC").as_deref() {
        Ok("off") => options.synchronous = Synchronous::Off,
        Ok("normal") => options.synchronous = Synchronous::Normal,
        _ => {}
    }
    options.cache_size_kib = env_usize(
        "ATT_BENCH_SQLITE_CACHE_KIB",
        options.cache_size_kib as usize,
    ) as u32;
    options.page_size = env_usize("ATT_BENCH_SQLITE_PAGE", options.page_size as usize) as u32;
    options.wal_autocheckpoint_pages = env_usize(
        "ATT_BENCH_SQLITE_CHECKPOINT",
        options.wal_autocheckpoint_pages as usize,
    ) as u32;
    options
}

/// The two ways our stores are measured: (name, as the engine's group commits).
const WAYS: [(&str, bool); 2] = [
    ("ours_engine_group_commits", true),
    ("ours_record_scans_batches", false),
];

/// The store calls of one way, made before the clock starts: the engine hands its batches over
/// by value, so copying them is not the store's work.
fn calls(work: &Workload, grouped: bool) -> Vec<Vec<ScanBatch>> {
    if grouped {
        work.groups.clone()
    } else {
        work.batches.iter().map(|b| vec![b.clone()]).collect()
    }
}

/// Makes the calls, each group with `record_scan_batches` or each batch with `record_scans`;
/// how many scans were new.
async fn ingest(store: &dyn ScanStore, calls: Vec<Vec<ScanBatch>>, grouped: bool) -> usize {
    let mut inserted = 0;
    for mut call in calls {
        if grouped {
            for outcome in store.record_scan_batches(call).await.unwrap() {
                inserted += outcome.inserted.len();
            }
        } else if let Some(batch) = call.pop() {
            inserted += store.record_scans(batch).await.unwrap().inserted.len();
        }
    }
    inserted
}

fn sqlite(c: &mut Criterion, runtime: &tokio::runtime::Runtime, work: &Arc<Workload>) {
    let mut group = flat_group(
        c,
        format!("store_ingest_sqlite_{}_scans", work.rows.len()),
        Duration::from_millis(100),
        Duration::from_secs(20),
    );
    group.throughput(Throughput::Elements(work.rows.len() as u64));
    for (name, grouped) in WAYS {
        let w = work.clone();
        group.bench_function(name, |b| {
            b.to_async(runtime).iter_custom(|iters| {
                let w = w.clone();
                async move {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let dir = tempfile::tempdir().unwrap();
                        let path = dir.path().join("store.db");
                        let store = SqliteStore::open(path.to_str().unwrap(), sqlite_options())
                            .await
                            .unwrap();
                        let calls = calls(&w, grouped);
                        let started = Instant::now();
                        let inserted = ingest(&store, calls, grouped).await;
                        total += started.elapsed();
                        assert_eq!(inserted, w.rows.len());
                        store.close().await;
                    }
                    total
                }
            })
        });
    }
    let w = work.clone();
    group.bench_function("baseline_multirow_insert", |b| {
        b.to_async(runtime).iter_custom(|iters| {
            let w = w.clone();
            async move {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let dir = tempfile::tempdir().unwrap();
                    total += sqlite_baseline(&dir.path().join("bare.db"), &w.rows).await;
                }
                total
            }
        })
    });
    group.finish();
}

fn copy_text(rows: &[ScanRow]) -> Vec<u8> {
    use std::fmt::Write;
    let mut text = String::with_capacity(rows.len() * 64);
    for r in rows {
        // Our ids are ASCII letters, digits and `-_.:`: nothing COPY's text format escapes.
        let _ = writeln!(
            text,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}",
            r.machine_id,
            r.device_user_id,
            r.at_second,
            r.at_ns,
            r.punch_state,
            r.verify_mode,
            r.raw.as_deref().unwrap_or("\\N")
        );
    }
    text.into_bytes()
}

async fn pg_baseline(url: &str, rows: &[ScanRow]) -> Duration {
    let mut conn = PgConnection::connect(url).await.unwrap();
    sqlx::query(
        "CREATE TABLE bare (machine_id text COLLATE \"C\" NOT NULL, device_user_id text COLLATE \"C\" NOT NULL, \
         at_second bigint NOT NULL, at_ns bigint NOT NULL, punch_state integer NOT NULL, \
         verify_mode integer NOT NULL, raw text, \
         PRIMARY KEY (device_user_id, at_second, machine_id))",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let started = Instant::now();
    let data = copy_text(rows);
    let mut copy = conn
        .copy_in_raw(&format!(
            "COPY bare ({BARE_COLUMNS}) FROM STDIN (FORMAT text)"
        ))
        .await
        .unwrap();
    for chunk in data.chunks(1 << 20) {
        copy.send(chunk).await.unwrap();
    }
    let copied = copy.finish().await.unwrap();
    let elapsed = started.elapsed();
    assert_eq!(copied as usize, rows.len());
    let _ = conn.close().await;
    elapsed
}

fn postgres(c: &mut Criterion, runtime: &tokio::runtime::Runtime, work: &Arc<Workload>) {
    let Some(server) = PgServer::from_env("store_ingest", "group") else {
        return;
    };
    let server = Arc::new(server);
    let mut group = flat_group(
        c,
        format!("store_ingest_postgres_{}_scans", work.rows.len()),
        Duration::from_millis(100),
        Duration::from_secs(20),
    );
    group.throughput(Throughput::Elements(work.rows.len() as u64));
    for (name, grouped) in WAYS {
        let (w, s) = (work.clone(), server.clone());
        group.bench_function(name, |b| {
            b.to_async(runtime).iter_custom(|iters| {
                let (w, s) = (w.clone(), s.clone());
                async move {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let (name, url) = s.create("att_bench").await.unwrap();
                        let store = PgStore::connect(&url, PgOptions::default()).await.unwrap();
                        let calls = calls(&w, grouped);
                        let started = Instant::now();
                        let inserted = ingest(&store, calls, grouped).await;
                        total += started.elapsed();
                        assert_eq!(inserted, w.rows.len());
                        store.close().await;
                        let _ = s.drop_database(&name).await;
                    }
                    total
                }
            })
        });
    }
    let (w, s) = (work.clone(), server.clone());
    group.bench_function("baseline_copy", |b| {
        b.to_async(runtime).iter_custom(|iters| {
            let (w, s) = (w.clone(), s.clone());
            async move {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let (name, url) = s.create("att_bench").await.unwrap();
                    total += pg_baseline(&url, &w.rows).await;
                    let _ = s.drop_database(&name).await;
                }
                total
            }
        })
    });
    group.finish();
}

fn store_ingest(c: &mut Criterion) {
    let runtime = runtime().unwrap();
    let work = Arc::new(workload());
    if selected("ATT_BENCH_ONLY", "sqlite") {
        sqlite(c, &runtime, &work);
    }
    if selected("ATT_BENCH_ONLY", "postgres") {
        postgres(c, &runtime, &work);
    }
}

criterion_group!(benches, store_ingest);
criterion_main!(benches);
