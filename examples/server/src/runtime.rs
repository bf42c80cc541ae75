//! The machine runtime is library code: [`attendance_adapters::runtime`] (re-exported here so
//! `attendance_server::runtime::…` paths keep working). The server only wires HTTP around it.

pub use attendance_adapters::runtime::*;
