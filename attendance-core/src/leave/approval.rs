//! The approval state machine of a leave request.
//!
//! ```text
//! Pending ──approve (level 1)──► … ──approve (last level)──► Approved ──cancel──► Cancelled
//!    │                                                        (reversal)
//!    ├──reject──► Rejected
//!    └──cancel──► Cancelled
//! ```
//!
//! At the department-head level a department head of the employee's department may act; at the
//! HR level HR staff may; a super admin may act at any level. Nobody but a super admin decides
//! on their own request (see [`crate::access`]). The employee, their department head, HR staff
//! and super admins may cancel; once an approved leave has started, only HR staff and super
//! admins may.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::{
    HalfDays, LeaveLedger, LeavePolicy, LeaveRequest, LedgerEntry, LedgerEntryKind, RequestStatus,
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
}

impl ApprovalLevel {
    /// Whether `role` may act at this level (a super admin may act at any).
    pub fn admits(self, role: Role) -> bool {
        match self {
            Self::DepartmentHead => matches!(role, Role::DepartmentHead | Role::SuperAdmin),
            Self::Hr => matches!(role, Role::HrStaff | Role::SuperAdmin),
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
    /// `action`; returns the level.
    fn check_decider(&self, actor: &Actor, action: Action) -> Result<ApprovalLevel, ApprovalError> {
        let Some(level) = self.next_level() else {
            return Err(ApprovalError::NotPending {
                status: self.status,
            });
        };
        authorize(actor, action, Some(&self.owner()))?;
        if !level.admits(actor.role) {
            return Err(ApprovalError::WrongLevel {
                level,
                role: actor.role,
            });
        }
        Ok(level)
    }

    /// Approves the request at its current level for `actor`, `on` that date. At the last level
    /// the request becomes approved and the outcome carries the debit and the leave days; before,
    /// it names the next level. The final approval is refused with
    /// [`ApprovalError::InsufficientBalance`] when, under a limited `policy`, `ledger` (the
    /// employee's ledger of this type as it is now) has less available in a year than the request
    /// counts there: applied atomically with the ledger, two racing approvals cannot overdraw.
    /// Nothing changes when an error is returned.
    pub fn approve(
        &mut self,
        actor: &Actor,
        policy: &LeavePolicy,
        ledger: &LeaveLedger,
        on: NaiveDate,
        note_text: Option<&str>,
    ) -> Result<ApprovalOutcome, ApprovalError> {
        let level = self.check_decider(actor, Action::ApproveLeave)?;
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

    /// Rejects the pending request at its current level for `actor`, `on` that date.
    pub fn reject(
        &mut self,
        actor: &Actor,
        on: NaiveDate,
        note_text: Option<&str>,
    ) -> Result<(), ApprovalError> {
        let level = self.check_decider(actor, Action::RejectLeave)?;
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
mod tests {
    use chrono::Weekday;
    use proptest::prelude::*;

    use super::*;
    use crate::employee::Department;
    use crate::leave::request::tests::{application, code, d, holidays, ledger_with};
    use crate::leave::{LeaveRequestId, RequestContext, submit};

    fn actor(role: Role, employee: Option<&str>, department: Option<&str>) -> Actor {
        Actor::new(
            role,
            employee.map(code),
            department.map(|t| Department::parse(t).unwrap()),
        )
    }

    fn employee() -> Actor {
        actor(Role::Employee, Some("EMP1"), Some("Sewing"))
    }
    fn coworker() -> Actor {
        actor(Role::Employee, Some("EMP2"), Some("Sewing"))
    }
    fn head() -> Actor {
        actor(Role::DepartmentHead, Some("EMP5"), Some("Sewing"))
    }
    fn other_head() -> Actor {
        actor(Role::DepartmentHead, Some("EMP6"), Some("Cutting"))
    }
    fn hr() -> Actor {
        actor(Role::HrStaff, Some("HR1"), Some("HR"))
    }
    fn admin() -> Actor {
        actor(Role::SuperAdmin, None, None)
    }

    #[derive(Debug, Clone, Copy)]
    enum Op {
        Approve,
        Reject,
        Cancel,
    }

    /// A pending casual request of EMP1 for 2–3 March 2026 (4 half days) under `chain`.
    fn request(chain: &ApprovalChain) -> LeaveRequest {
        let policy = LeavePolicy::default_for(LeaveType::Casual);
        let ledger = ledger_with(
            LeaveType::Casual,
            &[(LedgerEntryKind::Allocation, 2026, 20)],
        );
        let ctx = RequestContext {
            policy: &policy,
            weekly_off_days: &[Weekday::Fri],
            holidays: &holidays(),
            ledger: &ledger,
            requests: &[],
        };
        let app = application(LeaveType::Casual, d(2026, 3, 2), d(2026, 3, 3));
        submit(
            LeaveRequestId::parse("L1").unwrap(),
            &app,
            &ctx,
            chain,
            d(2026, 2, 20),
        )
        .unwrap()
        .0
    }

    fn entries(entries: &[LedgerEntry]) -> String {
        entries
            .iter()
            .map(|e| format!(" {:?} {}:{}", e.kind, e.year, e.amount.halves()))
            .collect()
    }

    fn error_name(e: &ApprovalError) -> &'static str {
        match e {
            ApprovalError::NotPending { .. } => "not pending",
            ApprovalError::NotActive { .. } => "not active",
            ApprovalError::Denied(_) => "denied",
            ApprovalError::WrongLevel { .. } => "wrong level",
            ApprovalError::InsufficientBalance { .. } => "insufficient balance",
            ApprovalError::AlreadyStarted { .. } => "already started",
            ApprovalError::ContextMismatch => "context mismatch",
            ApprovalError::Invalid(_) => "invalid",
        }
    }

    /// Runs `steps` (actor, operation, date) on a fresh request under `chain` with `available`
    /// half days of casual leave in 2026, and compares each step's summary with the expected one.
    fn check(chain: ApprovalChain, available: i64, steps: &[(Actor, Op, NaiveDate, &str)]) {
        let policy = LeavePolicy::default_for(LeaveType::Casual);
        let ledger = ledger_with(
            LeaveType::Casual,
            &[(LedgerEntryKind::Allocation, 2026, available)],
        );
        let mut request = request(&chain);
        for (i, (who, op, on, expected)) in steps.iter().enumerate() {
            let before = request.clone();
            let got = match op {
                Op::Approve => request
                    .approve(who, &policy, &ledger, *on, Some("ok"))
                    .map(|o| match o {
                        ApprovalOutcome::AwaitingLevel(level) => format!("awaiting {level:?}"),
                        ApprovalOutcome::Approved(f) => {
                            format!("approved{} days {}", entries(&f.debits), f.leave_days.len())
                        }
                    }),
                Op::Reject => request
                    .reject(who, *on, None)
                    .map(|()| "rejected".to_owned()),
                Op::Cancel => request
                    .cancel(who, *on, None)
                    .map(|c| format!("cancelled{}", entries(&c.reversals))),
            };
            let got = got.unwrap_or_else(|e| {
                assert_eq!(request, before, "an error changes nothing");
                format!("err {}", error_name(&e))
            });
            assert_eq!(got, *expected, "step {i}: {:?} {op:?}", who.role);
        }
    }

    #[test]
    fn approval_table() {
        use Op::*;
        let before = d(2026, 3, 1);
        let started = d(2026, 3, 2);
        // The default chain: department head, then HR; then the employee cancels in time.
        check(
            ApprovalChain::default(),
            20,
            &[
                (hr(), Approve, before, "err wrong level"),
                (other_head(), Approve, before, "err denied"),
                (employee(), Approve, before, "err denied"),
                (coworker(), Reject, before, "err denied"),
                (head(), Approve, before, "awaiting Hr"),
                (head(), Approve, before, "err wrong level"),
                (hr(), Approve, before, "approved Taken 2026:4 days 2"),
                (hr(), Approve, before, "err not pending"),
                (head(), Reject, before, "err not pending"),
                (coworker(), Cancel, before, "err denied"),
                (employee(), Cancel, before, "cancelled Reversal 2026:4"),
                (employee(), Cancel, before, "err not active"),
            ],
        );
        // Rejected by the department head.
        check(
            ApprovalChain::default(),
            20,
            &[
                (head(), Reject, before, "rejected"),
                (head(), Approve, before, "err not pending"),
                (employee(), Cancel, before, "err not active"),
            ],
        );
        // A super admin acts at every level; once the leave has started only HR may cancel it.
        check(
            ApprovalChain::default(),
            20,
            &[
                (admin(), Approve, before, "awaiting Hr"),
                (admin(), Approve, before, "approved Taken 2026:4 days 2"),
                (employee(), Cancel, started, "err already started"),
                (head(), Cancel, started, "err already started"),
                (hr(), Cancel, started, "cancelled Reversal 2026:4"),
            ],
        );
        // A pending request cancelled by its employee: nothing to reverse.
        check(
            ApprovalChain::default(),
            20,
            &[(employee(), Cancel, started, "cancelled")],
        );
        // HR only; the final approval refuses to overdraw.
        check(
            ApprovalChain::hr_only(),
            3,
            &[
                (head(), Approve, before, "err wrong level"),
                (hr(), Approve, before, "err insufficient balance"),
                (hr(), Reject, before, "rejected"),
            ],
        );
        check(
            ApprovalChain::hr_only(),
            4,
            &[(hr(), Approve, before, "approved Taken 2026:4 days 2")],
        );
    }

    #[test]
    fn history_records_who_decided() {
        let policy = LeavePolicy::default_for(LeaveType::Casual);
        let ledger = ledger_with(
            LeaveType::Casual,
            &[(LedgerEntryKind::Allocation, 2026, 20)],
        );
        let mut r = request(&ApprovalChain::default());
        assert_eq!(r.next_level(), Some(ApprovalLevel::DepartmentHead));
        r.approve(&head(), &policy, &ledger, d(2026, 2, 21), Some("  fine  "))
            .unwrap();
        assert_eq!(r.next_level(), Some(ApprovalLevel::Hr));
        assert_eq!(r.history[0].note.as_deref(), Some("fine"));
        assert_eq!(r.history[0].by, Some(code("EMP5")));
        let other = ledger_with(LeaveType::Sick, &[]);
        assert_eq!(
            r.approve(&hr(), &policy, &other, d(2026, 2, 22), None),
            Err(ApprovalError::ContextMismatch)
        );
        r.approve(&hr(), &policy, &ledger, d(2026, 2, 22), None)
            .unwrap();
        assert_eq!(r.next_level(), None);
        assert_eq!(r.status, RequestStatus::Approved);
    }

    proptest! {
        /// Requests each submitted alone (as racing approvers see them), approved and cancelled in
        /// any order, never overdraw the ledger.
        #[test]
        fn a_sequence_of_approvals_never_overdraws(
            allocation in 0i64..30,
            specs in proptest::collection::vec((0u64..300, 0u64..5, any::<bool>()), 1..8),
            order in proptest::collection::vec((0usize..8, any::<bool>()), 0..24),
        ) {
            let policy = LeavePolicy::default_for(LeaveType::Casual);
            let mut ledger = ledger_with(LeaveType::Casual, &[]);
            if allocation > 0 {
                ledger = ledger_with(LeaveType::Casual, &[(LedgerEntryKind::Allocation, 2026, allocation)]);
            }
            let base = d(2026, 1, 1);
            let mut requests = Vec::new();
            for (i, (offset, len, half)) in specs.into_iter().enumerate() {
                let start = base + chrono::Days::new(offset);
                let mut app = application(LeaveType::Casual, start, start + chrono::Days::new(len));
                app.end_half = half;
                let ctx = RequestContext {
                    policy: &policy,
                    weekly_off_days: &[Weekday::Fri],
                    holidays: &holidays(),
                    ledger: &ledger,
                    requests: &[],
                };
                let id = LeaveRequestId::parse(&format!("R{i}")).unwrap();
                if let Ok((r, _)) = submit(id, &app, &ctx, &ApprovalChain::hr_only(), base) {
                    requests.push(r);
                }
            }
            for (index, cancel) in order {
                if requests.is_empty() {
                    break;
                }
                let count = requests.len();
                let r = &mut requests[index % count];
                if cancel {
                    if let Ok(c) = r.cancel(&hr(), base, None) {
                        ledger.append(c.reversals).unwrap();
                    }
                } else if let Ok(ApprovalOutcome::Approved(f)) = r.approve(&hr(), &policy, &ledger, base, None) {
                    ledger.append(f.debits).unwrap();
                }
                prop_assert!(!ledger.available(2026).is_negative(), "{:?}", ledger.balance(2026, HalfDays::ZERO));
            }
            let approved: HalfDays = requests
                .iter()
                .filter(|r| r.status == RequestStatus::Approved)
                .map(|r| r.amount)
                .sum();
            prop_assert_eq!(ledger.available(2026), HalfDays::new(allocation) - approved);
        }
    }
}
