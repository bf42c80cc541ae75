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

use std::collections::{BTreeMap, HashSet};
use std::str::FromStr;
use std::sync::Arc;
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
use sea_query::SqliteQueryBuilder;
use sea_query_sqlx::SqlxBinder;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, Executor, Row, Sqlite, Transaction};

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
    /// The page cache of each connection, in KiB (`PRAGMA cache_size`); 64 MiB, so the
    /// writer keeps the hot part of the scan index in memory across batches.
    pub cache_size_kib: u32,
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

const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";

fn build(statement: &impl SqlxBinder) -> (String, sea_query_sqlx::SqlxValues) {
    statement.build_sqlx(SqliteQueryBuilder)
}

async fn execute<'e, E>(
    executor: E,
    statement: &impl SqlxBinder,
    what: &'static str,
) -> StoreResult<u64>
where
    E: Executor<'e, Database = Sqlite>,
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
) -> StoreResult<Vec<SqliteRow>>
where
    E: Executor<'e, Database = Sqlite>,
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
) -> StoreResult<Option<SqliteRow>>
where
    E: Executor<'e, Database = Sqlite>,
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
    E: Executor<'e, Database = Sqlite>,
{
    let (sql, values) = build(statement);
    let row = sqlx::query_with(AssertSqlSafe(sql), values)
        .fetch_one(executor)
        .await
        .map_err(db(what))?;
    to_u64(what, get(&row, 0, what)?)
}

fn get<'r, T>(row: &'r SqliteRow, index: usize, what: &'static str) -> StoreResult<T>
where
    T: sqlx::Decode<'r, Sqlite> + sqlx::Type<Sqlite>,
{
    row.try_get(index).map_err(db(what))
}

