//! The simulator: deterministic for a seed, plausible factory days, and as an adapter a fetch
//! up to its clock and live scans as its (sped-up) clock reaches them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::time::Duration;

use attendance_adapters::BaseMachineAdapter;
use attendance_adapters::simulator::{FactoryDay, PunchKind, SimulatorAdapter, SimulatorConfig};
use attendance_core::machine::{Machine, NewMachine};
use attendance_core::scan::MachineId;
use chrono::{NaiveDate, NaiveTime, TimeDelta, TimeZone};
use futures::StreamExt;

const TZ: chrono_tz::Tz = chrono_tz::Asia::Dhaka;

fn date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 1, 5).unwrap()
}

fn config(seed: u64, employees: u32) -> SimulatorConfig {
    SimulatorConfig {
        seed,
        employees,
        ..SimulatorConfig::default()
    }
}

fn machine(config: serde_json::Value) -> Machine {
    Machine::parse(
        &NewMachine {
            machine_id: "SIM-1".into(),
            name: "Simulated gate".into(),
            machine_type: "simulated".into(),
            config: Some(config),
            ..NewMachine::default()
        },
        TZ,
    )
    .unwrap()
}

#[test]
fn the_same_seed_gives_the_same_scans_whatever_the_ranges() {
    let id = MachineId::parse("SIM-1").unwrap();
    let from = TZ.with_ymd_and_hms(2026, 1, 4, 0, 0, 0).unwrap().to_utc();
    let mid = TZ.with_ymd_and_hms(2026, 1, 5, 9, 17, 3).unwrap().to_utc();
    let to = TZ.with_ymd_and_hms(2026, 1, 7, 0, 0, 0).unwrap().to_utc();
    let a = FactoryDay::new(config(7, 120)).scans_between(&id, TZ, from, to);
    let b = FactoryDay::new(config(7, 120)).scans_between(&id, TZ, from, to);
    assert_eq!(a, b);
    assert!(a.len() > 500, "{}", a.len());
    assert!(a.windows(2).all(|w| w[0].timestamp <= w[1].timestamp));
    // Split ranges give the same scans as one range.
    let g = FactoryDay::new(config(7, 120));
    let mut split = g.scans_between(&id, TZ, from, mid);
    split.extend(g.scans_between(&id, TZ, mid, to));
    assert_eq!(split, a);
    // Another seed, other days.
    assert_ne!(
        FactoryDay::new(config(8, 120)).scans_between(&id, TZ, from, to),
        a
    );
}

#[test]
fn days_look_like_a_factory() {
    let g = FactoryDay::new(config(11, 1000));
    let punches = g.shifts_starting(date());
    let start = date().and_time(NaiveTime::from_hms_opt(8, 0, 0).unwrap());
    let mut by_user: HashMap<u32, Vec<_>> = HashMap::new();
    for p in &punches {
        by_user.entry(p.user).or_default().push(p);
    }
    let day: Vec<_> = by_user.values().filter(|ps| !ps[0].night).collect();
    let night = by_user.values().filter(|ps| ps[0].night).count();
    let arrivals: Vec<TimeDelta> = day
        .iter()
        .filter_map(|ps| ps.iter().find(|p| p.kind == PunchKind::Arrival))
        .map(|p| p.local - start)
        .collect();
    let near = arrivals
        .iter()
        .filter(|d| d.num_minutes().abs() <= 30)
        .count();
    let late = arrivals.iter().filter(|d| d.num_minutes() > 15).count();
    let n = arrivals.len() as f64;
    assert!(near as f64 / n > 0.75, "near {near} of {n}");
    assert!(
        (0.03..0.25).contains(&(late as f64 / n)),
        "late {late} of {n}"
    );
    let no_checkout = day
        .iter()
        .filter(|ps| !ps.iter().any(|p| p.kind == PunchKind::Departure))
        .count();
    assert!((1..150).contains(&no_checkout), "{no_checkout}");
    let double_taps = punches
        .iter()
        .filter(|p| p.kind == PunchKind::DoubleTap)
        .count();
    assert!(double_taps > 10, "{double_taps}");
    let extra_overtime = punches
        .iter()
        .filter(|p| {
            !p.night
                && p.kind == PunchKind::Departure
                && p.local.time() >= NaiveTime::from_hms_opt(19, 0, 0).unwrap()
        })
        .count();
    assert!(extra_overtime > 20, "{extra_overtime}");
    assert!((20..200).contains(&night), "night workers {night}");
    // Night workers check out on the next date.
    assert!(
        punches
            .iter()
            .filter(|p| p.night && p.kind == PunchKind::Departure)
            .all(|p| p.local.date() == date().succ_opt().unwrap())
    );
    // About 4% absent.
    assert!((1000 - by_user.len()) < 100, "{} present", by_user.len());
}

