//! ZKTeco ADMS / PUSH ("iclock" over HTTP): the device is the HTTP client and pushes its punches
//! to our server (`docs/protocols/zkteco-adms.md`).
//!
//! - [`codec`]: pure text ↔ values (`ATTLOG`, `OPERLOG`, handshake, commands, replies);
//! - [`server`]: the [`AdmsHub`] and the axum [`router`] a host mounts;
//! - [`adapter`]: [`AdmsAdapter`], the `BaseMachineAdapter` of a push device over the hub;
//! - `fake` (feature `fakes`): a fake device that pushes to any ADMS server.

pub mod adapter;
pub mod codec;
#[cfg(feature = "fakes")]
pub mod fake;
pub mod server;

pub use adapter::{AdmsAdapter, AdmsMachineConfig};
pub use server::{AdmsConfig, AdmsDevice, AdmsHub, DeviceStatus, device_time_zone, router};
