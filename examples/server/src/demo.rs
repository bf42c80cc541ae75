//! The demo: seed data (only into an empty store) and two machines that really run.
//!
//! - departments and 200 employees `EMP001`…`EMP200` (device user ids 1…200, 90 % Workers, every
//!   tenth Staff), with Bangladeshi names; the last [`NIGHT_CREW`] (`EMP184`…`EMP200`) work the
//!   night shift `NIGHT` (20:00–05:00), which the seed adds to the settings' shift catalogue;
//! - the statutory leave policies and this year's allocations;
//! - this year's Bangladesh public holidays (a fixed list of month and day; the lunar ones are
//!   the 2026 estimates);
//! - users `admin`, `hr`, `head` (head of Sewing, EMP002), `worker` (EMP001), with the
//!   deterministic demo passwords of [`DEMO_USERS`] (a demo, never a deployment);
//! - two machines playing factory days from the simulator's seeded generator ([`FactoryDay`]):
//!   arrivals around 08:00 (most on time, some a few minutes late or later, a few absent),
//!   departures at 17:00 or after overtime, nobody on Fridays (the default weekend), and the
//!   night crew's nights. `ZK-DEMO-01`, an in-process fake ZKTeco terminal on 127.0.0.1 read
//!   through the real ZKTeco adapter, is the main gate of the day workers 1…[`GATE_USERS`];
//!   `SIM-001`, a simulated machine, is the sewing floor of the others, the night crew among
//!   them (exactly the `NIGHT` employees work nights there).
//!
//! Both backfill the shifts since the last working day's (yesterday's, or Thursday's on a
//! Saturday; whole nights: no check-out of the night before without its check-in) when the demo
//! starts (the fake's stored log, the simulator's first fetch), so that day is a whole day; after that each punch arrives
//! when the clock reaches it (the fake pushes it live, the simulator streams it). The clock is
//! injected ([`Demo::start_at`]), so a test starting the demo at a fixed time sees fixed days.

use anyhow::{Context, Result};
use attendance_adapters::simulator::{FactoryDay, SimulatorConfig};
use attendance_adapters::zk::codec::{
    AttendanceRecord, RealtimeAttendance, encode_timehex, encode_zk_time,
};
use attendance_adapters::zk::fake::{FakeConfig, FakeDevice, FakeHandle};
use attendance_core::access::{Actor, Role};
use attendance_core::employee::{Employee, EmployeeCode, NewEmployee};
use attendance_core::holiday::Holiday;
use attendance_core::leave::{HalfDays, LedgerEntry, LedgerEntryKind, default_policies};
use attendance_core::machine::{Machine, NewMachine};
use attendance_core::overtime::{ClockOffset, OvertimeKind, OvertimeTier};
use attendance_core::scan::{MachineId, PunchState, ScanData, VerifyMode};
use attendance_core::settings::UnpaidBreak;
use attendance_core::shift::{Shift, ShiftId};
use attendance_core::store::{LeaveChange, StoreError, UserAccount};
use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, TimeDelta, Utc};
use chrono_tz::Tz;
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

/// How many of them, the last ones, work the night shift.
pub const NIGHT_CREW: u32 = 17;

/// The night shift's id in the settings' catalogue.
pub const NIGHT_SHIFT: &str = "NIGHT";

/// The device users of the main gate (the fake ZKTeco): 1…`GATE_USERS`, all on the day shift.
/// The simulated floor machine plays the others.
pub const GATE_USERS: u32 = 100;

/// The seed of the demo's factory days.
const SEED: u64 = 7;

/// The gate and the floor machine's ids.
const GATE: &str = "ZK-DEMO-01";
const FLOOR: &str = "SIM-001";

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

/// The demo's clock: a start instant, then real time passing. [`Demo::start`] starts it now;
/// a test starts it at a fixed time.
#[derive(Debug, Clone, Copy)]
pub struct DemoClock {
    start: DateTime<Utc>,
    started: tokio::time::Instant,
}

impl DemoClock {
    /// A clock showing `now` at this moment.
    pub fn starting_at(now: DateTime<Utc>) -> Self {
        Self {
            start: now,
            started: tokio::time::Instant::now(),
        }
    }

    /// The time now.
    pub fn now(&self) -> DateTime<Utc> {
        let elapsed = TimeDelta::from_std(self.started.elapsed()).unwrap_or(TimeDelta::MAX);
        self.start + elapsed
    }

