//! Migration 5: the tables of oversight: the audit log, corrections, scan voids and day
//! overrides; migration 7: the scans set aside at ingest.

use sea_query::{ColumnDef, ForeignKey, ForeignKeyAction, Iden, Index, Table};

use super::{Backend, Employees, SchemaStatement, json, key};

/// The audit trail, append-only (the store has no statement that updates or deletes it).
#[derive(Debug, Clone, Copy, Iden)]
pub enum AuditLog {
    /// The table.
    #[iden = "att_audit_log"]
    Table,
    /// The entry's number, given by the database, increasing.
    Id,
    /// When, in Unix nanoseconds (filtered on).
    At,
    /// Who (filtered on).
    Actor,
    /// What (`scan_voided`; filtered on).
    Action,
    /// On what (filtered on).
    Target,
    /// The entry as JSON.
    Data,
}

/// Attendance corrections; an employee with corrections cannot be deleted.
#[derive(Debug, Clone, Copy, Iden)]
pub enum Corrections {
    /// The table.
    #[iden = "att_corrections"]
    Table,
    /// The id (primary key).
    Id,
    /// The employee code (references the employee).
    Employee,
    /// `pending`, `approved` or `rejected`.
    Status,
    /// When it was asked, in Unix nanoseconds (sorted on).
    RequestedAt,
    /// The correction as JSON.
    Data,
}

/// Voided scans, keyed as the scans are on PostgreSQL: `(device_user_id, at_second,
/// machine_id)`. No foreign key: the store checks the scan exists in the void's transaction,
/// and scans are never deleted.
#[derive(Debug, Clone, Copy, Iden)]
pub enum ScanVoids {
    /// The table.
    #[iden = "att_scan_voids"]
    Table,
    /// The device user id.
    DeviceUserId,
    /// The scan's second (Unix seconds).
    AtSecond,
    /// The machine id.
    MachineId,
    /// The void as JSON.
    Data,
}

/// Day overrides, one per (employee, date); they go with their employee.
#[derive(Debug, Clone, Copy, Iden)]
pub enum DayOverrides {
    /// The table.
    #[iden = "att_day_overrides"]
    Table,
    /// The employee code (references the employee).
    Employee,
    /// The work date.
    Date,
    /// The override as JSON.
    Data,
}

/// Scans the ingest set aside (dated outside the storable window), keyed by the scan's dedupe
/// key; never read as attendance.
#[derive(Debug, Clone, Copy, Iden)]
pub enum SetAsideScans {
    /// The table.
    #[iden = "att_set_aside_scans"]
    Table,
    /// The machine id.
    MachineId,
    /// The device user id.
    DeviceUserId,
    /// The device's time in whole Unix seconds (any year: the exact time is in `data`).
    AtSecond,
    /// When it arrived, in Unix nanoseconds (sorted on, newest first).
    ReceivedAt,
    /// The set-aside scan as JSON.
    Data,
}

/// Migration 7's statements.
pub(super) fn set_aside_schema(backend: Backend) -> Vec<SchemaStatement> {
    let table = Table::create()
        .table(SetAsideScans::Table)
        .if_not_exists()
        .col(key(backend, SetAsideScans::MachineId))
        .col(key(backend, SetAsideScans::DeviceUserId))
        .col(
            ColumnDef::new(SetAsideScans::AtSecond)
                .big_integer()
                .not_null(),
        )
        .col(
            ColumnDef::new(SetAsideScans::ReceivedAt)
                .big_integer()
                .not_null(),
        )
        .col(json(SetAsideScans::Data))
        .primary_key(
            Index::create()
                .col(SetAsideScans::MachineId)
                .col(SetAsideScans::DeviceUserId)
                .col(SetAsideScans::AtSecond),
        )
        .to_owned();
    let by_arrival = Index::create()
        .if_not_exists()
        .name("att_set_aside_scans_received")
        .table(SetAsideScans::Table)
        .col(SetAsideScans::ReceivedAt)
        .to_owned();
    vec![
        SchemaStatement::Table(Box::new(table)),
        SchemaStatement::Index(Box::new(by_arrival)),
    ]
}

