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

use async_trait::async_trait;
use attendance_core::calendar::LeaveType;
use attendance_core::daily::DailyRecord;
use attendance_core::employee::{Department, DeviceUserId, Employee, EmployeeCode};
use attendance_core::holiday::Holiday;
use attendance_core::leave::{LeaveLedger, LeavePolicy, LeaveRequest, LeaveRequestId, LedgerEntry};
use attendance_core::machine::Machine;
use attendance_core::scan::{MachineId, ScanData};
use attendance_core::settings::AttendanceSettings;
use attendance_core::status::AttendanceStatus;
use attendance_core::store::{
    DailyRecordStore, EmployeeStore, HolidayStore, IngestOutcome, LeaveAccount, LeaveChange,
    LeaveRequestQuery, LeaveStore, MachineCursor, MachineStatus, MachineStore, Page, RecordQuery,
    ScanBatch, ScanStore, SettingsStore, StoreError, StoreResult, StoredHoliday, UserAccount,
    UserAccountStore,
};
use attendance_store_sql::codec::{
    ScanRow, enum_text, from_json, nanos_clamped, parse_stored, to_json, to_u64,
};
use attendance_store_sql::error::db;
use attendance_store_sql::ingest::{
    NewKeys, PreparedBatch, group_outcomes, only_outcome, prepare_group,
};
use attendance_store_sql::schema::{self, Backend, Scans};
use attendance_store_sql::stmt::{self, RecordRow, RequestRow};
use sea_query::PostgresQueryBuilder;
use sea_query_sqlx::SqlxBinder;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{AssertSqlSafe, Executor, Postgres, Row, Transaction};

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

/// The key of the advisory lock that serialises migrations of one database ("att-migr").
const MIGRATION_LOCK: i64 = 0x6174_742d_6d69_6772;

fn build(statement: &impl SqlxBinder) -> (String, sea_query_sqlx::SqlxValues) {
    statement.build_sqlx(PostgresQueryBuilder)
}

async fn execute<'e, E>(
    executor: E,
    statement: &impl SqlxBinder,
    what: &'static str,
) -> StoreResult<u64>
where
    E: Executor<'e, Database = Postgres>,
{
    let (sql, values) = build(statement);
    sqlx::query_with(AssertSqlSafe(sql), values)
        .execute(executor)
        .await
        .map(|r| r.rows_affected())
        .map_err(db(what))
}

async fn fetch_all<'e, E>(
    executor: E,
    statement: &impl SqlxBinder,
    what: &'static str,
) -> StoreResult<Vec<PgRow>>
where
    E: Executor<'e, Database = Postgres>,
{
    let (sql, values) = build(statement);
    sqlx::query_with(AssertSqlSafe(sql), values)
        .fetch_all(executor)
        .await
        .map_err(db(what))
}

async fn fetch_optional<'e, E>(
    executor: E,
    statement: &impl SqlxBinder,
    what: &'static str,
) -> StoreResult<Option<PgRow>>
where
    E: Executor<'e, Database = Postgres>,
{
    let (sql, values) = build(statement);
    sqlx::query_with(AssertSqlSafe(sql), values)
        .fetch_optional(executor)
        .await
        .map_err(db(what))
}

async fn fetch_count<'e, E>(
    executor: E,
    statement: &impl SqlxBinder,
    what: &'static str,
) -> StoreResult<u64>
where
    E: Executor<'e, Database = Postgres>,
{
    let (sql, values) = build(statement);
    let row = sqlx::query_with(AssertSqlSafe(sql), values)
        .fetch_one(executor)
        .await
        .map_err(db(what))?;
    to_u64(what, get(&row, 0, what)?)
}

fn get<'r, T>(row: &'r PgRow, index: usize, what: &'static str) -> StoreResult<T>
where
    T: sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>,
{
    row.try_get(index).map_err(db(what))
}

fn json_rows<T: serde::de::DeserializeOwned>(
    rows: &[PgRow],
    what: &'static str,
) -> StoreResult<Vec<T>> {
    rows.iter()
        .map(|row| from_json(what, &get::<String>(row, 0, what)?))
        .collect()
}

