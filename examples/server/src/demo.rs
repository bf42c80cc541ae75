//! The demo: seed data (only into an empty store) and two machines that really run.
//!
//! - departments and 200 employees `EMP001`…`EMP200` (device user ids 1…200, 90 % Workers, every
//!   tenth Staff), with Bangladeshi names;
//! - the statutory leave policies and this year's allocations;
//! - this year's Bangladesh public holidays (a fixed list of month and day; the lunar ones are
//!   the 2026 estimates);
//! - users `admin`, `hr`, `head` (head of Sewing, EMP002), `worker` (EMP001), with the
//!   deterministic demo passwords of [`DEMO_USERS`] (a demo, never a deployment);
//! - `SIM-001`, a simulated machine producing a steady stream of scans (one every ~5 s), and
//!   `ZK-DEMO-01`, an in-process fake ZKTeco terminal on 127.0.0.1 read through the real ZKTeco
//!   adapter, which pushes a live punch of a random employee every few seconds.

use std::time::Duration;

use anyhow::{Context, Result};
use attendance_adapters::zk::codec::{RealtimeAttendance, encode_timehex};
use attendance_adapters::zk::fake::{FakeConfig, FakeDevice};
use attendance_core::access::{Actor, Role};
use attendance_core::employee::{Employee, EmployeeCode, NewEmployee};
use attendance_core::holiday::Holiday;
use attendance_core::leave::{HalfDays, LedgerEntry, LedgerEntryKind, default_policies};
use attendance_core::machine::{Machine, NewMachine};
use attendance_core::store::{LeaveChange, StoreError, UserAccount};
use chrono::{Datelike, NaiveDate, Utc};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::auth::hash_password;
use crate::state::AppState;

/// The demo logins: username, password, role, linked employee.
pub const DEMO_USERS: [(&str, &str, Role, Option<&str>); 4] = [
    ("admin", "admin-demo-2026", Role::SuperAdmin, None),
    ("hr", "hr-demo-2026", Role::HrStaff, None),
    (
        "head",
        "head-demo-2026",
        Role::DepartmentHead,
        Some("EMP002"),
    ),
    ("worker", "worker-demo-2026", Role::Employee, Some("EMP001")),
];

/// How many employees the demo seeds.
pub const DEMO_EMPLOYEES: u32 = 200;

const DEPARTMENTS: [&str; 6] = [
    "Sewing",
    "Cutting",
    "Finishing",
    "Quality",
    "Washing",
    "Packing",
];
const FIRST_NAMES: [&str; 20] = [
    "Abdul", "Rahima", "Karim", "Nasrin", "Shafiqul", "Fatema", "Jahangir", "Salma", "Rafiq",
    "Morium", "Habibur", "Shirin", "Mizanur", "Rokeya", "Anwar", "Taslima", "Delwar", "Parvin",
    "Kamrul", "Sumaiya",
];
const LAST_NAMES: [&str; 10] = [
    "Hossain", "Akter", "Islam", "Begum", "Rahman", "Khatun", "Uddin", "Sultana", "Alam", "Mia",
];
const WORKER_DESIGNATIONS: [&str; 6] = [
    "Sewing Operator",
    "Senior Tailor",
    "Helper",
    "Cutter",
    "Ironman",
    "Quality Inspector",
];
const STAFF_DESIGNATIONS: [&str; 3] = ["Supervisor", "Line Chief", "Officer"];

/// Bangladesh public holidays: (month, day, name); the lunar dates are the 2026 estimates.
const HOLIDAYS: [(u32, u32, &str); 12] = [
    (2, 21, "Shaheed Day and International Mother Language Day"),
    (3, 20, "Eid-ul-Fitr"),
    (3, 26, "Independence Day"),
    (4, 14, "Pahela Baishakh (Bengali New Year)"),
    (5, 1, "May Day"),
    (5, 27, "Eid-ul-Adha"),
    (6, 26, "Ashura"),
    (8, 5, "July Mass Uprising Day"),
    (8, 26, "Eid-e-Milad-un-Nabi"),
    (10, 21, "Durga Puja (Vijaya Dashami)"),
    (12, 16, "Victory Day"),
    (12, 25, "Christmas Day"),
];

