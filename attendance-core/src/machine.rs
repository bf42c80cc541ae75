//! Fingerprint machines as the site registers them.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::employee::Department;
use crate::error::{ValidationError, non_empty_trimmed};
use crate::scan::MachineId;

/// The protocol a machine speaks, serialised as the API spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MachineType {
    /// ZKTeco binary protocol on TCP/UDP 4370 (pull and live capture).
    Zkteco,
    /// ZKTeco ADMS / PUSH: the device posts to `/iclock/…`.
    ZktecoAdms,
    /// Hikvision ISAPI access control.
    Hikvision,
    /// Suprema BioStar 2 REST.
    Suprema,
    /// A cheap device that writes lines over TCP.
    GenericTcp,
    /// The built-in simulator.
    Simulated,
}

impl MachineType {
    /// Every type, in API order.
    pub const ALL: [Self; 6] = [
        Self::Zkteco,
        Self::ZktecoAdms,
        Self::Hikvision,
        Self::Suprema,
        Self::GenericTcp,
        Self::Simulated,
    ];

    /// The API name (`zkteco_adms`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Zkteco => "zkteco",
            Self::ZktecoAdms => "zkteco_adms",
            Self::Hikvision => "hikvision",
            Self::Suprema => "suprema",
            Self::GenericTcp => "generic_tcp",
            Self::Simulated => "simulated",
        }
    }
}

impl fmt::Display for MachineType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for MachineType {
    type Err = ValidationError;

    /// Parses the API name; returns an error listing the valid names otherwise.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == text.trim())
            .ok_or_else(|| ValidationError::Invalid {
                field: "machine_type",
                reason: "must be zkteco, zkteco_adms, hikvision, suprema, generic_tcp or simulated",
                value: text.to_owned(),
            })
    }
}

/// A registered machine. Its clock is naive local time in `time_zone`; adapters apply it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    /// The machine's id (its serial).
    pub machine_id: MachineId,
    /// A name to show.
    pub name: String,
    /// The protocol.
    pub machine_type: MachineType,
    /// Host name or address (empty for push devices and the simulator).
    pub ip_address: String,
    /// Port (4370 for ZKTeco).
    pub port: u16,
    /// Where it hangs.
    pub location: String,
    /// The department it serves, if one.
    pub department: Option<Department>,
    /// The zone of the machine's clock.
    pub time_zone: Tz,
    /// Whether the platform reads it.
    pub enabled: bool,
    /// Protocol settings (comm key, credentials, poll interval, …), parsed by the adapter.
    pub config: serde_json::Value,
    /// When a scan was last read from it.
    pub last_sync: Option<DateTime<Utc>>,
}

/// A machine as a user submits it, before validation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NewMachine {
    /// The machine's id.
    pub machine_id: String,
    /// A name to show.
    pub name: String,
    /// The protocol's API name.
    pub machine_type: String,
    /// Host name or address.
    #[serde(default)]
    pub ip_address: String,
    /// Port; defaults per type (4370 for ZKTeco, 80 for HTTP devices).
    #[serde(default)]
    pub port: Option<u16>,
    /// Where it hangs.
    #[serde(default)]
    pub location: String,
    /// The department it serves.
    #[serde(default)]
    pub department: Option<String>,
    /// The zone of its clock; the site's zone when absent.
    #[serde(default)]
    pub time_zone: Option<String>,
    /// Whether to read it; `true` when absent.
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Protocol settings.
    #[serde(default)]
    pub config: Option<serde_json::Value>,
}

impl Machine {
    /// Validates `input`, with `site_zone` as the clock's zone when none is given. Returns the
    /// first invalid field: the id, an empty name, an unknown type or zone, a pulled machine
    /// without an address, or a config that is not a JSON object.
    pub fn parse(input: &NewMachine, site_zone: Tz) -> Result<Self, ValidationError> {
        let machine_type: MachineType = input.machine_type.parse()?;
        let time_zone = match input.time_zone.as_deref() {
            Some(zone) if !zone.trim().is_empty() => {
                zone.trim()
                    .parse::<Tz>()
                    .map_err(|_| ValidationError::Invalid {
                        field: "time_zone",
                        reason: "must be an IANA zone name such as Asia/Dhaka",
                        value: zone.to_owned(),
                    })?
            }
            _ => site_zone,
        };
        let pulled = matches!(
            machine_type,
            MachineType::Zkteco
                | MachineType::Hikvision
                | MachineType::Suprema
                | MachineType::GenericTcp
        );
        let ip_address = input.ip_address.trim().to_owned();
        if pulled && ip_address.is_empty() {
            return Err(ValidationError::Empty {
                field: "ip_address",
            });
        }
        let config = input
            .config
            .clone()
            .unwrap_or_else(|| serde_json::json!({}));
        if !config.is_object() {
            return Err(ValidationError::Invalid {
                field: "config",
                reason: "must be a JSON object",
                value: config.to_string(),
            });
        }
        let default_port = match machine_type {
            MachineType::Zkteco => 4370,
            MachineType::GenericTcp => 5005,
            MachineType::Simulated => 0,
            _ => 80,
        };
        Ok(Self {
            machine_id: MachineId::parse(&input.machine_id)?,
            name: non_empty_trimmed("name", &input.name, 100)?,
            machine_type,
            ip_address,
            port: input.port.unwrap_or(default_port),
            location: input.location.trim().to_owned(),
            department: match input.department.as_deref() {
                Some(d) if !d.trim().is_empty() => Some(Department::parse(d)?),
                _ => None,
            },
            time_zone,
            enabled: input.enabled.unwrap_or(true),
            config,
            last_sync: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(kind: &str, ip: &str) -> NewMachine {
        NewMachine {
            machine_id: "BOCK200961014".into(),
            name: "Gate 1".into(),
            machine_type: kind.into(),
            ip_address: ip.into(),
            ..NewMachine::default()
        }
    }

    #[test]
    fn machines_validate_with_per_type_defaults() {
        let m = Machine::parse(&input("zkteco", "192.0.2.10"), chrono_tz::Asia::Dhaka).unwrap();
        assert_eq!(
            (m.port, m.time_zone, m.enabled),
            (4370, chrono_tz::Asia::Dhaka, true)
        );
        let m = Machine::parse(&input("zkteco_adms", ""), chrono_tz::UTC).unwrap();
        assert_eq!(m.machine_type, MachineType::ZktecoAdms);
        assert_eq!(
            Machine::parse(&input("zkteco", " "), chrono_tz::UTC).unwrap_err(),
            ValidationError::Empty {
                field: "ip_address"
            }
        );
        assert!(Machine::parse(&input("anviz", "x"), chrono_tz::UTC).is_err());
        let mut bad_zone = input("simulated", "");
        bad_zone.time_zone = Some("Mars/Olympus".into());
        assert!(
            Machine::parse(&bad_zone, chrono_tz::UTC)
                .unwrap_err()
                .to_string()
                .contains("time_zone")
        );
        let mut bad_config = input("simulated", "");
        bad_config.config = Some(serde_json::json!([1]));
        assert!(Machine::parse(&bad_config, chrono_tz::UTC).is_err());
        for t in MachineType::ALL {
            assert_eq!(t.as_str().parse::<MachineType>().unwrap(), t);
            assert_eq!(serde_json::to_value(t).unwrap(), t.as_str());
        }
    }
}