    /// The real time until the clock shows `at` (zero when it has).
    fn until(&self, at: DateTime<Utc>) -> std::time::Duration {
        (at - self.now()).to_std().unwrap_or_default()
    }
}

/// The running demo: the fake terminal and its live punches.
#[derive(Debug)]
pub struct Demo {
    fake_addr: std::net::SocketAddr,
    // Owns the fake terminal: pushes its live punches, shuts it down when told to stop.
    pusher: JoinHandle<()>,
    stop: watch::Sender<bool>,
    seeded: bool,
}

/// The night shift: 20:00–05:00, its own overtime (05:00–07:00, extra after) and a meal break.
pub fn night_shift() -> Result<Shift> {
    let at = |h: u32| NaiveTime::from_hms_opt(h, 0, 0).unwrap_or(NaiveTime::MIN);
    let next_day = |h: u32, m: u32| ClockOffset::new(1, h, m);
    let mut shift = Shift::new(ShiftId::parse(NIGHT_SHIFT)?, "Night", at(20), at(5))?;
    shift.overtime_tiers = Some(vec![
        OvertimeTier {
            kind: OvertimeKind::Overtime,
            from: next_day(5, 0)?,
            until: Some(next_day(7, 0)?),
        },
        OvertimeTier {
            kind: OvertimeKind::ExtraOvertime,
            from: next_day(7, 0)?,
            until: None,
        },
    ]);
    shift.unpaid_breaks = Some(vec![UnpaidBreak {
        name: "Night meal".into(),
        start: next_day(0, 0)?,
        end: next_day(0, 30)?,
    }]);
    Ok(shift)
}

/// Whether demo employee `i` is on the night crew.
fn on_night_crew(i: u32) -> bool {
    i > DEMO_EMPLOYEES - NIGHT_CREW
}

/// The factory days of the gate's users (the fake ZKTeco's log and live punches).
pub fn gate_days() -> FactoryDay {
    FactoryDay::new(SimulatorConfig {
        seed: SEED,
        employees: GATE_USERS,
        first_user_id: 1,
        night_users: Some(Vec::new()),
        ..SimulatorConfig::default()
    })
}

/// The simulated floor machine's config: the users after the gate's, the night crew working
/// nights, its first fetch reading the shifts since the last working day's.
fn floor_config() -> serde_json::Value {
    let night: Vec<u32> = (1..=DEMO_EMPLOYEES).filter(|&i| on_night_crew(i)).collect();
    serde_json::json!({
        "seed": SEED,
        "employees": DEMO_EMPLOYEES - GATE_USERS,
        "first_user_id": GATE_USERS + 1,
        "night_users": night,
        "history_from_last_working_day": true,
    })
}

/// A scan as the fake ZKTeco holds it: the device's local time, check-in 0 / check-out 1,
/// finger 1 / face 15 / card 2.
fn zk_fields(scan: &ScanData, tz: Tz) -> (u32, chrono::NaiveDateTime, u8, u8) {
    let user = scan.device_user_id.as_str().parse().unwrap_or(0);
    let local = scan.timestamp.with_timezone(&tz).naive_local();
    let punch = u8::from(scan.punch_state == PunchState::CheckOut);
    let verify = match scan.verify_mode {
        VerifyMode::Face => 15,
        VerifyMode::Card => 2,
        _ => 1,
    };
    (user, local, punch, verify)
}

/// The gate's stored log at `now`: the punches of its shifts from the last working day's on.
fn gate_log(tz: Tz, now: DateTime<Utc>) -> Result<Vec<AttendanceRecord>> {
    let machine = MachineId::parse(GATE)?;
    let days = gate_days();
    let first = days.last_working_day_before(now.with_timezone(&tz).date_naive());
    days.shifts_since(&machine, tz, first, now)
        .iter()
        .map(|scan| {
            let (user, local, punch_state, verify_type) = zk_fields(scan, tz);
            Ok(AttendanceRecord {
                uid: u16::try_from(user).unwrap_or(0),
                user_id: user.to_string(),
                verify_type,
                punch_state,
                time: encode_zk_time(local)?,
                work_code: 0,
            })
        })
        .collect()
}

