//! [`SqlBackend`] for [`SqliteStore`]: statements on the read pool, the one writer or a
//! transaction; write transactions `BEGIN IMMEDIATE` on the writer; the hooks where SQLite does
//! its own thing (ingest and record upserts in their modules, bulk reads in chunks of
//! [`KEY_CHUNK`] keys, a user's scans grouped into one row).

use attendance_core::employee::DeviceUserId;
use attendance_core::scan::ScanData;
use attendance_core::store::{IngestOutcome, ScanBatch, ScanId, StoreResult};
use attendance_store_sql::backend::{On, SqlBackend, SqlRow};
use attendance_store_sql::codec::scans_from_json;
use attendance_store_sql::contract::fetch_count;
use attendance_store_sql::error::db;
use attendance_store_sql::schema::Backend;
use attendance_store_sql::stmt::{self as shared, RecordRow};
use sea_query::{QueryStatementWriter, SelectStatement, SqliteQueryBuilder};
use sea_query_sqlx::SqlxValues;
use sqlx::query::Query;
use sqlx::sqlite::SqliteRow;
use sqlx::{AssertSqlSafe, Sqlite, Transaction};

use crate::{SqliteStore, ingest, records, stmt};

/// Every write transaction takes the write lock at once, so it never fails to upgrade a read
/// lock half way.
const BEGIN_WRITE: &str = "BEGIN IMMEDIATE";

/// The most keys one bulk read binds (far under SQLite's 32,766 bound parameters, with room for
/// the scan query's days).
const KEY_CHUNK: usize = 500;

/// `statement` rendered for SQLite with its values bound.
fn query<S: QueryStatementWriter>(statement: &S) -> Query<'static, Sqlite, SqlxValues> {
    let (sql, values) = statement.build(SqliteQueryBuilder);
    sqlx::query_with(AssertSqlSafe(sql), SqlxValues(values))
}

impl SqlBackend for SqliteStore {
    type Tx = Transaction<'static, Sqlite>;
    type Row = SqliteRow;
    type Builder = SqliteQueryBuilder;
    const BACKEND: Backend = Backend::Sqlite;
    const LABEL: &'static str = "SQLite";

    async fn begin_write(&self) -> StoreResult<Self::Tx> {
        match self.writer.begin_with(BEGIN_WRITE).await {
            Err(sqlx::Error::InvalidSavePointStatement) => {
                // A COMMIT that failed (disk full, I/O error, read-only file) can leave the
                // writer connection counting a transaction SQLite has already rolled back:
                // every later BEGIN would fail and the store would never recover. That
                // connection is closed; the pool opens a clean one.
                tracing::warn!(
                    "the SQLite writer was left inside a failed transaction; reopening it"
                );
                if let Ok(stuck) = self.writer.acquire().await {
                    let _ = stuck.close().await;
                }
                self.writer
                    .begin_with(BEGIN_WRITE)
                    .await
                    .map_err(db("begin a write transaction"))
            }
            other => other.map_err(db("begin a write transaction")),
        }
    }

    async fn begin_read(&self) -> StoreResult<Self::Tx> {
        self.reader
            .begin()
            .await
            .map_err(db("begin a read transaction"))
    }

    async fn commit(tx: Self::Tx, what: &'static str) -> StoreResult<()> {
        tx.commit().await.map_err(db(what))
    }

    async fn execute<S>(
        &self,
        on: On<'_, Self::Tx>,
        statement: &S,
        what: &'static str,
    ) -> StoreResult<u64>
    where
        S: QueryStatementWriter + Sync,
    {
        let query = query(statement);
        match on {
            On::Read => query.execute(&self.reader).await,
            On::Write => query.execute(&self.writer).await,
            On::Tx(tx) => query.execute(&mut **tx).await,
        }
        .map(|done| done.rows_affected())
        .map_err(db(what))
    }

    async fn fetch_all<S>(
        &self,
        on: On<'_, Self::Tx>,
        statement: &S,
        what: &'static str,
    ) -> StoreResult<Vec<SqliteRow>>
    where
        S: QueryStatementWriter + Sync,
    {
        let query = query(statement);
        match on {
            On::Read => query.fetch_all(&self.reader).await,
            On::Write => query.fetch_all(&self.writer).await,
            On::Tx(tx) => query.fetch_all(&mut **tx).await,
        }
        .map_err(db(what))
    }

    async fn fetch_optional<S>(
        &self,
        on: On<'_, Self::Tx>,
        statement: &S,
        what: &'static str,
    ) -> StoreResult<Option<SqliteRow>>
    where
        S: QueryStatementWriter + Sync,
    {
        let query = query(statement);
        match on {
            On::Read => query.fetch_optional(&self.reader).await,
            On::Write => query.fetch_optional(&self.writer).await,
            On::Tx(tx) => query.fetch_optional(&mut **tx).await,
        }
        .map_err(db(what))
    }

    async fn execute_sql(
        &self,
        tx: &mut Self::Tx,
        sql: String,
        what: &'static str,
    ) -> StoreResult<()> {
        sqlx::Executor::execute(&mut **tx, AssertSqlSafe(sql))
            .await
            .map_err(db(what))?;
        Ok(())
    }

    async fn ingest_group(&self, batches: Vec<ScanBatch>) -> StoreResult<Vec<IngestOutcome>> {
        ingest::ingest_group(self, batches).await
    }

    async fn write_records(&self, tx: &mut Self::Tx, rows: Vec<RecordRow>) -> StoreResult<()> {
        records::write_records(self, tx, rows).await
    }

    /// The keys in `IN` lists of `KEY_CHUNK` (500).
    fn key_chunks<'k>(&self, keys: &'k [&'k str]) -> Vec<&'k [&'k str]> {
        keys.chunks(KEY_CHUNK).collect()
    }

    /// No lock is needed: the one writer connection runs write transactions one at a time, so a
    /// racing upload counts this one's document.
    async fn hold_request(
        &self,
        tx: &mut Self::Tx,
        request: &str,
        what: &'static str,
    ) -> StoreResult<bool> {
        let requests = shared::count_leave_request(request);
        Ok(fetch_count(self, On::Tx(tx), &requests, what).await? > 0)
    }

    /// [`stmt::sqlite_select_scans_of_user`]: one seek per day.
    fn select_scans_of_user(user: &DeviceUserId, from_ns: i64, to_ns: i64) -> SelectStatement {
        stmt::sqlite_select_scans_of_user(user, from_ns, to_ns)
    }

    fn count_scan(scan: &ScanId) -> SelectStatement {
        stmt::sqlite_count_scan(scan)
    }

    /// One row per user ([`stmt::sqlite_select_scans_of_users`]), its scans as JSON.
    async fn scans_of_user_chunk(
        &self,
        users: &[&str],
        from_ns: i64,
        to_ns: i64,
    ) -> StoreResult<Vec<ScanData>> {
        let what = "read the scans of users";
        let statement = stmt::sqlite_select_scans_of_users(users, from_ns, to_ns);
        let mut scans = Vec::new();
        for row in self.fetch_all(On::Read, &statement, what).await? {
            let user = row.text(0, what)?;
            let json = row.text(1, what)?;
            scans.extend(scans_from_json(&user, &json)?);
        }
        Ok(scans)
    }
}
