//! `attendance-store-postgres`: the scale-out store, with the same contract as SQLite.
//!
//! [`PgStore`] implements every storage port of `attendance-core` (together
//! [`Store`](attendance_core::store::Store)) on a sqlx connection pool and passes core's
//! conformance suite. Its statements are the shared ones of `attendance-store-sql`, rendered for
//! PostgreSQL; the schema is migrated on connect under an advisory lock, so several instances
//! can start at once. Concurrency is correct under the default READ COMMITTED isolation:
//! - scans are deduplicated by the primary key and `INSERT … ON CONFLICT DO NOTHING RETURNING`,
//!   so racing writers of the same scan store it once and each learns whether it was new;
//! - a leave change bumps the account's version row with `UPDATE … WHERE version = expected`
//!   (or inserts version 1 with `ON CONFLICT DO NOTHING`) and checks the rows affected, all in
//!   the change's transaction: a racing change waits for the row lock, re-reads the version and
//!   gets [`StoreError::Conflict`].
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

use std::collections::{BTreeMap, HashSet};
use std::str::FromStr;
use std::time::Duration;

use attendance_core::scan::ScanData;
use attendance_core::store::{IngestOutcome, ScanBatch, StoreError, StoreResult};
use attendance_store_sql::codec::ScanRow;
use attendance_store_sql::error::db;
use attendance_store_sql::ingest::{NewKeys, PreparedBatch, group_outcomes, prepare_group};
use attendance_store_sql::schema::Backend;
use attendance_store_sql::stmt::{self, RecordRow};
use sea_query::PostgresQueryBuilder;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{Postgres, Transaction};

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

/// The most bytes of parameters one statement sends. sqlx 0.9 does not set `TCP_NODELAY`, so a
/// message larger than the socket's first send buffer (16 KiB on Linux) goes out in two writes
/// and the second waits for the server's delayed ACK, about 40 ms: measured, 1,000 scans in one
/// statement took 75 ms a batch over TCP and 23 ms in statements of at most 12 KiB (8 KiB leaves room for the message headers).
const PARAM_BUDGET: usize = 8 * 1024;

/// Splits `items` into runs whose estimated parameter bytes (`size` of each) stay within
/// [`PARAM_BUDGET`] (a run has at least one item).
fn chunks_by_bytes<T>(items: &[T], size: impl Fn(&T) -> usize) -> Vec<&[T]> {
    let mut chunks = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, item) in items.iter().enumerate() {
        let item_bytes = size(item);
        if i > start && bytes + item_bytes > PARAM_BUDGET {
            chunks.push(&items[start..i]);
            (start, bytes) = (i, 0);
        }
        bytes += item_bytes;
    }
    if start < items.len() {
        chunks.push(&items[start..]);
    }
    chunks
}

/// Groups of at least this many scans are stored with `COPY`; smaller ones with the parameter
/// arrays, which need fewer round trips for a few rows.
pub const COPY_MIN_SCANS: usize = 4_000;

/// Upserts of at least this many daily records are one statement of arrays, whatever the
/// count (its parameters far beyond [`PARAM_BUDGET`]: the delayed-ACK stall paid once, instead
/// of a round trip per ten records); smaller ones are statements of bound rows within the
/// budget.
pub const ARRAY_MIN_RECORDS: usize = 64;

/// The key of the advisory lock that serialises migrations of one database ("att-migr").
const MIGRATION_LOCK: i64 = 0x6174_742d_6d69_6772;

attendance_store_sql::statement_runners!(database: Postgres, row: PgRow, builder: PostgresQueryBuilder, backend: Backend::Postgres, label: "PostgreSQL");

