//! The report: each run on one line, then a table per backend beside the peer and the goals.

use std::time::Duration;

use crate::devices::DeviceOutcome;
use crate::run::RunResult;
use crate::workload::Workload;

/// The goals: 50 times the peer's speed (about 3 s), p99 under 100 ms, RSS under 150 MB.
const GOAL_RECORDS_SECS: f64 = 3.0;
const GOAL_P99_MS: f64 = 100.0;
const GOAL_RSS_MB: f64 = 150.0;

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

pub(crate) fn print_run(name: &str, work: &Workload, r: &RunResult) {
    let records = r.records.map_or_else(|| "INCOMPLETE".to_owned(), secs);
    eprintln!(
        "adms_end_to_end {name}: acked {} | records {records} | p50 {} p99 {} max {} ({} requests) | RSS {} | 503s {} | errors {} | scans {}/{} | records {}/{} holding {} scans",
        secs(r.acked),
        ms(r.p50),
        ms(r.p99),
        ms(r.max),
        r.requests,
        r.peak_rss
            .map_or_else(|| "?".into(), |b| format!("{:.1} MB", b as f64 / 1e6)),
        r.busy,
        r.errors,
        r.scans_stored,
        work.punches,
        r.records_stored,
        work.expected_records,
        r.scans_in_records,
    );
}

fn median<T: Copy + Ord>(mut values: Vec<T>) -> Option<T> {
    values.sort_unstable();
    values.get(values.len() / 2).copied()
}

pub(crate) fn print_summary(name: &str, peer_secs: f64, work: &Workload, runs: &[RunResult]) {
    if runs.is_empty() {
        return;
    }
    let complete: Vec<Duration> = runs.iter().filter_map(|r| r.records).collect();
    let acked = median(runs.iter().map(|r| r.acked).collect()).unwrap_or_default();
    let records = median(complete.clone());
    let p50 = median(runs.iter().map(|r| r.p50).collect()).unwrap_or_default();
    let p99 = median(runs.iter().map(|r| r.p99).collect()).unwrap_or_default();
    let rss = runs.iter().filter_map(|r| r.peak_rss).max();
    let busy: u64 = runs.iter().map(|r| r.busy).sum();
    let lost: u64 = runs
        .iter()
        .map(|r| (work.punches as u64).saturating_sub(r.scans_stored))
        .sum();
    let rate = records.map(|d| work.punches as f64 / d.as_secs_f64());
    let mut t = String::new();
    t.push_str(&format!(
        "\nadms_end_to_end — {name}: {} punches, {} employees, {} devices, {} daily records, {} run(s) (medians; RSS the largest; 503s and lost lines summed)\n",
        work.punches,
        work.employees,
        work.devices.len(),
        work.expected_records,
        runs.len()
    ));
    t.push_str(&format!(
        "  {:<28} {:>14} {:>14} {:>12}\n",
        "", "ours", "peer", "goal"
    ));
    let row = |t: &mut String, what: &str, ours: String, peer: String, goal: String| {
        t.push_str(&format!("  {what:<28} {ours:>14} {peer:>14} {goal:>12}\n"));
    };
    row(
        &mut t,
        "all batches acknowledged",
        secs(acked),
        "-".into(),
        "-".into(),
    );
    row(
        &mut t,
        "all daily records",
        records.map_or_else(|| "INCOMPLETE".into(), secs),
        format!("{peer_secs:.0} s"),
        format!("≤ {GOAL_RECORDS_SECS:.0} s"),
    );
    row(
        &mut t,
        "  incomplete runs",
        format!("{}", runs.len() - complete.len()),
        "-".into(),
        "0".into(),
    );
    row(
        &mut t,
        "punches/s (to all records)",
        rate.map_or_else(|| "-".into(), |r| format!("{r:.0}")),
        format!("{:.0}", 100_000.0 / peer_secs),
        format!("≥ {:.0}", 100_000.0 / GOAL_RECORDS_SECS),
    );
    row(
        &mut t,
        "speed-up (punches/s)",
        records.map_or_else(
            || "-".into(),
            |d| {
                format!(
                    "{:.1}×",
                    peer_secs / d.as_secs_f64() * work.punches as f64 / 100_000.0
                )
            },
        ),
        "1×".into(),
        "≥ 50×".into(),
    );
    row(&mut t, "batch latency p50", ms(p50), "-".into(), "-".into());
    row(
        &mut t,
        "batch latency p99",
        ms(p99),
        "-".into(),
        format!("< {GOAL_P99_MS:.0} ms"),
    );
    row(
        &mut t,
        "peak RSS (VmHWM)",
        rss.map_or_else(|| "?".into(), |b| format!("{:.1} MB", b as f64 / 1e6)),
        "-".into(),
        format!("< {GOAL_RSS_MB:.0} MB"),
    );
    row(
        &mut t,
        "503 replies",
        busy.to_string(),
        "-".into(),
        "-".into(),
    );
    row(
        &mut t,
        "lost lines (sent − stored)",
        lost.to_string(),
        "-".into(),
        "0".into(),
    );
    eprintln!("{t}");
}

/// Every request's start and latency, per device, as CSV into `path` (`ATT_E2E_TRACE`).
pub(crate) fn write_trace(path: &str, outcomes: &[DeviceOutcome]) {
    let mut trace = String::from("device,start_ms,latency_ms\n");
    for (device, o) in outcomes.iter().enumerate() {
        for (start, latency) in o.starts.iter().zip(&o.latencies) {
            trace.push_str(&format!(
                "{device},{:.1},{:.1}\n",
                start.as_secs_f64() * 1e3,
                latency.as_secs_f64() * 1e3
            ));
        }
    }
    std::fs::write(path, trace).unwrap();
}