fn not_found(entity: &'static str, key: impl ToString) -> StoreError {
    StoreError::NotFound {
        entity,
        key: key.to_string(),
    }
}

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
        tx.execute(AssertSqlSafe(
            schema::migrations_table().to_string(PostgresQueryBuilder),
        ))
        .await
        .map_err(db(what))?;
        let applied: HashSet<i64> = fetch_all(&mut *tx, &stmt::select_applied_migrations(), what)
            .await?
            .iter()
            .map(|row| get::<i64>(row, 0, what))
            .collect::<StoreResult<_>>()?;
        for migration in schema::pending_migrations(&applied) {
            for statement in (migration.statements)(Backend::Postgres) {
                let sql = statement.render(PostgresQueryBuilder);
                tx.execute(AssertSqlSafe(sql)).await.map_err(db(what))?;
            }
            execute(
                &mut *tx,
                &stmt::insert_applied_migration(migration.version, migration.description),
                what,
            )
            .await?;
            tracing::info!(version = migration.version, "applied PostgreSQL migration");
        }
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

#[async_trait]
impl ScanStore for PgStore {
    async fn record_scans(&self, batch: ScanBatch) -> StoreResult<IngestOutcome> {
        only_outcome(self.record_scan_batches(vec![batch]).await?)
    }

    async fn record_scan_batches(
        &self,
        batches: Vec<ScanBatch>,
    ) -> StoreResult<Vec<IngestOutcome>> {
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

    async fn machine_cursor(&self, machine: &MachineId) -> StoreResult<Option<MachineCursor>> {
        let what = "read a machine cursor";
        match fetch_optional(&self.pool, &stmt::select_cursor(machine), what).await? {
            Some(row) => Ok(Some(MachineCursor(get(&row, 0, what)?))),
            None => Ok(None),
        }
    }

    async fn scans_of_user(
        &self,
        user: &DeviceUserId,
        from: chrono::DateTime<chrono::Utc>,
        to: chrono::DateTime<chrono::Utc>,
    ) -> StoreResult<Vec<ScanData>> {
        let what = "read the scans of a user";
        let statement = stmt::select_scans_of_user(user, nanos_clamped(from), nanos_clamped(to));
        fetch_all(&self.pool, &statement, what)
            .await?
            .iter()
            .map(|row| {
                ScanRow {
                    machine_id: get(row, 0, what)?,
                    device_user_id: get(row, 1, what)?,
                    at_second: get(row, 2, what)?,
                    at_ns: get(row, 3, what)?,
                    punch_state: get(row, 4, what)?,
                    verify_mode: get(row, 5, what)?,
                    raw: get(row, 6, what)?,
                }
                .into_scan()
            })
            .collect()
    }

    async fn count_scans(&self) -> StoreResult<u64> {
        fetch_count(&self.pool, &stmt::count_all(Scans::Table), "count scans").await
    }
}

#[async_trait]
impl EmployeeStore for PgStore {
    async fn create_employee(&self, employee: &Employee) -> StoreResult<()> {
        let statement = stmt::insert_employee(
            &employee.employee_id,
            &employee.device_user_id,
            &employee.department,
            to_json(employee)?,
        );
        execute(&self.pool, &statement, "create an employee").await?;
        Ok(())
    }

    async fn update_employee(&self, employee: &Employee) -> StoreResult<()> {
        let statement = stmt::update_employee(
            &employee.employee_id,
            &employee.device_user_id,
            &employee.department,
            to_json(employee)?,
        );
        match execute(&self.pool, &statement, "update an employee").await? {
            0 => Err(not_found("employee", &employee.employee_id)),
            _ => Ok(()),
        }
    }

    async fn employee(&self, code: &EmployeeCode) -> StoreResult<Employee> {
        let what = "read an employee";
        match fetch_optional(&self.pool, &stmt::select_employee(code), what).await? {
            Some(row) => from_json("employee", &get::<String>(&row, 0, what)?),
            None => Err(not_found("employee", code)),
        }
    }

