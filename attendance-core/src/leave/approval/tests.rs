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
/// The department has an active head.
fn check(chain: ApprovalChain, available: i64, steps: &[(Actor, Op, NaiveDate, &str)]) {
    check_with(chain, HeadPresence::Active, available, steps);
}

/// [`check`] with `heads` telling whether the department has an active head at decision time.
fn check_with(
    chain: ApprovalChain,
    heads: HeadPresence,
    available: i64,
    steps: &[(Actor, Op, NaiveDate, &str)],
) {
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
                .approve(who, heads, &policy, &ledger, *on, Some("ok"))
                .map(|o| match o {
                    ApprovalOutcome::AwaitingLevel(level) => format!("awaiting {level:?}"),
                    ApprovalOutcome::Approved(f) => {
                        format!("approved{} days {}", entries(&f.debits), f.leave_days.len())
                    }
                }),
            Op::Reject => request
                .reject(who, heads, *on, None)
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
fn each_policy_gives_its_chain() {
    use ApprovalLevel::{Admin, DepartmentHead as Head, Hr};
    use HeadPresence::{Active, Missing};
    // (policy, a head's own request, heads at submission) → levels.
    let table = [
        (LeaveApproval::HeadThenHr, false, Active, vec![Head, Hr]),
        (LeaveApproval::HeadThenHr, true, Active, vec![Hr]),
        (LeaveApproval::HeadThenHr, false, Missing, vec![Head, Hr]),
        (LeaveApproval::HeadThenHr, true, Missing, vec![Hr]),
        (LeaveApproval::HrOnly, false, Active, vec![Hr]),
        (LeaveApproval::HrOnly, true, Active, vec![Hr]),
        (LeaveApproval::HrOnly, false, Missing, vec![Hr]),
        (LeaveApproval::HeadOnly, false, Active, vec![Head]),
        (LeaveApproval::HeadOnly, true, Active, vec![Admin]),
        (LeaveApproval::HeadOnly, false, Missing, vec![Hr]),
        (LeaveApproval::HeadOnly, true, Missing, vec![Admin]),
    ];
    for (approval, own, heads, levels) in table {
        assert_eq!(
            ApprovalChain::for_request(approval, own, heads).levels,
            levels,
            "{approval} own {own} heads {heads:?}"
        );
    }
    assert_eq!(ApprovalChain::default().levels, [Head, Hr]);
}

#[test]
fn who_may_act_at_each_level() {
    use ApprovalLevel::{Admin, DepartmentHead as Head, Hr};
    use HeadPresence::{Active, Missing};
    // (level, heads) → roles admitted, of employee, head, HR, admin.
    let table = [
        (Head, Active, [false, true, false, true]),
        (Head, Missing, [false, true, true, true]),
        (Hr, Active, [false, false, true, true]),
        (Hr, Missing, [false, false, true, true]),
        (Admin, Active, [false, false, false, true]),
        (Admin, Missing, [false, false, false, true]),
    ];
    for (level, heads, admitted) in table {
        for (role, want) in Role::ALL.into_iter().zip(admitted) {
            assert_eq!(
                level.admits(role, heads),
                want,
                "{level:?} {heads:?} {role}"
            );
        }
    }
}

#[test]
fn the_other_chains_and_a_department_without_a_head() {
    use HeadPresence::{Active, Missing};
    use Op::*;
    let before = d(2026, 3, 1);
    // head_only: the head decides alone; HR may not while a head is active.
    check(
        ApprovalChain::head_only(),
        20,
        &[
            (hr(), Approve, before, "err wrong level"),
            (hr(), Reject, before, "err wrong level"),
            (other_head(), Approve, before, "err denied"),
            (head(), Approve, before, "approved Taken 2026:4 days 2"),
        ],
    );
    // head_only, the head deactivated after the submission: HR acts at the head level.
    check_with(
        ApprovalChain::head_only(),
        Missing,
        20,
        &[
            (employee(), Approve, before, "err denied"),
            (hr(), Approve, before, "approved Taken 2026:4 days 2"),
        ],
    );
    check_with(
        ApprovalChain::head_only(),
        Missing,
        20,
        &[(hr(), Reject, before, "rejected")],
    );
    // head_then_hr in a department without a head: HR approves the first level, then the
    // second.
    check_with(
        ApprovalChain::default(),
        Missing,
        20,
        &[
            (hr(), Approve, before, "awaiting Hr"),
            (hr(), Approve, before, "approved Taken 2026:4 days 2"),
        ],
    );
    // The same chain with a head: HR still waits for the head.
    check_with(
        ApprovalChain::default(),
        Active,
        20,
        &[(hr(), Approve, before, "err wrong level")],
    );
    // A head's own request under head_only: an admin decides, nobody else.
    for heads in [Active, Missing] {
        check_with(
            ApprovalChain::admin_only(),
            heads,
            20,
            &[
                (head(), Approve, before, "err wrong level"),
                (hr(), Approve, before, "err wrong level"),
                (hr(), Reject, before, "err wrong level"),
                (admin(), Approve, before, "approved Taken 2026:4 days 2"),
            ],
        );
    }
    // hr_only is HR's whether or not the department has a head.
    check_with(
        ApprovalChain::hr_only(),
        Missing,
        20,
        &[
            (head(), Approve, before, "err wrong level"),
            (hr(), Approve, before, "approved Taken 2026:4 days 2"),
        ],
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
    let heads = HeadPresence::Active;
    r.approve(
        &head(),
        heads,
        &policy,
        &ledger,
        d(2026, 2, 21),
        Some("  fine  "),
    )
    .unwrap();
    assert_eq!(r.next_level(), Some(ApprovalLevel::Hr));
    assert_eq!(r.history[0].note.as_deref(), Some("fine"));
    assert_eq!(r.history[0].by, Some(code("EMP5")));
    let other = ledger_with(LeaveType::Sick, &[]);
    assert_eq!(
        r.approve(&hr(), heads, &policy, &other, d(2026, 2, 22), None),
        Err(ApprovalError::ContextMismatch)
    );
    r.approve(&hr(), heads, &policy, &ledger, d(2026, 2, 22), None)
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
            } else if let Ok(ApprovalOutcome::Approved(f)) = r.approve(&hr(), HeadPresence::Active, &policy, &ledger, base, None) {
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
