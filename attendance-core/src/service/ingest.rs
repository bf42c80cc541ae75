//! Storing scans: one batch or a group of batches, then the (employee, work date) pairs their new
//! scans touch, recomputed set-based.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use super::chunks::Work;
use super::{AttendanceService, DayKeys, Recomputed, ServiceError};
use crate::attribution::Attributor;
use crate::daily::DailyRecord;
use crate::employee::{DeviceUserId, Employee, EmployeeCode};
use crate::ingest::{IngestOutcome, ScanBatch};
use crate::report::DailySummary;
use crate::scan::ScanData;
use crate::settings::AttendanceSettings;
use crate::shift::ShiftId;
#[cfg(doc)]
use crate::store::ScanStore;

/// The (employee, work date) pairs that new scans touch, and who their device users are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AffectedDays {
    /// The work dates of the new scans, per enrolled employee (each on their own shift).
    pub days: DayKeys,
    /// The employees enrolled as the device users of the new scans.
    pub employees: BTreeMap<DeviceUserId, Employee>,
    /// Device users with new scans that no employee is enrolled as.
    pub unknown_users: BTreeSet<DeviceUserId>,
    /// Employees whose regular shift the site does not have: their dates were found on the
    /// default shift, and they are scored on it.
    pub unknown_shifts: BTreeMap<EmployeeCode, ShiftId>,
}

/// New scans whose days are not recomputed yet: per enrolled employee, the employee as read
/// with the scans and the scans' times. Their work dates are found when they are recomputed
/// ([`AttendanceService::recompute_pending`]), on the settings read then, so a stream of new
/// scans is published with one read each (their employees, [`AttendanceService::enrolled`])
/// and the settings are read once per recompute, not once per flush.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PendingScans {
    by_employee: BTreeMap<EmployeeCode, (Employee, BTreeSet<DateTime<Utc>>)>,
}

impl PendingScans {
    /// Adds the `scans` of the `enrolled` employees (by device user; others are skipped), each
    /// employee as last read.
    pub fn add(&mut self, scans: &[ScanData], enrolled: &BTreeMap<DeviceUserId, Employee>) {
        let mut times: BTreeMap<&DeviceUserId, Vec<DateTime<Utc>>> = BTreeMap::new();
        for scan in scans {
            times
                .entry(&scan.device_user_id)
                .or_default()
                .push(scan.timestamp);
        }
        for (user, times) in times {
            let Some(employee) = enrolled.get(user) else {
                continue;
            };
            let entry = self
                .by_employee
                .entry(employee.employee_id.clone())
                .or_insert_with(|| (employee.clone(), BTreeSet::new()));
            entry.0.clone_from(employee);
            entry.1.extend(times);
        }
    }

    /// Whether no scan waits.
    pub fn is_empty(&self) -> bool {
        self.by_employee.is_empty()
    }

    /// The work dates of the waiting scans on `settings`, per employee (each on their own
    /// shift), and the employees whose shift `settings` does not have (dated on the default
    /// shift).
    pub fn days(
        &self,
        settings: &AttendanceSettings,
    ) -> (DayKeys, BTreeMap<EmployeeCode, ShiftId>) {
        let mut days = DayKeys::new();
        let mut unknown = BTreeMap::new();
        for (employee, times) in self.by_employee.values() {
            work_dates(
                settings,
                employee,
                times.iter().copied(),
                &mut days,
                &mut unknown,
            );
        }
        (days, unknown)
    }
}

/// What [`AttendanceService::recompute_pending`] did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PendingRecomputed {
    /// The (employee, work date) pairs recomputed.
    pub days: usize,
    /// The records.
    pub recomputed: Recomputed,
    /// Employees whose regular shift the site does not have: scored on the default shift.
    pub unknown_shifts: BTreeMap<EmployeeCode, ShiftId>,
}

