//! Which adapter reads which machine: [`adapter_for`].

use attendance_core::machine::{Machine, MachineType};
use chrono::{DateTime, Utc};

use crate::adapter::{AdapterError, BaseMachineAdapter, ConnectionReport};
use crate::biostar::BioStarAdapter;
use crate::generic_tcp::GenericTcpAdapter;
use crate::hikvision::HikvisionAdapter;
use crate::simulator::SimulatorAdapter;
use crate::zk::adapter::ZkAdapter;

/// The adapter for `machine`, chosen by its type and built from its config (without
/// connecting). Returns [`AdapterError::Config`] when the machine's config does not parse and
/// [`AdapterError::Unsupported`] for a type this build cannot read.
pub fn adapter_for(machine: &Machine) -> Result<Box<dyn BaseMachineAdapter>, AdapterError> {
    match machine.machine_type {
        MachineType::Zkteco => Ok(Box::new(ZkAdapter::new(machine.clone())?)),
        MachineType::Simulated => Ok(Box::new(SimulatorAdapter::new(machine.clone())?)),
        MachineType::GenericTcp => Ok(Box::new(GenericTcpAdapter::new(machine.clone())?)),
        MachineType::Hikvision => Ok(Box::new(HikvisionAdapter::new(machine.clone())?)),
        MachineType::Suprema => Ok(Box::new(BioStarAdapter::new(machine.clone())?)),
        // ADMS devices push to the `/iclock` routes: their adapter needs the router's hub
        // (`adms::AdmsAdapter::new(machine, hub)`), so it cannot be built from the machine alone.
        machine_type @ MachineType::ZktecoAdms => Err(AdapterError::Unsupported {
            machine_type,
            what: "be polled (they push to the /iclock routes; build adms::AdmsAdapter with the router's hub)",
        }),
    }
}

/// The keys of a machine type's config that hold secrets (the device's communication key, the
/// password of its API account), as its adapter's config schema names them: what an API must
/// never show and an audit trail never keep.
pub fn secret_config_keys(machine_type: MachineType) -> &'static [&'static str] {
    match machine_type {
        // `ZkMachineConfig::comm_key`; an ADMS device's config may carry the same key.
        MachineType::Zkteco | MachineType::ZktecoAdms => &["comm_key"],
        // `HikvisionConfig::password`, `BioStarConfig::password`.
        MachineType::Hikvision | MachineType::Suprema => &["password"],
        MachineType::GenericTcp | MachineType::Simulated => &[],
    }
}

/// What a "test connection" button needs: builds the adapter for `machine`, tests the
/// connection (clock drift against `now`) and disconnects. Errors as [`adapter_for`] and
/// [`BaseMachineAdapter::test_connection`].
pub async fn test_machine(
    machine: &Machine,
    now: DateTime<Utc>,
) -> Result<ConnectionReport, AdapterError> {
    let mut adapter = adapter_for(machine)?;
    let report = adapter.test_connection(now).await;
    if let Err(e) = adapter.disconnect().await {
        tracing::debug!(machine = %machine.machine_id, error = %e, "disconnect after a connection test failed");
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use attendance_core::machine::NewMachine;

    fn machine(kind: &str, config: serde_json::Value) -> Machine {
        Machine::parse(
            &NewMachine {
                machine_id: "M1".into(),
                name: "M".into(),
                machine_type: kind.into(),
                ip_address: "127.0.0.1".into(),
                config: Some(config),
                ..NewMachine::default()
            },
            chrono_tz::Asia::Dhaka,
        )
        .unwrap()
    }

    #[test]
    fn every_secret_key_is_a_field_of_its_config() {
        use attendance_core::machine::MachineType::*;
        // Each key names a real field: a config holding it parses for its type.
        for (kind, machine_type, config) in [
            ("zkteco", Zkteco, serde_json::json!({"comm_key": 1234})),
            (
                "hikvision",
                Hikvision,
                serde_json::json!({"username": "a", "password": "p"}),
            ),
            (
                "suprema",
                Suprema,
                serde_json::json!({"login_id": "a", "password": "p"}),
            ),
        ] {
            let keys = secret_config_keys(machine_type);
            assert!(!keys.is_empty());
            for key in keys {
                assert!(config.get(key).is_some(), "{kind}: {key}");
            }
            adapter_for(&machine(kind, config)).unwrap();
        }
        assert!(secret_config_keys(GenericTcp).is_empty());
    }

    #[test]
    fn chooses_by_type() {
        for kind in ["zkteco", "simulated", "generic_tcp"] {
            let a = adapter_for(&machine(kind, serde_json::json!({}))).unwrap();
            assert_eq!(a.machine().machine_type.as_str(), kind);
        }
        for (kind, config) in [
            (
                "hikvision",
                serde_json::json!({"username": "admin", "password": "secret"}),
            ),
            (
                "suprema",
                serde_json::json!({"login_id": "admin", "password": "secret"}),
            ),
        ] {
            let a = adapter_for(&machine(kind, config)).unwrap();
            assert_eq!(a.machine().machine_type.as_str(), kind);
        }
        let err = adapter_for(&machine("zkteco_adms", serde_json::json!({}))).unwrap_err();
        assert!(matches!(err, AdapterError::Unsupported { .. }), "{err}");
        let err = adapter_for(&machine("zkteco", serde_json::json!({"nope": 1}))).unwrap_err();
        assert!(matches!(err, AdapterError::Config { .. }), "{err}");
    }
}
