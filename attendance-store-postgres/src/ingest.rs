//! PostgreSQL's scan ingest: a group of batches (any machines) in one transaction, through
//! parameter arrays or, from [`COPY_MIN_SCANS`] scans, `COPY` (straight into the table when
//! every scan is new, else through a staging table); the group's cursors in one upsert.
//!
//! - **A small group** (at most [`SMALL_GROUP_SCANS`]: the few scans of live terminals,
//!   however many terminals) is one statement, one round trip: the insert and the cursors as
//!   two parts of one `WITH` ([`stmt::PG_INGEST_SMALL_GROUP`]).
//! - **A larger one** is `BEGIN`, one `UNNEST` anti-join insert per
//!   [`ARRAY_BUDGET`](crate::backend::ARRAY_BUDGET) bytes, the cursors, `COMMIT`.
//!
//! The anti-join paths fall back to `ON CONFLICT DO NOTHING` when a racing writer stored one
//! of the scans in between.

use std::collections::BTreeMap;

use attendance_core::store::{IngestOutcome, ScanBatch, StoreError, StoreResult};
use attendance_store_sql::backend::{SqlBackend, SqlRow};
use attendance_store_sql::codec::ScanRow;
use attendance_store_sql::error::db;
use attendance_store_sql::ingest::{NewKeys, PreparedBatch, group_outcomes, prepare_group};
use sqlx::{Postgres, Transaction};

use crate::backend::{ARRAY_BUDGET, chunks_by_bytes};
use crate::{PgStore, stmt};

/// Groups of at least this many scans are stored with `COPY`; smaller ones with the parameter
/// arrays, which need fewer round trips for a few rows. Measured with the ADMS benchmark once
/// sqlx set `TCP_NODELAY` again: from 400 (its 500-line uploads through `COPY`), every record
/// 1.7–2.2 s after the first upload and a batch p99 of 48–63 ms, against 2.5–3.0 s and 69–94 ms
/// from 4,000, in the same minutes. (Before, from 256 had doubled the batch median: a `COPY`
/// over 16 KiB waited for the delayed ACK.)
pub const COPY_MIN_SCANS: usize = 400;

/// Groups of at most this many scans are one statement ([`stmt::PG_INGEST_SMALL_GROUP`]: its
/// `ON CONFLICT` costs more per row than the anti-join, nothing next to the round trips it
/// saves for a few rows); larger ones the anti-join in a transaction.
pub const SMALL_GROUP_SCANS: usize = 100;

/// Stores one group of scan batches in one transaction: with `COPY` from [`COPY_MIN_SCANS`]
/// scans, else with parameter arrays (a small group in one statement).
pub(crate) async fn ingest_group(
    store: &PgStore,
    batches: Vec<ScanBatch>,
) -> StoreResult<Vec<IngestOutcome>> {
    let prepared = prepare_group(&batches)?;
    if prepared.iter().map(|p| p.rows.len()).sum::<usize>() >= COPY_MIN_SCANS {
        return copy_group(store, &batches, prepared).await;
    }
    // In key order, so the index is walked in order and racing writers lock keys in the same
    // order (no deadlock between overlapping groups).
    let mut rows: Vec<&ScanRow> = prepared.iter().flat_map(|p| &p.rows).collect();
    rows.sort_unstable_by(|a, b| a.pg_key().cmp(&b.pg_key()));
    if rows.len() <= SMALL_GROUP_SCANS {
        let new_keys = ingest_small_group(store, &batches, &rows).await?;
        return Ok(group_outcomes(prepared, Some(&new_keys)));
    }
    let statement = stmt::PG_INSERT_NEW_SCANS_UNNEST;
    let new_keys = match insert_group(store, &batches, &rows, statement).await {
        Ok(new_keys) => new_keys,
        // A concurrent transaction stored one of these scans between the anti-join and the
        // insert; nothing of this attempt was kept, so run it again the safe way.
        Err(StoreError::Conflict(_)) => {
            let statement = stmt::PG_INSERT_SCANS_UNNEST_ON_CONFLICT;
            insert_group(store, &batches, &rows, statement).await?
        }
        Err(other) => return Err(other),
    };
    Ok(group_outcomes(prepared, Some(&new_keys)))
}

