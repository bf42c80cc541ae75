//! What the criterion benchmarks share: the deterministic factory month they measure
//! ([`factory_month`], [`factory_days`], [`Rng`]), the plumbing of a run (environment knobs, a
//! runtime, a group of a few long samples, scans grouped per machine) and fresh PostgreSQL
//! databases ([`pg::PgServer`]) and the server binary run as a process ([`server::ServerProcess`]).

mod factory;
mod harness;
pub mod pg;
pub mod server;

pub use factory::{FactoryMonth, Rng, factory_days, factory_month, load_month};
pub use harness::{by_machine, env_usize, flat_group, runtime, selected};
