//! `attendance-store-sqlite`: the embedded default store, in one SQLite file.
//!
//! [`SqliteStore`] implements every storage port of `attendance-core` (together
//! [`Store`](attendance_core::store::Store)) and passes core's conformance suite. The file is in
//! WAL mode with a busy timeout, foreign keys on and `synchronous=FULL` by default; every write
//! goes through one writer connection (so writers queue in the process instead of failing with
//! "database is locked"), each call in one `BEGIN IMMEDIATE` transaction, while reads use a pool of
//! their own that WAL lets run beside the writer. The schema is migrated on open, idempotently.
//! The statements are the shared ones of `attendance-store-sql`, rendered for SQLite.
//!
//! ```no_run
//! use std::sync::Arc;
//! use attendance_core::store::{ScanBatch, Store};
//! use attendance_core::scan::MachineId;
//! use attendance_store_sqlite::{SqliteOptions, SqliteStore};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let store: Arc<dyn Store> =
//!     Arc::new(SqliteStore::open("attendance.db", SqliteOptions::default()).await?);
//! let outcome = store
//!     .record_scans(ScanBatch { machine_id: MachineId::parse("BOCK200961014")?, scans: vec![], cursor: None })
//!     .await?;
//! assert_eq!(outcome.duplicates, 0);
//! println!("{} scans stored", store.count_scans().await?);
//! # Ok(())
//! # }
//! ```

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use attendance_core::scan::ScanData;
use attendance_core::store::{IngestOutcome, ScanBatch, StoreError, StoreResult};
use attendance_store_sql::codec::{ScanRow, scans_from_json};
use attendance_store_sql::error::db;
use attendance_store_sql::ingest::{NewKeys, PreparedBatch, group_outcomes, prepare_group};
use attendance_store_sql::schema::Backend;
use attendance_store_sql::stmt::{self, RecordRow};
use sea_query::SqliteQueryBuilder;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, Sqlite, Transaction};

/// How hard SQLite makes each commit durable (`PRAGMA synchronous`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Synchronous {
    /// No syncing: fast, and a power loss may corrupt the file.
    Off,
    /// In WAL mode, a commit survives a crash of the process but maybe not a power loss.
    Normal,
    /// Every commit is synced: it survives a power loss (the default).
    #[default]
    Full,
    /// Like `Full`, and the directory is synced too.
    Extra,
}

/// How to open a [`SqliteStore`].
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// Durability of commits; `Full` by default.
    pub synchronous: Synchronous,
    /// How long a connection waits for a lock another process holds before failing; 5 s.
    pub busy_timeout: Duration,
    /// Connections in the read pool; 4.
    pub read_connections: u32,
    /// How long a call waits for the writer (or a reader) before failing; 60 s.
    pub acquire_timeout: Duration,
    /// Whether to create the file when it does not exist; `true`.
    pub create_if_missing: bool,
    /// The writer's page cache, in KiB (`PRAGMA cache_size`); 64 MiB, so the writer keeps the
    /// hot part of the scan index in memory across batches.
    pub cache_size_kib: u32,
    /// The page cache of each read connection, in KiB; 8 MiB. Readers serve a day's or a
    /// chunk's rows at a time; four of them at the writer's size would cache the same pages
    /// four times over (a server's resident memory grows by that much).
    pub read_cache_size_kib: u32,
    /// WAL pages after which a commit checkpoints (`PRAGMA wal_autocheckpoint`); 10,000 pages
    /// (40 MB), so pages that many batches touch are copied back to the database once, not once
    /// per 1,000 pages.
    pub wal_autocheckpoint_pages: u32,
    /// The page size of a new database file, in bytes (a power of two from 512 to 65,536;
    /// ignored for an existing file); 4,096.
    pub page_size: u32,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            synchronous: Synchronous::Full,
            busy_timeout: Duration::from_secs(5),
            read_connections: 4,
            acquire_timeout: Duration::from_secs(60),
            create_if_missing: true,
            cache_size_kib: 64 * 1024,
            read_cache_size_kib: 8 * 1024,
            wal_autocheckpoint_pages: 10_000,
            page_size: 4096,
        }
    }
}

/// The SQLite store: one writer connection, a read pool, the shared schema.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    /// Exactly one connection: it is the writer lock. Writers queue on it (fairly, in sqlx's
    /// pool) instead of racing for SQLite's file lock, so "database is locked" cannot happen
    /// between writers of this process.
    writer: SqlitePool,
    /// Readers; in WAL mode they read a consistent snapshot while the writer writes. For an
    /// in-memory database this is the writer pool itself (one connection holds the database).
    reader: SqlitePool,
    /// The multi-row scan inserts, rendered once per statement size and for both paths (the hot
    /// path binds its values straight into sqlx instead of building a statement per chunk).
    insert_scans_sql: Arc<ScanInserts>,
    /// [`stmt::upsert_records`] rendered for every power of two up to [`RECORD_CHUNK`] rows.
    upsert_records_sql: Arc<BTreeMap<usize, Arc<str>>>,
}