/// The estimated parameter bytes of a row: seven array elements of a 4-byte length each, 24
/// bytes of numbers, the texts.
fn row_bytes(r: &&ScanRow) -> usize {
    52 + r.machine_id.len() + r.device_user_id.len() + r.raw.as_ref().map_or(0, String::len)
}

/// `statement` with `rows` bound as its seven column arrays (`$1`–`$7`).
fn bind_rows<'q>(
    statement: &'static str,
    rows: &[&'q ScanRow],
) -> sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments> {
    sqlx::query(statement)
        .bind(
            rows.iter()
                .map(|r| r.machine_id.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            rows.iter()
                .map(|r| r.device_user_id.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(rows.iter().map(|r| r.at_second).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.at_ns).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.punch_state).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.verify_mode).collect::<Vec<_>>())
        .bind(rows.iter().map(|r| r.raw.as_deref()).collect::<Vec<_>>())
}

/// Adds the keys of `returned` rows (`machine_id, device_user_id, at_second`) to `new_keys`.
fn add_new_keys(returned: &[sqlx::postgres::PgRow], new_keys: &mut NewKeys) -> StoreResult<()> {
    let what = "store scans";
    for row in returned {
        new_keys
            .entry(row.text(0, what)?)
            .or_default()
            .insert((row.text(1, what)?, row.int(2, what)?));
    }
    Ok(())
}

/// Inserts `rows` (of any machines, in key order) with `statement` (one of the
/// `PG_INSERT_*SCANS_UNNEST` statements) in statements of at most
/// [`ARRAY_BUDGET`](crate::backend::ARRAY_BUDGET) bytes, adding the keys that were new to
/// `new_keys`.
async fn insert_unnest(
    tx: &mut Transaction<'static, Postgres>,
    rows: &[&ScanRow],
    statement: &'static str,
    new_keys: &mut NewKeys,
) -> StoreResult<()> {
    for chunk in chunks_by_bytes(rows, ARRAY_BUDGET, row_bytes) {
        let returned = bind_rows(statement, chunk)
            .fetch_all(&mut **tx)
            .await
            .map_err(db("store scans"))?;
        add_new_keys(&returned, new_keys)?;
    }
    Ok(())
}

/// Each machine's last cursor in group order (a later batch's replaces an earlier one's, as
/// if the batches were stored one after the other), in key order, so racing writers lock the
/// rows in the same order.
fn last_cursors(batches: &[ScanBatch]) -> BTreeMap<&str, &str> {
    batches
        .iter()
        .filter_map(|b| Some((b.machine_id.as_str(), b.cursor.as_ref()?.0.as_str())))
        .collect()
}

/// Stores a small group (at most [`SMALL_GROUP_SCANS`] rows, in key order) and its cursors
/// with [`stmt::PG_INGEST_SMALL_GROUP`]: one round trip, its own transaction.
async fn ingest_small_group(
    store: &PgStore,
    batches: &[ScanBatch],
    rows: &[&ScanRow],
) -> StoreResult<NewKeys> {
    let last = last_cursors(batches);
    let returned = bind_rows(stmt::PG_INGEST_SMALL_GROUP, rows)
        .bind(last.keys().copied().collect::<Vec<_>>())
        .bind(last.values().copied().collect::<Vec<_>>())
        .fetch_all(&store.pool)
        .await
        .map_err(db("store scans"))?;
    let mut new_keys = NewKeys::new();
    add_new_keys(&returned, &mut new_keys)?;
    Ok(new_keys)
}

