//! The SQLite store's integration tests, one binary: core's conformance suite in memory and on
//! files, leave documents in files, and what the suite cannot check (crashes, failing
//! transactions, real concurrency, reopening, migrations).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod conformance;
mod documents;
mod durability;
mod policies;
