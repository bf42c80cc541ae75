//! The approval state machine of a leave request.
//!
//! ```text
//! Pending ──approve (level 1)──► … ──approve (last level)──► Approved ──cancel──► Cancelled
//!    │                                                        (reversal)
//!    ├──reject──► Rejected
//!    └──cancel──► Cancelled
//! ```
//!
//! The levels a request needs are fixed when it is submitted, from its policy's
//! [`LeaveApproval`] ([`ApprovalChain::for_request`]):
//!
//! | policy | a request | a department head's own | no active head in the department |
//! |---|---|---|---|
//! | `head_then_hr` | head, then HR | HR | head (HR acts for them), then HR |
//! | `hr_only` | HR | HR | HR |
//! | `head_only` | head | an admin | HR |
//!
//! At the department-head level a department head of the employee's department may act, and so
//! may HR staff while the department has no active head ([`HeadPresence::Missing`], asked at
//! decision time, so a head deactivated after a submission strands nothing); at the HR level HR
//! staff may; at the admin level only a super admin may; a super admin may act at any level.
//! Nobody but a super admin decides on their own request (see [`crate::access`]). The employee,
//! their department head, HR staff and super admins may cancel; once an approved leave has
//! started, only HR staff and super admins may.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::{
    HalfDays, LeaveApproval, LeaveLedger, LeavePolicy, LeaveRequest, LedgerEntry, LedgerEntryKind,
    RequestStatus,
};
use crate::access::{AccessDenied, Action, Actor, Role, authorize};
use crate::calendar::{LeaveDay, LeaveType};
use crate::employee::EmployeeCode;
use crate::error::{ValidationError, non_empty_trimmed};

/// One level of approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalLevel {
    /// The head of the employee's department.
    DepartmentHead,
    /// HR staff.
    Hr,
    /// A super admin (a department head's own request under a `head_only` policy).
    Admin,
}

/// Whether the employee's department has an active department head account now. Core cannot
/// look: the service asks the account store and passes the answer in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HeadPresence {
    /// At least one active `department_head` account belongs to the department.
    Active,
    /// None: HR staff act at the department-head level.
    Missing,
}

impl ApprovalLevel {
    /// Whether `role` may act at this level, `heads` telling whether the employee's department
    /// has an active head (a super admin may act at any level; HR staff at the department-head
    /// level only while it has none).
    pub fn admits(self, role: Role, heads: HeadPresence) -> bool {
        match self {
            Self::DepartmentHead => {
                matches!(role, Role::DepartmentHead | Role::SuperAdmin)
                    || (role == Role::HrStaff && heads == HeadPresence::Missing)
            }
            Self::Hr => matches!(role, Role::HrStaff | Role::SuperAdmin),
            Self::Admin => role == Role::SuperAdmin,
        }
    }
}

/// The levels a request needs, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalChain {
    /// The levels, in order; empty means approved on submission.
    pub levels: Vec<ApprovalLevel>,
}

impl Default for ApprovalChain {
    /// The department head, then HR.
    fn default() -> Self {
        Self {
            levels: vec![ApprovalLevel::DepartmentHead, ApprovalLevel::Hr],
        }
    }
}

impl ApprovalChain {
    /// HR only (for a department head's own leave, or a department without a head).
    pub fn hr_only() -> Self {
        Self {
            levels: vec![ApprovalLevel::Hr],
        }
    }

    /// The department head only.
    pub fn head_only() -> Self {
        Self {
            levels: vec![ApprovalLevel::DepartmentHead],
        }
    }

    /// A super admin only (a department head's own leave under `head_only`).
    pub fn admin_only() -> Self {
        Self {
            levels: vec![ApprovalLevel::Admin],
        }
    }

    /// The levels a request needs under `approval` (the table in the module docs):
    /// `heads_own` when a department head applies for themselves (the head level is skipped),
    /// `heads` whether the employee's department has an active head at submission (a
    /// `head_only` request in a department without one goes to HR; under `head_then_hr` HR
    /// acts at the head level instead, decided at decision time).
    pub fn for_request(approval: LeaveApproval, heads_own: bool, heads: HeadPresence) -> Self {
        match approval {
            LeaveApproval::HeadThenHr if heads_own => Self::hr_only(),
            LeaveApproval::HeadThenHr => Self::default(),
            LeaveApproval::HrOnly => Self::hr_only(),
            LeaveApproval::HeadOnly if heads_own => Self::admin_only(),
            LeaveApproval::HeadOnly if heads == HeadPresence::Missing => Self::hr_only(),
            LeaveApproval::HeadOnly => Self::head_only(),
        }
    }
}

