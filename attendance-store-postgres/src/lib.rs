//! `attendance-store-postgres`: the scale-out store, with the same contract as SQLite.
//!
//! [`PgStore`] implements every storage port of `attendance-core` (together
//! [`Store`](attendance_core::store::Store)) on a sqlx connection pool and passes core's
//! conformance suite. The schema is migrated on connect under an advisory lock, so several
//! instances can start at once. Concurrency is correct under the default READ COMMITTED
//! isolation:
//! - scans are deduplicated by the primary key and `INSERT … ON CONFLICT DO NOTHING RETURNING`,
//!   so racing writers of the same scan store it once and each learns whether it was new;
//! - a leave change bumps the account's version row with `UPDATE … WHERE version = expected`
//!   (or inserts version 1 with `ON CONFLICT DO NOTHING`) and checks the rows affected, all in
//!   the change's transaction: a racing change waits for the row lock, re-reads the version and
//!   gets [`StoreError::Conflict`](attendance_core::store::StoreError::Conflict).
//!
//! The port bodies are the shared ones of `attendance-store-sql`
//! ([`attendance_store_sql::contract`]): this crate implements
//! [`SqlBackend`] for [`PgStore`] (the statement
//! runners on the pool or a transaction) and each port as a thin `impl … for PgStore` handing
//! itself to them. What is PostgreSQL's own stays here:
//! - this file: connecting, and migrating under the advisory lock;
//! - `backend`: the [`SqlBackend`] impl, its runners
//!   and transactions (reads in a `REPEATABLE READ READ ONLY` snapshot), the bulk reads' key
//!   chunks by parameter bytes and the row lock of a leave request;
//! - `ingest`: scan groups through `UNNEST` arrays (up to [`SMALL_GROUP_SCANS`], whatever their
//!   machines, one statement with their cursors; larger, one insert and one cursor upsert in a
//!   transaction) or, from [`COPY_MIN_SCANS`] scans, `COPY`;
//! - `records`: daily-record upserts through `UNNEST` from [`ARRAY_MIN_RECORDS`] records;
//! - [`stmt`]: the statements only PostgreSQL runs;
//! - `ports`: the `impl … for PgStore` of every port;
//! - [`cluster`]: core's cluster port (instances, machine and leader leases, broadcasts by
//!   `LISTEN/NOTIFY`), for several server instances on one database;
//! - [`testkit`] (feature `testkit`): a fresh database per test on the server `DATABASE_URL`
//!   names, for this crate's tests and those of applications running on PostgreSQL.
//!
//! ```no_run
//! use std::sync::Arc;
//! use attendance_core::store::Store;
//! use attendance_store_postgres::{PgOptions, PgStore};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let store: Arc<dyn Store> = Arc::new(
//!     PgStore::connect("postgres://postgres@127.0.0.1:5432/attendance", PgOptions::default()).await?,
//! );
//! println!("{} scans stored", store.count_scans().await?);
//! # Ok(())
//! # }
//! ```

mod backend;
pub mod cluster;
mod ingest;
mod ports;
mod records;
pub mod stmt;
#[cfg(feature = "testkit")]
pub mod testkit;

use std::str::FromStr;
use std::time::Duration;

use attendance_core::store::StoreResult;
use attendance_store_sql::backend::SqlBackend;
use attendance_store_sql::contract::migrations::apply_pending_migrations;
use attendance_store_sql::error::db;
use sqlx::Connection as _;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

pub use crate::ingest::{COPY_MIN_SCANS, SMALL_GROUP_SCANS};
pub use crate::records::ARRAY_MIN_RECORDS;

/// How to connect a [`PgStore`].
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// Connections in the pool; 10.
    pub max_connections: u32,
    /// How long a call waits for a connection before failing; 30 s.
    pub acquire_timeout: Duration,
}

impl Default for PgOptions {
    fn default() -> Self {
        Self {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(30),
        }
    }
}

/// The PostgreSQL store: a connection pool and the shared schema.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

/// A pooled connection idle at least this long is checked with a round trip before it is
/// handed out (one that broke meanwhile, a server restart or a network timeout, is replaced);
/// one used more recently goes out as it is.
///
/// sqlx checks every connection it hands out by default: a round trip before every
/// statement, which under load doubled the round trips of the live ingest (a small group is
/// one statement) and of every read. A connection that breaks between two uses less than
/// this apart fails its statement instead, and callers retry what fails passing.
pub const PING_IDLE_AFTER: Duration = Duration::from_secs(1);

/// The key of the advisory lock that serialises migrations of one database ("att-migr").
const MIGRATION_LOCK: i64 = 0x6174_742d_6d69_6772;

impl PgStore {
    /// Connects to the database at `url` (`postgres://user@host:port/database`) and migrates
    /// it. Returns [`StoreError::Backend`](attendance_core::store::StoreError::Backend) when the
    /// URL does not parse, the server cannot be reached or the migration fails.
    pub async fn connect(url: &str, options: PgOptions) -> StoreResult<Self> {
        let connect = PgConnectOptions::from_str(url).map_err(db("parse the PostgreSQL URL"))?;
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(options.acquire_timeout)
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= PING_IDLE_AFTER {
                        conn.ping().await?;
                    }
                    Ok(true)
                })
            })
            .connect_with(connect)
            .await
            .map_err(db("connect to PostgreSQL"))?;
        let store = Self { pool };
        store.migrate().await?;
        Ok(store)
    }

    /// Applies the migrations not applied yet, in one transaction under an advisory lock (two
    /// instances starting at once migrate one after the other); running it again is harmless.
    /// [`StoreError::Backend`](attendance_core::store::StoreError::Backend) if a statement fails.
    pub async fn migrate(&self) -> StoreResult<()> {
        let what = "migrate the schema";
        let mut tx = self.begin_write().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *tx)
            .await
            .map_err(db(what))?;
        apply_pending_migrations(self, &mut tx, what).await?;
        tx.commit().await.map_err(db(what))
    }

    /// The cluster port over the same pool ([`cluster::PgCluster`]): instances, leases and
    /// broadcasts, so several servers on this database act as one.
    pub fn cluster(&self) -> cluster::PgCluster {
        cluster::PgCluster::new(self.pool.clone())
    }

    /// Closes every connection of the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}
