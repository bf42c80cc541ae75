//! Leave: submitting a request and deciding on it, each committed at the version of the
//! employee's leave account it was checked against, and the days it changes recomputed.
//!
//! The approval chain comes from the request's policy ([`LeavePolicy::approval`], see
//! [`ApprovalChain::for_request`]); whether the department has an active head is asked of the
//! account store ([`AttendanceService::head_presence`]) and handed to the pure rules, at
//! submission for `head_only` policies and at every decision at the department-head level, so a
//! head deactivated after a submission leaves the request to HR instead of stranding it.
//! Every decision is audited ([`AuditAction::LeaveApproved`] per level,
//! [`AuditAction::LeaveRejected`], [`AuditAction::LeaveCancelled`]) once it is committed.

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::json;

use super::recompute::dates_between;
use super::{AttendanceService, LEAVE_ATTEMPTS, ServiceError, Site};
use crate::access::{Action, Actor, Owner, Role, authorize};
use crate::audit::{AuditAction, NewAuditEntry};
use crate::calendar::LeaveType;
use crate::employee::{Department, Employee, EmployeeCode};
use crate::holiday::holiday_calendar;
use crate::leave::{
    ApprovalChain, ApprovalLevel, ApprovalOutcome, HeadPresence, LeaveApplication, LeaveApproval,
    LeavePolicy, LeaveRequest, LeaveRequestId, LedgerEntry, RequestContext, submit,
};
use crate::store::{LeaveAccount, LeaveChange, StoreError, leave_policy_or_default};

/// A decision on a leave request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaveDecision {
    /// Approve at the request's current level.
    Approve,
    /// Reject at the request's current level.
    Reject,
    /// Cancel (pending or approved).
    Cancel,
}

impl AttendanceService {
    /// Submits `application` as request `id` for `actor`, as of `now`. The request needs the
    /// levels of its policy's approval chain ([`ApprovalChain::for_request`]: the head level is
    /// skipped when a department head applies for themselves, and a `head_only` request in a
    /// department without an active head goes to HR); a policy that needs no approval approves
    /// it at once (and its days are recomputed). Leave types with no stored policy use the
    /// statutory defaults.
    pub async fn submit_leave(
        &self,
        actor: &Actor,
        id: LeaveRequestId,
        application: &LeaveApplication,
        now: DateTime<Utc>,
    ) -> Result<LeaveRequest, ServiceError> {
        let employee = self.employees.employee(&application.employee).await?;
        authorize(
            actor,
            Action::SubmitLeave,
            Some(&Owner {
                employee: employee.employee_id.clone(),
                department: employee.department.clone(),
            }),
        )?;
        let application = LeaveApplication {
            department: employee.department.clone(),
            ..application.clone()
        };
        let heads_own = actor.role == Role::DepartmentHead
            && actor.employee.as_ref() == Some(&employee.employee_id);
        let site = self.site().await?;
        let policy = self.policy(&application.leave_type).await?;
        // Only a head_only chain depends on the department's head at submission.
        let heads = if policy.approval == LeaveApproval::HeadOnly && !heads_own {
            self.head_presence(&employee.department).await?
        } else {
            HeadPresence::Active
        };
        let chain = ApprovalChain::for_request(policy.approval, heads_own, heads);
        let today = site.today(now);
        let holidays = holiday_calendar(&site.holidays, application.start, application.end);
        let (request, changes_days) = self
            .commit_leave_with_retries(&employee.employee_id, |account| {
                let ledger = account.ledger(&application.leave_type);
                let ctx = RequestContext {
                    policy: &policy,
                    weekly_off_days: &site.settings.weekly_off_days,
                    holidays: &holidays,
                    ledger: &ledger,
                    requests: &account.requests,
                };
                let (request, outcome) = submit(id.clone(), &application, &ctx, &chain, today)?;
                Ok(match outcome {
                    ApprovalOutcome::Approved(done) => (request, done.debits, true),
                    ApprovalOutcome::AwaitingLevel(_) => (request, Vec::new(), false),
                })
            })
            .await?;
        if changes_days {
            self.recompute_leave_dates(&site, &employee, &request, now)
                .await?;
        }
        Ok(request)
    }

