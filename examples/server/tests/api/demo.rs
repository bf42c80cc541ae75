//! The demo's factory days: started at a fixed time, its two machines read through their real
//! adapters, yesterday comes out as a factory's day.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use attendance_adapters::BaseMachineAdapter;
use attendance_adapters::registry::adapter_for;
use attendance_adapters::simulator::{FactoryDay, SimulatorAdapter, SimulatorConfig};
use attendance_core::machine::MachineType;
use attendance_core::store::memory::MemoryStore;
use attendance_core::store::{ScanBatch, Store};
use attendance_server::AppState;
use attendance_server::demo::{DEMO_USERS, Demo, DemoClock, NIGHT_CREW, NIGHT_SHIFT, gate_days};
use chrono::{DateTime, TimeZone, Utc};
use futures::StreamExt;

use crate::helpers::{serve, test_engine, test_keys};

/// Wednesday 2026-11-25, 23:00 in Dhaka: yesterday, Tuesday the 24th, is a working day whose
/// night shift ended at 05:00 this morning.
fn now() -> DateTime<Utc> {
    chrono_tz::Asia::Dhaka
        .with_ymd_and_hms(2026, 11, 25, 23, 0, 0)
        .unwrap()
        .to_utc()
}

#[tokio::test]
async fn the_demo_started_at_23_00_shows_yesterday_as_a_factory_day() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let engine = test_engine(&store);
    let state = AppState::new(store.clone(), Arc::new(engine), test_keys());
    let demo = Demo::start_at(&state, DemoClock::starting_at(now()))
        .await
        .unwrap();

    // Read each demo machine once, as the runtime does when it starts them, on the same clock.
    let mut stored = BTreeMap::new();
    for machine in store.list_machines().await.unwrap() {
        let mut adapter: Box<dyn BaseMachineAdapter> =
            if machine.machine_type == MachineType::Simulated {
                Box::new(SimulatorAdapter::starting_at(machine.clone(), now()).unwrap())
            } else {
                adapter_for(&machine).unwrap()
            };
        adapter.connect().await.unwrap();
        let fetch = adapter.fetch_scans(None).await.unwrap();
        adapter.disconnect().await.unwrap();
        // Both backfill the shifts since yesterday's (the 24th's), up to 23:00.
        let first = fetch.scans.first().unwrap().timestamp;
        let last = fetch.scans.last().unwrap().timestamp;
        let midnight = chrono_tz::Asia::Dhaka
            .with_ymd_and_hms(2026, 11, 24, 0, 0, 0)
            .unwrap()
            .to_utc();
        assert!(first >= midnight && first < midnight + chrono::TimeDelta::hours(12));
        assert!(last <= now() + chrono::TimeDelta::minutes(1), "{last}");
        stored.insert(machine.machine_id.to_string(), fetch.scans.len());
        state
            .service
            .record_scans(
                ScanBatch {
                    machine_id: machine.machine_id.clone(),
                    scans: fetch.scans,
                    cursor: fetch.cursor,
                },
                now(),
            )
            .await
            .unwrap();
    }
    demo.stop().await;
    assert_eq!(
        stored,
        BTreeMap::from([("SIM-001".to_owned(), 363), ("ZK-DEMO-01".to_owned(), 388)])
    );

    let app = serve(state).await;
    let (_, password, _, _) = DEMO_USERS.iter().find(|u| u.0 == "hr").unwrap();
    let token = &app.token_with("hr", password).await;
    let yesterday = app
        .get_json(
            "/api/attendance/daily-attendance/summary/?date=2026-11-24",
            token,
        )
        .await;
    let days = yesterday.as_array().unwrap();
    assert_eq!(days.len(), 200);
    let mut statuses: BTreeMap<&str, usize> = BTreeMap::new();
    for day in days {
        *statuses.entry(day["status"].as_str().unwrap()).or_default() += 1;
    }
    // A factory's Tuesday: most on time, some a few minutes late or later, a few absent.
    assert_eq!(
        statuses,
        BTreeMap::from([
            ("Absent", 9),
            ("Present-Considered", 15),
            ("Present-Late", 21),
            ("Present-OnTime", 155),
        ])
    );

    // The absent are exactly the users the two generators gave no shift on the 24th.
    let the_24th = chrono::NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
    let floor = store
        .machine(&attendance_core::scan::MachineId::parse("SIM-001").unwrap())
        .await
        .unwrap();
    let floor = FactoryDay::new(serde_json::from_value::<SimulatorConfig>(floor.config).unwrap());
    let came: BTreeSet<String> = [gate_days(), floor]
        .iter()
        .flat_map(|g| g.shifts_starting(the_24th))
        .map(|p| format!("EMP{:03}", p.user))
        .collect();
    let absent: BTreeSet<String> = days
        .iter()
        .filter(|d| d["status"] == "Absent")
        .map(|d| d["employee_id"].as_str().unwrap().to_owned())
        .collect();
    let all: BTreeSet<String> = (1..=200).map(|i| format!("EMP{i:03}")).collect();
    assert_eq!(absent, all.difference(&came).cloned().collect());

    // The night crew worked the night of the 24th: in around 20:00, out around 05:00.
    let employees = app
        .get_json("/api/attendance/employees/?page_size=500", token)
        .await;
    let night_crew: Vec<&str> = employees["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["shift"] == NIGHT_SHIFT)
        .map(|e| e["employee_id"].as_str().unwrap())
        .collect();
    assert_eq!(night_crew.len(), NIGHT_CREW as usize);
    for code in night_crew {
        let day = days.iter().find(|d| d["employee_id"] == code).unwrap();
        if day["status"] == "Absent" {
            continue;
        }
        let check_in = day["check_in"].as_str().unwrap();
        assert!(("18:00".."21:30").contains(&check_in), "{day}");
        if let Some(out) = day["check_out"].as_str() {
            assert!(("02:00".."10:00").contains(&out), "{day}");
        }
    }
}

