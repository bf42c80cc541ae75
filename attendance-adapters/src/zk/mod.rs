//! ZKTeco binary protocol ("standalone SDK", TCP or UDP port 4370).
//!
//! Layers follow the wire, as in mini-redis: [`codec`] is pure bytes ↔ values (frames, checksum,
//! comm key, times, records, users, events); the client and the fake device build on it.

pub mod codec;
#[cfg(feature = "fakes")]
pub mod fake;