/// Pushes each of the gate's punches after `from` to the fake when the clock reaches it, an
/// hour of punches at a time, until told to stop; then shuts the fake down.
async fn play_gate(
    fake: FakeHandle,
    clock: DemoClock,
    tz: Tz,
    mut from: DateTime<Utc>,
    mut stopped: watch::Receiver<bool>,
) {
    let days = gate_days();
    let Ok(machine) = MachineId::parse(GATE) else {
        return;
    };
    loop {
        let to = from + TimeDelta::hours(1);
        for scan in days.scans_between(&machine, tz, from, to) {
            tokio::select! {
                _ = stopped.changed() => {
                    fake.shutdown().await;
                    return;
                }
                () = tokio::time::sleep(clock.until(scan.timestamp)) => {}
            }
            let (user, local, punch_state, verify_type) = zk_fields(&scan, tz);
            let Ok(time) = encode_timehex(local) else {
                continue;
            };
            fake.push_event(RealtimeAttendance {
                user_id: user.to_string(),
                verify_type,
                punch_state,
                time,
            });
        }
        from = to;
        // An off day has no punches: wait for the clock before generating the next hour.
        tokio::select! {
            _ = stopped.changed() => {
                fake.shutdown().await;
                return;
            }
            () = tokio::time::sleep(clock.until(from)) => {}
        }
    }
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
        shift: on_night_crew(i).then(|| NIGHT_SHIFT.to_owned()),
        joined_on: None,
    })
    .with_context(|| format!("demo employee {i}"))
}

/// Seeds the store unless it already holds employees, as of `now`; returns whether it seeded.
async fn seed(state: &AppState, now: DateTime<Utc>) -> Result<bool> {
    let store = &state.store;
    if !store.list_employees(None).await?.is_empty() {
        return Ok(false);
    }
    let mut settings = store.settings().await?;
    let night = night_shift()?;
    if settings.shift(&night.id).is_none() {
        settings.shifts.push(night);
        settings.validate()?;
        store.put_settings(&settings).await?;
    }
    let today = now.with_timezone(&settings.time_zone).date_naive();
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
            .create_holiday(&admin, "demo", &holiday, now)
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
            token_version: 0,
            created_at: Some(now),
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
    /// machines (the runtime starts them with the other stored machines), on the real clock.
    pub async fn start(state: &AppState) -> Result<Self> {
        Self::start_at(state, DemoClock::starting_at(Utc::now())).await
    }

    /// [`Demo::start`] on `clock`: the seed's year, the fake's backfill and the times of its
    /// live punches follow it. (The simulated machine, built by the runtime, keeps the real
    /// clock; a test builds it with [`attendance_adapters::simulator::SimulatorAdapter::starting_at`].)
    pub async fn start_at(state: &AppState, clock: DemoClock) -> Result<Self> {
        let now = clock.now();
        let seeded = seed(state, now).await?;
        let tz = state.store.settings().await?.time_zone;
        // The gate's stored log: the punches of its shifts since the last working day's, read
        // through the real ZKTeco adapter; its enrolled users are the gate's (PINs 1, 2, …).
        let config = FakeConfig {
            serial: "ZKDEMO0000001".into(),
            log: Some(gate_log(tz, now)?),
            users: GATE_USERS as usize,
            first_pin: 1,
            clock: now.with_timezone(&tz).naive_local(),
            ..FakeConfig::default()
        };
        let fake = FakeDevice::spawn_tcp(config, 0)
            .await
            .context("starting the fake ZKTeco terminal")?;
        let port = fake.local_addr().port();
        upsert_machine(
            state,
            NewMachine {
                machine_id: GATE.into(),
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
                machine_id: FLOOR.into(),
                name: "Sewing floor (simulated)".into(),
                machine_type: "simulated".into(),
                location: "Sewing floor".into(),
                department: Some("Sewing".into()),
                config: Some(floor_config()),
                ..NewMachine::default()
            },
        )
        .await?;
        let (stop, stopped) = watch::channel(false);
        let fake_addr = fake.local_addr();
        let pusher = tokio::spawn(play_gate(fake, clock, tz, now, stopped));
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
            "Demo data seeded: 200 employees (17 on the night shift), leave policies and allocations, holidays.\n"
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
            "Demo machines: {GATE} (fake ZKTeco at {}, the day workers' gate) and {FLOOR} (simulated floor with the night crew); both play factory days from the last working day's shifts on, then each punch as the clock reaches it.\n",
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
