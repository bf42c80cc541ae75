//! The latency of storing one scan and recomputing its day, with a factory's history already
//! stored: 6,000 employees, 1.2 M scans (50 days) and their 300,000 daily records.
//!
//! Two measurements in the same run, on the same store:
//! - `store_only`: the scan is stored (one batch of one, with a cursor) and nothing else: the
//!   floor any ingest pays;
//! - `store_and_recompute`: the use case the engine runs, which also reads the settings, the
//!   holidays, the employee, their leave and the scans of the day's window, applies the rules and
//!   writes the day's record.
//!
//! Criterion reports the mean; the p50/p99/max over 2,000 single-scan calls are printed after it
//! (the goal is p99 under 5 ms on SQLite). `STORE_LATENCY_EMPLOYEES` and `STORE_LATENCY_DAYS`
//! scale the history down for a quick look.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use attendance_benches::{FactoryMonth, by_machine, env_usize, factory_days};
use attendance_core::prelude::*;
use attendance_core::service::AttendanceService;
use attendance_core::store::{MachineCursor, ScanBatch, Store};
use attendance_store_sqlite::{SqliteOptions, SqliteStore};
use chrono::{DateTime, TimeDelta, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use tokio::runtime::Runtime;

/// Stores the employees, the scans (in batches per machine, as the engine does) and the records.
async fn seed(store: &Arc<dyn Store>, factory: &FactoryMonth, now: DateTime<Utc>) {
    let started = Instant::now();
    for employee in &factory.employees {
        store.create_employee(employee).await.unwrap();
    }
    for (machine, scans) in by_machine(&factory.scans) {
        for (i, chunk) in scans.chunks(5_000).enumerate() {
            store
                .record_scans(ScanBatch {
                    machine_id: machine.clone(),
                    scans: chunk.to_vec(),
                    cursor: Some(MachineCursor(format!("{i}"))),
                })
                .await
                .unwrap();
        }
    }
    let mut by_user: BTreeMap<&DeviceUserId, Vec<&ScanData>> = BTreeMap::new();
    for scan in &factory.scans {
        by_user.entry(&scan.device_user_id).or_default().push(scan);
    }
    let roster = ShiftRoster::fixed(&factory.settings.default_shift);
    let calendar = DayCalendar::new();
    let mut records = Vec::new();
    for employee in &factory.employees {
        let ctx = EmployeeContext {
            settings: &factory.settings,
            employee,
            roster: &roster,
            calendar: &calendar,
        };
        let scans = by_user
            .get(&employee.device_user_id)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        records.extend(compute_days(
            &ctx,
            scans.iter().copied(),
            factory.first,
            factory.last,
            now,
        ));
        if records.len() >= 10_000 {
            store.upsert_records(&records).await.unwrap();
            records.clear();
        }
    }
    store.upsert_records(&records).await.unwrap();
    eprintln!(
        "seeded {} employees, {} scans, {} days in {:.1} s",
        factory.employees.len(),
        store.count_scans().await.unwrap(),
        (factory.last - factory.first).num_days() + 1,
        started.elapsed().as_secs_f64()
    );
}

/// A new scan each call: a different employee, a later second on the last day.
struct NextScan {
    factory: FactoryMonth,
    counter: AtomicI64,
    machine: MachineId,
}

impl NextScan {
    fn batch(&self) -> ScanBatch {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let employee = &self.factory.employees[n as usize % self.factory.employees.len()];
        let midnight = attendance_core::time::local_to_utc(
            self.factory.settings.time_zone,
            self.factory.last.and_hms_opt(0, 0, 0).unwrap(),
        );
        // 23:00 local on the last day (after the departures, inside the day's window), one
        // second later each time the employees come round again.
        let per_employee = n / self.factory.employees.len() as i64;
        ScanBatch {
            machine_id: self.machine.clone(),
            scans: vec![ScanData {
                machine_id: self.machine.clone(),
                device_user_id: employee.device_user_id.clone(),
                timestamp: midnight + TimeDelta::hours(23) + TimeDelta::seconds(per_employee),
                punch_state: PunchState::Other(255),
                verify_mode: VerifyMode::Fingerprint,
                raw: None,
            }],
            cursor: Some(MachineCursor(format!("live-{n}"))),
        }
    }
}

fn percentiles(label: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let at = |p: f64| samples[((samples.len() - 1) as f64 * p).round() as usize];
    eprintln!(
        "{label}: n={} p50={:.3} ms p99={:.3} ms max={:.3} ms",
        samples.len(),
        at(0.50).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        at(1.0).as_secs_f64() * 1e3,
    );
}

fn bench(c: &mut Criterion) {
    let employees = env_usize("STORE_LATENCY_EMPLOYEES", 6_000);
    let days = env_usize("STORE_LATENCY_DAYS", 50) as u64;
    let rt = Runtime::new().unwrap();
    let dir = std::env::temp_dir().join(format!("attendance-latency-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bench.sqlite");
    let store: Arc<dyn Store> = rt
        .block_on(SqliteStore::open(
            &path.display().to_string(),
            SqliteOptions::default(),
        ))
        .map(Arc::new)
        .unwrap();
    let factory = factory_days(employees, days, 7);
    let now = attendance_core::time::local_to_utc(
        factory.settings.time_zone,
        factory.last.and_hms_opt(23, 59, 0).unwrap(),
    );
    rt.block_on(seed(&store, &factory, now));
    let service = AttendanceService::new(store.clone());
    let next = NextScan {
        machine: MachineId::parse("LIVE-GATE").unwrap(),
        factory,
        counter: AtomicI64::new(0),
    };

    // Percentiles first, from single calls.
    let mut only = Vec::new();
    let mut full = Vec::new();
    for _ in 0..2_000 {
        let batch = next.batch();
        let t = Instant::now();
        rt.block_on(store.record_scans(batch)).unwrap();
        only.push(t.elapsed());
        let batch = next.batch();
        let t = Instant::now();
        let report = rt.block_on(service.record_scans(batch, now)).unwrap();
        full.push(t.elapsed());
        assert_eq!(report.records.len(), 1, "one day recomputed per scan");
    }
    percentiles("store_only (sqlite)", only);
    percentiles("store_and_recompute (sqlite)", full);

    let mut group = c.benchmark_group("one_scan_sqlite_6k_employees_1.2M_scans");
    group.sample_size(50);
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("store_only", |b| {
        b.iter(|| black_box(rt.block_on(store.record_scans(next.batch())).unwrap()))
    });
    group.bench_function("store_and_recompute", |b| {
        b.iter(|| {
            black_box(
                rt.block_on(service.record_scans(next.batch(), now))
                    .unwrap(),
            )
        })
    });
    group.finish();
    drop(service);
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, bench);
criterion_main!(benches);
