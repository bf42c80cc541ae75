//! Oversight use cases: voiding a scan, overriding a day's status, and the audit entries they
//! leave; [`NoOversight`] for services built from parts without those ports.
//!
//! Audit entries are appended after the change they record is stored, through
//! [`AttendanceService::audit`], which never fails the user's action: a failed append is logged
//! (`tracing::error!`) with the entry, since the change itself is stored and undoing it would be
//! worse than a missing line in the trail.

use std::collections::HashSet;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use serde_json::json;

use super::{AttendanceService, Recomputed, ServiceError};
use crate::access::{Action, Actor, Owner, authorize};
use crate::audit::{AuditAction, AuditEntry, AuditQuery, NewAuditEntry};
use crate::correction::{Correction, CorrectionId};
use crate::employee::{DeviceUserId, Employee, EmployeeCode};
use crate::overrides::DayOverride;
use crate::report::DailySummary;
use crate::scan::ScanData;
use crate::store::{
    AuditStore, CorrectionQuery, CorrectionStore, DayOverrideStore, Page, ScanId, ScanVoid,
    ScanVoidStore, SetAsideScan, SetAsideStore, StoreError, StoreResult,
};

/// The most characters of a void's reason.
pub const MAX_VOID_REASON_CHARS: usize = 500;

/// The oversight ports of a service built from parts without them: nothing is voided or
/// overridden and the audit trail and corrections are empty; every write is refused with
/// [`StoreError::Backend`] (give the service a real store with
/// [`AttendanceService::with_oversight`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoOversight;

fn no_store() -> StoreError {
    StoreError::Backend {
        message: "this service has no oversight store".into(),
        source: None,
    }
}

#[async_trait]
impl AuditStore for NoOversight {
    async fn append_audit(&self, _: &NewAuditEntry) -> StoreResult<i64> {
        Err(no_store())
    }
    async fn query_audit(&self, _: &AuditQuery, _: u64, _: u64) -> StoreResult<Page<AuditEntry>> {
        Ok(Page {
            count: 0,
            results: Vec::new(),
        })
    }
}

#[async_trait]
impl CorrectionStore for NoOversight {
    async fn create_correction(&self, _: &Correction) -> StoreResult<()> {
        Err(no_store())
    }
    async fn correction(&self, id: &CorrectionId) -> StoreResult<Correction> {
        Err(StoreError::NotFound {
            entity: "correction",
            key: id.to_string(),
        })
    }
    async fn decide_correction(&self, _: &Correction) -> StoreResult<()> {
        Err(no_store())
    }
    async fn query_corrections(&self, _: &CorrectionQuery) -> StoreResult<Page<Correction>> {
        Ok(Page {
            count: 0,
            results: Vec::new(),
        })
    }
}

#[async_trait]
impl SetAsideStore for NoOversight {
    /// Refused as [`StoreError::Invalid`] (not a passing failure: retrying cannot help).
    async fn keep_set_aside(&self, _: &[SetAsideScan]) -> StoreResult<usize> {
        Err(StoreError::Invalid(
            "this service has no oversight store: set-aside scans are not kept".into(),
        ))
    }
    async fn set_aside_scans(&self, _: u64, _: u64) -> StoreResult<Page<SetAsideScan>> {
        Ok(Page {
            count: 0,
            results: Vec::new(),
        })
    }
}

#[async_trait]
impl ScanVoidStore for NoOversight {
    async fn void_scan(&self, _: &ScanVoid) -> StoreResult<()> {
        Err(no_store())
    }
    async fn voids_of_users(
        &self,
        _: &[DeviceUserId],
        _: DateTime<Utc>,
        _: DateTime<Utc>,
    ) -> StoreResult<Vec<ScanVoid>> {
        Ok(Vec::new())
    }
}

#[async_trait]
impl DayOverrideStore for NoOversight {
    async fn put_override(&self, _: &DayOverride) -> StoreResult<Option<DayOverride>> {
        Err(no_store())
    }
    async fn remove_override(
        &self,
        employee: &EmployeeCode,
        date: NaiveDate,
    ) -> StoreResult<DayOverride> {
        Err(StoreError::NotFound {
            entity: "day override",
            key: format!("{employee} {date}"),
        })
    }
    async fn overrides(
        &self,
        _: Option<&[EmployeeCode]>,
        _: NaiveDate,
        _: NaiveDate,
    ) -> StoreResult<Vec<DayOverride>> {
        Ok(Vec::new())
    }
}

