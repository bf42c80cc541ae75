//! [`LeaveStore`](attendance_core::store::LeaveStore) over a [`SqlBackend`]: policies, accounts
//! read in one snapshot, and versioned commits.

use std::collections::BTreeMap;

use attendance_core::calendar::LeaveType;
use attendance_core::employee::EmployeeCode;
use attendance_core::leave::{LeaveLedger, LeavePolicy, LeaveRequest, LeaveRequestId, LedgerEntry};
use attendance_core::store::{
    LeaveAccount, LeaveChange, LeaveRequestQuery, Page, StoreError, StoreResult,
};

use super::{fetch_count, json_rows, not_found, request_rows, unique_keys};
use crate::backend::{On, SqlBackend, SqlRow};
use crate::codec::{from_json, parse_stored, to_json, to_u64};
use crate::stmt;

/// [`LeaveStore::put_leave_policy`](attendance_core::store::LeaveStore::put_leave_policy).
pub async fn put_leave_policy<B: SqlBackend>(store: &B, policy: &LeavePolicy) -> StoreResult<()> {
    let statement = stmt::upsert_leave_policy(&policy.leave_type.to_string(), to_json(policy)?);
    store
        .execute(On::Write, &statement, "store a leave policy")
        .await?;
    Ok(())
}

/// [`LeaveStore::leave_policy`](attendance_core::store::LeaveStore::leave_policy).
pub async fn leave_policy<B: SqlBackend>(
    store: &B,
    leave_type: &LeaveType,
) -> StoreResult<LeavePolicy> {
    let what = "read a leave policy";
    let statement = stmt::select_leave_policy(&leave_type.to_string());
    match store.fetch_optional(On::Read, &statement, what).await? {
        Some(row) => from_json("leave policy", &row.text(0, what)?),
        None => Err(not_found("leave policy", leave_type)),
    }
}

/// [`LeaveStore::leave_policies`](attendance_core::store::LeaveStore::leave_policies).
pub async fn leave_policies<B: SqlBackend>(store: &B) -> StoreResult<Vec<LeavePolicy>> {
    let statement = stmt::list_leave_policies();
    let rows = store
        .fetch_all(On::Read, &statement, "list leave policies")
        .await?;
    let mut policies: Vec<LeavePolicy> = json_rows(&rows, "leave policy")?;
    // By leave type as the domain orders them (the named types first), not by name.
    policies.sort_by(|a, b| a.leave_type.cmp(&b.leave_type));
    Ok(policies)
}

/// [`LeaveStore::leave_account`](attendance_core::store::LeaveStore::leave_account): version,
/// requests and ledger from one read snapshot.
pub async fn leave_account<B: SqlBackend>(
    store: &B,
    employee: &EmployeeCode,
) -> StoreResult<LeaveAccount> {
    let what = "read a leave account";
    let mut tx = store.begin_read().await?;
    let version = match store
        .fetch_optional(On::Tx(&mut tx), &stmt::select_leave_version(employee), what)
        .await?
    {
        Some(row) => to_u64(what, row.int(0, what)?)?,
        None => 0,
    };
    let request_rows = store
        .fetch_all(On::Tx(&mut tx), &stmt::select_requests_of(employee), what)
        .await?;
    let requests = json_rows(&request_rows, "leave request")?;
    let ledger_rows = store
        .fetch_all(On::Tx(&mut tx), &stmt::select_ledger_of(employee), what)
        .await?;
    B::commit(tx, what).await?;
    let mut by_type: BTreeMap<LeaveType, Vec<LedgerEntry>> = BTreeMap::new();
    for row in &ledger_rows {
        let leave_type: LeaveType = parse_stored("leave type", &row.text(0, what)?)?;
        let entry: LedgerEntry = from_json("ledger entry", &row.text(1, what)?)?;
        by_type.entry(leave_type).or_default().push(entry);
    }
    let ledgers = by_type
        .into_iter()
        .map(|(leave_type, entries)| {
            LeaveLedger::from_entries(employee.clone(), leave_type, entries).map_err(|e| {
                StoreError::Backend {
                    message: "a stored ledger entry does not validate".into(),
                    source: Some(Box::new(e)),
                }
            })
        })
        .collect::<StoreResult<_>>()?;
    Ok(LeaveAccount {
        employee: employee.clone(),
        version,
        requests,
        ledgers,
    })
}