#[tokio::test]
async fn the_adapter_fetches_up_to_its_clock_then_streams_live() {
    let mut sim = SimulatorAdapter::new(machine(serde_json::json!({
        "seed": 5, "employees": 200, "speed_up": 3600.0, "start": "2026-01-05T07:30:00"
    })))
    .unwrap();
    let report = sim.test_connection(chrono::Utc::now()).await.unwrap();
    assert_eq!(report.serial.as_deref(), Some("SIM-SIM-1"));
    assert!(report.device_time.unwrap() >= date().and_hms_opt(7, 30, 0).unwrap());
    // No cursor: the last 24 simulated hours (yesterday's evening checkouts and night shifts).
    let first = sim.fetch_scans(None).await.unwrap();
    assert!(!first.scans.is_empty());
    let start = TZ.with_ymd_and_hms(2026, 1, 5, 7, 30, 0).unwrap().to_utc();
    assert!(
        first
            .scans
            .iter()
            .all(|s| s.timestamp > start - TimeDelta::hours(24))
    );
    let cursor = first.cursor.clone().unwrap();

    // Live: the morning arrivals come within a second of real time, after the fetch.
    let mut stream = sim.live_scans().await.unwrap();
    let mut live = Vec::new();
    while live.len() < 20 {
        let scan = tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .expect("live scans in time")
            .unwrap()
            .unwrap();
        live.push(scan);
    }
    let last_fetched = first.scans.last().unwrap().timestamp;
    assert!(live.iter().all(|s| s.timestamp > last_fetched));
    assert!(live.windows(2).all(|w| w[0].timestamp <= w[1].timestamp));
    drop(stream);

    // A fetch from the cursor brings only what came after it.
    let next = sim.fetch_scans(Some(&cursor)).await.unwrap();
    assert!(
        next.scans
            .iter()
            .all(|s| s.timestamp > first.scans.last().unwrap().timestamp)
    );
    assert!(next.scans.len() >= live.len());
    assert_eq!(&next.scans[..live.len()], &live[..]);
}

#[test]
fn bad_configs_are_config_errors() {
    for config in [
        serde_json::json!({"speed_up": 0}),
        serde_json::json!({"shift_start": "17:00", "shift_end": "08:00"}),
        serde_json::json!({"employees": 1_000_000}),
        serde_json::json!({"unknown": true}),
    ] {
        let err = SimulatorAdapter::new(machine(config.clone())).unwrap_err();
        assert!(
            matches!(err, attendance_adapters::AdapterError::Config { .. }),
            "{config}: {err}"
        );
    }
}

#[test]
fn the_steady_mode_holds_its_rate_deterministically() {
    let id = MachineId::parse("SIM-1").unwrap();
    let cfg = SimulatorConfig {
        scans_per_minute: Some(30.0),
        ..config(3, 40)
    };
    let from = TZ.with_ymd_and_hms(2026, 1, 5, 14, 0, 0).unwrap().to_utc();
    let to = from + TimeDelta::minutes(10);
    let g = FactoryDay::new(cfg.clone());
    let scans = g.scans_between(&id, TZ, from, to);
    // 30 per minute: the 10 minutes in (from, to], minus the instant `from` itself if drawn.
    assert!((295..=301).contains(&scans.len()), "{}", scans.len());
    assert_eq!(scans, FactoryDay::new(cfg).scans_between(&id, TZ, from, to));
    assert!(scans.iter().all(|s| {
        let user: u32 = s.device_user_id.as_str().parse().unwrap();
        (1..=40).contains(&user) && s.timestamp > from && s.timestamp <= to
    }));
    let mid = from + TimeDelta::seconds(301);
    let mut split = g.scans_between(&id, TZ, from, mid);
    split.extend(g.scans_between(&id, TZ, mid, to));
    assert_eq!(split, scans);
}
