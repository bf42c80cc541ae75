//! `attendance-server`: the runnable product.
//!
//! The REST + WebSocket server arrives with issue 5. Until then this binary runs the rules
//! engine on a simulated factory day and prints the daily summary in the frontend's JSON shape,
//! so a newcomer sees real output from the first command in the README.

use anyhow::{Context, Result};
use attendance_core::prelude::*;
use attendance_core::time::local_to_utc;
use chrono::{NaiveDate, NaiveTime, TimeDelta};
use clap::Parser;

/// Command-line options.
#[derive(Debug, Parser)]
#[command(name = "attendance-server", version, about)]
struct Cli {
    /// How many simulated employees to compute.
    #[arg(long, default_value_t = 20)]
    employees: u32,
    /// The work date to compute (YYYY-MM-DD); a recent working day by default.
    #[arg(long, default_value = "2026-11-22")]
    date: NaiveDate,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    let settings = AttendanceSettings::default();
    let tz = settings.time_zone;
    let machine = MachineId::parse("SIM-0001")?;
    let midnight = local_to_utc(tz, cli.date.and_time(NaiveTime::MIN));
    let roster = ShiftRoster::fixed(&settings.default_shift);
    let calendar = DayCalendar::new();
    let now = midnight + TimeDelta::days(2);
    let mut counts = std::collections::BTreeMap::<String, u32>::new();
    eprintln!(
        "attendance-server: the REST/WebSocket server is not built yet (issue 5); \
         printing the rules engine's daily summary for {} simulated employees on {}",
        cli.employees, cli.date
    );
    for i in 1..=cli.employees {
        let employee = Employee::parse(&NewEmployee {
            employee_id: format!("EMP{i:03}"),
            employee_name: format!("Employee {i}"),
            department: ["Sewing", "Cutting", "Finishing"][(i % 3) as usize].into(),
            designation: "Operator".into(),
            level_of_work: if i % 5 == 0 { "Staff" } else { "Worker" }.into(),
            ..Default::default()
        })?;
        // A spread of arrivals (on time, considered, late), departures from 17:00 to past
        // midnight, one absentee in ten and a forgotten checkout in seven.
        let arrive = 7 * 60 + 45 + i64::from((i * 7) % 40);
        let leave = 17 * 60 + i64::from((i * 53) % 480);
        let mut minutes = vec![arrive];
        if i % 7 != 0 {
            minutes.push(leave);
        }
        if i % 10 == 3 {
            minutes.clear();
        }
        let scans: Vec<ScanData> = minutes
            .iter()
            .map(|m| ScanData {
                machine_id: machine.clone(),
                device_user_id: employee.device_user_id.clone(),
                timestamp: midnight + TimeDelta::minutes(*m),
                punch_state: PunchState::Unknown,
                verify_mode: VerifyMode::Fingerprint,
                raw: None,
            })
            .collect();
        let ctx = EmployeeContext {
            settings: &settings,
            employee: &employee,
            roster: &roster,
            calendar: &calendar,
        };
        let days = compute_days(&ctx, &scans, cli.date, cli.date, now);
        let record = days
            .first()
            .context("the rules returned no record for the date")?;
        let summary = DailySummary::new(&employee, record, tz);
        *counts.entry(summary.status.to_string()).or_default() += 1;
        println!("{}", serde_json::to_string(&summary)?);
    }
    eprintln!("statuses: {counts:?}");
    Ok(())
}
