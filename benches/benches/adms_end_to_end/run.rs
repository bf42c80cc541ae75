//! One measured run: a fresh server and database, the devices pushing, the store polled until
//! every daily record holds every punch.

use std::path::Path;
use std::time::{Duration, Instant};

use attendance_benches::env_usize;
use attendance_benches::pg::PgServer;

use crate::devices::push;
use crate::report::write_trace;
use attendance_benches::server::ServerProcess;

use crate::server::set_up;
use crate::store::Db;
use crate::workload::Workload;

/// Where the server under test keeps its data.
pub(crate) enum Backend {
    /// SQLite in the run's data directory.
    Sqlite,
    /// A fresh database `name` at `url` on `server`, dropped after the run.
    Postgres {
        server: PgServer,
        name: String,
        url: String,
    },
}

impl Backend {
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres { .. } => "postgres",
        }
    }
}

/// What one run measured.
#[derive(Debug, Clone)]
pub(crate) struct RunResult {
    pub(crate) acked: Duration,
    /// `None` when the records were not complete before the timeout.
    pub(crate) records: Option<Duration>,
    pub(crate) p50: Duration,
    pub(crate) p99: Duration,
    pub(crate) max: Duration,
    pub(crate) requests: usize,
    pub(crate) peak_rss: Option<u64>,
    pub(crate) busy: u64,
    pub(crate) errors: u64,
    pub(crate) scans_stored: u64,
    pub(crate) records_stored: u64,
    pub(crate) scans_in_records: u64,
}

/// One run against `binary` with `work`: on SQLite, or on a fresh database of `postgres`.
pub(crate) async fn run_once(
    binary: &Path,
    work: &Workload,
    postgres: Option<&PgServer>,
) -> RunResult {
    let data = tempfile::tempdir().unwrap();
    let backend = match postgres {
        None => Backend::Sqlite,
        Some(server) => {
            let (name, url) = server.create("att_e2e").await.unwrap();
            Backend::Postgres {
                server: server.clone(),
                name,
                url,
            }
        }
    };
    let result = {
        let url = match &backend {
            Backend::Sqlite => None,
            Backend::Postgres { url, .. } => Some(url.as_str()),
        };
        let server = ServerProcess::start(binary, data.path(), url);
        set_up(&server.base, work).await;
        let mut db = Db::open(&backend, data.path()).await;
        let timeout = Duration::from_secs(env_usize("ATT_E2E_TIMEOUT_SECS", 600) as u64);

        // The timed part.
        let started = Instant::now();
        let pushers: Vec<_> = work
            .devices
            .iter()
            .map(|(serial, bodies)| {
                tokio::spawn(push(server.base.clone(), serial.clone(), bodies.clone()))
            })
            .collect();
        let mut outcomes = Vec::new();
        for p in pushers {
            outcomes.push(p.await.unwrap());
        }
        let acked = started.elapsed();
        if let Ok(path) = std::env::var("ATT_E2E_TRACE") {
            write_trace(&format!("{path}.{}.csv", backend.name()), &outcomes);
        }
        let records = wait_for_records(&mut db, work, started, timeout).await;
        let peak_rss = server.peak_rss();
        let (scans_stored, records_stored, scans_in_records) = (
            db.scans().await,
            db.records().await,
            db.scans_in_records().await,
        );
        db.close().await;
        drop(server);
        if let Ok(path) = std::env::var("ATT_E2E_SERVER_LOG") {
            let _ = std::fs::copy(
                data.path().join("server.log"),
                format!("{path}.{}.log", backend.name()),
            );
        }
        let mut latencies: Vec<Duration> = outcomes
            .iter()
            .flat_map(|o| o.latencies.iter().copied())
            .collect();
        latencies.sort_unstable();
        let at = |q: f64| {
            latencies
                .get(((latencies.len() as f64 * q).ceil() as usize).saturating_sub(1))
                .copied()
                .unwrap_or_default()
        };
        RunResult {
            acked,
            records,
            p50: at(0.50),
            p99: at(0.99),
            max: latencies.last().copied().unwrap_or_default(),
            requests: latencies.len(),
            peak_rss,
            busy: outcomes.iter().map(|o| o.busy).sum(),
            errors: outcomes.iter().map(|o| o.errors).sum(),
            scans_stored,
            records_stored,
            scans_in_records,
        }
    };
    if let Backend::Postgres { server, name, .. } = &backend {
        server.drop_database(name).await.unwrap();
    }
    result
}

/// The time from `started` until the store holds every daily record of `work` and together they
/// hold every punch, polled every 50 ms; `None` at `timeout`, or when nothing has changed for
/// `ATT_E2E_STALL_SECS` (lines lost: the counts would never be reached).
async fn wait_for_records(
    db: &mut Db,
    work: &Workload,
    started: Instant,
    timeout: Duration,
) -> Option<Duration> {
    let expected_records = work.expected_records as u64;
    let punches = work.punches as u64;
    let stall = Duration::from_secs(env_usize("ATT_E2E_STALL_SECS", 60) as u64);
    let mut last = (0, 0);
    let mut last_change = Instant::now();
    loop {
        let now = (db.records().await, db.scans().await);
        if now.0 >= expected_records && now.1 >= punches && db.scans_in_records().await >= punches {
            return Some(started.elapsed());
        }
        if now != last {
            last = now;
            last_change = Instant::now();
        }
        if started.elapsed() > timeout || last_change.elapsed() > stall {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