#[tokio::test]
async fn after_the_backfill_the_gate_pushes_each_punch_when_the_clock_reaches_it() {
    // Two of the gate's punches a few seconds apart on Wednesday the 25th's morning; the demo
    // starts 2 s before the first, so the backfill ends just before it and both come live, in
    // order.
    let tz = chrono_tz::Asia::Dhaka;
    let gate = attendance_core::scan::MachineId::parse("ZK-DEMO-01").unwrap();
    let from = tz
        .with_ymd_and_hms(2026, 11, 25, 7, 30, 0)
        .unwrap()
        .to_utc();
    let morning = gate_days().scans_between(&gate, tz, from, from + chrono::TimeDelta::hours(1));
    let next = morning
        .windows(2)
        .find(|w| {
            let gap = w[1].timestamp - w[0].timestamp;
            gap > chrono::TimeDelta::zero() && gap <= chrono::TimeDelta::seconds(5)
        })
        .unwrap()
        .to_vec();
    let start = next[0].timestamp - chrono::TimeDelta::seconds(2);

    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let engine = test_engine(&store);
    let state = AppState::new(store.clone(), Arc::new(engine), test_keys());
    let demo = Demo::start_at(&state, DemoClock::starting_at(start))
        .await
        .unwrap();
    let machine = store.machine(&gate).await.unwrap();
    let mut adapter = adapter_for(&machine).unwrap();
    adapter.connect().await.unwrap();
    let backfill = adapter.fetch_scans(None).await.unwrap().scans;
    assert!(backfill.iter().all(|s| s.timestamp < next[0].timestamp));
    assert!(!backfill.is_empty());
    let mut live = adapter.live_scans().await.unwrap();
    for expected in &next {
        let scan = tokio::time::timeout(std::time::Duration::from_secs(120), live.next())
            .await
            .expect("the punch is pushed once the clock reaches it")
            .unwrap()
            .unwrap();
        assert_eq!(
            (&scan.device_user_id, scan.timestamp, &scan.punch_state),
            (
                &expected.device_user_id,
                expected.timestamp,
                &expected.punch_state
            )
        );
    }
    drop(live);
    demo.stop().await;
}
