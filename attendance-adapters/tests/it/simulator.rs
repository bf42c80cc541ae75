//! The simulator: deterministic for a seed, plausible factory days, and as an adapter a fetch
//! up to its clock and live scans as its (sped-up) clock reaches them.

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

#[test]
fn fridays_are_off_and_the_night_crew_is_exactly_the_listed_users() {
    let night_users: Vec<u32> = (31..=36).collect();
    let g = FactoryDay::new(SimulatorConfig {
        night_users: Some(night_users.clone()),
        ..config(4, 40)
    });
    // 2026-01-09 is a Friday: no shift starts; Thursday's night crew still leaves on Friday.
    let friday = NaiveDate::from_ymd_opt(2026, 1, 9).unwrap();
    assert!(g.shifts_starting(friday).is_empty());
    let thursday = g.shifts_starting(friday.pred_opt().unwrap());
    assert!(
        thursday
            .iter()
            .any(|p| p.night && p.kind == PunchKind::Departure && p.local.date() == friday)
    );
    let monday = g.shifts_starting(date());
    let mut night: Vec<u32> = monday.iter().filter(|p| p.night).map(|p| p.user).collect();
    night.sort_unstable();
    night.dedup();
    // Everyone listed who came works nights, and nobody else does.
    assert!(night.iter().all(|u| night_users.contains(u)), "{night:?}");
    assert!(night.len() >= 4, "{night:?}");
    assert!(
        monday
            .iter()
            .all(|p| p.night == night_users.contains(&p.user))
    );
    // The last working day before Saturday is Thursday; before Tuesday, Monday.
    let thursday = friday.pred_opt().unwrap();
    assert_eq!(
        g.last_working_day_before(friday.succ_opt().unwrap()),
        thursday
    );
    assert_eq!(
        g.last_working_day_before(date().succ_opt().unwrap()),
        date()
    );
    // Another weekend can be configured.
    let sunday_off = FactoryDay::new(SimulatorConfig {
        weekly_off_days: vec![chrono::Weekday::Sun],
        ..config(4, 40)
    });
    assert!(!sunday_off.shifts_starting(friday).is_empty());
    assert!(
        sunday_off
            .shifts_starting(NaiveDate::from_ymd_opt(2026, 1, 11).unwrap())
            .is_empty()
    );
}

#[tokio::test]
async fn a_fetch_without_cursor_can_read_the_shifts_since_yesterday() {
    // The clock injected: Tuesday 2026-01-06 at 23:00 in Dhaka.
    let now = TZ.with_ymd_and_hms(2026, 1, 6, 23, 0, 0).unwrap().to_utc();
    let midnight = TZ.with_ymd_and_hms(2026, 1, 5, 0, 0, 0).unwrap().to_utc();
    let mut sim = SimulatorAdapter::starting_at(
        machine(
            serde_json::json!({"seed": 9, "employees": 60, "history_from_last_working_day": true}),
        ),
        now,
    )
    .unwrap();
    sim.connect().await.unwrap();
    let fetched = sim.fetch_scans(None).await.unwrap();
    let id = MachineId::parse("SIM-1").unwrap();
    let generator = FactoryDay::new(SimulatorConfig {
        seed: 9,
        employees: 60,
        ..SimulatorConfig::default()
    });
    let last = fetched.scans.last().unwrap().timestamp;
    assert!(last <= now + TimeDelta::minutes(1) && last > now - TimeDelta::hours(6));
    // Exactly the scans of the shifts from yesterday's on, up to the clock: yesterday from its
    // first arrival, the night crew's last night whole, Sunday night's check-outs left out.
    let expected = generator.shifts_since(&id, TZ, date(), last);
    assert_eq!(fetched.scans, expected);
    assert!(fetched.scans[0].timestamp >= midnight + TimeDelta::hours(6));
    let everything = generator.scans_between(&id, TZ, midnight - TimeDelta::seconds(1), last);
    let left_out: Vec<_> = everything
        .iter()
        .filter(|s| !expected.contains(s))
        .collect();
    assert!(!left_out.is_empty());
    assert!(left_out.iter().all(|s| {
        s.punch_state == attendance_core::scan::PunchState::CheckOut
            && s.timestamp < midnight + TimeDelta::hours(12)
    }));
    assert_eq!(everything.len(), expected.len() + left_out.len());
}
