//! Oversight: the audit log, corrections, scan voids, day overrides and set-aside scans.

use attendance_core::audit::AuditQuery;
use attendance_core::employee::EmployeeCode;
use attendance_core::store::{CorrectionQuery, ScanId, SetAsideScan};
use chrono::NaiveDate;
use sea_query::{
    Condition, DeleteStatement, Expr, ExprTrait, InsertStatement, OnConflict, Order, Query,
    SelectStatement, UpdateStatement,
};

use super::{count_all, text};
use crate::codec::{nanos_clamped, to_i64};
use crate::schema::{AuditLog, Corrections, DayOverrides, ScanVoids, Scans, SetAsideScans};

/// Appends an audit entry (at in Unix nanoseconds), returning its new `id`.
pub fn insert_audit(
    at_ns: i64,
    actor: &str,
    action: &str,
    target: &str,
    data: String,
) -> InsertStatement {
    Query::insert()
        .into_table(AuditLog::Table)
        .columns([
            AuditLog::At,
            AuditLog::Actor,
            AuditLog::Action,
            AuditLog::Target,
            AuditLog::Data,
        ])
        .values_panic([
            Expr::value(at_ns),
            text(actor),
            text(action),
            text(target),
            Expr::value(data),
        ])
        .returning_col(AuditLog::Id)
        .to_owned()
}

fn audit_filter(query: &AuditQuery) -> Condition {
    let mut cond = Condition::all();
    if let Some(from) = query.from {
        cond = cond.add(Expr::col(AuditLog::At).gte(nanos_clamped(from)));
    }
    if let Some(to) = query.to {
        cond = cond.add(Expr::col(AuditLog::At).lt(nanos_clamped(to)));
    }
    if let Some(actor) = &query.actor {
        cond = cond.add(Expr::col(AuditLog::Actor).eq(actor.as_str()));
    }
    if let Some(action) = query.action {
        cond = cond.add(Expr::col(AuditLog::Action).eq(action.as_str()));
    }
    if let Some(target) = &query.target {
        cond = cond.add(Expr::col(AuditLog::Target).eq(target.as_str()));
    }
    cond
}

/// The page of audit entries `query` admits, newest first: `id, data`.
pub fn query_audit(query: &AuditQuery, offset: u64, limit: u64) -> SelectStatement {
    Query::select()
        .columns([AuditLog::Id, AuditLog::Data])
        .from(AuditLog::Table)
        .cond_where(audit_filter(query))
        .order_by(AuditLog::Id, Order::Desc)
        .limit(to_i64(limit) as u64)
        .offset(to_i64(offset) as u64)
        .to_owned()
}

/// `COUNT(*)` of the audit entries `query` admits.
pub fn count_audit(query: &AuditQuery) -> SelectStatement {
    count_all(AuditLog::Table)
        .cond_where(audit_filter(query))
        .to_owned()
}

/// Inserts a correction.
pub fn insert_correction(
    id: &str,
    employee: &str,
    status: &str,
    requested_ns: i64,
    data: String,
) -> InsertStatement {
    Query::insert()
        .into_table(Corrections::Table)
        .columns([
            Corrections::Id,
            Corrections::Employee,
            Corrections::Status,
            Corrections::RequestedAt,
            Corrections::Data,
        ])
        .values_panic([
            text(id),
            text(employee),
            text(status),
            Expr::value(requested_ns),
            Expr::value(data),
        ])
        .to_owned()
}

/// One correction: `data`.
pub fn select_correction(id: &str) -> SelectStatement {
    Query::select()
        .column(Corrections::Data)
        .from(Corrections::Table)
        .and_where(Expr::col(Corrections::Id).eq(id))
        .to_owned()
}

/// Replaces correction `id` with its decision, only while it is stored `pending`.
pub fn decide_correction(id: &str, status: &str, data: String) -> UpdateStatement {
    Query::update()
        .table(Corrections::Table)
        .values([
            (Corrections::Status, text(status)),
            (Corrections::Data, Expr::value(data)),
        ])
        .and_where(Expr::col(Corrections::Id).eq(id))
        .and_where(Expr::col(Corrections::Status).eq("pending"))
        .to_owned()
}

fn correction_filter(query: &CorrectionQuery) -> Condition {
    let mut cond = Condition::all();
    if let Some(employees) = &query.employees {
        cond = cond.add(
            Expr::col(Corrections::Employee).is_in(employees.iter().map(|e| e.as_str().to_owned())),
        );
    }
    if let Some(status) = query.status {
        cond = cond.add(Expr::col(Corrections::Status).eq(status.as_str()));
    }
    cond
}

/// The page of corrections `query` admits, newest request first, then id descending: `data`.
pub fn query_corrections(query: &CorrectionQuery) -> SelectStatement {
    Query::select()
        .column(Corrections::Data)
        .from(Corrections::Table)
        .cond_where(correction_filter(query))
        .order_by(Corrections::RequestedAt, Order::Desc)
        .order_by(Corrections::Id, Order::Desc)
        .limit(to_i64(query.limit) as u64)
        .offset(to_i64(query.offset) as u64)
        .to_owned()
}

/// `COUNT(*)` of the corrections `query` admits.
pub fn count_corrections(query: &CorrectionQuery) -> SelectStatement {
    count_all(Corrections::Table)
        .cond_where(correction_filter(query))
        .to_owned()
}

/// `COUNT(*)` of the scans `scan` names, by the PostgreSQL key (SQLite adds its day).
pub fn count_scan(scan: &ScanId) -> SelectStatement {
    count_all(Scans::Table)
        .and_where(Expr::col(Scans::DeviceUserId).eq(scan.device_user_id.as_str()))
        .and_where(Expr::col(Scans::AtSecond).eq(scan.unix_seconds))
        .and_where(Expr::col(Scans::MachineId).eq(scan.machine_id.as_str()))
        .to_owned()
}

