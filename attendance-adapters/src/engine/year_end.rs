//! The leave year-end job: at start and then every interval, asks the service whether a new
//! year needs its rollover and allocation ([`AttendanceService::start_of_year`], which decides
//! from the audit trail, so a restart or a second look never runs it twice).

use std::time::Duration;

use attendance_core::service::AttendanceService;
use chrono::Utc;
use tokio::sync::watch;
use tokio::time::sleep;
use tracing::warn;

/// Looks every `every` (at least 10 ms) while `gate` is open, until `stopped` changes.
pub(super) async fn leave_year_loop(
    service: AttendanceService,
    every: Duration,
    gate: super::JobsGate,
    mut stopped: watch::Receiver<bool>,
) {
    let every = every.max(Duration::from_millis(10));
    loop {
        // Closed: another instance of the cluster runs the job.
        let result = if gate.is_open() {
            service.start_of_year(Utc::now()).await
        } else {
            Ok(None)
        };
        match result {
            Ok(Some((rolled, allocated))) => tracing::info!(
                rolled_over = rolled.year,
                rollover_entries = rolled.entries,
                allocated = allocated.year,
                allocation_entries = allocated.entries,
                employees = allocated.employees,
                "leave year-end: the year before rolled over and this year's entitlements allocated"
            ),
            Ok(None) => {}
            Err(e) => warn!(error = %e, "the leave year-end job failed; trying again later"),
        }
        tokio::select! {
            _ = sleep(every) => {}
            _ = stopped.changed() => return,
        }
    }
}
