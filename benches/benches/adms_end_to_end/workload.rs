//! The workload: the punches of a factory's month, as each ADMS device sends them.

use std::collections::HashSet;

use attendance_benches::Rng;
use chrono::{NaiveDate, NaiveDateTime, TimeDelta};

/// The punches, as each device sends them.
#[derive(Debug)]
pub(crate) struct Workload {
    pub(crate) employees: usize,
    pub(crate) punches: usize,
    /// Distinct (employee, work date) pairs: the daily records to expect.
    pub(crate) expected_records: usize,
    /// Per device: its serial and its `ATTLOG` bodies in order, with the line count of each.
    pub(crate) devices: Vec<(String, Vec<(String, usize)>)>,
}

/// One punch: local device time, the PIN, the status column, the device.
struct Punch {
    time: NaiveDateTime,
    pin: usize,
    status: u8,
    device: usize,
}

/// `punches` punches of `employees` people over `days` days from 1 November 2026, deterministic:
/// on each day about 96 % of the people come (in 07:30–08:30, out 17:00–17:59), and the punches
/// beyond two a day are spread over the days worked as break punches between 12:00 and 16:00.
/// Most punches are made at the person's own gate (device), some at another.
pub(crate) fn workload(
    punches: usize,
    employees: usize,
    days: usize,
    devices: usize,
    batch: usize,
) -> Workload {
    let mut rng = Rng::new(0xADA5_2026);
    let first = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
    // The days each person works.
    let mut present: Vec<(usize, usize)> = Vec::new();
    for day in 0..days {
        for pin in 1..=employees {
            if rng.below(100) < 96 {
                present.push((day, pin));
            }
        }
    }
    // Fewer punches than two a day worked: drop days worked, chosen at random.
    while present.len() * 2 > punches && !present.is_empty() {
        let i = rng.below(present.len() as u64) as usize;
        present.swap_remove(i);
    }
    present.sort_unstable();
    let extra = punches.saturating_sub(present.len() * 2);
    let (each, rest) = if present.is_empty() {
        (0, 0)
    } else {
        (extra / present.len(), extra % present.len())
    };
    // The `rest` days that get one more break punch.
    let mut one_more: HashSet<usize> = HashSet::new();
    while one_more.len() < rest {
        one_more.insert(rng.below(present.len() as u64) as usize);
    }
    let mut all = Vec::with_capacity(punches);
    for (i, &(day, pin)) in present.iter().enumerate() {
        let date = first + TimeDelta::days(day as i64);
        let at = |secs: u64| date.and_hms_opt(0, 0, 0).unwrap() + TimeDelta::seconds(secs as i64);
        let home = pin % devices;
        let device = |rng: &mut Rng| {
            if rng.below(10) < 8 {
                home
            } else {
                rng.below(devices as u64) as usize
            }
        };
        all.push(Punch {
            time: at(7 * 3600 + 1800 + rng.below(3600)),
            pin,
            status: 0,
            device: device(&mut rng),
        });
        let breaks = each + usize::from(one_more.contains(&i));
        let mut seconds = HashSet::new();
        while seconds.len() < breaks {
            seconds.insert(12 * 3600 + rng.below(4 * 3600));
        }
        let mut seconds: Vec<u64> = seconds.into_iter().collect();
        seconds.sort_unstable();
        for (k, s) in seconds.into_iter().enumerate() {
            all.push(Punch {
                time: at(s),
                pin,
                status: if k % 2 == 0 { 2 } else { 3 },
                device: device(&mut rng),
            });
        }
        all.push(Punch {
            time: at(17 * 3600 + rng.below(3600)),
            pin,
            status: 1,
            device: device(&mut rng),
        });
    }
    all.sort_by_key(|p| (p.time, p.pin));
    let serials: Vec<String> = (1..=devices).map(|d| format!("E2EADMS{d:04}")).collect();
    let mut lines: Vec<Vec<String>> = vec![Vec::new(); devices];
    for p in &all {
        lines[p.device].push(format!(
            "{}\t{}\t{}\t1\t0\t0",
            p.pin,
            p.time.format("%Y-%m-%d %H:%M:%S"),
            p.status
        ));
    }
    let devices = serials
        .into_iter()
        .zip(lines)
        .map(|(serial, lines)| {
            let bodies = lines
                .chunks(batch.max(1))
                .map(|chunk| {
                    let mut body = chunk.join("\n");
                    body.push('\n');
                    (body, chunk.len())
                })
                .collect();
            (serial, bodies)
        })
        .collect();
    Workload {
        employees,
        punches: all.len(),
        expected_records: present.len(),
        devices,
    }
}