/// [`stmt::sqlite_insert_scans`] rendered for every size [`stmt::chunk_sizes`] can give.
#[derive(Debug)]
struct ScanInserts {
    /// Without `RETURNING`: the fast path, when every scan of the batch is new.
    plain: BTreeMap<usize, Arc<str>>,
    /// With `RETURNING` the new keys: when some were stored already.
    returning: BTreeMap<usize, Arc<str>>,
}

fn render_scan_inserts() -> StoreResult<ScanInserts> {
    let mut inserts = ScanInserts {
        plain: BTreeMap::new(),
        returning: BTreeMap::new(),
    };
    let mut size = stmt::SCAN_CHUNK;
    while size > 0 {
        let rows = vec![ScanRow::default(); size];
        let (plain, _) = stmt::sqlite_insert_scans(&rows, false)?.build(SqliteQueryBuilder);
        let (returning, _) = stmt::sqlite_insert_scans(&rows, true)?.build(SqliteQueryBuilder);
        inserts.plain.insert(size, Arc::from(plain));
        inserts.returning.insert(size, Arc::from(returning));
        size /= 2;
    }
    Ok(inserts)
}

/// [`stmt::upsert_records`] for every power of two up to [`RECORD_CHUNK`] rows.
fn render_record_upserts() -> StoreResult<BTreeMap<usize, Arc<str>>> {
    let mut statements = BTreeMap::new();
    let mut size = RECORD_CHUNK;
    while size > 0 {
        let row = RecordRow {
            employee: String::new(),
            date: chrono::NaiveDate::MIN,
            status: String::new(),
            data: String::new(),
        };
        let (sql, _) = stmt::upsert_records(&vec![row; size])?.build(SqliteQueryBuilder);
        statements.insert(size, Arc::from(sql));
        size /= 2;
    }
    Ok(statements)
}

const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";

/// How many result rows a connection's worker thread may hand over before the reader takes
/// them (sqlx's default is 50): a large read then wakes the reader far less often.
const ROW_CHANNEL: usize = 4096;

attendance_store_sql::statement_runners!(database: Sqlite, row: SqliteRow, builder: SqliteQueryBuilder, backend: Backend::Sqlite, label: "SQLite");

impl SqliteStore {
    /// Opens (creating it if allowed) the database at `path_or_url` (a file path, or a
    /// `sqlite:` URL) and migrates it. Returns [`StoreError::Backend`] when the file cannot be
    /// opened or migrated, or is not a database.
    pub async fn open(path_or_url: &str, options: SqliteOptions) -> StoreResult<Self> {
        let base = if path_or_url.starts_with("sqlite:") {
            SqliteConnectOptions::from_str(path_or_url).map_err(db("parse the SQLite URL"))?
        } else {
            SqliteConnectOptions::new().filename(path_or_url)
        };
        let connect = base
            .create_if_missing(options.create_if_missing)
            .pragma("page_size", options.page_size.to_string())
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(match options.synchronous {
                Synchronous::Off => SqliteSynchronous::Off,
                Synchronous::Normal => SqliteSynchronous::Normal,
                Synchronous::Full => SqliteSynchronous::Full,
                Synchronous::Extra => SqliteSynchronous::Extra,
            })
            .busy_timeout(options.busy_timeout)
            .foreign_keys(true)
            // Statement journals (multi-row inserts in a transaction) in memory, not temp files.
            .pragma("temp_store", "memory")
            .pragma("cache_size", format!("-{}", options.cache_size_kib))
            .row_buffer_size(ROW_CHANNEL)
            .pragma(
                "wal_autocheckpoint",
                options.wal_autocheckpoint_pages.to_string(),
            );
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .acquire_timeout(options.acquire_timeout)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(connect.clone())
            .await
            .map_err(db("open the SQLite database"))?;
        // Migrate before the readers open, so they see the schema from their first query.
        let insert_scans_sql = Arc::new(render_scan_inserts()?);
        let upsert_records_sql = Arc::new(render_record_upserts()?);
        let store = Self {
            writer: writer.clone(),
            reader: writer.clone(),
            insert_scans_sql: insert_scans_sql.clone(),
            upsert_records_sql: upsert_records_sql.clone(),
        };
        store.migrate().await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(options.read_connections.max(1))
            .acquire_timeout(options.acquire_timeout)
            .connect_with(
                connect
                    .create_if_missing(false)
                    .pragma("cache_size", format!("-{}", options.read_cache_size_kib)),
            )
            .await
            .map_err(db("open the SQLite read pool"))?;
        Ok(Self {
            writer,
            reader,
            insert_scans_sql,
            upsert_records_sql,
        })
    }

