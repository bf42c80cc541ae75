//! Attendance corrections: filing one, reading them in scope, and deciding one. An approved
//! correction becomes a manual scan stored through [`AttendanceService::record_scans`], the path
//! every manual scan takes (stored, deduplicated, its day recomputed and the observer told),
//! linked to the correction by its raw note (`correction_id`) and by the audit entry, whose
//! `after` carries the scan's id.

use std::collections::BTreeSet;

use chrono::{DateTime, SubsecRound, Utc};
use serde_json::json;

use super::oversight::owner_of;
use super::{AttendanceService, ServiceError};
use crate::access::{Action, Actor, ListFilter, authorize, list_filter};
use crate::attribution::Attributor;
use crate::audit::{AuditAction, NewAuditEntry};
use crate::correction::{
    Correction, CorrectionId, CorrectionStatus, MANUAL_MACHINE, NewCorrection,
};
use crate::employee::{Employee, EmployeeCode};
use crate::ingest::ScanBatch;
use crate::report::DailySummary;
use crate::scan::{MachineId, PunchState, ScanData, VerifyMode};
use crate::store::{CorrectionQuery, Page, ScanId, ScanVoid, StoreError};

/// What deciding a correction did.
#[derive(Debug, Clone, PartialEq)]
pub struct CorrectionDecision {
    /// The correction as decided and stored.
    pub correction: Correction,
    /// For an approval, the scan stored (or found stored already) and its day.
    pub approved: Option<ApprovedScan>,
}

/// The scan an approved correction became.
#[derive(Debug, Clone, PartialEq)]
pub struct ApprovedScan {
    /// The scan as it was asked to be stored.
    pub scan: ScanData,
    /// Its id.
    pub id: ScanId,
    /// Whether the same scan (machine, device user, second) was stored already: the correction
    /// is approved all the same and nothing new is stored.
    pub duplicate: bool,
    /// The employee it belongs to.
    pub employee: Employee,
    /// Its work date as recomputed, the day's override (if any) applied.
    pub summary: Option<DailySummary>,
}

fn value<T: serde::Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

impl AttendanceService {
    /// Files a correction `id` (a fresh id from the caller: core has no randomness) as `actor`
    /// (username `by`) at `now`: [`Action::RequestCorrection`] on the employee (the employee for
    /// themselves, their department head, HR and admins). The time is kept in whole seconds (a
    /// scan's precision) and checked by [`Correction::file`]. Stored, then audited
    /// ([`AuditAction::CorrectionRequested`], target `correction:ID`).
    pub async fn request_correction(
        &self,
        actor: &Actor,
        by: &str,
        id: CorrectionId,
        mut new: NewCorrection,
        now: DateTime<Utc>,
    ) -> Result<Correction, ServiceError> {
        let employee = self.employees.employee(&new.employee_id).await?;
        authorize(actor, Action::RequestCorrection, Some(&owner_of(&employee)))?;
        new.scan_time = new.scan_time.trunc_subsecs(0);
        let correction = Correction::file(id, new, by, now)?;
        self.oversight.create_correction(&correction).await?;
        self.audit(
            NewAuditEntry::new(
                now,
                by,
                AuditAction::CorrectionRequested,
                &format!("correction:{}", correction.id),
            )
            .after(value(&correction))
            .reason(&correction.reason),
        )
        .await;
        Ok(correction)
    }

    /// Correction `id`, if `actor` may see it (the scope of [`Action::RequestCorrection`]: the
    /// employee's own, their head's department, HR and admins everything).
    pub async fn correction(
        &self,
        actor: &Actor,
        id: &CorrectionId,
    ) -> Result<Correction, ServiceError> {
        list_filter(actor, Action::RequestCorrection)?;
        let correction = self.oversight.correction(id).await?;
        let employee = self.employees.employee(&correction.employee_id).await?;
        authorize(actor, Action::RequestCorrection, Some(&owner_of(&employee)))?;
        Ok(correction)
    }

    /// The corrections `query` admits within `actor`'s scope (as [`Self::correction`]), newest
    /// first: `query.employees` is narrowed to the scope (a department head's department is one
    /// read of its employees), so asking for employees outside it gives an empty page.
    pub async fn corrections(
        &self,
        actor: &Actor,
        query: &CorrectionQuery,
    ) -> Result<Page<Correction>, ServiceError> {
        let scope: Option<Vec<EmployeeCode>> = match list_filter(actor, Action::RequestCorrection)?
        {
            ListFilter::All => None,
            ListFilter::Department(department) => Some(
                self.employees
                    .list_employees(Some(department))
                    .await?
                    .into_iter()
                    .map(|e| e.employee_id)
                    .collect(),
            ),
            ListFilter::Employee(code) => Some(vec![code]),
        };
        let employees = match (scope, &query.employees) {
            (None, asked) => asked.clone(),
            (Some(scope), None) => Some(scope),
            (Some(scope), Some(asked)) => {
                Some(scope.into_iter().filter(|c| asked.contains(c)).collect())
            }
        };
        if employees.as_ref().is_some_and(Vec::is_empty) {
            return Ok(Page {
                count: 0,
                results: Vec::new(),
            });
        }
        let query = CorrectionQuery {
            employees,
            ..query.clone()
        };
        Ok(self.oversight.query_corrections(&query).await?)
    }