/// `scans` without the ones `voids` name.
pub(super) fn without_voided(mut scans: Vec<ScanData>, voids: &[ScanVoid]) -> Vec<ScanData> {
    if voids.is_empty() {
        return scans;
    }
    let voided: HashSet<&ScanId> = voids.iter().map(|v| &v.scan).collect();
    scans.retain(|s| !voided.contains(&ScanId::of(s)));
    scans
}

/// The owner of `employee`'s records, for [`authorize`].
pub(super) fn owner_of(employee: &Employee) -> Owner {
    Owner {
        employee: employee.employee_id.clone(),
        department: employee.department.clone(),
    }
}

fn value<T: serde::Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

impl AttendanceService {
    /// `users`' scans in `[from, to)` without the voided ones: one read of the scans and, when
    /// there are any, one of their voids.
    pub(super) async fn counted_scans(
        &self,
        users: &[DeviceUserId],
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<ScanData>, ServiceError> {
        let scans = self.scans.scans_of_users(users, from, to).await?;
        if scans.is_empty() {
            return Ok(scans);
        }
        let voids = self.oversight.voids_of_users(users, from, to).await?;
        Ok(without_voided(scans, &voids))
    }

    /// `user`'s scans in `[from, to)` without the voided ones (the per-employee path).
    pub(super) async fn counted_scans_of_user(
        &self,
        user: &DeviceUserId,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<ScanData>, ServiceError> {
        let scans = self.scans.scans_of_user(user, from, to).await?;
        if scans.is_empty() {
            return Ok(scans);
        }
        let voids = self
            .oversight
            .voids_of_users(std::slice::from_ref(user), from, to)
            .await?;
        Ok(without_voided(scans, &voids))
    }

    /// Keeps scans the ingest set aside (outside the storable window) for HR to see; answers how
    /// many were new (a scan kept already, by its dedupe key, is skipped).
    pub async fn keep_set_aside(&self, scans: &[SetAsideScan]) -> Result<usize, ServiceError> {
        if scans.is_empty() {
            return Ok(0);
        }
        Ok(self.oversight.keep_set_aside(scans).await?)
    }

    /// The scans set aside at ingest, newest arrival first, `offset`/`limit` applied.
    pub async fn set_aside_scans(
        &self,
        offset: u64,
        limit: u64,
    ) -> Result<Page<SetAsideScan>, ServiceError> {
        Ok(self.oversight.set_aside_scans(offset, limit).await?)
    }

    /// Appends `entry` to the audit trail; a failure is logged, never returned (the change it
    /// records is stored already).
    pub async fn audit(&self, entry: NewAuditEntry) {
        if let Err(error) = self.oversight.append_audit(&entry).await {
            tracing::error!(
                %error,
                action = entry.action.as_str(),
                actor = %entry.actor,
                target = %entry.target,
                "the audit entry could not be stored"
            );
        }
    }

    /// Voids scan `id` as `actor` (username `by`) at `now`, with `reason` (required): HR only
    /// ([`Action::VoidScan`] on the scan's employee). The scan stays stored and leaves every
    /// computation; its employee's work date is recomputed (the observer hears of it) and the
    /// void is audited ([`AuditAction::ScanVoided`]). Returns the void and the recomputed days.
    pub async fn void_scan(
        &self,
        actor: &Actor,
        by: &str,
        id: &ScanId,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<(ScanVoid, Recomputed), ServiceError> {
        let employee = self
            .employees
            .employee_by_device_user(&id.device_user_id)
            .await?;
        authorize(
            actor,
            Action::VoidScan,
            employee.as_ref().map(owner_of).as_ref(),
        )?;
        let reason = crate::error::non_empty_trimmed("reason", reason, MAX_VOID_REASON_CHARS)?;
        let at = id.timestamp();
        let scan = self
            .scans
            .scans_of_user(&id.device_user_id, at, at + TimeDelta::seconds(1))
            .await?
            .into_iter()
            .find(|s| id.names(s))
            .ok_or_else(|| StoreError::NotFound {
                entity: "scan",
                key: id.to_string(),
            })?;
        let void = ScanVoid {
            scan: id.clone(),
            reason: reason.clone(),
            voided_by: by.to_owned(),
            voided_at: now,
        };
        self.oversight.void_scan(&void).await?;
        let affected = self.affected_days(std::slice::from_ref(&scan)).await?;
        let recomputed = self.recompute_days(&affected.days, now).await?;
        self.audit(
            NewAuditEntry::new(now, by, AuditAction::ScanVoided, &format!("scan:{id}"))
                .before(json!({"scan": value(&scan), "voided": false}))
                .after(json!({"scan": value(&scan), "voided": true}))
                .reason(&reason),
        )
        .await;
        Ok((void, recomputed))
    }

    /// Sets `day` (an override of its employee's status on its date) as `actor` (username in
    /// `day.set_by`): [`Action::EditAttendance`] on the employee. Overrides live beside the
    /// records, so a recompute keeps them. Audited ([`AuditAction::DayOverridden`], before and
    /// after); the observer hears of the day with the override applied, when it has a record.
    /// Returns the override replaced, if any.
    pub async fn put_override(
        &self,
        actor: &Actor,
        day: &DayOverride,
    ) -> Result<Option<DayOverride>, ServiceError> {
        let employee = self.employees.employee(&day.employee_id).await?;
        authorize(actor, Action::EditAttendance, Some(&owner_of(&employee)))?;
        let old = self.oversight.put_override(day).await?;
        self.publish_day(&employee, day.date, Some(day)).await?;
        let mut entry = NewAuditEntry::new(
            day.set_at,
            &day.set_by,
            AuditAction::DayOverridden,
            &format!("employee:{}:{}", day.employee_id, day.date),
        )
        .after(value(day))
        .reason(&day.reason);
        if let Some(old) = &old {
            entry = entry.before(value(old));
        }
        self.audit(entry).await;
        Ok(old)
    }

    /// Removes the override of `employee` on `date` as `actor` (username `by`) at `now`:
    /// [`Action::EditAttendance`]. Audited ([`AuditAction::DayOverrideRemoved`]); the observer
    /// hears of the day as computed. Returns the removed override.
    pub async fn remove_override(
        &self,
        actor: &Actor,
        by: &str,
        employee: &EmployeeCode,
        date: NaiveDate,
        reason: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<DayOverride, ServiceError> {
        let stored = self.employees.employee(employee).await?;
        authorize(actor, Action::EditAttendance, Some(&owner_of(&stored)))?;
        let old = self.oversight.remove_override(employee, date).await?;
        self.publish_day(&stored, date, None).await?;
        let target = format!("employee:{employee}:{date}");
        let mut entry = NewAuditEntry::new(now, by, AuditAction::DayOverrideRemoved, &target)
            .before(value(&old));
        if let Some(reason) = reason {
            entry = entry.reason(reason);
        }
        self.audit(entry).await;
        Ok(old)
    }

    /// Tells the observer of `employee`'s record of `date` (if stored), `day` applied.
    async fn publish_day(
        &self,
        employee: &Employee,
        date: NaiveDate,
        day: Option<&DayOverride>,
    ) -> Result<(), ServiceError> {
        let Some(observer) = &self.observer else {
            return Ok(());
        };
        let Some(record) = self.records.record(&employee.employee_id, date).await? else {
            return Ok(());
        };
        let tz = self.settings.settings().await?.time_zone;
        let mut summary = DailySummary::new(employee, &record, tz);
        if let Some(day) = day {
            day.apply(&mut summary);
        }
        observer.days_recomputed(std::slice::from_ref(&summary));
        Ok(())
    }

    /// The overrides of `employees` (`None`: everyone) from `from` to `to`, for callers that
    /// show or count days ([`DayOverride::apply`] on each summary).
    pub async fn overrides(
        &self,
        employees: Option<&[EmployeeCode]>,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<DayOverride>, ServiceError> {
        Ok(self.oversight.overrides(employees, from, to).await?)
    }

    /// The audit entries `query` admits, newest first, for an actor allowed
    /// [`Action::ViewAuditLog`].
    pub async fn audit_log(
        &self,
        actor: &Actor,
        query: &AuditQuery,
        offset: u64,
        limit: u64,
    ) -> Result<Page<AuditEntry>, ServiceError> {
        authorize(actor, Action::ViewAuditLog, None)?;
        Ok(self.oversight.query_audit(query, offset, limit).await?)
    }
}
