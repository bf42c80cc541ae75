//! attendance-core's integration tests, one binary: the rules' invariants as properties
//! (`properties`), the daily rules table-driven (`rules`), the use cases end to end over the
//! in-memory store (`services`, feature `testkit`) and the set-based recompute against the
//! per-employee path (`recompute_props`, feature `testkit`). Proptest's recorded regressions are
//! where it reads them for a binary with a `main.rs`: `tests/proptest-regressions/<module>.txt`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod properties;
mod recompute_props;
mod rules;
mod services;