    async fn employee_by_device_user(&self, user: &DeviceUserId) -> StoreResult<Option<Employee>> {
        let what = "read an employee by device user";
        match fetch_optional(
            &self.pool,
            &stmt::select_employee_by_device_user(user),
            what,
        )
        .await?
        {
            Some(row) => Ok(Some(from_json("employee", &get::<String>(&row, 0, what)?)?)),
            None => Ok(None),
        }
    }

    async fn list_employees(&self, department: Option<Department>) -> StoreResult<Vec<Employee>> {
        let rows = fetch_all(
            &self.pool,
            &stmt::list_employees(department.as_ref()),
            "list employees",
        )
        .await?;
        json_rows(&rows, "employee")
    }

    async fn delete_employee(&self, code: &EmployeeCode) -> StoreResult<()> {
        let what = "delete an employee";
        let mut tx = self.begin_write().await?;
        if fetch_count(&mut *tx, &stmt::count_employee(code), what).await? == 0 {
            return Err(not_found("employee", code));
        }
        if fetch_count(&mut *tx, &stmt::count_accounts_of(code), what).await? > 0
            || fetch_count(&mut *tx, &stmt::count_requests_of(code), what).await? > 0
        {
            return Err(StoreError::Conflict(format!(
                "employee {code} still has a user account or leave requests"
            )));
        }
        execute(&mut *tx, &stmt::delete_records_of(code), what).await?;
        match execute(&mut *tx, &stmt::delete_employee(code), what).await {
            // An account or request linked in between by a concurrent transaction.
            Err(StoreError::Invalid(why)) => return Err(StoreError::Conflict(why)),
            other => other?,
        };
        tx.commit().await.map_err(db(what))
    }
}

#[async_trait]
impl MachineStore for PgStore {
    async fn create_machine(&self, machine: &Machine) -> StoreResult<()> {
        let statement = stmt::insert_machine(&machine.machine_id, to_json(machine)?);
        execute(&self.pool, &statement, "create a machine").await?;
        Ok(())
    }

    async fn update_machine(&self, machine: &Machine) -> StoreResult<()> {
        let statement = stmt::update_machine(&machine.machine_id, to_json(machine)?);
        match execute(&self.pool, &statement, "update a machine").await? {
            0 => Err(not_found("machine", &machine.machine_id)),
            _ => Ok(()),
        }
    }

    async fn machine(&self, id: &MachineId) -> StoreResult<Machine> {
        let what = "read a machine";
        match fetch_optional(&self.pool, &stmt::select_machine(id), what).await? {
            Some(row) => from_json("machine", &get::<String>(&row, 0, what)?),
            None => Err(not_found("machine", id)),
        }
    }

    async fn list_machines(&self) -> StoreResult<Vec<Machine>> {
        let rows = fetch_all(&self.pool, &stmt::list_machines(), "list machines").await?;
        json_rows(&rows, "machine")
    }

    async fn delete_machine(&self, id: &MachineId) -> StoreResult<()> {
        let what = "delete a machine";
        let mut tx = self.begin_write().await?;
        execute(&mut *tx, &stmt::delete_machine_status(id), what).await?;
        let deleted = execute(&mut *tx, &stmt::delete_machine(id), what).await?;
        if deleted == 0 {
            return Err(not_found("machine", id));
        }
        tx.commit().await.map_err(db(what))
    }

    async fn put_machine_status(&self, status: &MachineStatus) -> StoreResult<()> {
        let what = "store a machine status";
        let mut tx = self.begin_write().await?;
        if fetch_count(&mut *tx, &stmt::count_machine(&status.machine_id), what).await? == 0 {
            return Err(not_found("machine", &status.machine_id));
        }
        let statement = stmt::upsert_machine_status(&status.machine_id, to_json(status)?);
        match execute(&mut *tx, &statement, what).await {
            // The machine was deleted in between by a concurrent transaction.
            Err(StoreError::Invalid(_)) => return Err(not_found("machine", &status.machine_id)),
            other => other?,
        };
        tx.commit().await.map_err(db(what))
    }

