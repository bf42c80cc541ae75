//! SQLite's daily-record upserts: statements of a power of two rows, rendered once, the rest of
//! a chunk padded with its last record.

use std::collections::BTreeMap;
use std::sync::Arc;

use attendance_core::store::{StoreError, StoreResult};
use attendance_store_sql::error::db;
use attendance_store_sql::stmt::{self, RecordRow};
use sea_query::SqliteQueryBuilder;
use sqlx::{AssertSqlSafe, Sqlite, Transaction};

use crate::SqliteStore;

/// The most daily records one upsert statement carries (a power of two; 5 values each).
const RECORD_CHUNK: usize = 256;

/// The most records the real-time recompute writes in one transaction: SQLite has one writer,
/// and a push's scans wait for the write in progress before they commit; 512 records are a few
/// milliseconds of writing (a whole recompute chunk, 2,000 records, is about 45 ms).
pub const RECORDS_PER_WRITE: usize = 512;

/// [`stmt::upsert_records`] for every power of two up to [`RECORD_CHUNK`] rows.
pub(crate) fn render_record_upserts() -> StoreResult<BTreeMap<usize, Arc<str>>> {
    let mut statements = BTreeMap::new();
    let mut size = RECORD_CHUNK;
    while size > 0 {
        let row = RecordRow {
            employee: String::new(),
            date: chrono::NaiveDate::MIN,
            status: String::new(),
            data: String::new(),
            tally: String::new(),
        };
        let (sql, _) = stmt::upsert_records(&vec![row; size])?.build(SqliteQueryBuilder);
        statements.insert(size, Arc::from(sql));
        size /= 2;
    }
    Ok(statements)
}

/// Inserts or replaces daily records in `tx`, in statements of up to [`RECORD_CHUNK`] rows
/// ([`stmt::upsert_records`], rendered once per power of two: the rest of a chunk is one
/// statement of the next power of two, its last record bound again to fill it, which upserts
/// the same row twice with the same values), their texts moved into the bound values rather
/// than copied (a month's records are hundreds of megabytes of JSON).
pub(crate) async fn write_records(
    store: &SqliteStore,
    tx: &mut Transaction<'static, Sqlite>,
    rows: Vec<RecordRow>,
) -> StoreResult<()> {
    let what = "store daily records";
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<RecordRow> = rows.by_ref().take(RECORD_CHUNK).collect();
        let size = chunk.len().next_power_of_two();
        let sql = store
            .upsert_records_sql
            .get(&size)
            .ok_or_else(|| StoreError::Backend {
                message: format!("no upsert statement of {size} daily records"),
                source: None,
            })?;
        let filler = chunk.last().cloned();
        let padding = std::iter::repeat_n(filler, size - chunk.len()).flatten();
        // The values in the order of the statement's columns: employee, date, status, data,
        // tally.
        let mut query = sqlx::query(AssertSqlSafe(sql.clone()));
        for row in chunk.into_iter().chain(padding) {
            query = query
                .bind(row.employee)
                .bind(row.date)
                .bind(row.status)
                .bind(row.data)
                .bind(row.tally);
        }
        query.execute(&mut **tx).await.map_err(db(what))?;
    }
    Ok(())
}