/// A decision taken on a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Approved at a level.
    Approved,
    /// Rejected.
    Rejected,
    /// Cancelled.
    Cancelled,
}

/// One decision in a request's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalRecord {
    /// What was decided.
    pub decision: Decision,
    /// The level it was decided at (none for a cancellation).
    pub level: Option<ApprovalLevel>,
    /// The role of who decided.
    pub role: Role,
    /// Who decided, if they are an employee.
    pub by: Option<EmployeeCode>,
    /// When.
    pub on: NaiveDate,
    /// A note (at most 1000 characters).
    pub note: Option<String>,
}

/// What the final approval produces, to apply in one transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FinalApproval {
    /// The debit to append to the ledger: one `Taken` entry per leave year.
    pub debits: Vec<LedgerEntry>,
    /// The leave days for [`DayCalendar::leave`](crate::calendar::DayCalendar::leave).
    pub leave_days: BTreeMap<NaiveDate, LeaveDay>,
}

/// Where a request stands after a submission or an approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalOutcome {
    /// Waiting for this level.
    AwaitingLevel(ApprovalLevel),
    /// Approved: apply the debit and the leave days.
    Approved(FinalApproval),
}

/// What a cancellation produces, to apply in one transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cancellation {
    /// The reversal to append (empty when the request was still pending).
    pub reversals: Vec<LedgerEntry>,
    /// The dates to remove from [`DayCalendar::leave`](crate::calendar::DayCalendar::leave)
    /// (empty when the request was still pending).
    pub released_days: Vec<NaiveDate>,
}

/// A decision that cannot be taken.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ApprovalError {
    /// The request is not pending (approve, reject).
    #[error("the request is {status:?}, not pending")]
    NotPending {
        /// Its status.
        status: RequestStatus,
    },
    /// The request is rejected or cancelled already (cancel).
    #[error("the request is {status:?} already")]
    NotActive {
        /// Its status.
        status: RequestStatus,
    },
    /// The access policy refuses the actor.
    #[error(transparent)]
    Denied(#[from] AccessDenied),
    /// The actor's role may not act at the request's current level.
    #[error("{role} cannot act at the {level:?} level")]
    WrongLevel {
        /// The level waiting.
        level: ApprovalLevel,
        /// The actor's role.
        role: Role,
    },
    /// Approving would overdraw the balance of a year.
    #[error(
        "approving would overdraw {leave_type} leave in {year}: {available} available, {requested} asked for"
    )]
    InsufficientBalance {
        /// The leave type.
        leave_type: LeaveType,
        /// The leave year.
        year: i32,
        /// Available in the ledger now.
        available: HalfDays,
        /// Asked for in that year.
        requested: HalfDays,
    },
    /// The approved leave has started; only HR staff or a super admin may cancel it.
    #[error("the leave started on {start}; only HR may cancel it now")]
    AlreadyStarted {
        /// The leave's first date.
        start: NaiveDate,
    },
    /// The policy or ledger given is not for the request's employee and leave type.
    #[error("the policy or ledger given is not for this request")]
    ContextMismatch,
    /// A note or an entry did not validate.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
}

fn note(text: Option<&str>) -> Result<Option<String>, ValidationError> {
    match text {
        Some(t) if !t.trim().is_empty() => Ok(Some(non_empty_trimmed("note", t, 1000)?)),
        _ => Ok(None),
    }
}

impl LeaveRequest {
    /// The approvals recorded so far.
    pub fn approvals_done(&self) -> usize {
        self.history
            .iter()
            .filter(|r| r.decision == Decision::Approved)
            .count()
    }

    /// The level waiting, if the request is pending. A pending request whose levels are all
    /// recorded (possible only from inconsistent data) waits for HR.
    pub fn next_level(&self) -> Option<ApprovalLevel> {
        (self.status == RequestStatus::Pending).then(|| {
            self.levels
                .get(self.approvals_done())
                .copied()
                .unwrap_or(ApprovalLevel::Hr)
        })
    }

    fn record(
        &self,
        decision: Decision,
        level: Option<ApprovalLevel>,
        actor: &Actor,
        on: NaiveDate,
        note: Option<String>,
    ) -> ApprovalRecord {
        ApprovalRecord {
            decision,
            level,
            role: actor.role,
            by: actor.employee.clone(),
            on,
            note,
        }
    }