    async fn machine_statuses(&self) -> StoreResult<Vec<MachineStatus>> {
        let rows = fetch_all(
            &self.pool,
            &stmt::list_machine_statuses(),
            "list machine statuses",
        )
        .await?;
        json_rows(&rows, "machine status")
    }
}

/// Records keyed by (employee, date), the last of repeated keys standing, as memory does.
fn record_rows(records: &[DailyRecord]) -> StoreResult<Vec<RecordRow>> {
    let mut by_key: BTreeMap<(&EmployeeCode, chrono::NaiveDate), &DailyRecord> = BTreeMap::new();
    for record in records {
        by_key.insert((&record.employee_id, record.date), record);
    }
    by_key
        .into_values()
        .map(|r| {
            Ok(RecordRow {
                employee: r.employee_id.as_str().to_owned(),
                date: r.date,
                status: r.status.to_string(),
                data: to_json(r)?,
            })
        })
        .collect()
}

#[async_trait]
impl DailyRecordStore for PgStore {
    async fn upsert_records(&self, records: &[DailyRecord]) -> StoreResult<()> {
        let rows = record_rows(records)?;
        let what = "store daily records";
        let mut tx = self.begin_write().await?;
        let size = |r: &RecordRow| 64 + r.employee.len() + r.status.len() + r.data.len();
        for chunk in chunks_by_bytes(&rows, size) {
            match execute(&mut *tx, &stmt::upsert_records(chunk)?, what).await {
                Err(StoreError::Invalid(_)) => {
                    return Err(StoreError::Invalid(
                        "daily record of an unknown employee".into(),
                    ));
                }
                other => other?,
            };
        }
        tx.commit().await.map_err(db(what))
    }

    async fn record(
        &self,
        employee: &EmployeeCode,
        date: chrono::NaiveDate,
    ) -> StoreResult<Option<DailyRecord>> {
        let what = "read a daily record";
        match fetch_optional(&self.pool, &stmt::select_record(employee, date), what).await? {
            Some(row) => Ok(Some(from_json(
                "daily record",
                &get::<String>(&row, 0, what)?,
            )?)),
            None => Ok(None),
        }
    }

    async fn query_records(&self, query: &RecordQuery) -> StoreResult<Page<DailyRecord>> {
        let what = "query daily records";
        let mut tx = self.begin_read().await?;
        let count = fetch_count(&mut *tx, &stmt::count_records(query), what).await?;
        let rows = fetch_all(&mut *tx, &stmt::query_records(query), what).await?;
        tx.commit().await.map_err(db(what))?;
        Ok(Page {
            count,
            results: json_rows(&rows, "daily record")?,
        })
    }

    async fn delete_record(
        &self,
        employee: &EmployeeCode,
        date: chrono::NaiveDate,
    ) -> StoreResult<()> {
        match execute(
            &self.pool,
            &stmt::delete_record(employee, date),
            "delete a daily record",
        )
        .await?
        {
            0 => Err(not_found("daily record", format!("{employee} {date}"))),
            _ => Ok(()),
        }
    }

    async fn count_records_by_status(
        &self,
        query: &RecordQuery,
    ) -> StoreResult<Vec<(AttendanceStatus, u64)>> {
        let what = "count daily records by status";
        fetch_all(&self.pool, &stmt::count_records_by_status(query), what)
            .await?
            .iter()
            .map(|row| {
                let status: String = get(row, 0, what)?;
                let status: AttendanceStatus = parse_stored("status", &status)?;
                Ok((status, to_u64(what, get(row, 1, what)?)?))
            })
            .collect()
    }
}

#[async_trait]
impl SettingsStore for PgStore {
    async fn settings(&self) -> StoreResult<AttendanceSettings> {
        let what = "read the settings";
        match fetch_optional(&self.pool, &stmt::select_settings(), what).await? {
            Some(row) => from_json("settings", &get::<String>(&row, 0, what)?),
            None => Ok(AttendanceSettings::default()),
        }
    }

