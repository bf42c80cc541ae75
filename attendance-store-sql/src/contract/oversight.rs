//! [`AuditStore`], [`CorrectionStore`], [`ScanVoidStore`], [`DayOverrideStore`] and
//! [`SetAsideStore`] over a [`SqlBackend`].
//!
//! [`SetAsideStore`]: attendance_core::store::SetAsideStore
//! [`AuditStore`]: attendance_core::store::AuditStore
//! [`CorrectionStore`]: attendance_core::store::CorrectionStore
//! [`ScanVoidStore`]: attendance_core::store::ScanVoidStore
//! [`DayOverrideStore`]: attendance_core::store::DayOverrideStore

use attendance_core::audit::{AuditEntry, AuditQuery, NewAuditEntry};
use attendance_core::correction::{Correction, CorrectionId};
use attendance_core::employee::{DeviceUserId, EmployeeCode};
use attendance_core::overrides::DayOverride;
use attendance_core::store::{
    CorrectionQuery, Page, ScanVoid, SetAsideScan, StoreError, StoreResult,
};
use chrono::{DateTime, NaiveDate, Utc};

use super::{fetch_count, json_rows, not_found, unique_keys};
use crate::backend::{On, SqlBackend, SqlRow};
use crate::codec::{from_json, nanos_clamped, to_json};
use crate::stmt;

/// [`AuditStore::append_audit`](attendance_core::store::AuditStore::append_audit).
pub async fn append_audit<B: SqlBackend>(store: &B, entry: &NewAuditEntry) -> StoreResult<i64> {
    let what = "append an audit entry";
    let statement = stmt::insert_audit(
        nanos_clamped(entry.at),
        &entry.actor,
        entry.action.as_str(),
        &entry.target,
        to_json(entry)?,
    );
    let rows = store.fetch_all(On::Write, &statement, what).await?;
    let row = rows.first().ok_or_else(|| StoreError::Backend {
        message: "the new audit entry's id was not returned".into(),
        source: None,
    })?;
    row.int(0, what)
}

/// [`AuditStore::query_audit`](attendance_core::store::AuditStore::query_audit): the page and
/// its count from one read snapshot.
pub async fn query_audit<B: SqlBackend>(
    store: &B,
    query: &AuditQuery,
    offset: u64,
    limit: u64,
) -> StoreResult<Page<AuditEntry>> {
    let what = "query the audit log";
    let mut tx = store.begin_read().await?;
    let count = fetch_count(store, On::Tx(&mut tx), &stmt::count_audit(query), what).await?;
    let rows = store
        .fetch_all(
            On::Tx(&mut tx),
            &stmt::query_audit(query, offset, limit),
            what,
        )
        .await?;
    B::commit(tx, what).await?;
    let results = rows
        .iter()
        .map(|row| {
            Ok(AuditEntry {
                id: row.int(0, what)?,
                entry: from_json("audit entry", &row.text(1, what)?)?,
            })
        })
        .collect::<StoreResult<_>>()?;
    Ok(Page { count, results })
}

/// [`CorrectionStore::create_correction`](attendance_core::store::CorrectionStore::create_correction).
pub async fn create_correction<B: SqlBackend>(
    store: &B,
    correction: &Correction,
) -> StoreResult<()> {
    let statement = stmt::insert_correction(
        correction.id.as_str(),
        correction.employee_id.as_str(),
        correction.status.as_str(),
        nanos_clamped(correction.requested_at),
        to_json(correction)?,
    );
    match store
        .execute(On::Write, &statement, "create a correction")
        .await
    {
        Err(StoreError::Invalid(_)) => Err(StoreError::Invalid(format!(
            "correction {} of unknown employee {}",
            correction.id, correction.employee_id
        ))),
        other => other.map(|_| ()),
    }
}

/// [`CorrectionStore::correction`](attendance_core::store::CorrectionStore::correction).
pub async fn correction<B: SqlBackend>(store: &B, id: &CorrectionId) -> StoreResult<Correction> {
    let what = "read a correction";
    match store
        .fetch_optional(On::Read, &stmt::select_correction(id.as_str()), what)
        .await?
    {
        Some(row) => from_json("correction", &row.text(0, what)?),
        None => Err(not_found("correction", id)),
    }
}