    /// Checks that the request is pending and `actor` may decide at its current level with
    /// `action` (`heads`: whether its department has an active head now); returns the level.
    fn check_decider(
        &self,
        actor: &Actor,
        heads: HeadPresence,
        action: Action,
    ) -> Result<ApprovalLevel, ApprovalError> {
        let Some(level) = self.next_level() else {
            return Err(ApprovalError::NotPending {
                status: self.status,
            });
        };
        authorize(actor, action, Some(&self.owner()))?;
        if !level.admits(actor.role, heads) {
            return Err(ApprovalError::WrongLevel {
                level,
                role: actor.role,
            });
        }
        Ok(level)
    }

    /// Approves the request at its current level for `actor`, `on` that date; `heads` says
    /// whether the request's department has an active head now (see
    /// [`ApprovalLevel::admits`]). At the last level
    /// the request becomes approved and the outcome carries the debit and the leave days; before,
    /// it names the next level. The final approval is refused with
    /// [`ApprovalError::InsufficientBalance`] when, under a limited `policy`, `ledger` (the
    /// employee's ledger of this type as it is now) has less available in a year than the request
    /// counts there: applied atomically with the ledger, two racing approvals cannot overdraw.
    /// Nothing changes when an error is returned.
    pub fn approve(
        &mut self,
        actor: &Actor,
        heads: HeadPresence,
        policy: &LeavePolicy,
        ledger: &LeaveLedger,
        on: NaiveDate,
        note_text: Option<&str>,
    ) -> Result<ApprovalOutcome, ApprovalError> {
        let level = self.check_decider(actor, heads, Action::ApproveLeave)?;
        let note = note(note_text)?;
        let is_final = self.approvals_done() + 1 >= self.levels.len();
        let record = self.record(Decision::Approved, Some(level), actor, on, note);
        if !is_final {
            self.history.push(record);
            let next = self.next_level().unwrap_or(ApprovalLevel::Hr);
            return Ok(ApprovalOutcome::AwaitingLevel(next));
        }
        if policy.leave_type != self.leave_type
            || ledger.leave_type() != &self.leave_type
            || ledger.employee() != &self.employee
        {
            return Err(ApprovalError::ContextMismatch);
        }
        if policy.is_limited() {
            for year in self.years() {
                let requested = self.amount_in(year);
                let available = ledger.available(year);
                if requested > available {
                    return Err(ApprovalError::InsufficientBalance {
                        leave_type: self.leave_type.clone(),
                        year,
                        available,
                        requested,
                    });
                }
            }
        }
        let debits = self.entries(LedgerEntryKind::Taken, on)?;
        self.history.push(record);
        self.status = RequestStatus::Approved;
        Ok(ApprovalOutcome::Approved(FinalApproval {
            debits,
            leave_days: self.leave_days(),
        }))
    }

    /// Rejects the pending request at its current level for `actor`, `on` that date (`heads` as
    /// for [`Self::approve`]).
    pub fn reject(
        &mut self,
        actor: &Actor,
        heads: HeadPresence,
        on: NaiveDate,
        note_text: Option<&str>,
    ) -> Result<(), ApprovalError> {
        let level = self.check_decider(actor, heads, Action::RejectLeave)?;
        let note = note(note_text)?;
        self.history
            .push(self.record(Decision::Rejected, Some(level), actor, on, note));
        self.status = RequestStatus::Rejected;
        Ok(())
    }

    /// Cancels a pending or approved request for `actor`, `on` that date. Cancelling an approved
    /// request returns the reversal of its debit and the dates to release; once it has started
    /// (`on` is on or after its first date) only HR staff or a super admin may cancel it.
    pub fn cancel(
        &mut self,
        actor: &Actor,
        on: NaiveDate,
        note_text: Option<&str>,
    ) -> Result<Cancellation, ApprovalError> {
        if !self.status.is_active() {
            return Err(ApprovalError::NotActive {
                status: self.status,
            });
        }
        authorize(actor, Action::CancelLeave, Some(&self.owner()))?;
        let was_approved = self.status == RequestStatus::Approved;
        if was_approved
            && on >= self.start
            && !matches!(actor.role, Role::HrStaff | Role::SuperAdmin)
        {
            return Err(ApprovalError::AlreadyStarted { start: self.start });
        }
        let note = note(note_text)?;
        let cancellation = if was_approved {
            Cancellation {
                reversals: self.entries(LedgerEntryKind::Reversal, on)?,
                released_days: self.days.iter().map(|d| d.date).collect(),
            }
        } else {
            Cancellation {
                reversals: Vec::new(),
                released_days: Vec::new(),
            }
        };
        self.history
            .push(self.record(Decision::Cancelled, None, actor, on, note));
        self.status = RequestStatus::Cancelled;
        Ok(cancellation)
    }
}

#[cfg(test)]
mod tests;
