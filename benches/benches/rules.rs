//! One month for 10,000 employees (about 1.24 M scans) through the rules, on one core, beside
//! the floor of merely sorting and grouping the same scans by employee and work date.

use std::collections::HashMap;
use std::hint::black_box;
use std::time::Duration;

use attendance_benches::factory_month;
use attendance_core::prelude::*;
use chrono::{DateTime, TimeDelta, Utc};
use criterion::{Criterion, criterion_group, criterion_main};

const EMPLOYEES: usize = 10_000;

/// The floor: sort references by (employee, instant) and cut them into (employee, local date)
/// groups, with the site's fixed +06:00 offset and no rule applied.
fn sort_and_group(scans: &[ScanData]) -> usize {
    let mut refs: Vec<&ScanData> = scans.iter().collect();
    refs.sort_unstable_by(|a, b| {
        a.device_user_id
            .cmp(&b.device_user_id)
            .then(a.timestamp.cmp(&b.timestamp))
    });
    let offset = TimeDelta::hours(6);
    let mut groups = 0;
    let mut previous = None;
    for scan in refs {
        let key = (&scan.device_user_id, (scan.timestamp + offset).date_naive());
        if previous != Some(key) {
            groups += 1;
            previous = Some(key);
        }
    }
    groups
}

/// The rules: group scans by employee, then compute every day of the month for each employee.
fn full_rules(month: &attendance_benches::FactoryMonth, now: DateTime<Utc>) -> usize {
    let mut by_user: HashMap<&DeviceUserId, Vec<&ScanData>> =
        HashMap::with_capacity(month.employees.len());
    for scan in &month.scans {
        by_user.entry(&scan.device_user_id).or_default().push(scan);
    }
    let roster = ShiftRoster::fixed(&month.settings.default_shift);
    let calendar = DayCalendar::new();
    let mut records = 0;
    for employee in &month.employees {
        let scans = by_user
            .get(&employee.device_user_id)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let ctx = EmployeeContext {
            settings: &month.settings,
            employee,
            roster: &roster,
            calendar: &calendar,
        };
        records += compute_days(&ctx, scans.iter().copied(), month.first, month.last, now).len();
    }
    records
}

fn month_of_10k(c: &mut Criterion) {
    let month = factory_month(EMPLOYEES, 42);
    let now = month
        .scans
        .iter()
        .map(|s| s.timestamp)
        .max()
        .unwrap_or_default()
        + TimeDelta::days(2);
    assert_eq!(full_rules(&month, now), EMPLOYEES * 31);
    let mut group = c.benchmark_group(format!("month_{}_scans", month.scans.len()));
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    group.bench_function("floor_sort_and_group", |b| {
        b.iter(|| black_box(sort_and_group(black_box(&month.scans))))
    });
    group.bench_function("rules_full_month", |b| {
        b.iter(|| black_box(full_rules(black_box(&month), now)))
    });
    group.finish();
}

criterion_group!(benches, month_of_10k);
criterion_main!(benches);