/// Adds the work dates of `employee`'s scans at `times` (on their own shift) to `days`, and the
/// employee to `unknown` if `settings` lacks that shift.
fn work_dates(
    settings: &AttendanceSettings,
    employee: &Employee,
    times: impl IntoIterator<Item = DateTime<Utc>>,
    days: &mut DayKeys,
    unknown: &mut BTreeMap<EmployeeCode, ShiftId>,
) {
    if let Err(shift) = settings.regular_shift(employee.shift.as_ref()) {
        unknown.insert(employee.employee_id.clone(), shift.0);
    }
    let roster = settings.roster_of(employee);
    let attributor = Attributor::new(settings, &roster);
    days.entry(employee.employee_id.clone())
        .or_default()
        .extend(times.into_iter().map(|t| attributor.work_date_of(t)));
}

/// What storing a batch of scans did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IngestReport {
    /// The scans that were new, in the batch's order.
    pub inserted: Vec<ScanData>,
    /// How many were already stored.
    pub duplicates: usize,
    /// Device users with new scans that no employee is enrolled as (their scans are kept and
    /// count once someone is enrolled and the days are recomputed).
    pub unknown_users: BTreeSet<DeviceUserId>,
    /// The daily records recomputed and stored, by employee then date.
    pub records: Vec<DailyRecord>,
    /// The same records as the daily summary shows them (times on the site's clock), in the
    /// same order.
    pub summaries: Vec<DailySummary>,
    /// The employees enrolled as the device users of the new scans.
    pub employees: BTreeMap<DeviceUserId, Employee>,
    /// Employees of the batch whose regular shift the site does not have: they were scored on
    /// the default shift.
    pub unknown_shifts: BTreeMap<EmployeeCode, ShiftId>,
}

impl AttendanceService {
    /// Stores a batch (idempotently, with its cursor) and recomputes the work dates its new
    /// scans fall on, for each enrolled employee, as of `now` (set-based, see
    /// [`Self::recompute_days`]). The observer hears of the new scans, then of the records.
    pub async fn record_scans(
        &self,
        batch: ScanBatch,
        now: DateTime<Utc>,
    ) -> Result<IngestReport, ServiceError> {
        let outcome = self.scans.record_scans(batch).await?;
        self.recompute_new_scans(outcome, now).await
    }

    /// Stores a group of batches, one per machine usually, in one store call (one transaction
    /// for the SQL stores, see [`ScanStore::record_scan_batches`]) and recomputes, once, the
    /// work dates the group's new scans fall on, for each enrolled employee, as of `now`. The
    /// report covers the whole group: its new scans in group order and its duplicates summed.
    /// The observer hears of the new scans, then of the records.
    pub async fn record_scan_batches(
        &self,
        batches: Vec<ScanBatch>,
        now: DateTime<Utc>,
    ) -> Result<IngestReport, ServiceError> {
        let mut merged = IngestOutcome::default();
        for outcome in self.store_scan_batches(batches).await? {
            merged.duplicates += outcome.duplicates;
            merged.inserted.extend(outcome.inserted);
        }
        self.recompute_new_scans(merged, now).await
    }

    /// Stores a group of batches in one store call ([`ScanStore::record_scan_batches`])
    /// without recomputing anything, and returns one outcome per batch. The observer is not
    /// told: the caller, which recomputes later (with [`Self::affected_days`] and
    /// [`Self::recompute_days`]), publishes itself.
    pub async fn store_scan_batches(
        &self,
        batches: Vec<ScanBatch>,
    ) -> Result<Vec<IngestOutcome>, ServiceError> {
        Ok(self.scans.record_scan_batches(batches).await?)
    }

    /// The work dates `inserted` (new scans) fall on, per enrolled employee, each on their own
    /// shift, with the employees, the device users no one is enrolled as and the employees
    /// whose shift the site does not have. One bulk read of the employees and one of the
    /// settings, run side by side.
    pub async fn affected_days(&self, inserted: &[ScanData]) -> Result<AffectedDays, ServiceError> {
        if inserted.is_empty() {
            return Ok(AffectedDays::default());
        }
        let (settings, enrolled) =
            futures::join!(self.settings.settings(), self.enrolled(inserted));
        Ok(Self::attribute(&settings?, inserted, enrolled?))
    }