/// The running demo: the fake terminal and its live punches.
#[derive(Debug)]
pub struct Demo {
    fake_addr: std::net::SocketAddr,
    // Owns the fake terminal: pushes its live punches, shuts it down when told to stop.
    pusher: JoinHandle<()>,
    stop: watch::Sender<bool>,
    seeded: bool,
}

fn employee(i: u32) -> Result<Employee> {
    let idx = i as usize;
    let staff = i.is_multiple_of(10);
    let name = format!(
        "{} {}",
        FIRST_NAMES[idx % FIRST_NAMES.len()],
        LAST_NAMES[(idx / FIRST_NAMES.len() + idx) % LAST_NAMES.len()]
    );
    let designation = if staff {
        STAFF_DESIGNATIONS[idx % STAFF_DESIGNATIONS.len()]
    } else {
        WORKER_DESIGNATIONS[idx % WORKER_DESIGNATIONS.len()]
    };
    Employee::parse(&NewEmployee {
        employee_id: format!("EMP{i:03}"),
        employee_name: name,
        department: DEPARTMENTS[idx % DEPARTMENTS.len()].into(),
        designation: designation.into(),
        level_of_work: if staff { "Staff" } else { "Worker" }.into(),
        device_user_id: Some(i.to_string()),
        ..NewEmployee::default()
    })
    .with_context(|| format!("demo employee {i}"))
}