fn json_rows<T: serde::de::DeserializeOwned>(
    rows: &[SqliteRow],
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
        let store = Self {
            writer: writer.clone(),
            reader: writer.clone(),
            insert_scans_sql: insert_scans_sql.clone(),
        };
        store.migrate().await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(options.read_connections.max(1))
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect.create_if_missing(false))
            .await
            .map_err(db("open the SQLite read pool"))?;
        Ok(Self {
            writer,
            reader,
            insert_scans_sql,
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
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Applies the migrations not applied yet, in one write transaction; running it again is
    /// harmless. [`StoreError::Backend`] if a statement fails.
    pub async fn migrate(&self) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        let what = "migrate the schema";
        tx.execute(AssertSqlSafe(
            schema::migrations_table().to_string(SqliteQueryBuilder),
        ))
        .await
        .map_err(db(what))?;
        let applied: HashSet<i64> = fetch_all(&mut *tx, &stmt::select_applied_migrations(), what)
            .await?
            .iter()
            .map(|row| get::<i64>(row, 0, what))
            .collect::<StoreResult<_>>()?;
        for migration in schema::pending_migrations(&applied) {
            for statement in (migration.statements)(Backend::Sqlite) {
                let sql = statement.render(SqliteQueryBuilder);
                tx.execute(AssertSqlSafe(sql)).await.map_err(db(what))?;
            }
            execute(
                &mut *tx,
                &stmt::insert_applied_migration(migration.version, migration.description),
                what,
            )
            .await?;
            tracing::info!(version = migration.version, "applied SQLite migration");
        }
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

#[async_trait]
impl ScanStore for SqliteStore {
    async fn record_scans(&self, batch: ScanBatch) -> StoreResult<IngestOutcome> {
        only_outcome(self.record_scan_batches(vec![batch]).await?)
    }

    async fn record_scan_batches(
        &self,
        batches: Vec<ScanBatch>,
    ) -> StoreResult<Vec<IngestOutcome>> {
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

    async fn machine_cursor(&self, machine: &MachineId) -> StoreResult<Option<MachineCursor>> {
        let what = "read a machine cursor";
        match fetch_optional(&self.reader, &stmt::select_cursor(machine), what).await? {
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
        let statement =
            stmt::sqlite_select_scans_of_user(user, nanos_clamped(from), nanos_clamped(to));
        fetch_all(&self.reader, &statement, what)
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
        fetch_count(&self.reader, &stmt::count_all(Scans::Table), "count scans").await
    }
}

#[async_trait]
impl EmployeeStore for SqliteStore {
    async fn create_employee(&self, employee: &Employee) -> StoreResult<()> {
        let statement = stmt::insert_employee(
            &employee.employee_id,
            &employee.device_user_id,
            &employee.department,
            to_json(employee)?,
        );
        execute(&self.writer, &statement, "create an employee").await?;
        Ok(())
    }

    async fn update_employee(&self, employee: &Employee) -> StoreResult<()> {
        let statement = stmt::update_employee(
            &employee.employee_id,
            &employee.device_user_id,
            &employee.department,
            to_json(employee)?,
        );
        match execute(&self.writer, &statement, "update an employee").await? {
            0 => Err(not_found("employee", &employee.employee_id)),
            _ => Ok(()),
        }
    }

    async fn employee(&self, code: &EmployeeCode) -> StoreResult<Employee> {
        let what = "read an employee";
        match fetch_optional(&self.reader, &stmt::select_employee(code), what).await? {
            Some(row) => from_json("employee", &get::<String>(&row, 0, what)?),
            None => Err(not_found("employee", code)),
        }
    }

    async fn employee_by_device_user(&self, user: &DeviceUserId) -> StoreResult<Option<Employee>> {
        let what = "read an employee by device user";
        match fetch_optional(
            &self.reader,
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
            &self.reader,
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
impl MachineStore for SqliteStore {
    async fn create_machine(&self, machine: &Machine) -> StoreResult<()> {
        let statement = stmt::insert_machine(&machine.machine_id, to_json(machine)?);
        execute(&self.writer, &statement, "create a machine").await?;
        Ok(())
    }

    async fn update_machine(&self, machine: &Machine) -> StoreResult<()> {
        let statement = stmt::update_machine(&machine.machine_id, to_json(machine)?);
        match execute(&self.writer, &statement, "update a machine").await? {
            0 => Err(not_found("machine", &machine.machine_id)),
            _ => Ok(()),
        }
    }

    async fn machine(&self, id: &MachineId) -> StoreResult<Machine> {
        let what = "read a machine";
        match fetch_optional(&self.reader, &stmt::select_machine(id), what).await? {
            Some(row) => from_json("machine", &get::<String>(&row, 0, what)?),
            None => Err(not_found("machine", id)),
        }
    }

    async fn list_machines(&self) -> StoreResult<Vec<Machine>> {
        let rows = fetch_all(&self.reader, &stmt::list_machines(), "list machines").await?;
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
            &self.reader,
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

const RECORD_CHUNK: usize = 256;

#[async_trait]
impl DailyRecordStore for SqliteStore {
    async fn upsert_records(&self, records: &[DailyRecord]) -> StoreResult<()> {
        let rows = record_rows(records)?;
        let what = "store daily records";
        let mut tx = self.begin_write().await?;
        for chunk in rows.chunks(RECORD_CHUNK) {
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
        match fetch_optional(&self.reader, &stmt::select_record(employee, date), what).await? {
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
            &self.writer,
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
        fetch_all(&self.reader, &stmt::count_records_by_status(query), what)
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
impl SettingsStore for SqliteStore {
    async fn settings(&self) -> StoreResult<AttendanceSettings> {
        let what = "read the settings";
        match fetch_optional(&self.reader, &stmt::select_settings(), what).await? {
            Some(row) => from_json("settings", &get::<String>(&row, 0, what)?),
            None => Ok(AttendanceSettings::default()),
        }
    }

    async fn put_settings(&self, settings: &AttendanceSettings) -> StoreResult<()> {
        execute(
            &self.writer,
            &stmt::upsert_settings(to_json(settings)?),
            "store the settings",
        )
        .await?;
        Ok(())
    }
}

#[async_trait]
impl HolidayStore for SqliteStore {
    async fn create_holiday(&self, holiday: &Holiday) -> StoreResult<StoredHoliday> {
        let what = "create a holiday";
        let statement = stmt::insert_holiday(holiday.start(), to_json(holiday)?);
        let rows = fetch_all(&self.writer, &statement, what).await?;
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
        match fetch_optional(&self.reader, &stmt::select_holiday(id), what).await? {
            Some(row) => Ok(StoredHoliday {
                id,
                holiday: from_json("holiday", &get::<String>(&row, 0, what)?)?,
            }),
            None => Err(not_found("holiday", id)),
        }
    }

    async fn list_holidays(&self) -> StoreResult<Vec<StoredHoliday>> {
        let what = "list holidays";
        fetch_all(&self.reader, &stmt::list_holidays(), what)
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
impl LeaveStore for SqliteStore {
    async fn put_leave_policy(&self, policy: &LeavePolicy) -> StoreResult<()> {
        let statement = stmt::upsert_leave_policy(&policy.leave_type.to_string(), to_json(policy)?);
        execute(&self.writer, &statement, "store a leave policy").await?;
        Ok(())
    }

    async fn leave_policy(&self, leave_type: &LeaveType) -> StoreResult<LeavePolicy> {
        let what = "read a leave policy";
        let statement = stmt::select_leave_policy(&leave_type.to_string());
        match fetch_optional(&self.reader, &statement, what).await? {
            Some(row) => from_json("leave policy", &get::<String>(&row, 0, what)?),
            None => Err(not_found("leave policy", leave_type)),
        }
    }

    async fn leave_policies(&self) -> StoreResult<Vec<LeavePolicy>> {
        let rows = fetch_all(
            &self.reader,
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
        match fetch_optional(&self.reader, &stmt::select_request(id.as_str()), what).await? {
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
impl UserAccountStore for SqliteStore {
    async fn create_account(&self, account: &UserAccount) -> StoreResult<()> {
        let statement = stmt::insert_account(
            &account.username,
            account.employee.as_ref(),
            to_json(account)?,
        );
        match execute(&self.writer, &statement, "create a user account").await {
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
        match fetch_optional(&self.reader, &stmt::select_account(username), what).await? {
            Some(row) => from_json("user account", &get::<String>(&row, 0, what)?),
            None => Err(not_found("user account", username)),
        }
    }

    async fn list_accounts(&self) -> StoreResult<Vec<UserAccount>> {
        let rows = fetch_all(&self.reader, &stmt::list_accounts(), "list user accounts").await?;
        json_rows(&rows, "user account")
    }

    async fn delete_account(&self, username: &str) -> StoreResult<()> {
        match execute(
            &self.writer,
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