/// Inserts one batch's `rows` with `statement` (one of the `PG_INSERT_*SCANS_UNNEST`
/// statements) in statements of at most [`PARAM_BUDGET`] bytes, adding the keys that were new
/// to `new_keys`.
async fn insert_unnest(
    tx: &mut Transaction<'static, Postgres>,
    batch: &ScanBatch,
    rows: &[&ScanRow],
    statement: &'static str,
    new_keys: &mut HashSet<(String, i64)>,
) -> StoreResult<()> {
    let what = "store scans";
    // Per row: six array elements of a 4-byte length each, 24 bytes of numbers, the texts.
    let size = |r: &&ScanRow| 48 + r.device_user_id.len() + r.raw.as_ref().map_or(0, String::len);
    for chunk in chunks_by_bytes(rows, size) {
        let returned = sqlx::query(statement)
            .bind(batch.machine_id.as_str())
            .bind(
                chunk
                    .iter()
                    .map(|r| r.device_user_id.as_str())
                    .collect::<Vec<_>>(),
            )
            .bind(chunk.iter().map(|r| r.at_second).collect::<Vec<_>>())
            .bind(chunk.iter().map(|r| r.at_ns).collect::<Vec<_>>())
            .bind(chunk.iter().map(|r| r.punch_state).collect::<Vec<_>>())
            .bind(chunk.iter().map(|r| r.verify_mode).collect::<Vec<_>>())
            .bind(chunk.iter().map(|r| r.raw.as_deref()).collect::<Vec<_>>())
            .fetch_all(&mut **tx)
            .await
            .map_err(db(what))?;
        for row in returned {
            new_keys.insert((get(&row, 0, what)?, get(&row, 1, what)?));
        }
    }
    Ok(())
}

/// Sends `data` with `copy` (a `COPY … FROM STDIN` statement) on the transaction's connection.
async fn copy_in(
    tx: &mut Transaction<'static, Postgres>,
    copy: &'static str,
    data: &[u8],
    what: &'static str,
) -> StoreResult<()> {
    let mut writer = tx.copy_in_raw(copy).await.map_err(db(what))?;
    if let Err(e) = writer.send(data).await {
        // The connection goes back to the pool in a usable state only after the abort.
        let _ = writer.abort(e.to_string()).await;
        return Err(db(what)(e));
    }
    writer.finish().await.map_err(db(what))?;
    Ok(())
}

/// Stores the cursor of every batch that has one, in order (the last of a machine stands).
async fn store_cursors(
    tx: &mut Transaction<'static, Postgres>,
    batches: &[ScanBatch],
) -> StoreResult<()> {
    for batch in batches {
        if let Some(cursor) = &batch.cursor {
            let statement = stmt::upsert_cursor(&batch.machine_id, &cursor.0);
            execute(&mut **tx, &statement, "store a machine cursor").await?;
        }
    }
    Ok(())
}

