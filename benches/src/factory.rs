//! The benches' shared data: a deterministic factory month.

use attendance_core::prelude::*;
use attendance_core::time::local_to_utc;
use std::sync::Arc;

use attendance_core::store::{ScanBatch, Store};
use chrono::{NaiveDate, NaiveTime, TimeDelta};

use crate::harness::by_machine;

/// A small deterministic generator (xorshift64*), so every run benchmarks the same data.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed (0 is replaced by a fixed odd constant).
    pub fn new(seed: u64) -> Self {
        Self(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// A month of scans for a factory.
#[derive(Debug)]
pub struct FactoryMonth {
    /// The site's settings (defaults).
    pub settings: AttendanceSettings,
    /// The employees, 90 % Workers and 10 % Staff.
    pub employees: Vec<Employee>,
    /// The scans in device order (interleaved across employees, as machines deliver them).
    pub scans: Vec<ScanData>,
    /// First day of the month.
    pub first: NaiveDate,
    /// Last day of the month.
    pub last: NaiveDate,
}

/// `employees` people, each scanning four times on every day of January 2026 (in at about 08:00,
/// lunch out and in, out between 17:00 and 22:00), on one of eight machines.
pub fn factory_month(employees: usize, seed: u64) -> FactoryMonth {
    factory_days(employees, 31, seed)
}

/// The same factory over `days` days from 1 January 2026 (50 days of 6,000 people is 1.2 M
/// scans).
pub fn factory_days(employees: usize, days: u64, seed: u64) -> FactoryMonth {
    let settings = AttendanceSettings::default();
    let tz = settings.time_zone;
    let first = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap_or_default();
    let last = first
        .checked_add_days(chrono::Days::new(days.max(1) - 1))
        .unwrap_or(first);
    let mut rng = Rng::new(seed);
    let people: Vec<Employee> = (1..=employees)
        .filter_map(|i| {
            Employee::parse(&NewEmployee {
                employee_id: format!("EMP{i:05}"),
                employee_name: format!("Employee {i}"),
                department: ["Sewing", "Cutting", "Finishing", "Quality"][i % 4].into(),
                designation: "Operator".into(),
                level_of_work: if i % 10 == 0 { "Staff" } else { "Worker" }.into(),
                ..Default::default()
            })
            .ok()
        })
        .collect();
    let machines: Vec<MachineId> = (1..=8)
        .filter_map(|m| MachineId::parse(&format!("BOCK2009610{m:02}")).ok())
        .collect();
    let mut scans = Vec::with_capacity(people.len() * days as usize * 4);
    let mut date = first;
    while date <= last {
        let midnight = local_to_utc(tz, date.and_time(NaiveTime::MIN));
        for person in &people {
            let machine = &machines[rng.below(machines.len() as u64) as usize];
            let minutes = [
                7 * 60 + 40 + rng.below(45) as i64,  // arrival, a late tail
                13 * 60 + rng.below(5) as i64,       // lunch out
                13 * 60 + 55 + rng.below(10) as i64, // lunch in
                17 * 60 + rng.below(5 * 60) as i64,  // departure, some stay late
            ];
            for m in minutes {
                scans.push(ScanData {
                    machine_id: machine.clone(),
                    device_user_id: person.device_user_id.clone(),
                    timestamp: midnight
                        + TimeDelta::minutes(m)
                        + TimeDelta::seconds(rng.below(60) as i64),
                    punch_state: PunchState::Other(255),
                    verify_mode: VerifyMode::Fingerprint,
                    raw: None,
                });
            }
        }
        date += TimeDelta::days(1);
    }
    FactoryMonth {
        settings,
        employees: people,
        scans,
        first,
        last,
    }
}

/// Stores the settings, the employees (`writers` at a time) and the scans, in groups of 20,000
/// merged per machine as the engine stores them.
#[allow(clippy::expect_used)] // a bench's loading either works or stops the run
pub async fn load_month(store: Arc<dyn Store>, month: &FactoryMonth, writers: usize) {
    store
        .put_settings(&month.settings)
        .await
        .expect("loading the factory month");
    let mut tasks = Vec::new();
    for part in 0..writers {
        let (store, employees) = (store.clone(), month.employees.clone());
        tasks.push(tokio::spawn(async move {
            for e in employees.iter().skip(part).step_by(writers) {
                store
                    .create_employee(e)
                    .await
                    .expect("loading the factory month");
            }
        }));
    }
    for task in tasks {
        task.await.expect("loading the factory month");
    }
    for group in month.scans.chunks(20_000) {
        let batches = by_machine(group)
            .into_iter()
            .map(|(machine_id, scans)| ScanBatch {
                machine_id,
                scans,
                cursor: None,
            })
            .collect();
        store
            .record_scan_batches(batches)
            .await
            .expect("loading the factory month");
    }
}
