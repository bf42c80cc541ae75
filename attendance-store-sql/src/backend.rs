//! What a database gives the shared store code: [`SqlBackend`], the compiler-checked contract
//! between the generic port bodies of [`contract`](crate::contract) and a store crate.
//!
//! A backend names its transaction type, its row type (any sqlx row decodes the few shapes the
//! contract reads, [`SqlRow`]) and its query builder, runs sea-query statements where [`On`]
//! says, and does in its own way what the databases do differently: ingesting a group of scans,
//! writing daily records, splitting the keys of a bulk read, reading the scans of many users,
//! and holding a leave request while a document is attached to it.

use std::future::Future;

use attendance_core::employee::DeviceUserId;
use attendance_core::scan::ScanData;
use attendance_core::store::{IngestOutcome, ScanBatch, ScanId, StoreResult};
use sea_query::backend::SchemaBuilder;
use sea_query::{QueryBuilder, QueryStatementWriter, SelectStatement};

use crate::codec::ScanRow;
use crate::error::db;
use crate::schema::Backend;
use crate::stmt::{self, RecordRow};

/// Where a statement runs.
#[derive(Debug)]
pub enum On<'t, Tx> {
    /// Outside any transaction, on the connections reads go through.
    Read,
    /// Outside any transaction, on the connection single writes go through (SQLite: its one
    /// writer).
    Write,
    /// In a transaction the caller began (and commits, or drops to roll it back).
    Tx(&'t mut Tx),
}