/// Migration 5's statements.
pub(super) fn oversight_schema(backend: Backend) -> Vec<SchemaStatement> {
    let audit = Table::create()
        .table(AuditLog::Table)
        .if_not_exists()
        .col(
            ColumnDef::new(AuditLog::Id)
                .big_integer()
                .not_null()
                .auto_increment()
                .primary_key(),
        )
        .col(ColumnDef::new(AuditLog::At).big_integer().not_null())
        .col(key(backend, AuditLog::Actor))
        .col(key(backend, AuditLog::Action))
        .col(key(backend, AuditLog::Target))
        .col(json(AuditLog::Data))
        .to_owned();
    let audit_index = |name: &str, col: AuditLog| {
        SchemaStatement::Index(Box::new(
            Index::create()
                .if_not_exists()
                .name(name)
                .table(AuditLog::Table)
                .col(col)
                .col(AuditLog::Id)
                .to_owned(),
        ))
    };

    let corrections = Table::create()
        .table(Corrections::Table)
        .if_not_exists()
        .col(key(backend, Corrections::Id).primary_key())
        .col(key(backend, Corrections::Employee))
        .col(key(backend, Corrections::Status))
        .col(
            ColumnDef::new(Corrections::RequestedAt)
                .big_integer()
                .not_null(),
        )
        .col(json(Corrections::Data))
        .foreign_key(
            ForeignKey::create()
                .from(Corrections::Table, Corrections::Employee)
                .to(Employees::Table, Employees::Code)
                .on_delete(ForeignKeyAction::Restrict),
        )
        .to_owned();
    let correction_index = |name: &str, first: Option<Corrections>| {
        let mut index = Index::create();
        index.if_not_exists().name(name).table(Corrections::Table);
        if let Some(first) = first {
            index.col(first);
        }
        index.col(Corrections::RequestedAt).col(Corrections::Id);
        SchemaStatement::Index(Box::new(index))
    };

    let voids = Table::create()
        .table(ScanVoids::Table)
        .if_not_exists()
        .col(key(backend, ScanVoids::DeviceUserId))
        .col(ColumnDef::new(ScanVoids::AtSecond).big_integer().not_null())
        .col(key(backend, ScanVoids::MachineId))
        .col(json(ScanVoids::Data))
        .primary_key(
            Index::create()
                .col(ScanVoids::DeviceUserId)
                .col(ScanVoids::AtSecond)
                .col(ScanVoids::MachineId),
        )
        .to_owned();

    let overrides = Table::create()
        .table(DayOverrides::Table)
        .if_not_exists()
        .col(key(backend, DayOverrides::Employee))
        .col(ColumnDef::new(DayOverrides::Date).date().not_null())
        .col(json(DayOverrides::Data))
        .primary_key(
            Index::create()
                .col(DayOverrides::Employee)
                .col(DayOverrides::Date),
        )
        .foreign_key(
            ForeignKey::create()
                .from(DayOverrides::Table, DayOverrides::Employee)
                .to(Employees::Table, Employees::Code)
                .on_delete(ForeignKeyAction::Cascade),
        )
        .to_owned();
    let overrides_by_date = Index::create()
        .if_not_exists()
        .name("att_day_overrides_date")
        .table(DayOverrides::Table)
        .col(DayOverrides::Date)
        .col(DayOverrides::Employee)
        .to_owned();

    vec![
        SchemaStatement::Table(Box::new(audit)),
        audit_index("att_audit_log_at", AuditLog::At),
        audit_index("att_audit_log_actor", AuditLog::Actor),
        audit_index("att_audit_log_action", AuditLog::Action),
        audit_index("att_audit_log_target", AuditLog::Target),
        SchemaStatement::Table(Box::new(corrections)),
        correction_index("att_corrections_requested", None),
        correction_index("att_corrections_employee", Some(Corrections::Employee)),
        correction_index("att_corrections_status", Some(Corrections::Status)),
        SchemaStatement::Table(Box::new(voids)),
        SchemaStatement::Table(Box::new(overrides)),
        SchemaStatement::Index(Box::new(overrides_by_date)),
    ]
}