/// Seeds the store unless it already holds employees; returns whether it seeded.
async fn seed(state: &AppState) -> Result<bool> {
    let store = &state.store;
    if !store.list_employees(None).await?.is_empty() {
        return Ok(false);
    }
    let settings = store.settings().await?;
    let today = Utc::now().with_timezone(&settings.time_zone).date_naive();
    let year = today.year();
    let jan1 = NaiveDate::from_ymd_opt(year, 1, 1).unwrap_or(today);
    let policies = default_policies();
    for policy in &policies {
        store.put_leave_policy(policy).await?;
    }
    for i in 1..=DEMO_EMPLOYEES {
        let e = employee(i)?;
        store.create_employee(&e).await?;
        let mut entries = Vec::new();
        for policy in &policies {
            if let Some(days) = policy.max_per_year
                && days > HalfDays::ZERO
            {
                let entry = LedgerEntry::new(
                    LedgerEntryKind::Allocation,
                    year,
                    jan1,
                    days,
                    &format!("demo allocation {year}"),
                )?;
                entries.push((policy.leave_type.clone(), entry));
            }
        }
        store
            .commit_leave(LeaveChange {
                employee: e.employee_id.clone(),
                expected_version: 0,
                requests: Vec::new(),
                entries,
            })
            .await?;
    }
    let admin = Actor::new(Role::SuperAdmin, None, None);
    for (month, day, name) in HOLIDAYS {
        let Some(date) = NaiveDate::from_ymd_opt(year, month, day) else {
            continue;
        };
        let holiday = Holiday::single(name, date)?;
        state
            .service
            .create_holiday(&admin, &holiday, Utc::now())
            .await?;
    }
    for (username, password, role, code) in DEMO_USERS {
        let employee = match code {
            Some(c) => Some(EmployeeCode::parse(c)?),
            None => None,
        };
        let account = UserAccount {
            username: username.into(),
            password_hash: hash_password(password.into())
                .await
                .map_err(|e| anyhow::anyhow!(e.message))?,
            role,
            employee,
            active: true,
        };
        match store.create_account(&account).await {
            Ok(()) | Err(StoreError::Conflict(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(true)
}

/// Registers `machine`, or replaces it (the fake terminal's port changes at every start).
async fn upsert_machine(state: &AppState, input: NewMachine) -> Result<()> {
    let tz = state.store.settings().await?.time_zone;
    let machine = Machine::parse(&input, tz)?;
    match state.store.machine(&machine.machine_id).await {
        Ok(_) => state.store.update_machine(&machine).await?,
        Err(StoreError::NotFound { .. }) => state.store.create_machine(&machine).await?,
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

impl Demo {
    /// Seeds the store (when empty), starts the fake terminal and registers the two demo
    /// machines (the runtime starts them with the other stored machines).
    pub async fn start(state: &AppState) -> Result<Self> {
        let seeded = seed(state).await?;
        let tz = state.store.settings().await?.time_zone;
        let now_local = Utc::now().with_timezone(&tz).naive_local();
        let first_record = now_local.date().and_hms_opt(7, 30, 0).unwrap_or(now_local);
        // The fake's stored log: a morning of punches by the demo's employees 1…40 (enrolled
        // as PINs 1, 2, …), read through the real ZKTeco adapter.
        let config = FakeConfig {
            serial: "ZKDEMO0000001".into(),
            records: 40,
            users: 40,
            first_pin: 1,
            clock: now_local,
            first_record,
            ..FakeConfig::default()
        };
        let fake = FakeDevice::spawn_tcp(config, 0)
            .await
            .context("starting the fake ZKTeco terminal")?;
        let port = fake.local_addr().port();
        upsert_machine(
            state,
            NewMachine {
                machine_id: "ZK-DEMO-01".into(),
                name: "Main gate (fake ZKTeco K40)".into(),
                machine_type: "zkteco".into(),
                ip_address: "127.0.0.1".into(),
                port: Some(port),
                location: "Main gate".into(),
                config: Some(serde_json::json!({ "timeout_ms": 3000 })),
                ..NewMachine::default()
            },
        )
        .await?;
        upsert_machine(
            state,
            NewMachine {
                machine_id: "SIM-001".into(),
                name: "Sewing floor (simulated)".into(),
                machine_type: "simulated".into(),
                location: "Sewing floor".into(),
                department: Some("Sewing".into()),
                config: Some(serde_json::json!({
                    "seed": 7,
                    "employees": DEMO_EMPLOYEES,
                    "first_user_id": 1,
                    "scans_per_minute": 12.0,
                    "history_hours": 2
                })),
                ..NewMachine::default()
            },
        )
        .await?;
        let (stop, mut stopped) = watch::channel(false);
        let fake_addr = fake.local_addr();
        let pusher = tokio::spawn(async move {
            let mut n: u64 = 0;
            loop {
                tokio::select! {
                    _ = stopped.changed() => {
                        fake.shutdown().await;
                        return;
                    }
                    () = tokio::time::sleep(Duration::from_secs(7)) => {}
                }
                n = n.wrapping_add(1);
                // A fixed stride walks through every employee in a scattered order.
                let user = (n.wrapping_mul(37) % u64::from(DEMO_EMPLOYEES)) + 1;
                let local = Utc::now().with_timezone(&tz).naive_local();
                let Ok(time) = encode_timehex(local) else {
                    continue;
                };
                fake.push_event(RealtimeAttendance {
                    user_id: user.to_string(),
                    verify_type: 1,
                    punch_state: u8::from(n.is_multiple_of(2)),
                    time,
                });
            }
        });
        Ok(Self {
            fake_addr,
            pusher,
            stop,
            seeded,
        })
    }

    /// The logins and machines, for the console.
    pub fn describe(&self) -> String {
        let mut out = String::from(if self.seeded {
            "Demo data seeded: 200 employees, leave policies and allocations, holidays.\n"
        } else {
            "Demo data: the store already held employees, nothing was seeded.\n"
        });
        out.push_str("Demo logins (fixed demo passwords — never use them for real data):\n");
        for (user, password, role, employee) in DEMO_USERS {
            out.push_str(&format!(
                "  {user:<7} / {password:<18} {role}{}\n",
                employee.map(|e| format!(" ({e})")).unwrap_or_default()
            ));
        }
        out.push_str(&format!(
            "Demo machines: SIM-001 (simulated, a scan every ~5 s) and ZK-DEMO-01 (fake ZKTeco at {}, a live punch every 7 s).\n",
            self.fake_addr
        ));
        out
    }

    /// Stops the live punches and the fake terminal.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        if let Err(e) = self.pusher.await {
            tracing::warn!(error = %e, "the demo's punch task failed");
        }
    }
}
