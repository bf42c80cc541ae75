//! Leave: submitting a request and deciding on it, each committed at the version of the
//! employee's leave account it was checked against, and the days it changes recomputed.

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, Utc};

use super::recompute::dates_between;
use super::{AttendanceService, LEAVE_ATTEMPTS, ServiceError, Site};
use crate::access::{Action, Actor, Owner, Role, authorize};
use crate::calendar::LeaveType;
use crate::employee::{Employee, EmployeeCode};
use crate::holiday::holiday_calendar;
use crate::leave::{
    ApprovalChain, ApprovalOutcome, LeaveApplication, LeavePolicy, LeaveRequest, LeaveRequestId,
    LedgerEntry, RequestContext, submit,
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
    /// department head then HR, or HR only when a department head applies for themselves; a
    /// policy that needs no approval approves it at once (and its days are recomputed). Leave
    /// types with no stored policy use the statutory defaults.
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
        let chain = if actor.role == Role::DepartmentHead
            && actor.employee.as_ref() == Some(&employee.employee_id)
        {
            ApprovalChain::hr_only()
        } else {
            ApprovalChain::default()
        };
        let site = self.site().await?;
        let policy = self.policy(&application.leave_type).await?;
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

    /// Takes `decision` on request `id` for `actor`, as of `now`, with an optional note. The
    /// request's state and the employee's balance are read, checked by the rules and written
    /// back with the ledger in one atomic change; if another change to the employee's leave
    /// commits first, the decision is computed again from what is stored then (so two approvals
    /// racing for the last days of a balance cannot both pass). Days are recomputed when the
    /// request becomes approved or an approved request is cancelled.
    pub async fn decide_leave(
        &self,
        actor: &Actor,
        id: &LeaveRequestId,
        decision: LeaveDecision,
        note: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<LeaveRequest, ServiceError> {
        let first = self.leave.leave_request(id).await?;
        let site = self.site().await?;
        let policy = self.policy(&first.leave_type).await?;
        let today = site.today(now);
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
                let ledger = account.ledger(&request.leave_type);
                let (entries, changes_days) = match decision {
                    LeaveDecision::Approve => {
                        match request.approve(actor, &policy, &ledger, today, note)? {
                            ApprovalOutcome::Approved(done) => (done.debits, true),
                            ApprovalOutcome::AwaitingLevel(_) => (Vec::new(), false),
                        }
                    }
                    LeaveDecision::Reject => {
                        request.reject(actor, today, note)?;
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
        if changes_days {
            let employee = self.employees.employee(&request.employee).await?;
            self.recompute_leave_dates(&site, &employee, &request, now)
                .await?;
        }
        Ok(request)
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
