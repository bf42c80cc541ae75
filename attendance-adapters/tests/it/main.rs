//! The integration tests of `attendance-adapters`, linked as one test binary: each module was its
//! own test file, and one binary links once instead of once per file. Fixtures stay under
//! `tests/fixtures`, the Python scripts of the third-party checks under `tests/pyzk` and
//! `tests/hikvisionapi`; the tests find them through `CARGO_MANIFEST_DIR`.
//!
//! Modules that drive the fake devices need the `fakes` feature:
//! `cargo test -p attendance-adapters --all-features`.

// Test helpers may panic: that is a test failure, not a bug.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

mod adms_fixtures;
mod adms_props;
#[cfg(feature = "fakes")]
mod adms_server;
#[cfg(feature = "fakes")]
mod biostar_client;
mod biostar_fixtures;
mod biostar_props;
mod engine;
mod generic_tcp;
#[cfg(feature = "fakes")]
mod hikvision_client;
mod hikvision_fixtures;
mod hikvision_props;
#[cfg(feature = "fakes")]
mod hikvisionapi;
#[cfg(feature = "fakes")]
mod manager;
#[cfg(feature = "fakes")]
mod pyzk;
mod simulator;
#[cfg(feature = "fakes")]
mod zk_adapter;
#[cfg(feature = "fakes")]
mod zk_client;
mod zk_codec_props;
mod zk_fixtures;
