//! [`HolidayStore`](attendance_core::store::HolidayStore) over a [`SqlBackend`].

use attendance_core::holiday::Holiday;
use attendance_core::store::{StoreError, StoreResult, StoredHoliday};

use super::not_found;
use crate::backend::{On, SqlBackend, SqlRow};
use crate::codec::{from_json, to_json};
use crate::stmt;

/// [`HolidayStore::create_holiday`](attendance_core::store::HolidayStore::create_holiday): the
/// holiday with the id the database gave it.
pub async fn create_holiday<B: SqlBackend>(
    store: &B,
    holiday: &Holiday,
) -> StoreResult<StoredHoliday> {
    let what = "create a holiday";
    let statement = stmt::insert_holiday(holiday.start(), to_json(holiday)?);
    let rows = store.fetch_all(On::Write, &statement, what).await?;
    let row = rows.first().ok_or_else(|| StoreError::Backend {
        message: "the new holiday's id was not returned".into(),
        source: None,
    })?;
    Ok(StoredHoliday {
        id: row.int(0, what)?,
        holiday: holiday.clone(),
    })
}

/// Holiday `id` as stored, in `tx`; [`StoreError::NotFound`] if there is none.
async fn old_holiday<B: SqlBackend>(
    store: &B,
    tx: &mut B::Tx,
    id: i64,
    what: &'static str,
) -> StoreResult<Holiday> {
    match store
        .fetch_optional(On::Tx(tx), &stmt::select_holiday(id), what)
        .await?
    {
        Some(row) => from_json("holiday", &row.text(0, what)?),
        None => Err(not_found("holiday", id)),
    }
}

/// [`HolidayStore::update_holiday`](attendance_core::store::HolidayStore::update_holiday): what
/// it was.
pub async fn update_holiday<B: SqlBackend>(
    store: &B,
    id: i64,
    holiday: &Holiday,
) -> StoreResult<Holiday> {
    let what = "update a holiday";
    let mut tx = store.begin_write().await?;
    let old = old_holiday(store, &mut tx, id, what).await?;
    let statement = stmt::update_holiday(id, holiday.start(), to_json(holiday)?);
    store.execute(On::Tx(&mut tx), &statement, what).await?;
    B::commit(tx, what).await?;
    Ok(old)
}

/// [`HolidayStore::delete_holiday`](attendance_core::store::HolidayStore::delete_holiday): what
/// it was.
pub async fn delete_holiday<B: SqlBackend>(store: &B, id: i64) -> StoreResult<Holiday> {
    let what = "delete a holiday";
    let mut tx = store.begin_write().await?;
    let old = old_holiday(store, &mut tx, id, what).await?;
    store
        .execute(On::Tx(&mut tx), &stmt::delete_holiday(id), what)
        .await?;
    B::commit(tx, what).await?;
    Ok(old)
}

/// [`HolidayStore::holiday`](attendance_core::store::HolidayStore::holiday).
pub async fn holiday<B: SqlBackend>(store: &B, id: i64) -> StoreResult<StoredHoliday> {
    let what = "read a holiday";
    match store
        .fetch_optional(On::Read, &stmt::select_holiday(id), what)
        .await?
    {
        Some(row) => Ok(StoredHoliday {
            id,
            holiday: from_json("holiday", &row.text(0, what)?)?,
        }),
        None => Err(not_found("holiday", id)),
    }
}

/// [`HolidayStore::list_holidays`](attendance_core::store::HolidayStore::list_holidays).
pub async fn list_holidays<B: SqlBackend>(store: &B) -> StoreResult<Vec<StoredHoliday>> {
    let what = "list holidays";
    store
        .fetch_all(On::Read, &stmt::list_holidays(), what)
        .await?
        .iter()
        .map(|row| {
            Ok(StoredHoliday {
                id: row.int(0, what)?,
                holiday: from_json("holiday", &row.text(1, what)?)?,
            })
        })
        .collect()
}