/// [`LeaveStore::commit_leave`](attendance_core::store::LeaveStore::commit_leave): the version
/// row is bumped (or created at 1) only if it still holds the expected version, in the change's
/// transaction, so of two racing changes the second gets [`StoreError::Conflict`].
pub async fn commit_leave<B: SqlBackend>(store: &B, change: LeaveChange) -> StoreResult<u64> {
    change.check()?;
    let request_rows = request_rows(&change.requests)?;
    let entry_rows = change
        .entries
        .iter()
        .map(|(t, e)| Ok((t.to_string(), to_json(e)?)))
        .collect::<StoreResult<Vec<_>>>()?;
    let expected = i64::try_from(change.expected_version).map_err(|_| {
        StoreError::Conflict(format!(
            "the leave of {} is not at version {}",
            change.employee, change.expected_version
        ))
    })?;

    let what = "commit a leave change";
    let mut tx = store.begin_write().await?;
    let employees = stmt::count_employee(&change.employee);
    if fetch_count(store, On::Tx(&mut tx), &employees, what).await? == 0 {
        return Err(StoreError::Invalid(format!(
            "leave of unknown employee {}",
            change.employee
        )));
    }
    let bumped = if expected == 0 {
        let statement = stmt::insert_first_leave_version(&change.employee);
        store.execute(On::Tx(&mut tx), &statement, what).await?
    } else {
        let statement = stmt::bump_leave_version(&change.employee, expected);
        store.execute(On::Tx(&mut tx), &statement, what).await?
    };
    if bumped != 1 {
        return Err(StoreError::Conflict(format!(
            "the leave of {} changed since version {}",
            change.employee, change.expected_version
        )));
    }
    if !request_rows.is_empty() {
        let ids: Vec<String> = request_rows.iter().map(|r| r.id.clone()).collect();
        let owners = stmt::select_request_owners(&ids);
        for row in store.fetch_all(On::Tx(&mut tx), &owners, what).await? {
            let owner = row.text(1, what)?;
            if owner != change.employee.as_str() {
                let id = row.text(0, what)?;
                return Err(StoreError::Conflict(format!(
                    "request id {id} belongs to another employee"
                )));
            }
        }
        let statement = stmt::upsert_requests(&request_rows)?;
        store.execute(On::Tx(&mut tx), &statement, what).await?;
    }
    if !entry_rows.is_empty() {
        let statement = stmt::insert_ledger_entries(&change.employee, &entry_rows)?;
        store.execute(On::Tx(&mut tx), &statement, what).await?;
    }
    B::commit(tx, what).await?;
    Ok(change.expected_version + 1)
}

/// [`LeaveStore::leave_requests_of`](attendance_core::store::LeaveStore::leave_requests_of):
/// one read per chunk of [`SqlBackend::key_chunks`].
pub async fn leave_requests_of<B: SqlBackend>(
    store: &B,
    employees: &[EmployeeCode],
) -> StoreResult<Vec<LeaveRequest>> {
    let what = "read the leave requests of employees";
    let employees = unique_keys(employees.iter().map(EmployeeCode::as_str));
    let mut requests = Vec::new();
    // The chunks are in employee order, so their results follow one another.
    for chunk in store.key_chunks(&employees) {
        let statement = stmt::select_requests_of_employees(chunk);
        let rows = store.fetch_all(On::Read, &statement, what).await?;
        requests.extend(json_rows::<LeaveRequest>(&rows, "leave request")?);
    }
    Ok(requests)
}

/// [`LeaveStore::leave_request`](attendance_core::store::LeaveStore::leave_request).
pub async fn leave_request<B: SqlBackend>(
    store: &B,
    id: &LeaveRequestId,
) -> StoreResult<LeaveRequest> {
    let what = "read a leave request";
    match store
        .fetch_optional(On::Read, &stmt::select_request(id.as_str()), what)
        .await?
    {
        Some(row) => from_json("leave request", &row.text(0, what)?),
        None => Err(not_found("leave request", id)),
    }
}

/// [`LeaveStore::query_leave_requests`](attendance_core::store::LeaveStore::query_leave_requests):
/// the page and its count from one read snapshot.
pub async fn query_leave_requests<B: SqlBackend>(
    store: &B,
    query: &LeaveRequestQuery,
) -> StoreResult<Page<LeaveRequest>> {
    let what = "query leave requests";
    let mut tx = store.begin_read().await?;
    let count = fetch_count(
        store,
        On::Tx(&mut tx),
        &stmt::count_leave_requests(query)?,
        what,
    )
    .await?;
    let rows = store
        .fetch_all(On::Tx(&mut tx), &stmt::query_leave_requests(query)?, what)
        .await?;
    B::commit(tx, what).await?;
    Ok(Page {
        count,
        results: json_rows(&rows, "leave request")?,
    })
}
