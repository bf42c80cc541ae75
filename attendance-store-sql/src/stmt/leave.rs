//! Leave: policies, account versions, requests and ledger entries.

use attendance_core::employee::EmployeeCode;
use attendance_core::store::{LeaveRequestQuery, StoreError, StoreResult};
use chrono::NaiveDate;
use sea_query::{
    Condition, Expr, ExprTrait, InsertStatement, OnConflict, Order, Query, SelectStatement,
    UpdateStatement,
};

use super::{count_all, text};
use crate::codec::{enum_text, to_i64};
use crate::schema::{LeaveLedger, LeavePolicies, LeaveRequests, LeaveVersions};

/// Inserts or replaces the policy of a leave type.
pub fn upsert_leave_policy(leave_type: &str, data: String) -> InsertStatement {
    Query::insert()
        .into_table(LeavePolicies::Table)
        .columns([LeavePolicies::LeaveType, LeavePolicies::Data])
        .values_panic([text(leave_type), Expr::value(data)])
        .on_conflict(
            OnConflict::column(LeavePolicies::LeaveType)
                .update_column(LeavePolicies::Data)
                .to_owned(),
        )
        .to_owned()
}

/// The policy of a leave type: `data`.
pub fn select_leave_policy(leave_type: &str) -> SelectStatement {
    Query::select()
        .column(LeavePolicies::Data)
        .from(LeavePolicies::Table)
        .and_where(Expr::col(LeavePolicies::LeaveType).eq(leave_type))
        .to_owned()
}

/// Every policy: `data`.
pub fn list_leave_policies() -> SelectStatement {
    Query::select()
        .column(LeavePolicies::Data)
        .from(LeavePolicies::Table)
        .to_owned()
}

/// The leave version of `employee`: `version`.
pub fn select_leave_version(employee: &EmployeeCode) -> SelectStatement {
    Query::select()
        .column(LeaveVersions::Version)
        .from(LeaveVersions::Table)
        .and_where(Expr::col(LeaveVersions::Employee).eq(employee.as_str()))
        .to_owned()
}

/// The first change of an account: version 1, only if no row exists (0 rows affected means
/// another change got there first).
pub fn insert_first_leave_version(employee: &EmployeeCode) -> InsertStatement {
    Query::insert()
        .into_table(LeaveVersions::Table)
        .columns([LeaveVersions::Employee, LeaveVersions::Version])
        .values_panic([text(employee.as_str()), Expr::value(1i64)])
        .on_conflict(
            OnConflict::column(LeaveVersions::Employee)
                .do_nothing()
                .to_owned(),
        )
        .to_owned()
}

/// Bumps the version of an account only if it is still `expected` (0 rows affected means
/// another change got there first). Under READ COMMITTED a racing update waits for the first
/// to commit, then re-checks the condition against the new version and updates nothing.
pub fn bump_leave_version(employee: &EmployeeCode, expected: i64) -> UpdateStatement {
    Query::update()
        .table(LeaveVersions::Table)
        .value(
            LeaveVersions::Version,
            Expr::col(LeaveVersions::Version).add(1i64),
        )
        .and_where(Expr::col(LeaveVersions::Employee).eq(employee.as_str()))
        .and_where(Expr::col(LeaveVersions::Version).eq(expected))
        .to_owned()
}

/// The owners of the requests with these ids: `id, employee`.
pub fn select_request_owners(ids: &[String]) -> SelectStatement {
    Query::select()
        .columns([LeaveRequests::Id, LeaveRequests::Employee])
        .from(LeaveRequests::Table)
        .and_where(Expr::col(LeaveRequests::Id).is_in(ids.iter().cloned()))
        .to_owned()
}

/// A leave request as its columns hold it.
#[derive(Debug, Clone)]
pub struct RequestRow {
    /// The id.
    pub id: String,
    /// The employee code.
    pub employee: String,
    /// The department.
    pub department: String,
    /// The status text.
    pub status: String,
    /// The first date.
    pub start: NaiveDate,
    /// The last date.
    pub end: NaiveDate,
    /// The request as JSON.
    pub data: String,
}