impl PgStore {
    /// Connects to the database at `url` (`postgres://user@host:port/database`) and migrates
    /// it. Returns [`StoreError::Backend`] when the URL does not parse, the server cannot be
    /// reached or the migration fails.
    pub async fn connect(url: &str, options: PgOptions) -> StoreResult<Self> {
        let connect = PgConnectOptions::from_str(url).map_err(db("parse the PostgreSQL URL"))?;
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect)
            .await
            .map_err(db("connect to PostgreSQL"))?;
        let store = Self { pool };
        store.migrate().await?;
        Ok(store)
    }

    /// Applies the migrations not applied yet, in one transaction under an advisory lock (two
    /// instances starting at once migrate one after the other); running it again is harmless.
    /// [`StoreError::Backend`] if a statement fails.
    pub async fn migrate(&self) -> StoreResult<()> {
        let what = "migrate the schema";
        let mut tx = self.begin_write().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(MIGRATION_LOCK)
            .execute(&mut *tx)
            .await
            .map_err(db(what))?;
        apply_pending_migrations(&mut tx, what).await?;
        tx.commit().await.map_err(db(what))
    }

    /// Closes every connection of the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    async fn begin_write(&self) -> StoreResult<Transaction<'static, Postgres>> {
        self.pool.begin().await.map_err(db("begin a transaction"))
    }

    /// Inserts a prepared group with `statement` (one of the `PG_INSERT_*SCANS_UNNEST`
    /// statements, run per batch) and stores every batch's cursor, in one transaction; the keys
    /// that were new.
    async fn insert_group(
        &self,
        batches: &[ScanBatch],
        prepared: &[PreparedBatch],
        statement: &'static str,
    ) -> StoreResult<NewKeys> {
        let what = "store scans";
        let mut tx = self.begin_write().await?;
        // Plan the insert for the table as it is now: a generic plan cached while the table was
        // small hash-joins a sequential scan of it for the anti-join, and ingest turns quadratic
        // (measured: 600,000 scans in four minutes).
        sqlx::query("SET LOCAL plan_cache_mode = force_custom_plan")
            .execute(&mut *tx)
            .await
            .map_err(db(what))?;
        let mut new_keys = NewKeys::new();
        for (batch, prepared) in batches.iter().zip(prepared) {
            let keys = new_keys
                .entry(batch.machine_id.as_str().to_owned())
                .or_default();
            let mut rows: Vec<&ScanRow> = prepared.rows.iter().collect();
            rows.sort_unstable_by(|a, b| a.pg_key().cmp(&b.pg_key()));
            insert_unnest(&mut tx, batch, &rows, statement, keys).await?;
        }
        store_cursors(&mut tx, batches).await?;
        tx.commit().await.map_err(db(what))?;
        Ok(new_keys)
    }

    /// Stores a large prepared group with `COPY`: straight into the table when every scan is
    /// new; else, after the unique violation that tells, through this connection's staging
    /// table and one anti-join insert (`ON CONFLICT DO NOTHING` if a racing writer stores one
    /// of the scans in between).
    async fn copy_group(
        &self,
        batches: &[ScanBatch],
        prepared: Vec<PreparedBatch>,
    ) -> StoreResult<Vec<IngestOutcome>> {
        // In key order, so the index is walked in order and racing writers lock keys in the
        // same order (no deadlock between overlapping groups).
        let mut rows: Vec<&ScanRow> = prepared.iter().flat_map(|p| &p.rows).collect();
        rows.sort_unstable_by(|a, b| a.pg_key().cmp(&b.pg_key()));
        let data = stmt::pg_copy_text(rows.iter().copied());
        match self.copy_direct(batches, &data).await {
            Ok(()) => return Ok(group_outcomes(prepared, None)),
            Err(StoreError::Conflict(_)) => {}
            Err(other) => return Err(other),
        }
        let new_keys = match self
            .copy_staged(batches, &data, stmt::PG_MOVE_NEW_SCANS)
            .await
        {
            Ok(new_keys) => new_keys,
            Err(StoreError::Conflict(_)) => {
                self.copy_staged(batches, &data, stmt::PG_MOVE_SCANS_ON_CONFLICT)
                    .await?
            }
            Err(other) => return Err(other),
        };
        Ok(group_outcomes(prepared, Some(&new_keys)))
    }

    /// `COPY` of `data` into the scans table and the cursors, in one transaction;
    /// [`StoreError::Conflict`] (and nothing stored) if any scan was stored already.
    async fn copy_direct(&self, batches: &[ScanBatch], data: &[u8]) -> StoreResult<()> {
        let what = "copy scans";
        let mut tx = self.begin_write().await?;
        copy_in(&mut tx, stmt::PG_COPY_SCANS, data, what).await?;
        store_cursors(&mut tx, batches).await?;
        tx.commit().await.map_err(db(what))
    }

    /// `COPY` of `data` into the staging table, then `statement` (one of the `PG_MOVE_*`
    /// statements) and the cursors, in one transaction; the keys that were new.
    async fn copy_staged(
        &self,
        batches: &[ScanBatch],
        data: &[u8],
        statement: &'static str,
    ) -> StoreResult<NewKeys> {
        let what = "copy scans through the staging table";
        let mut tx = self.begin_write().await?;
        for setup in [
            stmt::PG_CREATE_STAGING,
            // One index probe per staged row: a hash or merge join reads the whole table.
            "SET LOCAL enable_hashjoin = off",
            "SET LOCAL enable_mergejoin = off",
        ] {
            sqlx::query(setup)
                .execute(&mut *tx)
                .await
                .map_err(db(what))?;
        }
        copy_in(&mut tx, stmt::PG_COPY_STAGING, data, what).await?;
        let mut new_keys = NewKeys::new();
        for row in sqlx::query(statement)
            .fetch_all(&mut *tx)
            .await
            .map_err(db(what))?
        {
            new_keys
                .entry(get(&row, 0, what)?)
                .or_default()
                .insert((get(&row, 1, what)?, get(&row, 2, what)?));
        }
        store_cursors(&mut tx, batches).await?;
        tx.commit().await.map_err(db(what))?;
        Ok(new_keys)
    }

    /// A read-only snapshot, so a page and its count agree.
    async fn begin_read(&self) -> StoreResult<Transaction<'static, Postgres>> {
        self.pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await
            .map_err(db("begin a read transaction"))
    }
}

impl PgStore {
    /// Whole recompute chunks per write: PostgreSQL's writers do not wait for one another, and
    /// each commit costs a WAL flush; see
    /// [`DailyRecordStore::records_per_write`](attendance_core::store::DailyRecordStore::records_per_write).
    fn records_per_write(&self) -> usize {
        usize::MAX
    }