    async fn put_settings(&self, settings: &AttendanceSettings) -> StoreResult<()> {
        execute(
            &self.pool,
            &stmt::upsert_settings(to_json(settings)?),
            "store the settings",
        )
        .await?;
        Ok(())
    }
}

#[async_trait]
impl HolidayStore for PgStore {
    async fn create_holiday(&self, holiday: &Holiday) -> StoreResult<StoredHoliday> {
        let what = "create a holiday";
        let statement = stmt::insert_holiday(holiday.start(), to_json(holiday)?);
        let rows = fetch_all(&self.pool, &statement, what).await?;
        let row = rows.first().ok_or_else(|| StoreError::Backend {
            message: "the new holiday's id was not returned".into(),
            source: None,
        })?;
        Ok(StoredHoliday {
            id: get(row, 0, what)?,
            holiday: holiday.clone(),
        })
    }

    async fn update_holiday(&self, id: i64, holiday: &Holiday) -> StoreResult<Holiday> {
        let what = "update a holiday";
        let mut tx = self.begin_write().await?;
        let old: Holiday = match fetch_optional(&mut *tx, &stmt::select_holiday(id), what).await? {
            Some(row) => from_json("holiday", &get::<String>(&row, 0, what)?)?,
            None => return Err(not_found("holiday", id)),
        };
        execute(
            &mut *tx,
            &stmt::update_holiday(id, holiday.start(), to_json(holiday)?),
            what,
        )
        .await?;
        tx.commit().await.map_err(db(what))?;
        Ok(old)
    }

    async fn delete_holiday(&self, id: i64) -> StoreResult<Holiday> {
        let what = "delete a holiday";
        let mut tx = self.begin_write().await?;
        let old: Holiday = match fetch_optional(&mut *tx, &stmt::select_holiday(id), what).await? {
            Some(row) => from_json("holiday", &get::<String>(&row, 0, what)?)?,
            None => return Err(not_found("holiday", id)),
        };
        execute(&mut *tx, &stmt::delete_holiday(id), what).await?;
        tx.commit().await.map_err(db(what))?;
        Ok(old)
    }

    async fn holiday(&self, id: i64) -> StoreResult<StoredHoliday> {
        let what = "read a holiday";
        match fetch_optional(&self.pool, &stmt::select_holiday(id), what).await? {
            Some(row) => Ok(StoredHoliday {
                id,
                holiday: from_json("holiday", &get::<String>(&row, 0, what)?)?,
            }),
            None => Err(not_found("holiday", id)),
        }
    }

    async fn list_holidays(&self) -> StoreResult<Vec<StoredHoliday>> {
        let what = "list holidays";
        fetch_all(&self.pool, &stmt::list_holidays(), what)
            .await?
            .iter()
            .map(|row| {
                Ok(StoredHoliday {
                    id: get(row, 0, what)?,
                    holiday: from_json("holiday", &get::<String>(row, 1, what)?)?,
                })
            })
            .collect()
    }
}

#[async_trait]
impl LeaveStore for PgStore {
    async fn put_leave_policy(&self, policy: &LeavePolicy) -> StoreResult<()> {
        let statement = stmt::upsert_leave_policy(&policy.leave_type.to_string(), to_json(policy)?);
        execute(&self.pool, &statement, "store a leave policy").await?;
        Ok(())
    }

    async fn leave_policy(&self, leave_type: &LeaveType) -> StoreResult<LeavePolicy> {
        let what = "read a leave policy";
        let statement = stmt::select_leave_policy(&leave_type.to_string());
        match fetch_optional(&self.pool, &statement, what).await? {
            Some(row) => from_json("leave policy", &get::<String>(&row, 0, what)?),
            None => Err(not_found("leave policy", leave_type)),
        }
    }

    async fn leave_policies(&self) -> StoreResult<Vec<LeavePolicy>> {
        let rows = fetch_all(
            &self.pool,
            &stmt::list_leave_policies(),
            "list leave policies",
        )
        .await?;
        let mut policies: Vec<LeavePolicy> = json_rows(&rows, "leave policy")?;
        // By leave type as the domain orders them (the named types first), not by name.
        policies.sort_by(|a, b| a.leave_type.cmp(&b.leave_type));
        Ok(policies)
    }