/// Stores the cursors of `batches` in one upsert: each machine's last one in group order, as
/// if the batches were stored one after the other.
async fn store_cursors(
    tx: &mut Transaction<'static, Postgres>,
    batches: &[ScanBatch],
) -> StoreResult<()> {
    let last = last_cursors(batches);
    if last.is_empty() {
        return Ok(());
    }
    sqlx::query(stmt::PG_UPSERT_CURSORS_UNNEST)
        .bind(last.keys().copied().collect::<Vec<_>>())
        .bind(last.values().copied().collect::<Vec<_>>())
        .execute(&mut **tx)
        .await
        .map_err(db("store the machine cursors"))?;
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

/// Inserts a prepared group with `statement` (one of the `PG_INSERT_*SCANS_UNNEST`
/// statements, every batch's rows together in key order) and stores every batch's cursor, in
/// one transaction; the keys that were new.
async fn insert_group(
    store: &PgStore,
    batches: &[ScanBatch],
    rows: &[&ScanRow],
    statement: &'static str,
) -> StoreResult<NewKeys> {
    let what = "store scans";
    // Plan the insert for the table as it is now: a generic plan cached while the table was
    // small hash-joins a sequential scan of it for the anti-join, and ingest turns quadratic
    // (measured: 600,000 scans in four minutes). Set with the `BEGIN`, in the same round trip.
    let mut tx = store
        .pool
        .begin_with("BEGIN; SET LOCAL plan_cache_mode = force_custom_plan")
        .await
        .map_err(db("begin a transaction"))?;
    let mut new_keys = NewKeys::new();
    insert_unnest(&mut tx, rows, statement, &mut new_keys).await?;
    store_cursors(&mut tx, batches).await?;
    tx.commit().await.map_err(db(what))?;
    Ok(new_keys)
}

/// Stores a large prepared group with `COPY`: straight into the table when every scan is
/// new; else, after the unique violation that tells, through this connection's staging
/// table and one anti-join insert (`ON CONFLICT DO NOTHING` if a racing writer stores one
/// of the scans in between).
async fn copy_group(
    store: &PgStore,
    batches: &[ScanBatch],
    prepared: Vec<PreparedBatch>,
) -> StoreResult<Vec<IngestOutcome>> {
    // In key order, so the index is walked in order and racing writers lock keys in the
    // same order (no deadlock between overlapping groups).
    let mut rows: Vec<&ScanRow> = prepared.iter().flat_map(|p| &p.rows).collect();
    rows.sort_unstable_by(|a, b| a.pg_key().cmp(&b.pg_key()));
    let data = stmt::pg_copy_text(rows.iter().copied());
    match copy_direct(store, batches, &data).await {
        Ok(()) => return Ok(group_outcomes(prepared, None)),
        Err(StoreError::Conflict(_)) => {}
        Err(other) => return Err(other),
    }
    let new_keys = match copy_staged(store, batches, &data, stmt::PG_MOVE_NEW_SCANS).await {
        Ok(new_keys) => new_keys,
        Err(StoreError::Conflict(_)) => {
            copy_staged(store, batches, &data, stmt::PG_MOVE_SCANS_ON_CONFLICT).await?
        }
        Err(other) => return Err(other),
    };
    Ok(group_outcomes(prepared, Some(&new_keys)))
}

/// `COPY` of `data` into the scans table and the cursors, in one transaction;
/// [`StoreError::Conflict`] (and nothing stored) if any scan was stored already.
async fn copy_direct(store: &PgStore, batches: &[ScanBatch], data: &[u8]) -> StoreResult<()> {
    let what = "copy scans";
    let mut tx = store.begin_write().await?;
    copy_in(&mut tx, stmt::PG_COPY_SCANS, data, what).await?;
    store_cursors(&mut tx, batches).await?;
    tx.commit().await.map_err(db(what))
}

/// `COPY` of `data` into the staging table, then `statement` (one of the `PG_MOVE_*`
/// statements) and the cursors, in one transaction; the keys that were new.
async fn copy_staged(
    store: &PgStore,
    batches: &[ScanBatch],
    data: &[u8],
    statement: &'static str,
) -> StoreResult<NewKeys> {
    let what = "copy scans through the staging table";
    let mut tx = store.begin_write().await?;
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
            .entry(row.text(0, what)?)
            .or_default()
            .insert((row.text(1, what)?, row.int(2, what)?));
    }
    store_cursors(&mut tx, batches).await?;
    tx.commit().await.map_err(db(what))?;
    Ok(new_keys)
}
