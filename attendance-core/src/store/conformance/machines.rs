//! Machines and their statuses: round trip and typed clashes.

use super::fixtures::{at, id};
use super::{CheckResult, fail};
use crate::machine::{Machine, NewMachine};
use crate::store::{MachineStatus, Store, StoreError};

pub(super) async fn machines_round_trip_and_clash_typed<S: Store + ?Sized>(
    store: &S,
) -> CheckResult {
    let machine = id(Machine::parse(
        &NewMachine {
            machine_id: "BOCK200961014".into(),
            name: "Gate 1".into(),
            machine_type: "zkteco".into(),
            ip_address: "192.0.2.10".into(),
            config: Some(serde_json::json!({"comm_key": 1234})),
            ..NewMachine::default()
        },
        chrono_tz::Asia::Dhaka,
    ))?;
    store.create_machine(&machine).await.map_err(fail)?;
    ensure!(
        matches!(
            store.create_machine(&machine).await,
            Err(StoreError::Conflict(_))
        ),
        "a second machine with one id must be a Conflict"
    );
    ensure!(
        store.machine(&machine.machine_id).await.map_err(fail)? == machine,
        "read back differs"
    );
    let mut synced = machine.clone();
    synced.last_sync = Some(at(5));
    synced.enabled = false;
    store.update_machine(&synced).await.map_err(fail)?;
    ensure!(
        store.list_machines().await.map_err(fail)? == [synced.clone()],
        "update not listed"
    );
    store
        .delete_machine(&machine.machine_id)
        .await
        .map_err(fail)?;
    ensure!(
        matches!(
            store.machine(&machine.machine_id).await,
            Err(StoreError::NotFound { .. })
        ),
        "deleted machine must be NotFound"
    );
    Ok(())
}

pub(super) async fn machine_statuses_round_trip<S: Store + ?Sized>(store: &S) -> CheckResult {
    let machine = id(Machine::parse(
        &NewMachine {
            machine_id: "GATE-2".into(),
            name: "Gate 2".into(),
            machine_type: "simulated".into(),
            ..NewMachine::default()
        },
        chrono_tz::Asia::Dhaka,
    ))?;
    let mut status = MachineStatus {
        machine_id: machine.machine_id.clone(),
        connected: true,
        last_seen: Some(at(3)),
        last_error: None,
        clock_drift_seconds: Some(-4),
        updated_at: at(3),
    };
    ensure!(
        matches!(
            store.put_machine_status(&status).await,
            Err(StoreError::NotFound { .. })
        ),
        "the status of an unregistered machine must be NotFound"
    );
    store.create_machine(&machine).await.map_err(fail)?;
    ensure!(
        store.machine_statuses().await.map_err(fail)?.is_empty(),
        "no status before the first"
    );
    store.put_machine_status(&status).await.map_err(fail)?;
    status.connected = false;
    status.last_error = Some("connection refused: 192.0.2.1:4370".into());
    status.updated_at = at(4);
    store.put_machine_status(&status).await.map_err(fail)?;
    let got = store.machine_statuses().await.map_err(fail)?;
    ensure!(got == [status.clone()], "status read back: {got:?}");
    Ok(())
}
