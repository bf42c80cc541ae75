//! The command-line tools that move files in and out of the store, beside the server:
//! `attendance-server export monthly` and `attendance-server import scans FILE`.
//!
//! Like the other tools ([`crate::tools`]) they open the store of the same configuration as
//! `serve`, so they work whether a server runs on it or not, and act as a super admin: the
//! export covers every active employee (or one department's), the import any employee. Both show
//! a progress bar on stderr when it is a terminal and plain progress lines otherwise, print
//! their result on stdout and exit 0; a refusal exits non-zero with the reason on stderr.
//!
//! - `export monthly --month YYYY-MM [--department D] --format csv|xlsx --output FILE` writes
//!   exactly the bytes `GET /api/attendance/reports/monthly/` answers HR for the same month,
//!   department and format (the same computation, [`crate::reports::monthly_report`], and the
//!   same writers, [`crate::export`]); days not computed yet are computed and stored on the way.
//! - `import scans FILE` reads and stores scans as [`crate::scan_import`] describes: every bad
//!   line reported by number and nothing stored when there is one. The days it recomputes are
//!   stored, but a running server's WebSocket clients are not told (the engine that publishes
//!   lives in the server's process).

use std::io::{IsTerminal, Write};
use std::path::Path;

use anyhow::{Context, Result, bail};
use attendance_core::employee::{Department, Employee};
use attendance_core::service::AttendanceService;
use chrono::Utc;

use crate::config::Config;
use crate::export::{self, ExportFormat};
use crate::reports::{Progress as ReportProgress, leave_types, monthly_report};
use crate::routes::daily::parse_month;
use crate::routes::reports::report_file_name;
use crate::scan_import::{self, ImportProgress, ScanImportError};
use crate::tools::{say, store_of};

/// Progress on stderr: a bar on a terminal, else a plain line at every tenth of a stage and at
/// its end.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    stage: &'static str,
    shown: u64,
}

impl Progress {
    fn new() -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(
                indicatif::ProgressStyle::with_template("{msg:24} {bar:40} {pos}/{len}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar
        });
        Self {
            bar,
            stage: "",
            shown: 0,
        }
    }

    /// `done` of `total` of `stage` (`reading records`, `storing scans`, …).
    fn update(&mut self, stage: &'static str, done: u64, total: u64) {
        if stage != self.stage {
            self.stage = stage;
            self.shown = 0;
        }
        match &self.bar {
            Some(bar) => {
                bar.set_message(stage);
                bar.set_length(total);
                bar.set_position(done);
            }
            None => {
                let step = (total / 10).max(1);
                if done == total || done >= self.shown + step {
                    self.shown = done;
                    eprintln!("{stage}: {done}/{total}");
                }
            }
        }
    }

    fn finish(self) {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}

/// `export monthly`.
pub async fn export_monthly(
    config: &Config,
    month: &str,
    department: Option<&str>,
    format: &str,
    output: &Path,
) -> Result<()> {
    let (first, last) =
        parse_month(Some(month)).map_err(|e| anyhow::anyhow!("--month: {}", e.message))?;
    let format = match ExportFormat::parse(Some(format)) {
        Ok(f @ (ExportFormat::Csv | ExportFormat::Xlsx)) => f,
        _ => bail!("--format must be csv or xlsx, not {format:?}"),
    };
    let department = department
        .map(Department::parse)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--department: {e}"))?;
    let store = store_of(config).await?;
    let settings = store.settings().await?;
    let today = Utc::now().with_timezone(&settings.time_zone).date_naive();
    if first > today {
        bail!("--month {month} is in the future");
    }
    let employees: Vec<Employee> = store
        .list_employees(department.clone())
        .await?
        .into_iter()
        .filter(|e| e.active)
        .collect();
    let service = AttendanceService::new(store.clone());
    let kinds = leave_types(store.as_ref()).await?;
    let mut progress = Progress::new();
    let report = monthly_report(
        store.as_ref(),
        &service,
        &employees,
        (first, last),
        &kinds,
        Utc::now(),
        &mut |step| match step {
            ReportProgress::Read(done, total) => progress.update("reading records", done, total),
            ReportProgress::Computed(done, total) => {
                progress.update("computing missing days", done as u64, total as u64)
            }
        },
    )
    .await;
    progress.finish();
    let report = report.map_err(|e| anyhow::anyhow!("computing the report: {e}"))?;
    let bytes = export::monthly_file(&report, format)?;
    write_file(output, &bytes)?;
    let name = report_file_name(
        first,
        department.as_ref().map(Department::as_str),
        None,
        format,
    );
    say(&format!(
        "wrote the monthly report of {} ({} employees, {} bytes) to {} (the API names it {name})\n",
        report.month,
        report.employees.len(),
        bytes.len(),
        output.display()
    ));
    Ok(())
}

/// Writes `bytes` to `path` through a temporary file beside it, so a reader never sees half a
/// report.
fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let shown = path.display();
    let mut temp = path.as_os_str().to_owned();
    temp.push(".partial");
    let temp = std::path::PathBuf::from(temp);
    let mut file =
        std::fs::File::create(&temp).with_context(|| format!("creating {}", temp.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", temp.display()))?;
    std::fs::rename(&temp, path).with_context(|| format!("writing {shown}"))?;
    Ok(())
}

/// `import scans FILE`.
pub async fn import_scans(config: &Config, file: &Path) -> Result<()> {
    let shown = file.display().to_string();
    let body = std::fs::read(file).with_context(|| format!("reading {shown}"))?;
    let store = store_of(config).await?;
    let settings = store.settings().await?;
    let source = file
        .file_name()
        .map_or_else(|| shown.clone(), |n| n.to_string_lossy().into_owned());
    let now = Utc::now();
    let checked =
        match scan_import::check(store.as_ref(), &body, settings.time_zone, now, &source).await {
            Ok(checked) => checked,
            Err(ScanImportError::Rejected(bad)) => {
                let mut err = std::io::stderr().lock();
                for line in &bad {
                    let _ = writeln!(err, "{shown}: line {}: {}", line.line, line.reason);
                }
                bail!("{shown}: {} lines refused; nothing was stored", bad.len());
            }
            Err(e) => bail!("{shown}: {e}"),
        };
    let lines = checked.scans.len();
    let service = AttendanceService::new(store.clone());
    let mut progress = Progress::new();
    let outcome = scan_import::store(&service, checked, now, &mut |step| match step {
        ImportProgress::Stored(done, total) => {
            progress.update("storing scans", done as u64, total as u64)
        }
        ImportProgress::Recomputed(done, total) => {
            progress.update("recomputing days", done as u64, total as u64)
        }
    })
    .await;
    progress.finish();
    let outcome = outcome.map_err(|e| {
        anyhow::anyhow!(
            "{shown}: {e} (the batches before the failure are stored; importing the file again \
             stores the rest, each scan once)"
        )
    })?;
    let mut out = format!(
        "imported {lines} scans from {shown}: {} new, {} already stored; {} daily records recomputed\n",
        outcome.new, outcome.duplicates, outcome.records
    );
    if !outcome.unknown_users.is_empty() {
        let users: Vec<String> = outcome
            .unknown_users
            .iter()
            .map(ToString::to_string)
            .collect();
        out.push_str(&format!(
            "no employee is enrolled as device user {}: their scans are kept and count once someone is\n",
            users.join(", ")
        ));
    }
    say(&out);
    Ok(())
}
