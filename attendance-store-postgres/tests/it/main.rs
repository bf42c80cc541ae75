//! The PostgreSQL store's integration tests, one binary, each test on a fresh database of the
//! server `DATABASE_URL` names (through the crate's `testkit`; skipped without it unless `CI`
//! is set): core's conformance suite, leave documents, and what the suite cannot check (lost
//! connections, failing transactions, racing writers, migrations).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod cluster;
mod conformance;
mod documents;
mod durability;
mod policies;