/// [`CorrectionStore::decide_correction`](attendance_core::store::CorrectionStore::decide_correction):
/// one conditional update (`WHERE status = 'pending'`), so of racing decisions exactly one
/// changes the row.
pub async fn decide_correction<B: SqlBackend>(
    store: &B,
    correction: &Correction,
) -> StoreResult<()> {
    let what = "decide a correction";
    let statement = stmt::decide_correction(
        correction.id.as_str(),
        correction.status.as_str(),
        to_json(correction)?,
    );
    if store.execute(On::Write, &statement, what).await? > 0 {
        return Ok(());
    }
    let stored = self::correction(store, &correction.id).await?;
    Err(StoreError::Conflict(format!(
        "correction {} is {} already",
        correction.id,
        stored.status.as_str()
    )))
}

/// [`CorrectionStore::query_corrections`](attendance_core::store::CorrectionStore::query_corrections):
/// the page and its count from one read snapshot.
pub async fn query_corrections<B: SqlBackend>(
    store: &B,
    query: &CorrectionQuery,
) -> StoreResult<Page<Correction>> {
    if query.employees.as_ref().is_some_and(Vec::is_empty) {
        return Ok(Page {
            count: 0,
            results: Vec::new(),
        });
    }
    let what = "query corrections";
    let mut tx = store.begin_read().await?;
    let count = fetch_count(
        store,
        On::Tx(&mut tx),
        &stmt::count_corrections(query),
        what,
    )
    .await?;
    let rows = store
        .fetch_all(On::Tx(&mut tx), &stmt::query_corrections(query), what)
        .await?;
    B::commit(tx, what).await?;
    Ok(Page {
        count,
        results: json_rows(&rows, "correction")?,
    })
}

/// [`ScanVoidStore::void_scan`](attendance_core::store::ScanVoidStore::void_scan): the scan's
/// existence checked in the insert's transaction; a second void hits the primary key.
pub async fn void_scan<B: SqlBackend>(store: &B, void: &ScanVoid) -> StoreResult<()> {
    let what = "void a scan";
    let mut tx = store.begin_write().await?;
    if fetch_count(store, On::Tx(&mut tx), &B::count_scan(&void.scan), what).await? == 0 {
        return Err(not_found("scan", &void.scan));
    }
    let statement = stmt::insert_void(&void.scan, to_json(void)?);
    match store.execute(On::Tx(&mut tx), &statement, what).await {
        Err(StoreError::Conflict(_)) => {
            return Err(StoreError::Conflict(format!(
                "scan {} is voided already",
                void.scan
            )));
        }
        other => other?,
    };
    B::commit(tx, what).await
}

