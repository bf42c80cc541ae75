//! ZKTeco binary protocol ("standalone SDK", TCP or UDP port 4370;
//! `docs/protocols/zkteco-binary.md`).
//!
//! Layers follow the wire, as in mini-redis:
//! - [`codec`]: pure bytes ↔ values (frames, checksum, comm key, times, records, users, events);
//! - `transport` (private): packets over a TCP stream (frame reassembly) or a UDP socket;
//! - [`client`]: our async client, producing [`attendance_core::scan::ScanData`];
//! - [`adapter`]: the client as a [`crate::BaseMachineAdapter`], with a log cursor;
//! - `fake` (feature `fakes`): a fake terminal speaking the same codec from the other side.

pub mod adapter;
pub mod client;
pub mod codec;
#[cfg(feature = "fakes")]
pub mod fake;
mod transport;
