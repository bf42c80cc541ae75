//! [`DailyRecordStore`](attendance_core::store::DailyRecordStore) over a [`SqlBackend`]: the
//! upsert goes through the backend's own [`SqlBackend::write_records`], the rest is shared.

use attendance_core::daily::{DailyRecord, DayTally};
use attendance_core::employee::EmployeeCode;
use attendance_core::status::AttendanceStatus;
use attendance_core::store::{Page, RecordQuery, StoreError, StoreResult};
use chrono::NaiveDate;

use super::{fetch_count, json_rows, not_found, record_rows};
use crate::backend::{On, SqlBackend, SqlRow};
use crate::codec::{from_json, parse_stored, to_u64};
use crate::stmt;

/// [`DailyRecordStore::upsert_records`](attendance_core::store::DailyRecordStore::upsert_records):
/// unique by key, in key order, in one write transaction.
pub async fn upsert_records<B: SqlBackend>(store: &B, records: &[DailyRecord]) -> StoreResult<()> {
    let rows = record_rows(records)?;
    let what = "store daily records";
    if rows.is_empty() {
        return Ok(());
    }
    let mut tx = store.begin_write().await?;
    match store.write_records(&mut tx, rows).await {
        Err(StoreError::Invalid(_)) => {
            return Err(StoreError::Invalid(
                "daily record of an unknown employee".into(),
            ));
        }
        other => other?,
    };
    B::commit(tx, what).await
}

/// [`DailyRecordStore::record`](attendance_core::store::DailyRecordStore::record).
pub async fn record<B: SqlBackend>(
    store: &B,
    employee: &EmployeeCode,
    date: NaiveDate,
) -> StoreResult<Option<DailyRecord>> {
    let what = "read a daily record";
    let statement = stmt::select_record(employee, date);
    match store.fetch_optional(On::Read, &statement, what).await? {
        Some(row) => Ok(Some(from_json("daily record", &row.text(0, what)?)?)),
        None => Ok(None),
    }
}

/// [`DailyRecordStore::query_records`](attendance_core::store::DailyRecordStore::query_records):
/// the page and its count from one read snapshot.
pub async fn query_records<B: SqlBackend>(
    store: &B,
    query: &RecordQuery,
) -> StoreResult<Page<DailyRecord>> {
    let what = "query daily records";
    let mut tx = store.begin_read().await?;
    let count = fetch_count(store, On::Tx(&mut tx), &stmt::count_records(query), what).await?;
    let rows = store
        .fetch_all(On::Tx(&mut tx), &stmt::query_records(query), what)
        .await?;
    B::commit(tx, what).await?;
    Ok(Page {
        count,
        results: json_rows(&rows, "daily record")?,
    })
}

/// [`DailyRecordStore::query_record_tallies`](attendance_core::store::DailyRecordStore::query_record_tallies):
/// the fields read out of the stored JSON by the database ([`stmt::query_record_tallies`]).
pub async fn query_record_tallies<B: SqlBackend>(
    store: &B,
    query: &RecordQuery,
) -> StoreResult<Vec<DayTally>> {
    let what = "query daily record tallies";
    let rows = store
        .fetch_all(
            On::Read,
            &stmt::query_record_tallies(query, B::BACKEND),
            what,
        )
        .await?;
    rows.iter().map(|row| tally_of(row, what)).collect()
}

/// The array of [`stmt::TALLY_FIELDS`], in order.
pub(crate) type TallyFields = (
    NaiveDate,
    i64,
    i64,
    i64,
    i64,
    bool,
    bool,
    bool,
    bool,
    bool,
    bool,
);

/// The [`stmt::TALLY_FIELDS`] of `record`, as its `tally` column keeps them.
pub(crate) fn tally_fields(record: &DailyRecord) -> TallyFields {
    (
        record.date,
        record.working_seconds,
        record.overtime_seconds,
        record.extra_overtime_seconds,
        record.late_minutes,
        record.worked_on_holiday,
        record.worked_on_weekend,
        record.snacks_eligible,
        record.night_bill_eligible,
        record.half_day_leave,
        record.window_closed,
    )
}

fn tally_of(row: &impl SqlRow, what: &'static str) -> StoreResult<DayTally> {
    let (
        date,
        working_seconds,
        overtime_seconds,
        extra_overtime_seconds,
        late_minutes,
        worked_on_holiday,
        worked_on_weekend,
        snacks_eligible,
        night_bill_eligible,
        half_day_leave,
        window_closed,
    ): TallyFields = from_json("daily record fields", &row.text(2, what)?)?;
    Ok(DayTally {
        employee_id: EmployeeCode::parse(&row.text(0, what)?).map_err(|e| StoreError::Backend {
            message: "stored employee code does not validate".into(),
            source: Some(Box::new(e)),
        })?,
        status: parse_stored("status", &row.text(1, what)?)?,
        date,
        working_seconds,
        overtime_seconds,
        extra_overtime_seconds,
        late_minutes,
        worked_on_holiday,
        worked_on_weekend,
        snacks_eligible,
        night_bill_eligible,
        half_day_leave,
        window_closed,
    })
}

/// [`DailyRecordStore::delete_record`](attendance_core::store::DailyRecordStore::delete_record).
pub async fn delete_record<B: SqlBackend>(
    store: &B,
    employee: &EmployeeCode,
    date: NaiveDate,
) -> StoreResult<()> {
    let statement = stmt::delete_record(employee, date);
    match store
        .execute(On::Write, &statement, "delete a daily record")
        .await?
    {
        0 => Err(not_found("daily record", format!("{employee} {date}"))),
        _ => Ok(()),
    }
}

/// [`DailyRecordStore::count_records_by_status`](attendance_core::store::DailyRecordStore::count_records_by_status).
pub async fn count_records_by_status<B: SqlBackend>(
    store: &B,
    query: &RecordQuery,
) -> StoreResult<Vec<(AttendanceStatus, u64)>> {
    let what = "count daily records by status";
    store
        .fetch_all(On::Read, &stmt::count_records_by_status(query), what)
        .await?
        .iter()
        .map(|row| {
            let status: AttendanceStatus = parse_stored("status", &row.text(0, what)?)?;
            Ok((status, to_u64(what, row.int(1, what)?)?))
        })
        .collect()
}
