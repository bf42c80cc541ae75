//! The plumbing every bench repeats: its knobs from the environment, the runtime, the criterion
//! group of a few long samples, and scans grouped per machine as the engine batches them.

use std::collections::BTreeMap;
use std::time::Duration;

use attendance_core::scan::{MachineId, ScanData};
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, SamplingMode};

/// The count in the environment variable `name` (`100_000` and `100000` alike), else
/// `default` (unset or not a count).
pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().replace('_', "").parse().ok())
        .unwrap_or(default)
}

/// Whether the store `backend` (`sqlite`, `postgres`) runs: the environment variable `only`
/// (`ATT_BENCH_ONLY`, `ATT_E2E_ONLY`) is unset, empty or names it.
pub fn selected(only: &str, backend: &str) -> bool {
    let only = std::env::var(only).unwrap_or_default();
    only.is_empty() || only == backend
}

/// The runtime the store benches drive: multi-threaded, two workers (the machine's cores).
pub fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
}

/// A group named `name` for workloads of seconds each: 10 samples, flat sampling (each sample
/// the same number of iterations), `warm_up` and `measurement` as given.
pub fn flat_group<'a>(
    c: &'a mut Criterion,
    name: impl Into<String>,
    warm_up: Duration,
    measurement: Duration,
) -> BenchmarkGroup<'a, WallTime> {
    let mut group = c.benchmark_group(name);
    group
        .sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(warm_up)
        .measurement_time(measurement);
    group
}

/// `scans` per machine, each machine's in the order given.
pub fn by_machine<'a>(
    scans: impl IntoIterator<Item = &'a ScanData>,
) -> BTreeMap<MachineId, Vec<ScanData>> {
    let mut by_machine: BTreeMap<MachineId, Vec<ScanData>> = BTreeMap::new();
    for scan in scans {
        by_machine
            .entry(scan.machine_id.clone())
            .or_default()
            .push(scan.clone());
    }
    by_machine
}