/// The columns of a result row, decoded by position: the shapes the shared code reads. Every
/// sqlx row of a database that decodes these types implements it.
pub trait SqlRow {
    /// The text of column `index` (a JSON value, a key, a status); `what` names the operation
    /// for the error.
    fn text(&self, index: usize, what: &'static str) -> StoreResult<String>;
    /// The integer of column `index` (an id, a count, a version, a second).
    fn int(&self, index: usize, what: &'static str) -> StoreResult<i64>;
    /// The bytes of column `index` (a document's content).
    fn bytes(&self, index: usize, what: &'static str) -> StoreResult<Vec<u8>>;
    /// The scan of a row whose columns are in [`ScanRow`] order.
    fn scan(&self, what: &'static str) -> StoreResult<ScanData>;
}

impl<R> SqlRow for R
where
    R: sqlx::Row,
    usize: sqlx::ColumnIndex<R>,
    String: sqlx::Type<R::Database> + for<'r> sqlx::Decode<'r, R::Database>,
    Option<String>: sqlx::Type<R::Database> + for<'r> sqlx::Decode<'r, R::Database>,
    i64: sqlx::Type<R::Database> + for<'r> sqlx::Decode<'r, R::Database>,
    i32: sqlx::Type<R::Database> + for<'r> sqlx::Decode<'r, R::Database>,
    Vec<u8>: sqlx::Type<R::Database> + for<'r> sqlx::Decode<'r, R::Database>,
{
    fn text(&self, index: usize, what: &'static str) -> StoreResult<String> {
        self.try_get(index).map_err(db(what))
    }

    fn int(&self, index: usize, what: &'static str) -> StoreResult<i64> {
        self.try_get(index).map_err(db(what))
    }

    fn bytes(&self, index: usize, what: &'static str) -> StoreResult<Vec<u8>> {
        self.try_get(index).map_err(db(what))
    }

    fn scan(&self, what: &'static str) -> StoreResult<ScanData> {
        let get_i32 = |index: usize| self.try_get::<i32, _>(index).map_err(db(what));
        ScanRow {
            machine_id: self.text(0, what)?,
            device_user_id: self.text(1, what)?,
            at_second: self.int(2, what)?,
            at_ns: self.int(3, what)?,
            punch_state: get_i32(4)?,
            verify_mode: get_i32(5)?,
            raw: self.try_get(6).map_err(db(what))?,
        }
        .into_scan()
    }
}

/// A database under the shared store code. The store crates implement it for their store type
/// (`SqliteStore`, `PgStore`) and implement every port of `attendance-core` by handing the
/// store to the generic bodies of [`contract`](crate::contract).
///
/// Every statement runner renders a sea-query statement with [`Self::Builder`], binds its
/// values and maps a failure through [`db`] with `what` as the operation.
pub trait SqlBackend: Send + Sync {
    /// An open transaction; dropping it uncommitted rolls it back.
    type Tx: Send;
    /// A result row.
    type Row: SqlRow + Send;
    /// The query builder statements and the schema are rendered with.
    type Builder: QueryBuilder + SchemaBuilder + Default;
    /// Which of the schema's per-database variants this database takes.
    const BACKEND: Backend;
    /// The database's name in logs.
    const LABEL: &'static str;

    /// Begins a write transaction (SQLite: `BEGIN IMMEDIATE` on the writer).
    fn begin_write(&self) -> impl Future<Output = StoreResult<Self::Tx>> + Send;

    /// Begins a read transaction: one snapshot, so a page and its count agree.
    fn begin_read(&self) -> impl Future<Output = StoreResult<Self::Tx>> + Send;

    /// Commits `tx`.
    fn commit(tx: Self::Tx, what: &'static str) -> impl Future<Output = StoreResult<()>> + Send;

    /// Runs `statement` on `on`; the rows it affected.
    fn execute<S>(
        &self,
        on: On<'_, Self::Tx>,
        statement: &S,
        what: &'static str,
    ) -> impl Future<Output = StoreResult<u64>> + Send
    where
        S: QueryStatementWriter + Sync;

    /// Runs `statement` on `on`; every row.
    fn fetch_all<S>(
        &self,
        on: On<'_, Self::Tx>,
        statement: &S,
        what: &'static str,
    ) -> impl Future<Output = StoreResult<Vec<Self::Row>>> + Send
    where
        S: QueryStatementWriter + Sync;

    /// Runs `statement` on `on`; its first row, if any.
    fn fetch_optional<S>(
        &self,
        on: On<'_, Self::Tx>,
        statement: &S,
        what: &'static str,
    ) -> impl Future<Output = StoreResult<Option<Self::Row>>> + Send
    where
        S: QueryStatementWriter + Sync;

    /// Runs `sql`, a statement as text with no parameters (a rendered schema statement), in `tx`.
    fn execute_sql(
        &self,
        tx: &mut Self::Tx,
        sql: String,
        what: &'static str,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// Stores one group of scan batches in one transaction, each batch's cursor with it, the
    /// database's own way (see [`ScanStore::record_scan_batches`]).
    ///
    /// [`ScanStore::record_scan_batches`]: attendance_core::store::ScanStore::record_scan_batches
    fn ingest_group(
        &self,
        batches: Vec<ScanBatch>,
    ) -> impl Future<Output = StoreResult<Vec<IngestOutcome>>> + Send;

    /// Inserts or replaces the daily records of one upsert in `tx` (the caller's transaction),
    /// the database's own way. The rows are unique by key and in key order; a record of an
    /// unknown employee fails with
    /// [`StoreError::Invalid`](attendance_core::store::StoreError::Invalid).
    fn write_records(
        &self,
        tx: &mut Self::Tx,
        rows: Vec<RecordRow>,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    /// The keys of one bulk read (sorted, each once) split into the `IN` lists of one statement
    /// each.
    fn key_chunks<'k>(&self, keys: &'k [&'k str]) -> Vec<&'k [&'k str]>;

    /// Whether leave request `request` exists, in `tx`, holding it (where the database needs a
    /// lock for that) until `tx` ends, so uploads to one request count each other's documents.
    fn hold_request(
        &self,
        tx: &mut Self::Tx,
        request: &str,
        what: &'static str,
    ) -> impl Future<Output = StoreResult<bool>> + Send;

    /// The select of `user`'s scans with `from_ns <= at_ns < to_ns`, in time order, then machine
    /// id, columns in [`ScanRow`] order; by default [`stmt::select_scans_of_user`].
    fn select_scans_of_user(user: &DeviceUserId, from_ns: i64, to_ns: i64) -> SelectStatement {
        stmt::select_scans_of_user(user, from_ns, to_ns)
    }

    /// `COUNT(*)` of the stored scans `scan` names (0 or 1); by default
    /// [`stmt::count_scan`], by the PostgreSQL key.
    fn count_scan(scan: &ScanId) -> SelectStatement {
        stmt::count_scan(scan)
    }

    /// The scans of one chunk of device users (from [`Self::key_chunks`]) in
    /// `[from_ns, to_ns)`, by user, then time, then machine id. By default
    /// [`stmt::select_scans_of_users`] (one range of the key per user on PostgreSQL), sorted
    /// here rather than by the server.
    fn scans_of_user_chunk(
        &self,
        users: &[&str],
        from_ns: i64,
        to_ns: i64,
    ) -> impl Future<Output = StoreResult<Vec<ScanData>>> + Send {
        async move {
            let what = "read the scans of users";
            let statement = stmt::select_scans_of_users(users, from_ns, to_ns);
            let mut scans = self
                .fetch_all(On::Read, &statement, what)
                .await?
                .iter()
                .map(|row| row.scan(what))
                .collect::<StoreResult<Vec<_>>>()?;
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
}
