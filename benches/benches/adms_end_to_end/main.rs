//! ADMS push end to end, over real HTTP against the real `attendance-server serve` binary: the
//! workload a peer ZKTeco push server was measured with, replayed against ours.
//!
//! Per backend (SQLite in the data directory; PostgreSQL on a fresh database per run when
//! `DATABASE_URL` is set, else skipped with a note) and per run:
//! 1. start the server as a child process on `127.0.0.1:0` with a fresh data directory;
//! 2. through the REST API (bearer token of the first admin): 1,000 employees (device user ids
//!    1..=1000) and 4 `zkteco_adms` machines whose serials are their ids; wait until each
//!    device's handshake `GET /iclock/cdata?SN=…&options=all` answers 200;
//! 3. timed: 4 concurrent devices, each POSTing its share of 100,000 punches (30 days, site zone
//!    Asia/Dhaka, chronological, device local time) as 500-line `ATTLOG` batches to
//!    `/iclock/cdata?SN=…&table=ATTLOG&Stamp=…`, one request in flight per device, a new TCP
//!    connection per request; a 503 is counted and the batch re-sent after a short wait;
//! 4. measured: (a) from the first upload until every batch is answered `OK`; (b) from the first
//!    upload until every daily record exists and together they hold every punch (the store is
//!    read directly: the SQLite file read-only, or the PostgreSQL database); (c) the request
//!    latencies' p50 and p99 (every request a device made, 503s included); (d) the server's peak
//!    RSS (`VmHWM`); (e) the scans stored, which must be exactly the punches sent.
//!
//! Criterion measures (b); a plain table per backend follows, beside the peer's figures.
//!
//! The server binary is built first (`cargo build --profile bench -p attendance-server`, a no-op
//! when it is up to date) into the target directory this benchmark runs from; set
//! `ATT_E2E_SERVER_BIN` to use another binary instead.
//!
//! Environment:
//! - `ATT_E2E_PUNCHES` (default 100,000), `ATT_E2E_EMPLOYEES` (default punches / 100, at most
//!   1,000), `ATT_E2E_DAYS` (30), `ATT_E2E_DEVICES` (4), `ATT_E2E_BATCH` (500 lines);
//! - `ATT_E2E_ONLY=sqlite|postgres`: one backend;
//! - `ATT_E2E_TRACE=PATH`: every request's start and latency, per backend, into
//!   `PATH.<backend>.csv` (to see where the slow requests sit); `ATT_E2E_RUST_LOG` the server's
//!   `RUST_LOG` (default `warn`) and `ATT_E2E_SERVER_LOG=PATH` its log kept as
//!   `PATH.<backend>.log`;
//! - `ATT_E2E_ONCE=1`: one measured run per backend (printed, no criterion sampling), instead
//!   of criterion's warm-up run and 10 samples;
//! - `ATT_E2E_TIMEOUT_SECS` (600): the most a run waits for its records, and
//!   `ATT_E2E_STALL_SECS` (60) the most it waits with no new scan or record stored; a run that
//!   gives up is reported as incomplete with what was stored.
//!
//! Without `--bench` (criterion's test mode, `cargo test --benches`) the workload is 2,000
//! punches.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod devices;
mod report;
mod run;
mod server;
mod store;
mod workload;

use std::sync::Mutex;
use std::time::Duration;

use attendance_benches::pg::PgServer;
use attendance_benches::{env_usize, flat_group, runtime, selected};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

use crate::report::{print_run, print_summary};
use crate::run::{RunResult, run_once};
use crate::workload::workload;
use attendance_benches::server::server_binary;

/// The peer's time until every record existed, seconds: SQLite-equivalent, PostgreSQL-equivalent.
const PEER_SQLITE_SECS: f64 = 148.0;
const PEER_POSTGRES_SECS: f64 = 250.0;

fn bench_mode() -> bool {
    std::env::args().any(|a| a == "--bench")
}

fn adms_end_to_end(c: &mut Criterion) {
    let quick = !bench_mode();
    let punches = if quick {
        2_000
    } else {
        env_usize("ATT_E2E_PUNCHES", 100_000)
    };
    let employees = env_usize("ATT_E2E_EMPLOYEES", (punches / 100).clamp(1, 1_000));
    let work = workload(
        punches,
        employees,
        env_usize("ATT_E2E_DAYS", 30).max(1),
        env_usize("ATT_E2E_DEVICES", 4).max(1),
        env_usize("ATT_E2E_BATCH", 500),
    );
    let binary = server_binary();
    let runtime = runtime().unwrap();
    let once = quick || std::env::var("ATT_E2E_ONCE").is_ok_and(|v| !v.is_empty() && v != "0");
    let postgres = PgServer::from_env("adms_end_to_end", "backend");
    let mut backends: Vec<(&str, Option<PgServer>, f64)> = Vec::new();
    if selected("ATT_E2E_ONLY", "sqlite") {
        backends.push(("sqlite", None, PEER_SQLITE_SECS));
    }
    if let Some(server) = postgres
        && selected("ATT_E2E_ONLY", "postgres")
    {
        backends.push(("postgres", Some(server), PEER_POSTGRES_SECS));
    }
    for (name, server, peer) in backends {
        let runs: Mutex<Vec<RunResult>> = Mutex::new(Vec::new());
        let run = |runs: &Mutex<Vec<RunResult>>| {
            let result = runtime.block_on(run_once(&binary, &work, server.as_ref()));
            print_run(name, &work, &result);
            let took = result
                .records
                .unwrap_or(result.acked.max(Duration::from_secs(1)));
            runs.lock().unwrap().push(result);
            took
        };
        if once {
            run(&runs);
        } else {
            let mut group = flat_group(
                c,
                format!("adms_end_to_end_{}_punches", work.punches),
                Duration::from_millis(1),
                Duration::from_millis(1),
            );
            group.throughput(Throughput::Elements(work.punches as u64));
            group.bench_function(format!("{name}_all_records"), |b| {
                b.iter_custom(|iters| (0..iters).map(|_| run(&runs)).sum());
            });
            group.finish();
        }
        print_summary(name, peer, &work, &runs.lock().unwrap());
    }
}

criterion_group!(benches, adms_end_to_end);
criterion_main!(benches);