    async fn leave_account(&self, employee: &EmployeeCode) -> StoreResult<LeaveAccount> {
        let what = "read a leave account";
        let mut tx = self.begin_read().await?;
        let version =
            match fetch_optional(&mut *tx, &stmt::select_leave_version(employee), what).await? {
                Some(row) => to_u64(what, get(&row, 0, what)?)?,
                None => 0,
            };
        let requests = json_rows(
            &fetch_all(&mut *tx, &stmt::select_requests_of(employee), what).await?,
            "leave request",
        )?;
        let ledger_rows = fetch_all(&mut *tx, &stmt::select_ledger_of(employee), what).await?;
        tx.commit().await.map_err(db(what))?;
        let mut by_type: BTreeMap<LeaveType, Vec<LedgerEntry>> = BTreeMap::new();
        for row in &ledger_rows {
            let leave_type: LeaveType = parse_stored("leave type", &get::<String>(row, 0, what)?)?;
            let entry: LedgerEntry = from_json("ledger entry", &get::<String>(row, 1, what)?)?;
            by_type.entry(leave_type).or_default().push(entry);
        }
        let ledgers = by_type
            .into_iter()
            .map(|(leave_type, entries)| {
                LeaveLedger::from_entries(employee.clone(), leave_type, entries).map_err(|e| {
                    StoreError::Backend {
                        message: "a stored ledger entry does not validate".into(),
                        source: Some(Box::new(e)),
                    }
                })
            })
            .collect::<StoreResult<_>>()?;
        Ok(LeaveAccount {
            employee: employee.clone(),
            version,
            requests,
            ledgers,
        })
    }

    async fn commit_leave(&self, change: LeaveChange) -> StoreResult<u64> {
        if let Some(stray) = change
            .requests
            .iter()
            .find(|r| r.employee != change.employee)
        {
            return Err(StoreError::Invalid(format!(
                "request {} is {}'s, not {}'s",
                stray.id, stray.employee, change.employee
            )));
        }
        for (_, entry) in &change.entries {
            entry
                .validate()
                .map_err(|e| StoreError::Invalid(format!("ledger entry: {e}")))?;
        }
        let request_rows = request_rows(&change.requests)?;
        let entry_rows = change
            .entries
            .iter()
            .map(|(t, e)| Ok((t.to_string(), to_json(e)?)))
            .collect::<StoreResult<Vec<_>>>()?;
        let expected = i64::try_from(change.expected_version).map_err(|_| {
            StoreError::Conflict(format!(
                "the leave of {} is not at version {}",
                change.employee, change.expected_version
            ))
        })?;

        let what = "commit a leave change";
        let mut tx = self.begin_write().await?;
        if fetch_count(&mut *tx, &stmt::count_employee(&change.employee), what).await? == 0 {
            return Err(StoreError::Invalid(format!(
                "leave of unknown employee {}",
                change.employee
            )));
        }
        let bumped = if expected == 0 {
            execute(
                &mut *tx,
                &stmt::insert_first_leave_version(&change.employee),
                what,
            )
            .await?
        } else {
            execute(
                &mut *tx,
                &stmt::bump_leave_version(&change.employee, expected),
                what,
            )
            .await?
        };
        if bumped != 1 {
            return Err(StoreError::Conflict(format!(
                "the leave of {} changed since version {}",
                change.employee, change.expected_version
            )));
        }
        if !request_rows.is_empty() {
            let ids: Vec<String> = request_rows.iter().map(|r| r.id.clone()).collect();
            for row in fetch_all(&mut *tx, &stmt::select_request_owners(&ids), what).await? {
                let owner: String = get(&row, 1, what)?;
                if owner != change.employee.as_str() {
                    let id: String = get(&row, 0, what)?;
                    return Err(StoreError::Conflict(format!(
                        "request id {id} belongs to another employee"
                    )));
                }
            }
            execute(&mut *tx, &stmt::upsert_requests(&request_rows)?, what).await?;
        }
        if !entry_rows.is_empty() {
            execute(
                &mut *tx,
                &stmt::insert_ledger_entries(&change.employee, &entry_rows)?,
                what,
            )
            .await?;
        }
        tx.commit().await.map_err(db(what))?;
        Ok(change.expected_version + 1)
    }

