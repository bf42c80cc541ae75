//! Leave: policies, changes committed whole or not at all at the expected version, racing
//! changes, and request queries.

use futures::future::join_all;

use super::fixtures::{add_employees, allocation, date, id, leave_request};
use super::{CheckResult, fail};
use crate::calendar::LeaveType;
use crate::employee::{Department, EmployeeCode};
use crate::leave::{
    HalfDays, LeaveApproval, LeavePolicy, LeaveRequest, LeaveRequestId, LedgerEntry,
    LedgerEntryKind, RequestStatus,
};
use crate::store::{LeaveChange, LeaveRequestQuery, Page, Store, StoreError};

pub(super) async fn leave_policies_round_trip<S: Store + ?Sized>(store: &S) -> CheckResult {
    ensure!(
        matches!(
            store.leave_policy(&LeaveType::Sick).await,
            Err(StoreError::NotFound { .. })
        ),
        "no policy before one is stored"
    );
    let mut sick = LeavePolicy::default_for(LeaveType::Sick);
    store.put_leave_policy(&sick).await.map_err(fail)?;
    let mut casual = LeavePolicy::default_for(LeaveType::Casual);
    casual.approval = LeaveApproval::HeadOnly;
    store.put_leave_policy(&casual).await.map_err(fail)?;
    sick.half_days_allowed = !sick.half_days_allowed;
    sick.approval = LeaveApproval::HrOnly;
    store.put_leave_policy(&sick).await.map_err(fail)?;
    ensure!(
        store.leave_policy(&LeaveType::Sick).await.map_err(fail)? == sick,
        "replaced policy not read back"
    );
    for (leave_type, approval) in [
        (LeaveType::Sick, LeaveApproval::HrOnly),
        (LeaveType::Casual, LeaveApproval::HeadOnly),
    ] {
        let read = store
            .leave_policy(&leave_type)
            .await
            .map_err(fail)?
            .approval;
        ensure!(
            read == approval,
            "the approval chain of {leave_type} read back as {read}, not {approval}"
        );
    }
    let all = store.leave_policies().await.map_err(fail)?;
    ensure!(
        all.len() == 2 && all.contains(&sick) && all.contains(&casual),
        "policies: {all:?}"
    );
    Ok(())
}

pub(super) async fn leave_changes_commit_whole_or_not_at_all<S: Store + ?Sized>(
    store: &S,
) -> CheckResult {
    let code = id(EmployeeCode::parse("EMP001"))?;
    let fresh = store.leave_account(&code).await.map_err(fail)?;
    ensure!(
        fresh.version == 0 && fresh.requests.is_empty() && fresh.ledgers.is_empty(),
        "an account never written is empty at version 0: {fresh:?}"
    );
    let first = LeaveChange {
        employee: code.clone(),
        expected_version: 0,
        requests: Vec::new(),
        entries: vec![allocation(10, "2026 grant")?],
    };
    ensure!(
        matches!(
            store.commit_leave(first.clone()).await,
            Err(StoreError::Invalid(_))
        ),
        "leave of an unknown employee must be Invalid"
    );
    add_employees(store, &[("EMP001", "Sewing"), ("EMP002", "Sewing")]).await?;
    ensure!(
        store.commit_leave(first).await.map_err(fail)? == 1,
        "the first change makes version 1"
    );
    let pending = leave_request("L-1", "EMP001", "Sewing", date(3, 2), date(3, 3), false)?;
    let submitted = LeaveChange {
        employee: code.clone(),
        expected_version: 1,
        requests: vec![pending.clone()],
        entries: Vec::new(),
    };
    ensure!(
        store.commit_leave(submitted.clone()).await.map_err(fail)? == 2,
        "second change makes version 2"
    );
    // A stale change (computed from version 1) writes nothing.
    let mut approved = pending.clone();
    approved.status = RequestStatus::Approved;
    let stale = LeaveChange {
        employee: code.clone(),
        expected_version: 1,
        requests: vec![approved.clone()],
        entries: vec![(
            LeaveType::Casual,
            id(LedgerEntry::new(
                LedgerEntryKind::Taken,
                2026,
                date(2, 1),
                HalfDays::from_days(2),
                "L-1",
            ))?,
        )],
    };
    ensure!(
        matches!(
            store.commit_leave(stale.clone()).await,
            Err(StoreError::Conflict(_))
        ),
        "a change from a stale version must be a Conflict"
    );
    let account = store.leave_account(&code).await.map_err(fail)?;
    ensure!(
        account.version == 2
            && account.requests == [pending.clone()]
            && account.ledger(&LeaveType::Casual).entries().len() == 1,
        "a conflicting change must write nothing: {account:?}"
    );
    // Another employee's request in the change is refused whole.
    let foreign = leave_request("L-9", "EMP002", "Sewing", date(4, 1), date(4, 1), false)?;
    let mixed = LeaveChange {
        expected_version: 2,
        requests: vec![approved.clone(), foreign],
        ..stale.clone()
    };
    ensure!(
        matches!(store.commit_leave(mixed).await, Err(StoreError::Invalid(_))),
        "a request of another employee must be Invalid"
    );
    let fresh_again = LeaveChange {
        expected_version: 2,
        ..stale
    };
    ensure!(
        store.commit_leave(fresh_again).await.map_err(fail)? == 3,
        "the decision at the current version commits"
    );
    let account = store.leave_account(&code).await.map_err(fail)?;
    let ledger = account.ledger(&LeaveType::Casual);
    ensure!(
        account.version == 3
            && account.requests == [approved.clone()]
            && ledger.entries().len() == 2
            && ledger.available(2026) == HalfDays::from_days(8),
        "the decision and its debit must both be stored: {account:?}"
    );
    ensure!(
        store.leave_request(&approved.id).await.map_err(fail)? == approved,
        "request read back"
    );
    ensure!(
        matches!(
            store
                .leave_request(&id(LeaveRequestId::parse("L-404"))?)
                .await,
            Err(StoreError::NotFound { .. })
        ),
        "a missing request must be NotFound"
    );
    Ok(())
}

