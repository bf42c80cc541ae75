//! [`ScanStore`](attendance_core::store::ScanStore) over a [`SqlBackend`]: ingest goes to the
//! backend's own [`SqlBackend::ingest_group`], reads are shared.

use attendance_core::employee::DeviceUserId;
use attendance_core::scan::{MachineId, ScanData};
use attendance_core::store::{IngestOutcome, MachineCursor, ScanBatch, StoreResult};
use chrono::{DateTime, Utc};

use super::{fetch_count, unique_keys};
use crate::backend::{On, SqlBackend, SqlRow};
use crate::codec::nanos_clamped;
use crate::ingest::only_outcome;
use crate::schema::Scans;
use crate::stmt;

/// [`ScanStore::record_scans`](attendance_core::store::ScanStore::record_scans): a group of one.
pub async fn record_scans<B: SqlBackend>(
    store: &B,
    batch: ScanBatch,
) -> StoreResult<IngestOutcome> {
    only_outcome(store.ingest_group(vec![batch]).await?)
}

/// [`ScanStore::record_scan_batches`](attendance_core::store::ScanStore::record_scan_batches):
/// one group, one transaction.
pub async fn record_scan_batches<B: SqlBackend>(
    store: &B,
    batches: Vec<ScanBatch>,
) -> StoreResult<Vec<IngestOutcome>> {
    store.ingest_group(batches).await
}

/// Stores the cursor of every batch that has one in `tx`, in order (the last of a machine
/// stands): the end of every backend's ingest.
pub async fn store_cursors<B: SqlBackend>(
    store: &B,
    tx: &mut B::Tx,
    batches: &[ScanBatch],
    what: &'static str,
) -> StoreResult<()> {
    for batch in batches {
        if let Some(cursor) = &batch.cursor {
            let statement = stmt::upsert_cursor(&batch.machine_id, &cursor.0);
            store.execute(On::Tx(&mut *tx), &statement, what).await?;
        }
    }
    Ok(())
}

/// [`ScanStore::machine_cursor`](attendance_core::store::ScanStore::machine_cursor).
pub async fn machine_cursor<B: SqlBackend>(
    store: &B,
    machine: &MachineId,
) -> StoreResult<Option<MachineCursor>> {
    let what = "read a machine cursor";
    match store
        .fetch_optional(On::Read, &stmt::select_cursor(machine), what)
        .await?
    {
        Some(row) => Ok(Some(MachineCursor(row.text(0, what)?))),
        None => Ok(None),
    }
}

/// [`ScanStore::scans_of_user`](attendance_core::store::ScanStore::scans_of_user), with the
/// backend's [`SqlBackend::select_scans_of_user`].
pub async fn scans_of_user<B: SqlBackend>(
    store: &B,
    user: &DeviceUserId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> StoreResult<Vec<ScanData>> {
    let what = "read the scans of a user";
    let statement = B::select_scans_of_user(user, nanos_clamped(from), nanos_clamped(to));
    store
        .fetch_all(On::Read, &statement, what)
        .await?
        .iter()
        .map(|row| row.scan(what))
        .collect()
}

/// [`ScanStore::scans_of_users`](attendance_core::store::ScanStore::scans_of_users): one
/// [`SqlBackend::scans_of_user_chunk`] per chunk of [`SqlBackend::key_chunks`].
pub async fn scans_of_users<B: SqlBackend>(
    store: &B,
    users: &[DeviceUserId],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> StoreResult<Vec<ScanData>> {
    let users = unique_keys(users.iter().map(DeviceUserId::as_str));
    let (from, to) = (nanos_clamped(from), nanos_clamped(to));
    let mut scans = Vec::new();
    // The chunks are in user order, so their results follow one another.
    for chunk in store.key_chunks(&users) {
        scans.extend(store.scans_of_user_chunk(chunk, from, to).await?);
    }
    Ok(scans)
}

/// [`ScanStore::count_scans`](attendance_core::store::ScanStore::count_scans).
pub async fn count_scans<B: SqlBackend>(store: &B) -> StoreResult<u64> {
    fetch_count(
        store,
        On::Read,
        &stmt::count_all(Scans::Table),
        "count scans",
    )
    .await
}
