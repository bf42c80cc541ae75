//! SQLite's scan ingest: a group of batches in one write transaction, as multi-row inserts
//! rendered once per size and bound straight into sqlx, in the table's key order.

use std::collections::BTreeMap;
use std::sync::Arc;

use attendance_core::store::{IngestOutcome, ScanBatch, StoreError, StoreResult};
use attendance_store_sql::backend::{SqlBackend, SqlRow};
use attendance_store_sql::codec::ScanRow;
use attendance_store_sql::contract::scans::store_cursors;
use attendance_store_sql::error::db;
use attendance_store_sql::ingest::{NewKeys, PreparedBatch, group_outcomes, prepare_group};
use sea_query::SqliteQueryBuilder;
use sqlx::AssertSqlSafe;

use crate::SqliteStore;
use crate::stmt;

/// [`stmt::sqlite_insert_scans`] rendered for every size [`stmt::chunk_sizes`] can give.
#[derive(Debug)]
pub(crate) struct ScanInserts {
    /// Without `RETURNING`: the fast path, when every scan of the batch is new.
    plain: BTreeMap<usize, Arc<str>>,
    /// With `RETURNING` the new keys: when some were stored already.
    returning: BTreeMap<usize, Arc<str>>,
}

pub(crate) fn render_scan_inserts() -> StoreResult<ScanInserts> {
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

/// Stores one group of scan batches in one write transaction.
pub(crate) async fn ingest_group(
    store: &SqliteStore,
    batches: Vec<ScanBatch>,
) -> StoreResult<Vec<IngestOutcome>> {
    let prepared = prepare_group(&batches)?;
    // Usually every scan of a group is new: insert without RETURNING, which sqlx would
    // stream back row by row from its worker thread (measured: the largest cost of the
    // ingest), and compare the count. A group with scans stored already is rolled back and
    // stored again, learning which were new.
    if store_group(store, &batches, &prepared, false)
        .await?
        .is_some()
    {
        return Ok(group_outcomes(prepared, None));
    }
    match store_group(store, &batches, &prepared, true).await? {
        Some(new_keys) => Ok(group_outcomes(prepared, Some(&new_keys))),
        None => Err(StoreError::Backend {
            message: "storing scans with RETURNING did not commit".into(),
            source: None,
        }),
    }
}

/// Inserts the rows of a prepared group and every batch's cursor in one transaction. With
/// `returning`, commits and returns the new keys. Without, commits and returns an empty set
/// only if every row was new, else rolls back and returns `None`.
async fn store_group(
    store: &SqliteStore,
    batches: &[ScanBatch],
    prepared: &[PreparedBatch],
    returning: bool,
) -> StoreResult<Option<NewKeys>> {
    let what = "store scans";
    let statements = if returning {
        &store.insert_scans_sql.returning
    } else {
        &store.insert_scans_sql.plain
    };
    // The whole group in key order: the inserts walk the table's B-tree once, in order.
    let mut rows: Vec<&ScanRow> = prepared.iter().flat_map(|p| &p.rows).collect();
    rows.sort_unstable_by(|a, b| a.day_key().cmp(&b.day_key()));
    let mut tx = store.begin_write().await?;
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
                    .entry(row.text(0, what)?)
                    .or_default()
                    .insert((row.text(1, what)?, row.int(2, what)?));
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
    store_cursors(store, &mut tx, batches, what).await?;
    tx.commit().await.map_err(db(what))?;
    Ok(Some(new_keys))
}