pub(super) async fn racing_leave_changes_exactly_one_wins<S: Store + ?Sized>(
    store: &S,
) -> CheckResult {
    let code = id(EmployeeCode::parse("EMP001"))?;
    add_employees(store, &[("EMP001", "Sewing")]).await?;
    for round in 0..5u64 {
        let changes: Vec<LeaveChange> = (0..6)
            .map(|i| {
                Ok(LeaveChange {
                    employee: code.clone(),
                    expected_version: round,
                    requests: vec![leave_request(
                        &format!("R{round}-{i}"),
                        "EMP001",
                        "Sewing",
                        date(5, 1 + i),
                        date(5, 1 + i),
                        true,
                    )?],
                    entries: vec![allocation(1, &format!("round {round} writer {i}"))?],
                })
            })
            .collect::<Result<_, String>>()?;
        let results = join_all(changes.into_iter().map(|c| store.commit_leave(c))).await;
        let wins = results.iter().filter(|r| r.is_ok()).count();
        let conflicts = results
            .iter()
            .filter(|r| matches!(r, Err(StoreError::Conflict(_))))
            .count();
        ensure!(
            wins == 1 && conflicts == results.len() - 1,
            "round {round}: {wins} won and {conflicts} conflicted of {}: {results:?}",
            results.len()
        );
        let account = store.leave_account(&code).await.map_err(fail)?;
        ensure!(
            account.version == round + 1
                && account.requests.len() as u64 == round + 1
                && account.ledger(&LeaveType::Casual).entries().len() as u64 == round + 1,
            "round {round}: exactly the winner's request and entry are stored: {account:?}"
        );
    }
    Ok(())
}

pub(super) async fn leave_requests_filter_and_page<S: Store + ?Sized>(store: &S) -> CheckResult {
    add_employees(store, &[("EMP001", "Sewing"), ("EMP002", "Cutting")]).await?;
    let requests = [
        leave_request("A", "EMP001", "Sewing", date(3, 2), date(3, 3), false)?,
        leave_request("B", "EMP001", "Sewing", date(6, 1), date(6, 1), true)?,
        leave_request("C", "EMP002", "Cutting", date(3, 2), date(3, 4), false)?,
        leave_request("D", "EMP002", "Cutting", date(8, 10), date(8, 12), true)?,
    ];
    for code in ["EMP001", "EMP002"] {
        let code = id(EmployeeCode::parse(code))?;
        store
            .commit_leave(LeaveChange {
                employee: code.clone(),
                expected_version: 0,
                requests: requests
                    .iter()
                    .filter(|r| r.employee == code)
                    .cloned()
                    .collect(),
                entries: Vec::new(),
            })
            .await
            .map_err(fail)?;
    }
    let ids = |page: &Page<LeaveRequest>| {
        page.results
            .iter()
            .map(|r| r.id.as_str().to_owned())
            .collect::<Vec<_>>()
    };
    let all = store
        .query_leave_requests(&LeaveRequestQuery {
            limit: 10,
            ..LeaveRequestQuery::default()
        })
        .await
        .map_err(fail)?;
    ensure!(
        all.count == 4 && ids(&all) == ["D", "B", "A", "C"],
        "newest start first, then id: {:?}",
        ids(&all)
    );
    let page = store
        .query_leave_requests(&LeaveRequestQuery {
            status: Some(RequestStatus::Pending),
            offset: 1,
            limit: 5,
            ..LeaveRequestQuery::default()
        })
        .await
        .map_err(fail)?;
    ensure!(
        page.count == 2 && ids(&page) == ["C"],
        "pending, second page: {:?}",
        ids(&page)
    );
    let page = store
        .query_leave_requests(&LeaveRequestQuery {
            department: Department::parse("Cutting").ok(),
            from: Some(date(3, 4)),
            to: Some(date(8, 10)),
            limit: 5,
            ..LeaveRequestQuery::default()
        })
        .await
        .map_err(fail)?;
    ensure!(
        ids(&page) == ["D", "C"],
        "department and overlapping dates: {:?}",
        ids(&page)
    );
    let page = store
        .query_leave_requests(&LeaveRequestQuery {
            employee: EmployeeCode::parse("EMP001").ok(),
            to: Some(date(3, 1)),
            limit: 5,
            ..LeaveRequestQuery::default()
        })
        .await
        .map_err(fail)?;
    ensure!(page.count == 0, "nothing starts by 1 March: {page:?}");
    Ok(())
}
