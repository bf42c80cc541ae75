//! [`SqlBackend`] for [`PgStore`]: statements on the pool or a transaction; reads in a
//! `REPEATABLE READ READ ONLY` snapshot; the hooks where PostgreSQL does its own thing (ingest
//! and record upserts in their modules, bulk reads in `IN` lists of at most [`PARAM_BUDGET`]
//! bytes, the leave request locked `FOR UPDATE` while a document is attached).

use attendance_core::store::{IngestOutcome, ScanBatch, StoreResult};
use attendance_store_sql::backend::{On, SqlBackend};
use attendance_store_sql::error::db;
use attendance_store_sql::schema::Backend;
use attendance_store_sql::stmt::RecordRow;
use sea_query::{PostgresQueryBuilder, QueryStatementWriter};
use sea_query_sqlx::SqlxValues;
use sqlx::postgres::PgRow;
use sqlx::query::Query;
use sqlx::{AssertSqlSafe, Postgres, Transaction};

use crate::{PgStore, ingest, records, stmt};

/// The most bytes of parameters one statement of bound values sends (an `IN` list, rows of
/// bound values): each count of values is a statement of its own to prepare and cache.
///
/// It was also what kept a statement under the socket's first send buffer (16 KiB on Linux)
/// while sqlx 0.9.0 did not set `TCP_NODELAY`: a larger message went out in two writes and the
/// second waited for the server's delayed ACK, about 40 ms. sqlx 0.9.1 sets it again (the
/// workspace asks for it); [`ARRAY_BUDGET`] is what the statements of arrays take now.
pub(crate) const PARAM_BUDGET: usize = 8 * 1024;

/// The most bytes of parameters one statement of arrays sends (the scan ingest's `UNNEST`):
/// one text whatever the count, prepared once; a group of ADMS uploads is one or two
/// statements, not one per hundred scans.
pub(crate) const ARRAY_BUDGET: usize = 256 * 1024;

/// Splits `items` into runs whose estimated parameter bytes (`size` of each) stay within
/// `budget` (a run has at least one item).
pub(crate) fn chunks_by_bytes<T>(
    items: &[T],
    budget: usize,
    size: impl Fn(&T) -> usize,
) -> Vec<&[T]> {
    let mut chunks = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, item) in items.iter().enumerate() {
        let item_bytes = size(item);
        if i > start && bytes + item_bytes > budget {
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

/// `statement` rendered for PostgreSQL with its values bound.
fn query<S: QueryStatementWriter>(statement: &S) -> Query<'static, Postgres, SqlxValues> {
    let (sql, values) = statement.build(PostgresQueryBuilder);
    sqlx::query_with(AssertSqlSafe(sql), SqlxValues(values))
}

impl SqlBackend for PgStore {
    type Tx = Transaction<'static, Postgres>;
    type Row = PgRow;
    type Builder = PostgresQueryBuilder;
    const BACKEND: Backend = Backend::Postgres;
    const LABEL: &'static str = "PostgreSQL";

    async fn begin_write(&self) -> StoreResult<Self::Tx> {
        self.pool.begin().await.map_err(db("begin a transaction"))
    }

    /// A read-only snapshot, so a page and its count agree.
    async fn begin_read(&self) -> StoreResult<Self::Tx> {
        self.pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
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
            On::Read | On::Write => query.execute(&self.pool).await,
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
    ) -> StoreResult<Vec<PgRow>>
    where
        S: QueryStatementWriter + Sync,
    {
        let query = query(statement);
        match on {
            On::Read | On::Write => query.fetch_all(&self.pool).await,
            On::Tx(tx) => query.fetch_all(&mut **tx).await,
        }
        .map_err(db(what))
    }

    async fn fetch_optional<S>(
        &self,
        on: On<'_, Self::Tx>,
        statement: &S,
        what: &'static str,
    ) -> StoreResult<Option<PgRow>>
    where
        S: QueryStatementWriter + Sync,
    {
        let query = query(statement);
        match on {
            On::Read | On::Write => query.fetch_optional(&self.pool).await,
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

    /// The keys in `IN` lists of at most `PARAM_BUDGET` bytes (each key: its text, its length
    /// and format, its type in the parsed statement and its `$n` in the text).
    fn key_chunks<'k>(&self, keys: &'k [&'k str]) -> Vec<&'k [&'k str]> {
        chunks_by_bytes(keys, PARAM_BUDGET, |k| 20 + k.len())
    }

    /// Locks the request's row `FOR UPDATE` until `tx` ends ([`stmt::lock_leave_request`]): a
    /// racing upload to the same request waits here until this transaction commits, then counts
    /// its document too.
    async fn hold_request(
        &self,
        tx: &mut Self::Tx,
        request: &str,
        what: &'static str,
    ) -> StoreResult<bool> {
        let lock = stmt::lock_leave_request(request);
        Ok(self
            .fetch_optional(On::Tx(tx), &lock, what)
            .await?
            .is_some())
    }
}
