//! `attendance-adapters`: the device adapters of the attendance platform.
//!
//! So far: the ZKTeco binary protocol ([`zk`]) with its client and, behind the `fakes` feature, a
//! fake device to test against.

pub mod zk;
