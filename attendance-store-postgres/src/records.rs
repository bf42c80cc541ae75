//! PostgreSQL's daily-record upserts: one statement of five arrays from [`ARRAY_MIN_RECORDS`]
//! records, else statements of bound rows within [`PARAM_BUDGET`](crate::backend::PARAM_BUDGET) bytes.

use attendance_core::store::StoreResult;
use attendance_store_sql::backend::{On, SqlBackend};
use attendance_store_sql::error::db;
use attendance_store_sql::stmt::{self as shared, RecordRow};
use sqlx::{Postgres, Transaction};

use crate::backend::{PARAM_BUDGET, chunks_by_bytes};
use crate::{PgStore, stmt};

/// Upserts of at least this many daily records are one statement of arrays, whatever the
/// count (one text, prepared once); smaller ones are statements of bound rows within
/// [`PARAM_BUDGET`](crate::backend::PARAM_BUDGET) bytes.
pub const ARRAY_MIN_RECORDS: usize = 8;

/// Inserts or replaces daily records in `tx`: from [`ARRAY_MIN_RECORDS`] in one statement of
/// five arrays ([`stmt::PG_UPSERT_RECORDS_UNNEST`]), else in statements of at most
/// [`PARAM_BUDGET`](crate::backend::PARAM_BUDGET) bytes of parameters.
pub(crate) async fn write_records(
    store: &PgStore,
    tx: &mut Transaction<'static, Postgres>,
    rows: Vec<RecordRow>,
) -> StoreResult<()> {
    let what = "store daily records";
    if rows.len() < ARRAY_MIN_RECORDS {
        let size =
            |r: &RecordRow| 64 + r.employee.len() + r.status.len() + r.data.len() + r.tally.len();
        for chunk in chunks_by_bytes(&rows, PARAM_BUDGET, size) {
            let statement = shared::upsert_records(chunk)?;
            store.execute(On::Tx(&mut *tx), &statement, what).await?;
        }
        return Ok(());
    }
    sqlx::query(stmt::PG_UPSERT_RECORDS_UNNEST)
        .bind(rows.iter().map(|r| r.employee.as_str()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.date).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.status.as_str()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.data.as_str()).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.tally.as_str()).collect::<Vec<_>>())
        .execute(&mut **tx)
        .await
        .map_err(db(what))?;
    Ok(())
}