    /// Approves (`approve`) or rejects correction `id` as `actor` (username `by`) at `now`, with
    /// an optional `note`: [`Correction::decide`] first (only a pending one; the employee's
    /// department head, HR or an admin; never the person it is about), so nothing is stored
    /// when it is refused. An approval stores a manual scan (machine [`MANUAL_MACHINE`], the
    /// employee's device user, the asked time and punch) through [`Self::record_scans`]: stored
    /// before this returns, deduplicated (a scan stored already still approves the correction),
    /// its work date recomputed and published. Then the decision is stored, only while the
    /// correction is still pending as stored, so two deciders cannot both win. Audited
    /// ([`AuditAction::CorrectionApproved`] or [`AuditAction::CorrectionRejected`], before and
    /// after; an approval's `after` names the scan as `scan_id`).
    ///
    /// The scan is stored before the decision, so an approval whose decision fails to store
    /// converges when asked again (the scan is then a duplicate); if another decision was
    /// stored in between and was a rejection, the scan just stored is voided (by `system`) and
    /// the conflict returned.
    pub async fn decide_correction(
        &self,
        actor: &Actor,
        by: &str,
        id: &CorrectionId,
        approve: bool,
        note: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<CorrectionDecision, ServiceError> {
        let before = self.oversight.correction(id).await?;
        let employee = self.employees.employee(&before.employee_id).await?;
        let mut correction = before.clone();
        correction.decide(approve, actor, by, &owner_of(&employee), note, now)?;
        // The scan first: if storing the decision then fails, asking again finds the scan
        // stored (a duplicate) and converges. Only a decision stored first by someone else
        // makes it stray, and then it is voided unless that decision was an approval too.
        let approved = if approve {
            Some(
                self.store_approved_scan(&correction, employee, by, now)
                    .await?,
            )
        } else {
            None
        };
        if let Err(error) = self.oversight.decide_correction(&correction).await {
            if let (StoreError::Conflict(_), Some(a)) = (&error, &approved)
                && !a.duplicate
            {
                self.void_stray_scan(id, a, now).await;
            }
            return Err(error.into());
        }
        // Before and after are the correction as stored; an approval's after also names its scan.
        let mut after = value(&correction);
        let action = match (&approved, after.as_object_mut()) {
            (Some(a), Some(fields)) => {
                fields.insert("scan_id".into(), json!(a.id.to_string()));
                fields.insert("duplicate".into(), json!(a.duplicate));
                AuditAction::CorrectionApproved
            }
            (Some(_), None) => AuditAction::CorrectionApproved,
            (None, _) => AuditAction::CorrectionRejected,
        };
        let mut entry = NewAuditEntry::new(now, by, action, &format!("correction:{id}"))
            .before(value(&before))
            .after(after);
        if let Some(note) = &correction.decision_note {
            entry = entry.reason(note);
        }
        self.audit(entry).await;
        Ok(CorrectionDecision {
            correction,
            approved,
        })
    }

    /// Voids the scan `approved` stored for correction `id` when someone else's decision,
    /// stored first, was not an approval; failures are logged (the caller answers the conflict).
    async fn void_stray_scan(
        &self,
        id: &CorrectionId,
        approved: &ApprovedScan,
        now: DateTime<Utc>,
    ) {
        let winner = match self.oversight.correction(id).await {
            Ok(winner) => winner,
            Err(error) => {
                tracing::error!(%error, correction = %id, scan = %approved.id, "a correction's scan may be stray");
                return;
            }
        };
        if winner.status == CorrectionStatus::Approved {
            return;
        }
        let void = ScanVoid {
            scan: approved.id.clone(),
            reason: format!("correction {id} was {} first", winner.status.as_str()),
            voided_by: "system".into(),
            voided_at: now,
        };
        let voided = async {
            self.oversight.void_scan(&void).await?;
            let affected = self
                .affected_days(std::slice::from_ref(&approved.scan))
                .await?;
            self.recompute_days(&affected.days, now).await?;
            Ok::<(), ServiceError>(())
        };
        if let Err(error) = voided.await {
            tracing::error!(%error, correction = %id, scan = %approved.id, "a stray correction scan could not be voided");
        }
    }

    /// Stores the manual scan of an approved `correction` of `employee` and answers its day.
    async fn store_approved_scan(
        &self,
        correction: &Correction,
        employee: Employee,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<ApprovedScan, ServiceError> {
        let machine = MachineId::parse(MANUAL_MACHINE)?;
        let scan = ScanData {
            machine_id: machine.clone(),
            device_user_id: employee.device_user_id.clone(),
            timestamp: correction.scan_time,
            punch_state: correction.scan_type.unwrap_or(PunchState::Unknown),
            verify_mode: VerifyMode::Manual,
            raw: Some(
                json!({
                    "entered_by": by,
                    "reason": correction.reason,
                    "correction_id": correction.id.as_str(),
                    "requested_by": correction.requested_by,
                })
                .to_string(),
            ),
        };
        let report = self
            .record_scans(
                ScanBatch {
                    machine_id: machine,
                    scans: vec![scan.clone()],
                    cursor: None,
                },
                now,
            )
            .await?;
        let duplicate = report.inserted.is_empty();
        let mut summary = report
            .summaries
            .into_iter()
            .find(|s| s.employee_id == employee.employee_id);
        if summary.is_none() {
            // A duplicate recomputes nothing: recompute its work date to answer the day as it is
            // (the per-employee path, which tells the observer too).
            let settings = self.settings.settings().await?;
            let roster = settings.roster_of(&employee);
            let date = Attributor::new(&settings, &roster).work_date_of(scan.timestamp);
            let records = self
                .recompute(&employee, &BTreeSet::from([date]), now)
                .await?;
            let overrides = self
                .overrides(
                    Some(std::slice::from_ref(&employee.employee_id)),
                    date,
                    date,
                )
                .await?;
            summary = records.first().map(|r| {
                DailySummary::with_overrides(&employee, r, &overrides, settings.time_zone)
            });
        }
        Ok(ApprovedScan {
            id: ScanId::of(&scan),
            scan,
            duplicate,
            employee,
            summary,
        })
    }
}