    /// A fresh, empty database in memory, for tests: one connection holds it, serving reads and
    /// writes, and it disappears with the store.
    pub async fn open_in_memory() -> StoreResult<Self> {
        let connect = SqliteConnectOptions::new()
            .in_memory(true)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .acquire_timeout(Duration::from_secs(60))
            // The database lives as long as its one connection: never let the pool close it.
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(connect)
            .await
            .map_err(db("open an in-memory SQLite database"))?;
        let store = Self {
            writer: pool.clone(),
            reader: pool,
            insert_scans_sql: Arc::new(render_scan_inserts()?),
            upsert_records_sql: Arc::new(render_record_upserts()?),
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Applies the migrations not applied yet, in one write transaction; running it again is
    /// harmless. [`StoreError::Backend`] if a statement fails.
    pub async fn migrate(&self) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let what = "migrate the schema";
        apply_pending_migrations(&mut tx, what).await?;
        tx.commit().await.map_err(db(what))
    }

    /// Waits for the queued writes, checkpoints the WAL and closes every connection.
    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }

    /// Inserts the rows of a prepared group and every batch's cursor in one transaction. With
    /// `returning`, commits and returns the new keys. Without, commits and returns an empty set
    /// only if every row was new, else rolls back and returns `None`.
    async fn store_group(
        &self,
        batches: &[ScanBatch],
        prepared: &[PreparedBatch],
        returning: bool,
    ) -> StoreResult<Option<NewKeys>> {
        let what = "store scans";
        let statements = if returning {
            &self.insert_scans_sql.returning
        } else {
            &self.insert_scans_sql.plain
        };
        // The whole group in key order: the inserts walk the table's B-tree once, in order.
        let mut rows: Vec<&ScanRow> = prepared.iter().flat_map(|p| &p.rows).collect();
        rows.sort_unstable_by(|a, b| a.day_key().cmp(&b.day_key()));
        let mut tx = self.begin_write().await?;
        let mut new_keys = NewKeys::new();
        let mut inserted = 0u64;
        let mut at = 0;
        for size in stmt::chunk_sizes(rows.len()) {
            let chunk = &rows[at..at + size];
            at += size;
            let sql = statements.get(&size).ok_or_else(|| StoreError::Backend {
                message: format!("no insert statement of {size} rows"),
                source: None,
            })?;
            // The values in the order of the statement's columns (see
            // `stmt::sqlite_insert_scans`).
            let mut query = sqlx::query(AssertSqlSafe(sql.clone()));
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
            if returning {
                for row in query.fetch_all(&mut *tx).await.map_err(db(what))? {
                    new_keys
                        .entry(get(&row, 0, what)?)
                        .or_default()
                        .insert((get(&row, 1, what)?, get(&row, 2, what)?));
                }
            } else {
                inserted += query
                    .execute(&mut *tx)
                    .await
                    .map_err(db(what))?
                    .rows_affected();
            }
        }
        if !returning && inserted != rows.len() as u64 {
            tx.rollback().await.map_err(db(what))?;
            return Ok(None);
        }
        for batch in batches {
            if let Some(cursor) = &batch.cursor {
                let statement = stmt::upsert_cursor(&batch.machine_id, &cursor.0);
                execute(&mut *tx, &statement, what).await?;
            }
        }
        tx.commit().await.map_err(db(what))?;
        Ok(Some(new_keys))
    }

    async fn begin_write(&self) -> StoreResult<Transaction<'static, Sqlite>> {
        self.writer
            .begin_with(BEGIN_WRITE)
            .await
            .map_err(db("begin a write transaction"))
    }

    async fn begin_read(&self) -> StoreResult<Transaction<'static, Sqlite>> {
        self.reader
            .begin()
            .await
            .map_err(db("begin a read transaction"))
    }
}

/// The most daily records one upsert statement carries (a power of two; 4 values each).
const RECORD_CHUNK: usize = 256;

/// The most records the real-time recompute writes in one transaction: SQLite has one writer,
/// and a push's scans wait for the write in progress before they commit; 512 records are a few
/// milliseconds of writing (a whole recompute chunk, 2,000 records, is about 45 ms).
pub const RECORDS_PER_WRITE: usize = 512;