    /// Stores one group of scan batches in one transaction: with `COPY` through a staging table
    /// from [`COPY_MIN_SCANS`] scans, else with parameter arrays.
    async fn ingest_group(&self, batches: Vec<ScanBatch>) -> StoreResult<Vec<IngestOutcome>> {
        let prepared = prepare_group(&batches)?;
        if prepared.iter().map(|p| p.rows.len()).sum::<usize>() >= COPY_MIN_SCANS {
            return self.copy_group(&batches, prepared).await;
        }
        let statement = stmt::PG_INSERT_NEW_SCANS_UNNEST;
        let new_keys = match self.insert_group(&batches, &prepared, statement).await {
            Ok(new_keys) => new_keys,
            // A concurrent transaction stored one of these scans between the anti-join and the
            // insert; nothing of this attempt was kept, so run it again the safe way.
            Err(StoreError::Conflict(_)) => {
                let statement = stmt::PG_INSERT_SCANS_UNNEST_ON_CONFLICT;
                self.insert_group(&batches, &prepared, statement).await?
            }
            Err(other) => return Err(other),
        };
        Ok(group_outcomes(prepared, Some(&new_keys)))
    }

    /// Inserts or replaces daily records in `tx`: from [`ARRAY_MIN_RECORDS`] in one statement
    /// of four arrays ([`stmt::PG_UPSERT_RECORDS_UNNEST`]), else in statements of at most
    /// [`PARAM_BUDGET`] bytes of parameters.
    async fn write_records(
        &self,
        tx: &mut Transaction<'static, Postgres>,
        rows: Vec<RecordRow>,
    ) -> StoreResult<()> {
        let what = "store daily records";
        if rows.len() < ARRAY_MIN_RECORDS {
            let size = |r: &RecordRow| 64 + r.employee.len() + r.status.len() + r.data.len();
            for chunk in chunks_by_bytes(&rows, size) {
                execute(&mut **tx, &stmt::upsert_records(chunk)?, what).await?;
            }
            return Ok(());
        }
        sqlx::query(stmt::PG_UPSERT_RECORDS_UNNEST)
            .bind(rows.iter().map(|r| r.employee.as_str()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.date).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.status.as_str()).collect::<Vec<_>>())
            .bind(rows.iter().map(|r| r.data.as_str()).collect::<Vec<_>>())
            .execute(&mut **tx)
            .await
            .map_err(db(what))?;
        Ok(())
    }

    /// The keys of a bulk read in `IN` lists of at most [`PARAM_BUDGET`] bytes (each key: its
    /// text, its length and format, its type in the parsed statement and its `$n` in the text).
    fn key_chunks<'k>(keys: &'k [&'k str]) -> Vec<&'k [&'k str]> {
        chunks_by_bytes(keys, |k| 20 + k.len())
    }

    /// The scans of a chunk of device users in `[from_ns, to_ns)`, by user, then time, then
    /// machine id ([`stmt::select_scans_of_users`]: one range of the primary key per user,
    /// sorted here).
    async fn scans_of_user_chunk(
        &self,
        users: &[&str],
        from_ns: i64,
        to_ns: i64,
    ) -> StoreResult<Vec<ScanData>> {
        let what = "read the scans of users";
        let statement = stmt::select_scans_of_users(users, from_ns, to_ns);
        let mut scans = scan_rows(&fetch_all(&self.pool, &statement, what).await?, what)?;
        scans.sort_unstable_by(|a, b| {
            (&a.device_user_id, a.timestamp, &a.machine_id).cmp(&(
                &b.device_user_id,
                b.timestamp,
                &b.machine_id,
            ))
        });
        Ok(scans)
    }
}

attendance_store_sql::store_contract!(
    PgStore,
    reader: pool,
    writer: pool,
    scans_of_user: stmt::select_scans_of_user
);

impl PgStore {
    /// Whether leave request `request` exists, locking its row `FOR UPDATE` until `tx` ends: a
    /// racing upload to the same request waits here until this transaction commits, then counts
    /// its document too.
    async fn hold_request(
        tx: &mut Transaction<'static, Postgres>,
        request: &str,
        what: &'static str,
    ) -> StoreResult<bool> {
        Ok(
            fetch_optional(&mut **tx, &stmt::lock_leave_request(request), what)
                .await?
                .is_some(),
        )
    }
}

attendance_store_sql::leave_document_store!(PgStore, reader: pool);
