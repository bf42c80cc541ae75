//! `attendance-store-sqlite`: the embedded default store, in one SQLite file.
//!
//! [`SqliteStore`] implements every storage port of `attendance-core` (together
//! [`Store`](attendance_core::store::Store)) and passes core's conformance suite. The file is in
//! WAL mode with a busy timeout, foreign keys on and `synchronous=FULL` by default; every write
//! goes through one writer connection (so writers queue in the process instead of failing with
//! "database is locked"), each call in one `BEGIN IMMEDIATE` transaction, while reads use a pool of
//! their own that WAL lets run beside the writer. The schema is migrated on open, idempotently.
//!
//! The port bodies are the shared ones of `attendance-store-sql`
//! ([`attendance_store_sql::contract`]): this crate implements
//! [`SqlBackend`] for [`SqliteStore`] (the statement
//! runners on the writer, the read pool or a transaction) and each port as a thin
//! `impl … for SqliteStore` handing itself to them. What is SQLite's own stays here:
//! - this file: opening the database (pragmas, the one-connection writer, the read pool) and
//!   migrating it;
//! - `backend`: the [`SqlBackend`] impl, its runners
//!   and transactions, the bulk reads' key chunks and the grouped scan read;
//! - `ingest`: scan groups as pre-rendered multi-row inserts, without `RETURNING` unless some
//!   scans were stored already;
//! - `records`: daily-record upserts in padded statements of a power of two rows;
//! - [`stmt`]: the statements only SQLite runs (its scans table is keyed by day);
//! - `ports`: the `impl … for SqliteStore` of every port.
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

mod backend;
mod ingest;
mod options;
mod ports;
mod records;
pub mod stmt;

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use attendance_core::store::{StoreError, StoreResult};
use attendance_store_sql::backend::SqlBackend;
use attendance_store_sql::contract::migrations::apply_pending_migrations;
use attendance_store_sql::error::db;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::ingest::{ScanInserts, render_scan_inserts};
use crate::records::render_record_upserts;

pub use crate::options::{SqliteOptions, Synchronous};
pub use crate::records::RECORDS_PER_WRITE;

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
    /// [`stmt`](attendance_store_sql::stmt::upsert_records)`::upsert_records` rendered for
    /// every power of two up to the most rows one upsert carries.
    upsert_records_sql: Arc<BTreeMap<usize, Arc<str>>>,
}

/// How many result rows a connection's worker thread may hand over before the reader takes
/// them (sqlx's default is 50): a large read then wakes the reader far less often.
const ROW_CHANNEL: usize = 4096;

/// A pool's options with no check before each use: a file's connection does not go stale, and
/// the check is a round trip to its worker thread every time a connection is handed out.
fn pool_options() -> SqlitePoolOptions {
    SqlitePoolOptions::new().test_before_acquire(false)
}

impl SqliteStore {
    /// Opens (creating it if allowed) the database at `path_or_url` (a file path, or a
    /// `sqlite:` URL) and migrates it. Returns [`StoreError::Backend`](attendance_core::store::StoreError::Backend) when the file cannot be
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
        let writer = pool_options()
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
        let reader = pool_options()
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
        let pool = pool_options()
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
    /// harmless. [`StoreError::Backend`](attendance_core::store::StoreError::Backend) if a
    /// statement fails.
    pub async fn migrate(&self) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let what = "migrate the schema";
        apply_pending_migrations(self, &mut tx, what).await?;
        tx.commit().await.map_err(db(what))
    }

    /// Writes a consistent copy of the database to the new file `target` while the store keeps
    /// working (`VACUUM INTO`): the copy is one read snapshot, taken on a read connection, so
    /// writers are not held back (in WAL mode they go on beside it) and every write committed
    /// before the call is in it. The copy is compact and complete (schema, indexes, data), and
    /// readable by its owner only (created with mode 0600 on Unix, before anything is written).
    ///
    /// Refuses ([`StoreError::Invalid`]) a `target` that exists already (it is never
    /// overwritten: the file is created exclusively) or is not valid UTF-8, and an in-memory
    /// database; a target the process cannot create or fill (a missing directory, no space, no
    /// permission) is [`StoreError::Backend`] with the reason, and leaves no file behind.
    pub async fn backup_to(&self, target: &std::path::Path) -> StoreResult<()> {
        let Some(path) = target.to_str() else {
            return Err(StoreError::Invalid(format!(
                "{}: the backup path must be valid UTF-8",
                target.display()
            )));
        };
        let file: Option<String> =
            sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'")
                .fetch_optional(&self.reader)
                .await
                .map_err(db("read the database file name"))?;
        if file.as_deref().is_none_or(str::is_empty) {
            return Err(StoreError::Invalid(
                "an in-memory SQLite database has no file to back up".into(),
            ));
        }
        // Created here, empty and private, so that no other file is ever overwritten and the
        // copy is never readable by others; `VACUUM INTO` accepts an empty file.
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        match options.open(target) {
            Ok(created) => drop(created),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(StoreError::Invalid(format!(
                    "{} exists already: a backup never overwrites a file; choose a new name",
                    target.display()
                )));
            }
            Err(e) => {
                return Err(StoreError::Backend {
                    message: format!("create the backup file {}: {e}", target.display()),
                    source: Some(Box::new(e)),
                });
            }
        }
        let copied = sqlx::query("VACUUM INTO ?")
            .bind(path)
            .execute(&self.reader)
            .await
            .map_err(db("back up the database (VACUUM INTO)"));
        if copied.is_err() {
            let _ = std::fs::remove_file(target);
        }
        copied.map(|_| ())
    }

    /// SQLite's own check of the whole file (`PRAGMA integrity_check`): `ok`, or the problems
    /// it found, one per line.
    pub async fn integrity_check(&self) -> StoreResult<String> {
        let lines: Vec<String> = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_all(&self.reader)
            .await
            .map_err(db("check the database's integrity"))?;
        Ok(lines.join("\n"))
    }

    /// Waits for the queued writes, checkpoints the WAL and closes every connection.
    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }
}