/// Inserts a scan's void.
pub fn insert_void(scan: &ScanId, data: String) -> InsertStatement {
    Query::insert()
        .into_table(ScanVoids::Table)
        .columns([
            ScanVoids::DeviceUserId,
            ScanVoids::AtSecond,
            ScanVoids::MachineId,
            ScanVoids::Data,
        ])
        .values_panic([
            text(scan.device_user_id.as_str()),
            Expr::value(scan.unix_seconds),
            text(scan.machine_id.as_str()),
            Expr::value(data),
        ])
        .to_owned()
}

/// The voids of one chunk of device users with `from_s <= at_second <= to_s`: `data`.
pub fn select_voids_of_users(users: &[&str], from_s: i64, to_s: i64) -> SelectStatement {
    Query::select()
        .column(ScanVoids::Data)
        .from(ScanVoids::Table)
        .and_where(Expr::col(ScanVoids::DeviceUserId).is_in(users.iter().map(|u| (*u).to_owned())))
        .and_where(Expr::col(ScanVoids::AtSecond).gte(from_s))
        .and_where(Expr::col(ScanVoids::AtSecond).lte(to_s))
        .to_owned()
}

/// One override: `data`.
pub fn select_override(employee: &EmployeeCode, date: NaiveDate) -> SelectStatement {
    Query::select()
        .column(DayOverrides::Data)
        .from(DayOverrides::Table)
        .and_where(Expr::col(DayOverrides::Employee).eq(employee.as_str()))
        .and_where(Expr::col(DayOverrides::Date).eq(date))
        .to_owned()
}

/// Inserts or replaces the override of (employee, date).
pub fn upsert_override(employee: &EmployeeCode, date: NaiveDate, data: String) -> InsertStatement {
    Query::insert()
        .into_table(DayOverrides::Table)
        .columns([
            DayOverrides::Employee,
            DayOverrides::Date,
            DayOverrides::Data,
        ])
        .values_panic([
            text(employee.as_str()),
            Expr::value(date),
            Expr::value(data),
        ])
        .on_conflict(
            OnConflict::columns([DayOverrides::Employee, DayOverrides::Date])
                .update_column(DayOverrides::Data)
                .to_owned(),
        )
        .to_owned()
}

/// Deletes the override of (employee, date), returning its `data`.
pub fn delete_override(employee: &EmployeeCode, date: NaiveDate) -> DeleteStatement {
    Query::delete()
        .from_table(DayOverrides::Table)
        .and_where(Expr::col(DayOverrides::Employee).eq(employee.as_str()))
        .and_where(Expr::col(DayOverrides::Date).eq(date))
        .returning_col(DayOverrides::Data)
        .to_owned()
}

/// The overrides from `from` to `to` (inclusive) of the employees of `employees` (one chunk;
/// `None`: everyone), by employee then date: `data`.
pub fn select_overrides(
    employees: Option<&[&str]>,
    from: NaiveDate,
    to: NaiveDate,
) -> SelectStatement {
    let mut select = Query::select();
    select
        .column(DayOverrides::Data)
        .from(DayOverrides::Table)
        .and_where(Expr::col(DayOverrides::Date).gte(from))
        .and_where(Expr::col(DayOverrides::Date).lte(to));
    if let Some(employees) = employees {
        select.and_where(
            Expr::col(DayOverrides::Employee).is_in(employees.iter().map(|e| (*e).to_owned())),
        );
    }
    select
        .order_by(DayOverrides::Employee, Order::Asc)
        .order_by(DayOverrides::Date, Order::Asc)
        .to_owned()
}

/// Inserts set-aside scans (each with its JSON), skipping any whose key is kept already.
pub fn insert_set_aside(scans: &[(&SetAsideScan, String)]) -> InsertStatement {
    let mut insert = Query::insert();
    insert.into_table(SetAsideScans::Table).columns([
        SetAsideScans::MachineId,
        SetAsideScans::DeviceUserId,
        SetAsideScans::AtSecond,
        SetAsideScans::ReceivedAt,
        SetAsideScans::Data,
    ]);
    for (scan, data) in scans {
        insert.values_panic([
            text(scan.machine_id.as_str()),
            text(scan.device_user_id.as_str()),
            Expr::value(scan.timestamp.timestamp()),
            Expr::value(nanos_clamped(scan.received_at)),
            Expr::value(data.clone()),
        ]);
    }
    insert.on_conflict(
        OnConflict::columns([
            SetAsideScans::MachineId,
            SetAsideScans::DeviceUserId,
            SetAsideScans::AtSecond,
        ])
        .do_nothing()
        .to_owned(),
    );
    insert.to_owned()
}

/// A page of the set-aside scans, newest arrival first, then by key: `data`.
pub fn select_set_aside(offset: u64, limit: u64) -> SelectStatement {
    Query::select()
        .column(SetAsideScans::Data)
        .from(SetAsideScans::Table)
        .order_by(SetAsideScans::ReceivedAt, Order::Desc)
        .order_by(SetAsideScans::MachineId, Order::Asc)
        .order_by(SetAsideScans::DeviceUserId, Order::Asc)
        .order_by(SetAsideScans::AtSecond, Order::Asc)
        .limit(to_i64(limit) as u64)
        .offset(to_i64(offset) as u64)
        .to_owned()
}

/// `COUNT(*)` of the set-aside scans.
pub fn count_set_aside() -> SelectStatement {
    count_all(SetAsideScans::Table)
}
