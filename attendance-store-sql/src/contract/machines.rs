//! [`MachineStore`](attendance_core::store::MachineStore) over a [`SqlBackend`].

use attendance_core::machine::Machine;
use attendance_core::scan::MachineId;
use attendance_core::store::{MachineStatus, StoreError, StoreResult};

use super::{fetch_count, json_rows, not_found};
use crate::backend::{On, SqlBackend, SqlRow};
use crate::codec::{from_json, to_json};
use crate::stmt;

/// [`MachineStore::create_machine`](attendance_core::store::MachineStore::create_machine).
pub async fn create_machine<B: SqlBackend>(store: &B, machine: &Machine) -> StoreResult<()> {
    let statement = stmt::insert_machine(&machine.machine_id, to_json(machine)?);
    store
        .execute(On::Write, &statement, "create a machine")
        .await?;
    Ok(())
}

/// [`MachineStore::update_machine`](attendance_core::store::MachineStore::update_machine).
pub async fn update_machine<B: SqlBackend>(store: &B, machine: &Machine) -> StoreResult<()> {
    let statement = stmt::update_machine(&machine.machine_id, to_json(machine)?);
    match store
        .execute(On::Write, &statement, "update a machine")
        .await?
    {
        0 => Err(not_found("machine", &machine.machine_id)),
        _ => Ok(()),
    }
}

/// [`MachineStore::machine`](attendance_core::store::MachineStore::machine).
pub async fn machine<B: SqlBackend>(store: &B, id: &MachineId) -> StoreResult<Machine> {
    let what = "read a machine";
    match store
        .fetch_optional(On::Read, &stmt::select_machine(id), what)
        .await?
    {
        Some(row) => from_json("machine", &row.text(0, what)?),
        None => Err(not_found("machine", id)),
    }
}

/// [`MachineStore::list_machines`](attendance_core::store::MachineStore::list_machines).
pub async fn list_machines<B: SqlBackend>(store: &B) -> StoreResult<Vec<Machine>> {
    let rows = store
        .fetch_all(On::Read, &stmt::list_machines(), "list machines")
        .await?;
    json_rows(&rows, "machine")
}

/// [`MachineStore::delete_machine`](attendance_core::store::MachineStore::delete_machine): its
/// status goes with it, its scans and cursor stay.
pub async fn delete_machine<B: SqlBackend>(store: &B, id: &MachineId) -> StoreResult<()> {
    let what = "delete a machine";
    let mut tx = store.begin_write().await?;
    store
        .execute(On::Tx(&mut tx), &stmt::delete_machine_status(id), what)
        .await?;
    let deleted = store
        .execute(On::Tx(&mut tx), &stmt::delete_machine(id), what)
        .await?;
    if deleted == 0 {
        return Err(not_found("machine", id));
    }
    B::commit(tx, what).await
}

/// [`MachineStore::put_machine_status`](attendance_core::store::MachineStore::put_machine_status).
pub async fn put_machine_status<B: SqlBackend>(
    store: &B,
    status: &MachineStatus,
) -> StoreResult<()> {
    let what = "store a machine status";
    let mut tx = store.begin_write().await?;
    let machines = stmt::count_machine(&status.machine_id);
    if fetch_count(store, On::Tx(&mut tx), &machines, what).await? == 0 {
        return Err(not_found("machine", &status.machine_id));
    }
    let statement = stmt::upsert_machine_status(&status.machine_id, to_json(status)?);
    match store.execute(On::Tx(&mut tx), &statement, what).await {
        // The machine was deleted in between by a concurrent transaction.
        Err(StoreError::Invalid(_)) => {
            return Err(not_found("machine", &status.machine_id));
        }
        other => other?,
    };
    B::commit(tx, what).await
}

/// [`MachineStore::machine_statuses`](attendance_core::store::MachineStore::machine_statuses).
pub async fn machine_statuses<B: SqlBackend>(store: &B) -> StoreResult<Vec<MachineStatus>> {
    let statement = stmt::list_machine_statuses();
    let rows = store
        .fetch_all(On::Read, &statement, "list machine statuses")
        .await?;
    json_rows(&rows, "machine status")
}