    async fn leave_request(&self, id: &LeaveRequestId) -> StoreResult<LeaveRequest> {
        let what = "read a leave request";
        match fetch_optional(&self.pool, &stmt::select_request(id.as_str()), what).await? {
            Some(row) => from_json("leave request", &get::<String>(&row, 0, what)?),
            None => Err(not_found("leave request", id)),
        }
    }

    async fn query_leave_requests(
        &self,
        query: &LeaveRequestQuery,
    ) -> StoreResult<Page<LeaveRequest>> {
        let what = "query leave requests";
        let mut tx = self.begin_read().await?;
        let count = fetch_count(&mut *tx, &stmt::count_leave_requests(query)?, what).await?;
        let rows = fetch_all(&mut *tx, &stmt::query_leave_requests(query)?, what).await?;
        tx.commit().await.map_err(db(what))?;
        Ok(Page {
            count,
            results: json_rows(&rows, "leave request")?,
        })
    }
}

fn request_rows(requests: &[LeaveRequest]) -> StoreResult<Vec<RequestRow>> {
    // One row per id, the last standing, as inserting them one after the other would leave it.
    let mut by_id: BTreeMap<&str, &LeaveRequest> = BTreeMap::new();
    for r in requests {
        by_id.insert(r.id.as_str(), r);
    }
    by_id
        .into_values()
        .map(|r| {
            Ok(RequestRow {
                id: r.id.as_str().to_owned(),
                employee: r.employee.as_str().to_owned(),
                department: r.department.as_str().to_owned(),
                status: enum_text(&r.status)?,
                start: r.start,
                end: r.end,
                data: to_json(r)?,
            })
        })
        .collect()
}

#[async_trait]
impl UserAccountStore for PgStore {
    async fn create_account(&self, account: &UserAccount) -> StoreResult<()> {
        let statement = stmt::insert_account(
            &account.username,
            account.employee.as_ref(),
            to_json(account)?,
        );
        match execute(&self.pool, &statement, "create a user account").await {
            Err(StoreError::Invalid(_)) => Err(unknown_account_employee(account)),
            other => other.map(|_| ()),
        }
    }

    async fn update_account(&self, account: &UserAccount) -> StoreResult<()> {
        let what = "update a user account";
        let mut tx = self.begin_write().await?;
        if let Some(code) = &account.employee
            && fetch_count(&mut *tx, &stmt::count_employee(code), what).await? == 0
        {
            return Err(unknown_account_employee(account));
        }
        let statement = stmt::update_account(
            &account.username,
            account.employee.as_ref(),
            to_json(account)?,
        );
        if execute(&mut *tx, &statement, what).await? == 0 {
            return Err(not_found("user account", &account.username));
        }
        tx.commit().await.map_err(db(what))
    }

    async fn account(&self, username: &str) -> StoreResult<UserAccount> {
        let what = "read a user account";
        match fetch_optional(&self.pool, &stmt::select_account(username), what).await? {
            Some(row) => from_json("user account", &get::<String>(&row, 0, what)?),
            None => Err(not_found("user account", username)),
        }
    }

    async fn list_accounts(&self) -> StoreResult<Vec<UserAccount>> {
        let rows = fetch_all(&self.pool, &stmt::list_accounts(), "list user accounts").await?;
        json_rows(&rows, "user account")
    }

    async fn delete_account(&self, username: &str) -> StoreResult<()> {
        match execute(
            &self.pool,
            &stmt::delete_account(username),
            "delete a user account",
        )
        .await?
        {
            0 => Err(not_found("user account", username)),
            _ => Ok(()),
        }
    }
}

fn unknown_account_employee(account: &UserAccount) -> StoreError {
    StoreError::Invalid(format!(
        "user account {} links unknown employee {}",
        account.username,
        account
            .employee
            .as_ref()
            .map(|e| e.as_str())
            .unwrap_or_default()
    ))
}

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