/// Inserts or replaces requests by id.
pub fn upsert_requests(rows: &[RequestRow]) -> StoreResult<InsertStatement> {
    let mut insert = Query::insert();
    insert.into_table(LeaveRequests::Table).columns([
        LeaveRequests::Id,
        LeaveRequests::Employee,
        LeaveRequests::Department,
        LeaveRequests::Status,
        LeaveRequests::Start,
        LeaveRequests::End,
        LeaveRequests::Data,
    ]);
    for row in rows {
        insert
            .values([
                text(&row.id),
                text(&row.employee),
                text(&row.department),
                text(&row.status),
                Expr::value(row.start),
                Expr::value(row.end),
                Expr::value(row.data.clone()),
            ])
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
    }
    insert.on_conflict(
        OnConflict::column(LeaveRequests::Id)
            .update_columns([
                LeaveRequests::Employee,
                LeaveRequests::Department,
                LeaveRequests::Status,
                LeaveRequests::Start,
                LeaveRequests::End,
                LeaveRequests::Data,
            ])
            .to_owned(),
    );
    Ok(insert)
}

/// Appends ledger entries `(leave type, JSON)` of `employee`, in order.
pub fn insert_ledger_entries(
    employee: &EmployeeCode,
    entries: &[(String, String)],
) -> StoreResult<InsertStatement> {
    let mut insert = Query::insert();
    insert.into_table(LeaveLedger::Table).columns([
        LeaveLedger::Employee,
        LeaveLedger::LeaveType,
        LeaveLedger::Data,
    ]);
    for (leave_type, data) in entries {
        insert
            .values([
                text(employee.as_str()),
                text(leave_type),
                Expr::value(data.clone()),
            ])
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
    }
    Ok(insert)
}

/// The requests of `employee` by id: `data`.
pub fn select_requests_of(employee: &EmployeeCode) -> SelectStatement {
    Query::select()
        .column(LeaveRequests::Data)
        .from(LeaveRequests::Table)
        .and_where(Expr::col(LeaveRequests::Employee).eq(employee.as_str()))
        .order_by(LeaveRequests::Id, Order::Asc)
        .to_owned()
}

/// The requests of the employees `employees`, by employee then id: `data`.
pub fn select_requests_of_employees(employees: &[&str]) -> SelectStatement {
    Query::select()
        .column(LeaveRequests::Data)
        .from(LeaveRequests::Table)
        .and_where(Expr::col(LeaveRequests::Employee).is_in(employees.iter().copied()))
        .order_by(LeaveRequests::Employee, Order::Asc)
        .order_by(LeaveRequests::Id, Order::Asc)
        .to_owned()
}

/// The ledger entries of `employee` in the order they were written: `leave_type, data`.
pub fn select_ledger_of(employee: &EmployeeCode) -> SelectStatement {
    Query::select()
        .columns([LeaveLedger::LeaveType, LeaveLedger::Data])
        .from(LeaveLedger::Table)
        .and_where(Expr::col(LeaveLedger::Employee).eq(employee.as_str()))
        .order_by(LeaveLedger::Seq, Order::Asc)
        .to_owned()
}

/// One request: `data`.
pub fn select_request(id: &str) -> SelectStatement {
    Query::select()
        .column(LeaveRequests::Data)
        .from(LeaveRequests::Table)
        .and_where(Expr::col(LeaveRequests::Id).eq(id))
        .to_owned()
}

fn request_filter(query: &LeaveRequestQuery) -> StoreResult<Condition> {
    let mut cond = Condition::all();
    if let Some(e) = &query.employee {
        cond = cond.add(Expr::col(LeaveRequests::Employee).eq(e.as_str()));
    }
    if let Some(d) = &query.department {
        cond = cond.add(Expr::col(LeaveRequests::Department).eq(d.as_str()));
    }
    if let Some(s) = &query.status {
        cond = cond.add(Expr::col(LeaveRequests::Status).eq(enum_text(s)?));
    }
    if let Some(from) = query.from {
        cond = cond.add(Expr::col(LeaveRequests::End).gte(from));
    }
    if let Some(to) = query.to {
        cond = cond.add(Expr::col(LeaveRequests::Start).lte(to));
    }
    Ok(cond)
}

/// The page of requests `query` asks for, newest start first then id: `data`.
pub fn query_leave_requests(query: &LeaveRequestQuery) -> StoreResult<SelectStatement> {
    Ok(Query::select()
        .column(LeaveRequests::Data)
        .from(LeaveRequests::Table)
        .cond_where(request_filter(query)?)
        .order_by(LeaveRequests::Start, Order::Desc)
        .order_by(LeaveRequests::Id, Order::Asc)
        .limit(to_i64(query.limit) as u64)
        .offset(to_i64(query.offset) as u64)
        .to_owned())
}

/// `COUNT(*)` of the requests `query` matches.
pub fn count_leave_requests(query: &LeaveRequestQuery) -> StoreResult<SelectStatement> {
    Ok(count_all(LeaveRequests::Table)
        .cond_where(request_filter(query)?)
        .to_owned())
}