    /// The employees enrolled as the device users of `scans`, by device user: one bulk read
    /// (what publishing new scans needs; their days wait in [`PendingScans`]).
    pub async fn enrolled(
        &self,
        scans: &[ScanData],
    ) -> Result<BTreeMap<DeviceUserId, Employee>, ServiceError> {
        if scans.is_empty() {
            return Ok(BTreeMap::new());
        }
        let users = Self::device_users(scans);
        Ok(self
            .employees
            .employees_by_device_users(&users)
            .await?
            .into_iter()
            .map(|e| (e.device_user_id.clone(), e))
            .collect())
    }

    /// Recomputes the days of `pending` as of `now`: reads the settings and holidays once,
    /// finds each scan's work date on its employee's shift ([`PendingScans::days`]) and
    /// recomputes those pairs as [`Self::recompute_days`] does.
    pub async fn recompute_pending(
        &self,
        pending: &PendingScans,
        now: DateTime<Utc>,
    ) -> Result<PendingRecomputed, ServiceError> {
        if pending.is_empty() {
            return Ok(PendingRecomputed::default());
        }
        let site = self.site().await?;
        let (days, unknown_shifts) = pending.days(&site.settings);
        let recomputed = self.recompute_days_on(&site, &days, now).await?;
        Ok(PendingRecomputed {
            days: days.values().map(BTreeSet::len).sum(),
            recomputed,
            unknown_shifts,
        })
    }

    /// The distinct device users of `scans`.
    fn device_users(scans: &[ScanData]) -> Vec<DeviceUserId> {
        let users: BTreeSet<&DeviceUserId> = scans.iter().map(|s| &s.device_user_id).collect();
        users.into_iter().cloned().collect()
    }

    async fn affected_days_with(
        &self,
        settings: &AttendanceSettings,
        inserted: &[ScanData],
    ) -> Result<AffectedDays, ServiceError> {
        if inserted.is_empty() {
            return Ok(AffectedDays::default());
        }
        let enrolled = self.enrolled(inserted).await?;
        Ok(Self::attribute(settings, inserted, enrolled))
    }

    /// The work dates of `inserted` for the `enrolled` employees among their device users.
    fn attribute(
        settings: &AttendanceSettings,
        inserted: &[ScanData],
        mut enrolled: BTreeMap<DeviceUserId, Employee>,
    ) -> AffectedDays {
        let mut affected = AffectedDays::default();
        let mut by_user: BTreeMap<&DeviceUserId, Vec<&ScanData>> = BTreeMap::new();
        for scan in inserted {
            by_user.entry(&scan.device_user_id).or_default().push(scan);
        }
        for (user, scans) in by_user {
            let Some(employee) = enrolled.remove(user) else {
                affected.unknown_users.insert(user.clone());
                continue;
            };
            work_dates(
                settings,
                &employee,
                scans.iter().map(|s| s.timestamp),
                &mut affected.days,
                &mut affected.unknown_shifts,
            );
            affected.employees.insert(user.clone(), employee);
        }
        affected
    }

    /// Tells the observer of new scans, then recomputes the (employee, work date) pairs they
    /// touch and reports them.
    async fn recompute_new_scans(
        &self,
        outcome: IngestOutcome,
        now: DateTime<Utc>,
    ) -> Result<IngestReport, ServiceError> {
        let mut report = IngestReport {
            duplicates: outcome.duplicates,
            ..IngestReport::default()
        };
        if outcome.inserted.is_empty() {
            return Ok(report);
        }
        let site = self.site().await?;
        let affected = self
            .affected_days_with(&site.settings, &outcome.inserted)
            .await?;
        if let Some(observer) = &self.observer {
            observer.scans_stored(&outcome.inserted, &affected.employees);
        }
        let AffectedDays {
            mut days,
            employees,
            unknown_users,
            unknown_shifts,
        } = affected;
        let work: Vec<Work> = employees
            .values()
            .filter_map(|e| Some((e.clone(), days.remove(&e.employee_id)?)))
            .collect();
        let recomputed = self.recompute_work(&site, work, now, true).await?;
        report.inserted = outcome.inserted;
        report.records = recomputed.records;
        report.summaries = recomputed.summaries;
        report.employees = employees;
        report.unknown_users = unknown_users;
        report.unknown_shifts = unknown_shifts;
        Ok(report)
    }
}