/// [`ScanVoidStore::voids_of_users`](attendance_core::store::ScanVoidStore::voids_of_users):
/// one read per chunk of users.
pub async fn voids_of_users<B: SqlBackend>(
    store: &B,
    users: &[DeviceUserId],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> StoreResult<Vec<ScanVoid>> {
    let what = "read the voids of users";
    let users = unique_keys(users.iter().map(DeviceUserId::as_str));
    let mut voids: Vec<ScanVoid> = Vec::new();
    for chunk in store.key_chunks(&users) {
        let statement = stmt::select_voids_of_users(chunk, from.timestamp(), to.timestamp());
        let rows = store.fetch_all(On::Read, &statement, what).await?;
        voids.extend(json_rows::<ScanVoid>(&rows, "scan void")?);
    }
    voids.sort_by(|a, b| a.scan.cmp(&b.scan));
    Ok(voids)
}

/// [`DayOverrideStore::put_override`](attendance_core::store::DayOverrideStore::put_override):
/// the old one read and the new one written in one transaction.
pub async fn put_override<B: SqlBackend>(
    store: &B,
    day: &DayOverride,
) -> StoreResult<Option<DayOverride>> {
    let what = "set a day override";
    let mut tx = store.begin_write().await?;
    let old = match store
        .fetch_optional(
            On::Tx(&mut tx),
            &stmt::select_override(&day.employee_id, day.date),
            what,
        )
        .await?
    {
        Some(row) => Some(from_json::<DayOverride>(
            "day override",
            &row.text(0, what)?,
        )?),
        None => None,
    };
    let statement = stmt::upsert_override(&day.employee_id, day.date, to_json(day)?);
    match store.execute(On::Tx(&mut tx), &statement, what).await {
        Err(StoreError::Invalid(_)) => {
            return Err(StoreError::Invalid(format!(
                "override of unknown employee {}",
                day.employee_id
            )));
        }
        other => other?,
    };
    B::commit(tx, what).await?;
    Ok(old)
}

/// [`DayOverrideStore::remove_override`](attendance_core::store::DayOverrideStore::remove_override).
pub async fn remove_override<B: SqlBackend>(
    store: &B,
    employee: &EmployeeCode,
    date: NaiveDate,
) -> StoreResult<DayOverride> {
    let what = "remove a day override";
    let rows = store
        .fetch_all(On::Write, &stmt::delete_override(employee, date), what)
        .await?;
    match rows.first() {
        Some(row) => from_json("day override", &row.text(0, what)?),
        None => Err(not_found("day override", format!("{employee} {date}"))),
    }
}

/// [`DayOverrideStore::overrides`](attendance_core::store::DayOverrideStore::overrides): one
/// read, or one per chunk of employees.
pub async fn overrides<B: SqlBackend>(
    store: &B,
    employees: Option<&[EmployeeCode]>,
    from: NaiveDate,
    to: NaiveDate,
) -> StoreResult<Vec<DayOverride>> {
    let what = "read day overrides";
    let Some(employees) = employees else {
        let rows = store
            .fetch_all(On::Read, &stmt::select_overrides(None, from, to), what)
            .await?;
        return json_rows(&rows, "day override");
    };
    let codes = unique_keys(employees.iter().map(EmployeeCode::as_str));
    let mut found: Vec<DayOverride> = Vec::new();
    for chunk in store.key_chunks(&codes) {
        let statement = stmt::select_overrides(Some(chunk), from, to);
        let rows = store.fetch_all(On::Read, &statement, what).await?;
        found.extend(json_rows::<DayOverride>(&rows, "day override")?);
    }
    found.sort_by(|a, b| (&a.employee_id, a.date).cmp(&(&b.employee_id, b.date)));
    Ok(found)
}

/// Set-aside scans a statement at most (5 parameters each).
const SET_ASIDE_ROWS: usize = 500;

/// [`SetAsideStore::keep_set_aside`](attendance_core::store::SetAsideStore::keep_set_aside):
/// one transaction, one insert per 500 scans.
pub async fn keep_set_aside<B: SqlBackend>(
    store: &B,
    scans: &[SetAsideScan],
) -> StoreResult<usize> {
    let what = "keep set-aside scans";
    if scans.is_empty() {
        return Ok(0);
    }
    let rows = scans
        .iter()
        .map(|scan| Ok((scan, to_json(scan)?)))
        .collect::<StoreResult<Vec<_>>>()?;
    let mut tx = store.begin_write().await?;
    let mut kept = 0;
    for chunk in rows.chunks(SET_ASIDE_ROWS) {
        let statement = stmt::insert_set_aside(chunk);
        kept += store.execute(On::Tx(&mut tx), &statement, what).await?;
    }
    B::commit(tx, what).await?;
    Ok(usize::try_from(kept).unwrap_or(usize::MAX))
}

/// [`SetAsideStore::set_aside_scans`](attendance_core::store::SetAsideStore::set_aside_scans):
/// the page and its count from one read snapshot.
pub async fn set_aside_scans<B: SqlBackend>(
    store: &B,
    offset: u64,
    limit: u64,
) -> StoreResult<Page<SetAsideScan>> {
    let what = "read the set-aside scans";
    let mut tx = store.begin_read().await?;
    let count = fetch_count(store, On::Tx(&mut tx), &stmt::count_set_aside(), what).await?;
    let rows = store
        .fetch_all(
            On::Tx(&mut tx),
            &stmt::select_set_aside(offset, limit),
            what,
        )
        .await?;
    B::commit(tx, what).await?;
    let results = json_rows(&rows, "set-aside scan")?;
    Ok(Page { count, results })
}