    /// Moves `employee`'s leave requests (all of them, decided ones included) to their current
    /// department, so access to them follows the employee: after a transfer the new department's
    /// head sees and decides them, the old one no longer does. Answers how many moved.
    pub async fn move_leave_requests(&self, employee: &Employee) -> Result<usize, ServiceError> {
        for _ in 0..LEAVE_ATTEMPTS {
            let account = self.leave.leave_account(&employee.employee_id).await?;
            let moved: Vec<LeaveRequest> = account
                .requests
                .iter()
                .filter(|r| r.department != employee.department)
                .map(|r| LeaveRequest {
                    department: employee.department.clone(),
                    ..r.clone()
                })
                .collect();
            if moved.is_empty() {
                return Ok(0);
            }
            let count = moved.len();
            let change = LeaveChange {
                employee: employee.employee_id.clone(),
                expected_version: account.version,
                entries: Vec::new(),
                requests: moved,
            };
            match self.leave.commit_leave(change).await {
                Ok(_) => return Ok(count),
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ServiceError::Contended {
            employee: employee.employee_id.to_string(),
            attempts: LEAVE_ATTEMPTS,
        })
    }

    /// Reads `employee`'s leave account, lets `decide` compute the new state of one request and
    /// the ledger entries to append (and whether the leave days change), and commits both at the
    /// version read; when another change commits first, it reads and decides again, up to
    /// [`LEAVE_ATTEMPTS`] times.
    async fn commit_leave_with_retries(
        &self,
        employee: &EmployeeCode,
        mut decide: impl FnMut(
            &LeaveAccount,
        ) -> Result<(LeaveRequest, Vec<LedgerEntry>, bool), ServiceError>,
    ) -> Result<(LeaveRequest, bool), ServiceError> {
        for _ in 0..LEAVE_ATTEMPTS {
            let account = self.leave.leave_account(employee).await?;
            let (request, entries, changes_days) = decide(&account)?;
            let change = LeaveChange {
                employee: employee.clone(),
                expected_version: account.version,
                entries: entries
                    .into_iter()
                    .map(|e| (request.leave_type.clone(), e))
                    .collect(),
                requests: vec![request.clone()],
            };
            match self.leave.commit_leave(change).await {
                Ok(_) => return Ok((request, changes_days)),
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ServiceError::Contended {
            employee: employee.to_string(),
            attempts: LEAVE_ATTEMPTS,
        })
    }

    /// Takes `decision` on request `id` for `actor` (username `by`, for the audit trail), as of
    /// `now`, with an optional note. The request's state and the employee's balance are read,
    /// checked by the rules and written back with the ledger in one atomic change; if another
    /// change to the employee's leave commits first, the decision is computed again from what is
    /// stored then (so two approvals racing for the last days of a balance cannot both pass).
    /// At the department-head level, whether the request's department has an active head is
    /// asked now ([`Self::head_presence`]): without one HR staff may act there. The committed
    /// decision is audited; days are recomputed when the request becomes approved or an
    /// approved request is cancelled.
    pub async fn decide_leave(
        &self,
        actor: &Actor,
        by: &str,
        id: &LeaveRequestId,
        decision: LeaveDecision,
        note: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<LeaveRequest, ServiceError> {
        let first = self.leave.leave_request(id).await?;
        let site = self.site().await?;
        let policy = self.policy(&first.leave_type).await?;
        let today = site.today(now);
        // Only HR staff's admission depends on the head, and only at the head level; levels
        // only move forward, so a request not waiting for its head now never will be.
        let heads = if decision != LeaveDecision::Cancel
            && actor.role == Role::HrStaff
            && first.next_level() == Some(ApprovalLevel::DepartmentHead)
        {
            self.head_presence(&first.department).await?
        } else {
            HeadPresence::Active
        };
        let mut before = None;
        let (request, changes_days) = self
            .commit_leave_with_retries(&first.employee, |account| {
                let mut request = account
                    .requests
                    .iter()
                    .find(|r| &r.id == id)
                    .cloned()
                    .ok_or_else(|| StoreError::NotFound {
                        entity: "leave request",
                        key: id.to_string(),
                    })?;
                before = Some(request.clone());
                let ledger = account.ledger(&request.leave_type);
                let (entries, changes_days) = match decision {
                    LeaveDecision::Approve => {
                        match request.approve(actor, heads, &policy, &ledger, today, note)? {
                            ApprovalOutcome::Approved(done) => (done.debits, true),
                            ApprovalOutcome::AwaitingLevel(_) => (Vec::new(), false),
                        }
                    }
                    LeaveDecision::Reject => {
                        request.reject(actor, heads, today, note)?;
                        (Vec::new(), false)
                    }
                    LeaveDecision::Cancel => {
                        let cancelled = request.cancel(actor, today, note)?;
                        let changes = !cancelled.released_days.is_empty();
                        (cancelled.reversals, changes)
                    }
                };
                Ok((request, entries, changes_days))
            })
            .await?;
        if let Some(before) = &before {
            self.audit(decision_entry(before, &request, decision, by, now))
                .await;
        }
        if changes_days {
            let employee = self.employees.employee(&request.employee).await?;
            self.recompute_leave_dates(&site, &employee, &request, now)
                .await?;
        }
        Ok(request)
    }

    /// Whether `department` has an active `department_head` account now (a head's department is
    /// that of the employee the account is linked to). A service without the account port
    /// ([`Self::from_parts`] before [`Self::with_accounts`]) answers
    /// [`HeadPresence::Active`], the rules as they were before heads were asked about.
    pub async fn head_presence(
        &self,
        department: &Department,
    ) -> Result<HeadPresence, ServiceError> {
        let Some(accounts) = &self.accounts else {
            return Ok(HeadPresence::Active);
        };
        let heads: Vec<EmployeeCode> = accounts
            .list_accounts()
            .await?
            .into_iter()
            .filter(|a| a.active && a.role == Role::DepartmentHead)
            .filter_map(|a| a.employee)
            .collect();
        if heads.is_empty() {
            return Ok(HeadPresence::Missing);
        }
        let employees = self.employees.employees_by_codes(&heads).await?;
        Ok(if employees.iter().any(|e| &e.department == department) {
            HeadPresence::Active
        } else {
            HeadPresence::Missing
        })
    }

    /// The stored policy of `leave_type`, else the statutory default
    /// ([`leave_policy_or_default`]).
    async fn policy(&self, leave_type: &LeaveType) -> Result<LeavePolicy, ServiceError> {
        let (policy, _) = leave_policy_or_default(&*self.leave, leave_type).await?;
        Ok(policy)
    }

    async fn recompute_leave_dates(
        &self,
        site: &Site,
        employee: &Employee,
        request: &LeaveRequest,
        now: DateTime<Utc>,
    ) -> Result<usize, ServiceError> {
        let today = site.today(now);
        let dates: BTreeSet<NaiveDate> =
            dates_between(request.start, request.end.min(today)).collect();
        Ok(self
            .recompute_work(site, vec![(employee.clone(), dates)], now, false)
            .await?
            .records
            .len())
    }
}

/// The audit entry of `decision` taken by `by` at `now`, `before` and `after` the request.
fn decision_entry(
    before: &LeaveRequest,
    after: &LeaveRequest,
    decision: LeaveDecision,
    by: &str,
    now: DateTime<Utc>,
) -> NewAuditEntry {
    let action = match decision {
        LeaveDecision::Approve => AuditAction::LeaveApproved,
        LeaveDecision::Reject => AuditAction::LeaveRejected,
        LeaveDecision::Cancel => AuditAction::LeaveCancelled,
    };
    let record = after.history.last();
    let entry = NewAuditEntry::new(now, by, action, &format!("leave_request:{}", after.id))
        .before(json!({
            "employee_id": before.employee,
            "leave_type": before.leave_type.name(),
            "start": before.start,
            "end": before.end,
            "status": before.status,
            "next_level": before.next_level(),
        }))
        .after(json!({
            "employee_id": after.employee,
            "leave_type": after.leave_type.name(),
            "start": after.start,
            "end": after.end,
            "status": after.status,
            "level": record.and_then(|r| r.level),
            "next_level": after.next_level(),
            "levels": after.levels,
        }));
    match record.and_then(|r| r.note.as_deref()) {
        Some(note) => entry.reason(note),
        None => entry,
    }
}