impl SqliteStore {
    /// [`RECORDS_PER_WRITE`]; see
    /// [`DailyRecordStore::records_per_write`](attendance_core::store::DailyRecordStore::records_per_write).
    fn records_per_write(&self) -> usize {
        RECORDS_PER_WRITE
    }

    /// Stores one group of scan batches in one write transaction.
    async fn ingest_group(&self, batches: Vec<ScanBatch>) -> StoreResult<Vec<IngestOutcome>> {
        let prepared = prepare_group(&batches)?;
        // Usually every scan of a group is new: insert without RETURNING, which sqlx would
        // stream back row by row from its worker thread (measured: the largest cost of the
        // ingest), and compare the count. A group with scans stored already is rolled back and
        // stored again, learning which were new.
        if self
            .store_group(&batches, &prepared, false)
            .await?
            .is_some()
        {
            return Ok(group_outcomes(prepared, None));
        }
        match self.store_group(&batches, &prepared, true).await? {
            Some(new_keys) => Ok(group_outcomes(prepared, Some(&new_keys))),
            None => Err(StoreError::Backend {
                message: "storing scans with RETURNING did not commit".into(),
                source: None,
            }),
        }
    }

    /// Inserts or replaces daily records in `tx`, in statements of up to [`RECORD_CHUNK`] rows
    /// ([`stmt::upsert_records`], rendered once per power of two: the rest of a chunk is one
    /// statement of the next power of two, its last record bound again to fill it, which
    /// upserts the same row twice with the same values), their texts moved into the bound
    /// values rather than copied (a month's records are hundreds of megabytes of JSON).
    async fn write_records(
        &self,
        tx: &mut Transaction<'static, Sqlite>,
        rows: Vec<RecordRow>,
    ) -> StoreResult<()> {
        let what = "store daily records";
        let mut rows = rows.into_iter().peekable();
        while rows.peek().is_some() {
            let chunk: Vec<RecordRow> = rows.by_ref().take(RECORD_CHUNK).collect();
            let size = chunk.len().next_power_of_two();
            let sql = self
                .upsert_records_sql
                .get(&size)
                .ok_or_else(|| StoreError::Backend {
                    message: format!("no upsert statement of {size} daily records"),
                    source: None,
                })?;
            let filler = chunk.last().cloned();
            let padding = std::iter::repeat_n(filler, size - chunk.len()).flatten();
            // The values in the order of the statement's columns: employee, date, status, data.
            let mut query = sqlx::query(AssertSqlSafe(sql.clone()));
            for row in chunk.into_iter().chain(padding) {
                query = query
                    .bind(row.employee)
                    .bind(row.date)
                    .bind(row.status)
                    .bind(row.data);
            }
            query.execute(&mut **tx).await.map_err(db(what))?;
        }
        Ok(())
    }

    /// The keys of a bulk read in `IN` lists of [`KEY_CHUNK`] (far under SQLite's 32,766 bound
    /// parameters, with room for the scan query's days).
    fn key_chunks<'k>(keys: &'k [&'k str]) -> Vec<&'k [&'k str]> {
        keys.chunks(KEY_CHUNK).collect()
    }

    /// The scans of a chunk of device users in `[from_ns, to_ns)`, by user, then time, then
    /// machine id: one row per user ([`stmt::sqlite_select_scans_of_users`]).
    async fn scans_of_user_chunk(
        &self,
        users: &[&str],
        from_ns: i64,
        to_ns: i64,
    ) -> StoreResult<Vec<ScanData>> {
        let what = "read the scans of users";
        let statement = stmt::sqlite_select_scans_of_users(users, from_ns, to_ns);
        let mut scans = Vec::new();
        for row in fetch_all(&self.reader, &statement, what).await? {
            let user: String = get(&row, 0, what)?;
            let json: String = get(&row, 1, what)?;
            scans.extend(scans_from_json(&user, &json)?);
        }
        Ok(scans)
    }
}

/// The most keys one bulk read binds.
const KEY_CHUNK: usize = 500;

attendance_store_sql::store_contract!(
    SqliteStore,
    reader: reader,
    writer: writer,
    scans_of_user: stmt::sqlite_select_scans_of_user
);

impl SqliteStore {
    /// Whether leave request `request` exists. No lock is needed: the one writer connection runs
    /// write transactions one at a time, so a racing upload counts this one's document.
    async fn hold_request(
        tx: &mut Transaction<'static, Sqlite>,
        request: &str,
        what: &'static str,
    ) -> StoreResult<bool> {
        Ok(fetch_count(&mut **tx, &stmt::count_leave_request(request), what).await? > 0)
    }
}

attendance_store_sql::leave_document_store!(SqliteStore, reader: reader);
