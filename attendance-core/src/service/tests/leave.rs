//! Leave decisions: retried on a lost race, refused beyond the balance.

use super::*;

/// A pending casual request of EMP001 for `start..=end`, needing HR only.
fn pending(start: u32, end: u32) -> LeaveRequest {
    let policy = LeavePolicy::default_for(LeaveType::Casual);
    let no_holidays = BTreeMap::new();
    let ctx = RequestContext {
        policy: &policy,
        weekly_off_days: &[Weekday::Fri],
        holidays: &no_holidays,
        ledger: &LeaveLedger::from_entries(
            EmployeeCode::parse("EMP001").unwrap(),
            LeaveType::Casual,
            vec![
                LedgerEntry::new(
                    LedgerEntryKind::Allocation,
                    2026,
                    d(1),
                    HalfDays::from_days(10),
                    "grant",
                )
                .unwrap(),
            ],
        )
        .unwrap(),
        requests: &[],
    };
    let application = LeaveApplication {
        employee: EmployeeCode::parse("EMP001").unwrap(),
        department: Department::parse("Sewing").unwrap(),
        leave_type: LeaveType::Casual,
        start: d(start),
        end: d(end),
        start_half: false,
        end_half: false,
        reason: String::new(),
        medical_certificate: false,
        priority: Default::default(),
    };
    submit(
        LeaveRequestId::parse("L1").unwrap(),
        &application,
        &ctx,
        &ApprovalChain::hr_only(),
        d(2),
    )
    .unwrap()
    .0
}

fn account_with(version: u64, request: &LeaveRequest, granted_days: i64) -> LeaveAccount {
    let ledger = LeaveLedger::from_entries(
        request.employee.clone(),
        LeaveType::Casual,
        vec![
            LedgerEntry::new(
                LedgerEntryKind::Allocation,
                2026,
                d(1),
                HalfDays::from_days(granted_days),
                "grant",
            )
            .unwrap(),
        ],
    )
    .unwrap();
    LeaveAccount {
        employee: request.employee.clone(),
        version,
        requests: vec![request.clone()],
        ledgers: vec![ledger],
    }
}

#[test]
fn a_decision_that_loses_the_race_is_computed_again_from_the_new_version() {
    let request = pending(30, 30);
    assert_eq!(request.levels, [ApprovalLevel::Hr]);
    let mut m = Mocks::default().with_site(Vec::new());
    let stored = request.clone();
    m.leave
        .expect_leave_request()
        .returning(move |_| Ok(stored.clone()));
    m.leave
        .expect_leave_policy()
        .returning(|t| Ok(LeavePolicy::default_for(t.clone())));
    let mut seq = Sequence::new();
    let (first, second) = (account_with(3, &request, 10), account_with(4, &request, 10));
    m.leave
        .expect_leave_account()
        .times(1)
        .in_sequence(&mut seq)
        .returning(move |_| Ok(first.clone()));
    m.leave
        .expect_commit_leave()
        .times(1)
        .in_sequence(&mut seq)
        .withf(|c| c.expected_version == 3)
        .returning(|_| Err(StoreError::Conflict("version 4".into())));
    m.leave
        .expect_leave_account()
        .times(1)
        .in_sequence(&mut seq)
        .returning(move |_| Ok(second.clone()));
    m.leave
        .expect_commit_leave()
        .times(1)
        .in_sequence(&mut seq)
        .withf(|c| {
            c.expected_version == 4
                && c.requests.len() == 1
                && c.requests[0].status == RequestStatus::Approved
                && c.entries.len() == 1
                && c.entries[0].1.kind == LedgerEntryKind::Taken
                && c.entries[0].1.amount == HalfDays::from_days(1)
        })
        .returning(|_| Ok(5));
    // The approved day (the 30th) is after today (the 26th): nothing to recompute yet.
    m.employees
        .expect_employee()
        .returning(|_| Ok(employee("EMP001", "1", true)));
    let decided = block_on(m.service().decide_leave(
        &hr(),
        "hr",
        &request.id,
        LeaveDecision::Approve,
        Some("ok"),
        now(),
    ))
    .unwrap();
    assert_eq!(decided.status, RequestStatus::Approved);
}

#[test]
fn endless_conflicts_give_up_with_a_clear_error() {
    let request = pending(30, 30);
    let mut m = Mocks::default().with_site(Vec::new());
    let stored = request.clone();
    m.leave
        .expect_leave_request()
        .returning(move |_| Ok(stored.clone()));
    m.leave.expect_leave_policy().returning(|_| {
        Err(StoreError::NotFound {
            entity: "leave policy",
            key: "casual".into(),
        })
    });
    let account = account_with(1, &request, 10);
    m.leave
        .expect_leave_account()
        .times(LEAVE_ATTEMPTS as usize)
        .returning(move |_| Ok(account.clone()));
    m.leave
        .expect_commit_leave()
        .times(LEAVE_ATTEMPTS as usize)
        .returning(|_| Err(StoreError::Conflict("busy".into())));
    let err = block_on(m.service().decide_leave(
        &hr(),
        "hr",
        &request.id,
        LeaveDecision::Reject,
        None,
        now(),
    ))
    .unwrap_err();
    assert!(
        matches!(err, ServiceError::Contended { attempts, .. } if attempts == LEAVE_ATTEMPTS),
        "{err}"
    );
    assert!(err.to_string().contains("EMP001"), "{err}");
}

#[test]
fn an_approval_beyond_the_balance_is_refused_and_writes_nothing() {
    let request = pending(29, 30); // Sunday and Monday: two working days
    let mut m = Mocks::default().with_site(Vec::new());
    let stored = request.clone();
    m.leave
        .expect_leave_request()
        .returning(move |_| Ok(stored.clone()));
    m.leave
        .expect_leave_policy()
        .returning(|t| Ok(LeavePolicy::default_for(t.clone())));
    let account = account_with(7, &request, 1);
    m.leave
        .expect_leave_account()
        .returning(move |_| Ok(account.clone()));
    m.leave.expect_commit_leave().times(0);
    let err = block_on(m.service().decide_leave(
        &hr(),
        "hr",
        &request.id,
        LeaveDecision::Approve,
        None,
        now(),
    ))
    .unwrap_err();
    assert!(
        matches!(
            err,
            ServiceError::Approval(ApprovalError::InsufficientBalance { .. })
        ),
        "{err}"
    );
}
