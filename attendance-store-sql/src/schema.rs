//! Table and column names, and the versioned schema both stores migrate to.
//!
//! Every table name starts with `att_` so the store can live in a host application's own
//! database. Text keys that queries sort on use the bytewise collation on both databases
//! (SQLite's default `BINARY`, PostgreSQL's `"C"`), so SQL orders them exactly as Rust's `Ord` on
//! `String` does and both stores page identically to the in-memory reference store.

use std::collections::HashSet;

mod leave_approval;
mod oversight;
pub use oversight::{AuditLog, Corrections, DayOverrides, ScanVoids, SetAsideScans};

use sea_query::{
    ColumnDef, ForeignKey, ForeignKeyAction, Iden, Index, IndexCreateStatement, Table,
    TableCreateStatement,
};

/// The database a statement is rendered for, where the schema differs between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite 3.35 or later (for `RETURNING`).
    Sqlite,
    /// PostgreSQL 13 or later.
    Postgres,
}

/// Raw scans. On PostgreSQL the primary key `(device_user_id, at_second, machine_id)` is the
/// dedupe key (machine, device user, instant truncated to the second) in the column order that
/// also serves `scans_of_user` range reads, so the table needs no second index. On SQLite (from
/// migration 2) the key is `(at_day, device_user_id, at_second, machine_id)`: the UTC day follows
/// from the second, so the dedupe key is the same, and a day's new scans land on the same few
/// pages of the table instead of one page per device user (each commit writes every page it
/// touched to the WAL again).
#[derive(Debug, Clone, Copy, Iden)]
pub enum Scans {
    /// The table.
    #[iden = "att_scans"]
    Table,
    /// SQLite only: the UTC day of `at_second` (floor of seconds / 86,400).
    AtDay,
    /// The device user id.
    DeviceUserId,
    /// The instant truncated to the second (Unix seconds): part of the dedupe key.
    AtSecond,
    /// The machine id.
    MachineId,
    /// The exact instant in Unix nanoseconds, for time order and an exact round trip.
    AtNs,
    /// The punch state, as [`codec::punch_code`](crate::codec::punch_code).
    PunchState,
    /// The verify mode, as [`codec::verify_code`](crate::codec::verify_code).
    VerifyMode,
    /// The record as the device sent it.
    Raw,
}

/// Each machine's cursor, stored in the same transaction as the scans it covers.
#[derive(Debug, Clone, Copy, Iden)]
pub enum MachineCursors {
    /// The table.
    #[iden = "att_machine_cursors"]
    Table,
    /// The machine id (no foreign key: a cursor outlives its machine's registration).
    MachineId,
    /// The adapter's opaque cursor.
    Cursor,
}

/// Employees.
#[derive(Debug, Clone, Copy, Iden)]
pub enum Employees {
    /// The table.
    #[iden = "att_employees"]
    Table,
    /// The employee code (primary key).
    Code,
    /// The device user id (unique).
    DeviceUserId,
    /// The department (filtered on).
    Department,
    /// The whole employee as JSON.
    Data,
}

/// Registered machines.
#[derive(Debug, Clone, Copy, Iden)]
pub enum Machines {
    /// The table.
    #[iden = "att_machines"]
    Table,
    /// The machine id (primary key).
    Id,
    /// The whole machine as JSON.
    Data,
}

/// What the platform last saw of each machine; goes with its machine.
#[derive(Debug, Clone, Copy, Iden)]
pub enum MachineStatuses {
    /// The table.
    #[iden = "att_machine_statuses"]
    Table,
    /// The machine id (primary key, references the machine, deleted with it).
    MachineId,
    /// The whole status as JSON.
    Data,
}

/// Derived daily records, one per (employee, date); they go with their employee.
#[derive(Debug, Clone, Copy, Iden)]
pub enum DailyRecords {
    /// The table.
    #[iden = "att_daily_records"]
    Table,
    /// The employee code (references the employee).
    Employee,
    /// The work date.
    Date,
    /// The status as its exact string (`Present-OnTime`).
    Status,
    /// The whole record as JSON.
    Data,
    /// What the monthly report counts of the record (a JSON array of
    /// [`TALLY_FIELDS`](crate::stmt::TALLY_FIELDS), in order), written with it (migration 9),
    /// so the report reads a few bytes per record instead of parsing the whole record.
    Tally,
}

/// The site's settings: one row with id 1.
#[derive(Debug, Clone, Copy, Iden)]
pub enum Settings {
    /// The table.
    #[iden = "att_settings"]
    Table,
    /// Always 1.
    Id,
    /// The settings as JSON.
    Data,
}

/// Holidays, with ids the database gives and never reuses.
#[derive(Debug, Clone, Copy, Iden)]
pub enum Holidays {
    /// The table.
    #[iden = "att_holidays"]
    Table,
    /// The id.
    Id,
    /// The first day (sorted on).
    Start,
    /// The holiday as JSON.
    Data,
}

/// Leave policies, one per leave type.
#[derive(Debug, Clone, Copy, Iden)]
pub enum LeavePolicies {
    /// The table.
    #[iden = "att_leave_policies"]
    Table,
    /// The leave type's name (primary key).
    LeaveType,
    /// The policy as JSON.
    Data,
}

/// The version of each employee's leave account, which every leave change checks and bumps.
#[derive(Debug, Clone, Copy, Iden)]
pub enum LeaveVersions {
    /// The table.
    #[iden = "att_leave_versions"]
    Table,
    /// The employee code (primary key).
    Employee,
    /// The number of changes committed.
    Version,
}

/// Leave requests.
#[derive(Debug, Clone, Copy, Iden)]
pub enum LeaveRequests {
    /// The table.
    #[iden = "att_leave_requests"]
    Table,
    /// The request id (primary key).
    Id,
    /// The employee code (references the employee, which cannot be deleted while it has any).
    Employee,
    /// The department named in the request.
    Department,
    /// The status (`pending`, `approved`, …).
    Status,
    /// The first date.
    Start,
    /// The last date.
    End,
    /// The request as JSON.
    Data,
}

/// Leave ledger entries, append-only; `seq` keeps the order they were written in.
#[derive(Debug, Clone, Copy, Iden)]
pub enum LeaveLedger {
    /// The table.
    #[iden = "att_leave_ledger"]
    Table,
    /// Insertion order.
    Seq,
    /// The employee code.
    Employee,
    /// The leave type's name.
    LeaveType,
    /// The entry as JSON.
    Data,
}

/// Documents attached to leave requests; they go with their request.
#[derive(Debug, Clone, Copy, Iden)]
pub enum LeaveDocuments {
    /// The table.
    #[iden = "att_leave_documents"]
    Table,
    /// Insertion order: the order a request's documents are listed in.
    Seq,
    /// The document id (unique).
    Id,
    /// The request id (references the request, deleted with it).
    Request,
    /// The document's metadata as JSON.
    Data,
    /// The file's bytes (`BLOB` on SQLite, `bytea` on PostgreSQL).
    Content,
}

/// Logins.
#[derive(Debug, Clone, Copy, Iden)]
pub enum UserAccounts {
    /// The table.
    #[iden = "att_user_accounts"]
    Table,
    /// The login name (primary key).
    Username,
    /// The linked employee, if any (references the employee).
    Employee,
    /// The account as JSON.
    Data,
}

/// The migrations applied to this database.
#[derive(Debug, Clone, Copy, Iden)]
pub enum SchemaMigrations {
    /// The table.
    #[iden = "att_schema_migrations"]
    Table,
    /// The migration's version.
    Version,
    /// What it did.
    Description,
}

/// One schema statement, for the store to render with its own builder.
#[derive(Debug, Clone)]
pub enum SchemaStatement {
    /// `CREATE TABLE IF NOT EXISTS …`.
    Table(Box<TableCreateStatement>),
    /// `CREATE INDEX IF NOT EXISTS …`.
    Index(Box<IndexCreateStatement>),
    /// A statement as text, for what sea-query cannot build (rebuilding a table); it runs once,
    /// in the migration's transaction, so it need not be idempotent.
    Sql(&'static str),
}

impl SchemaStatement {
    /// The statement rendered by `builder`.
    pub fn render(&self, builder: impl sea_query::backend::SchemaBuilder) -> String {
        match self {
            SchemaStatement::Table(t) => t.to_string(builder),
            SchemaStatement::Index(i) => i.to_string(builder),
            SchemaStatement::Sql(sql) => (*sql).to_owned(),
        }
    }
}

/// A step of the schema. Its statements are idempotent (`IF NOT EXISTS`), and the store records
/// its version in [`SchemaMigrations`] in the same transaction, so running the migrations again
/// (a second open of the same database, two processes starting at once) is harmless.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Increasing from 1.
    pub version: i64,
    /// What it does.
    pub description: &'static str,
    /// Its statements for a backend.
    pub statements: fn(Backend) -> Vec<SchemaStatement>,
}

/// Every migration, by version. A store applies the ones its database has not recorded, in
/// version order ([`pending_migrations`]), so a database that has version 3 but not 2 (made by
/// a build without 2) gets 2 on its next open.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "scans, cursors, employees, machines, daily records, settings, holidays, leave, accounts",
        statements: initial_schema,
    },
    Migration {
        version: 2,
        description: "SQLite: scans keyed by UTC day first",
        statements: scans_by_day,
    },
    Migration {
        version: 3,
        description: "leave documents",
        statements: leave_documents_schema,
    },
    Migration {
        version: 4,
        description: "PostgreSQL: daily records leave half of each page free for their updates",
        statements: records_fillfactor,
    },
    Migration {
        version: 5,
        description: "oversight: audit log, corrections, scan voids, day overrides",
        statements: oversight::oversight_schema,
    },
    Migration {
        version: 6,
        description: "leave policies state their approval chain",
        statements: leave_approval::leave_approval,
    },
    Migration {
        version: 7,
        description: "scans set aside at ingest",
        statements: oversight::set_aside_schema,
    },
    Migration {
        version: 8,
        description: "PostgreSQL: cluster instances, leases and broadcasts too long to notify",
        statements: cluster_schema,
    },
    Migration {
        version: 9,
        description: "daily records keep the monthly report's fields in a column of their own",
        statements: records_tally,
    },
    Migration {
        version: 10,
        description: "background recompute jobs, resumable from their last employee",
        statements: recompute_jobs_schema,
    },
];

/// Background recompute jobs (`attendance_core::store::RecomputeJobStore`): one row per job,
/// the job as JSON beside the two flags its reads filter on.
#[derive(Debug, Clone, Copy, Iden)]
pub enum RecomputeJobs {
    /// The table.
    #[iden = "att_recompute_jobs"]
    Table,
    /// The job's number, given by the database, increasing.
    Id,
    /// 1 while the job is queued (not started), else NULL: unique, so at most one job is
    /// queued and racing enqueues merge (the loser retries).
    Queued,
    /// 1 until the job is finished, else NULL.
    Open,
    /// The job as JSON (its `id` is the column's).
    Data,
}

/// Migration 10: the background recompute jobs, so a recompute outlives the instance that
/// queued or ran it and resumes where it stopped.
fn recompute_jobs_schema(backend: Backend) -> Vec<SchemaStatement> {
    let table = match backend {
        Backend::Sqlite => {
            r#"CREATE TABLE IF NOT EXISTS "att_recompute_jobs" ("id" integer PRIMARY KEY AUTOINCREMENT, "queued" integer NULL, "open" integer NULL, "data" text NOT NULL)"#
        }
        Backend::Postgres => {
            r#"CREATE TABLE IF NOT EXISTS "att_recompute_jobs" ("id" bigserial PRIMARY KEY, "queued" integer NULL, "open" integer NULL, "data" text NOT NULL)"#
        }
    };
    vec![
        SchemaStatement::Sql(table),
        SchemaStatement::Sql(
            r#"CREATE UNIQUE INDEX IF NOT EXISTS "att_recompute_jobs_queued" ON "att_recompute_jobs" ("queued")"#,
        ),
        SchemaStatement::Sql(
            r#"CREATE INDEX IF NOT EXISTS "att_recompute_jobs_open" ON "att_recompute_jobs" ("open", "id")"#,
        ),
    ]
}

/// Migration 8: what several instances on one PostgreSQL database coordinate through (see
/// `attendance-store-postgres`'s `cluster`): the instances and their heartbeats, the leases
/// (`machine:<id>`, `leader`) with their holder and expiry, and the broadcasts too long for a
/// `NOTIFY`, kept a few minutes for the listeners. SQLite is one instance and has none.
fn cluster_schema(backend: Backend) -> Vec<SchemaStatement> {
    match backend {
        Backend::Sqlite => Vec::new(),
        Backend::Postgres => vec![
            SchemaStatement::Sql(
                r#"CREATE TABLE IF NOT EXISTS "att_cluster_instances" ("instance_id" text COLLATE "C" PRIMARY KEY, "name" text NOT NULL, "started_at" timestamptz NOT NULL, "last_heartbeat" timestamptz NOT NULL)"#,
            ),
            SchemaStatement::Sql(
                r#"CREATE TABLE IF NOT EXISTS "att_cluster_leases" ("resource" text COLLATE "C" PRIMARY KEY, "holder" text NOT NULL, "expires_at" timestamptz NOT NULL)"#,
            ),
            SchemaStatement::Sql(
                r#"CREATE INDEX IF NOT EXISTS "att_cluster_leases_holder" ON "att_cluster_leases" ("holder")"#,
            ),
            SchemaStatement::Sql(
                r#"CREATE TABLE IF NOT EXISTS "att_cluster_events" ("id" bigserial PRIMARY KEY, "payload" text NOT NULL, "created_at" timestamptz NOT NULL DEFAULT now())"#,
            ),
        ],
    }
}

/// Migration 9: daily records get a `tally` column, the fields the monthly report counts as a
/// short JSON array ([`TALLY_FIELDS`](crate::stmt::TALLY_FIELDS)), filled for the records
/// stored before from their JSON, and written with every record after. Reading it, the report
/// no longer parses each whole record (about a kilobyte with its scans) in the database.
fn records_tally(backend: Backend) -> Vec<SchemaStatement> {
    let (add, fill) = match backend {
        Backend::Sqlite => (
            r#"ALTER TABLE "att_daily_records" ADD COLUMN "tally" text NULL"#,
            r#"UPDATE "att_daily_records" SET "tally" = json_extract("data", '$.date', '$.working_seconds', '$.overtime_seconds', '$.extra_overtime_seconds', '$.late_minutes', '$.worked_on_holiday', '$.worked_on_weekend', '$.snacks_eligible', '$.night_bill_eligible', '$.half_day_leave', '$.window_closed')"#,
        ),
        Backend::Postgres => (
            r#"ALTER TABLE "att_daily_records" ADD COLUMN IF NOT EXISTS "tally" text NULL"#,
            r#"UPDATE "att_daily_records" SET "tally" = json_build_array("data"::json -> 'date', "data"::json -> 'working_seconds', "data"::json -> 'overtime_seconds', "data"::json -> 'extra_overtime_seconds', "data"::json -> 'late_minutes', "data"::json -> 'worked_on_holiday', "data"::json -> 'worked_on_weekend', "data"::json -> 'snacks_eligible', "data"::json -> 'night_bill_eligible', "data"::json -> 'half_day_leave', "data"::json -> 'window_closed')::text"#,
        ),
    };
    vec![SchemaStatement::Sql(add), SchemaStatement::Sql(fill)]
}

/// Migration 4: PostgreSQL fills the pages of daily records only to half (`fillfactor` 50), so
/// a recompute's new version of a record fits on its page (a HOT update: no new entries in the
/// two indexes, pruned in place). Records are rewritten all the time (each new scan, each
/// recompute); measured, an upsert of 15,500 month records took 245 ms on full pages and
/// 111 ms with room. Pages written before keep their fill until rewritten. SQLite updates in
/// place and has no such setting.
fn records_fillfactor(backend: Backend) -> Vec<SchemaStatement> {
    match backend {
        Backend::Sqlite => Vec::new(),
        Backend::Postgres => vec![SchemaStatement::Sql(
            r#"ALTER TABLE "att_daily_records" SET (fillfactor = 50)"#,
        )],
    }
}

/// Migration 2: SQLite rebuilds its scans table keyed `(at_day, device_user_id, at_second,
/// machine_id)`, copying every scan in key order; PostgreSQL keeps its table.
fn scans_by_day(backend: Backend) -> Vec<SchemaStatement> {
    match backend {
        Backend::Postgres => Vec::new(),
        Backend::Sqlite => vec![
            SchemaStatement::Sql(
                r#"CREATE TABLE "att_scans_by_day" ("at_day" integer NOT NULL, "device_user_id" text NOT NULL, "at_second" integer NOT NULL, "machine_id" text NOT NULL, "at_ns" integer NOT NULL, "punch_state" integer NOT NULL, "verify_mode" integer NOT NULL, "raw" text NULL, PRIMARY KEY ("at_day", "device_user_id", "at_second", "machine_id")) WITHOUT ROWID"#,
            ),
            // Floor division: SQLite's `/` truncates toward zero, wrong for seconds before 1970.
            SchemaStatement::Sql(
                r#"INSERT INTO "att_scans_by_day" SELECT CASE WHEN "at_second" >= 0 THEN "at_second" / 86400 ELSE ("at_second" + 1) / 86400 - 1 END AS "day", "device_user_id", "at_second", "machine_id", "at_ns", "punch_state", "verify_mode", "raw" FROM "att_scans" ORDER BY "day", "device_user_id", "at_second", "machine_id""#,
            ),
            SchemaStatement::Sql(r#"DROP TABLE "att_scans""#),
            SchemaStatement::Sql(r#"ALTER TABLE "att_scans_by_day" RENAME TO "att_scans""#),
        ],
    }
}

/// The migrations of [`MIGRATIONS`] whose version is not in `applied`, by version.
pub fn pending_migrations(applied: &HashSet<i64>) -> Vec<&'static Migration> {
    pending_in(MIGRATIONS, applied)
}

fn pending_in<'m>(migrations: &'m [Migration], applied: &HashSet<i64>) -> Vec<&'m Migration> {
    let mut pending: Vec<&Migration> = migrations
        .iter()
        .filter(|m| !applied.contains(&m.version))
        .collect();
    pending.sort_by_key(|m| m.version);
    pending
}

/// The table that records applied migrations (created before any migration runs).
pub fn migrations_table() -> TableCreateStatement {
    Table::create()
        .table(SchemaMigrations::Table)
        .if_not_exists()
        .col(
            ColumnDef::new(SchemaMigrations::Version)
                .big_integer()
                .not_null()
                .primary_key(),
        )
        .col(
            ColumnDef::new(SchemaMigrations::Description)
                .text()
                .not_null(),
        )
        .to_owned()
}

/// A text key column that sorts bytewise on both databases.
fn key(backend: Backend, col: impl sea_query::IntoIden) -> ColumnDef {
    let mut def = ColumnDef::new(col);
    def.text().not_null();
    if backend == Backend::Postgres {
        def.extra("COLLATE \"C\"");
    }
    def
}

fn json(col: impl sea_query::IntoIden) -> ColumnDef {
    ColumnDef::new(col).text().not_null().to_owned()
}

fn initial_schema(backend: Backend) -> Vec<SchemaStatement> {
    let mut scans = Table::create();
    scans
        .table(Scans::Table)
        .if_not_exists()
        .col(key(backend, Scans::DeviceUserId))
        .col(ColumnDef::new(Scans::AtSecond).big_integer().not_null())
        .col(key(backend, Scans::MachineId))
        .col(ColumnDef::new(Scans::AtNs).big_integer().not_null())
        .col(ColumnDef::new(Scans::PunchState).integer().not_null())
        .col(ColumnDef::new(Scans::VerifyMode).integer().not_null())
        .col(ColumnDef::new(Scans::Raw).text().null())
        .primary_key(
            Index::create()
                .col(Scans::DeviceUserId)
                .col(Scans::AtSecond)
                .col(Scans::MachineId),
        );
    if backend == Backend::Sqlite {
        // The table is its own primary-key B-tree: one write per scan instead of two.
        scans.extra("WITHOUT ROWID");
    }

    let cursors = Table::create()
        .table(MachineCursors::Table)
        .if_not_exists()
        .col(key(backend, MachineCursors::MachineId).primary_key())
        .col(ColumnDef::new(MachineCursors::Cursor).text().not_null())
        .to_owned();

    let employees = Table::create()
        .table(Employees::Table)
        .if_not_exists()
        .col(key(backend, Employees::Code).primary_key())
        .col(key(backend, Employees::DeviceUserId).unique_key())
        .col(key(backend, Employees::Department))
        .col(json(Employees::Data))
        .to_owned();
    let employees_by_department = Index::create()
        .if_not_exists()
        .name("att_employees_department")
        .table(Employees::Table)
        .col(Employees::Department)
        .col(Employees::Code)
        .to_owned();

    let machines = Table::create()
        .table(Machines::Table)
        .if_not_exists()
        .col(key(backend, Machines::Id).primary_key())
        .col(json(Machines::Data))
        .to_owned();

    let statuses = Table::create()
        .table(MachineStatuses::Table)
        .if_not_exists()
        .col(key(backend, MachineStatuses::MachineId).primary_key())
        .col(json(MachineStatuses::Data))
        .foreign_key(
            ForeignKey::create()
                .from(MachineStatuses::Table, MachineStatuses::MachineId)
                .to(Machines::Table, Machines::Id)
                .on_delete(ForeignKeyAction::Cascade),
        )
        .to_owned();

    let records = Table::create()
        .table(DailyRecords::Table)
        .if_not_exists()
        .col(key(backend, DailyRecords::Employee))
        .col(ColumnDef::new(DailyRecords::Date).date().not_null())
        .col(key(backend, DailyRecords::Status))
        .col(json(DailyRecords::Data))
        .primary_key(
            Index::create()
                .col(DailyRecords::Employee)
                .col(DailyRecords::Date),
        )
        .foreign_key(
            ForeignKey::create()
                .from(DailyRecords::Table, DailyRecords::Employee)
                .to(Employees::Table, Employees::Code)
                .on_delete(ForeignKeyAction::Cascade),
        )
        .to_owned();
    let records_by_date = Index::create()
        .if_not_exists()
        .name("att_daily_records_date_employee")
        .table(DailyRecords::Table)
        .col(DailyRecords::Date)
        .col(DailyRecords::Employee)
        .to_owned();

    let settings = Table::create()
        .table(Settings::Table)
        .if_not_exists()
        .col(
            ColumnDef::new(Settings::Id)
                .integer()
                .not_null()
                .primary_key(),
        )
        .col(json(Settings::Data))
        .to_owned();

    let holidays = Table::create()
        .table(Holidays::Table)
        .if_not_exists()
        .col(
            ColumnDef::new(Holidays::Id)
                .big_integer()
                .not_null()
                .auto_increment()
                .primary_key(),
        )
        .col(ColumnDef::new(Holidays::Start).date().not_null())
        .col(json(Holidays::Data))
        .to_owned();

    let policies = Table::create()
        .table(LeavePolicies::Table)
        .if_not_exists()
        .col(key(backend, LeavePolicies::LeaveType).primary_key())
        .col(json(LeavePolicies::Data))
        .to_owned();

    let versions = Table::create()
        .table(LeaveVersions::Table)
        .if_not_exists()
        .col(key(backend, LeaveVersions::Employee).primary_key())
        .col(
            ColumnDef::new(LeaveVersions::Version)
                .big_integer()
                .not_null(),
        )
        .to_owned();

    let requests = Table::create()
        .table(LeaveRequests::Table)
        .if_not_exists()
        .col(key(backend, LeaveRequests::Id).primary_key())
        .col(key(backend, LeaveRequests::Employee))
        .col(key(backend, LeaveRequests::Department))
        .col(key(backend, LeaveRequests::Status))
        .col(ColumnDef::new(LeaveRequests::Start).date().not_null())
        .col(ColumnDef::new(LeaveRequests::End).date().not_null())
        .col(json(LeaveRequests::Data))
        .foreign_key(
            ForeignKey::create()
                .from(LeaveRequests::Table, LeaveRequests::Employee)
                .to(Employees::Table, Employees::Code)
                .on_delete(ForeignKeyAction::Restrict),
        )
        .to_owned();
    let requests_by_employee = Index::create()
        .if_not_exists()
        .name("att_leave_requests_employee")
        .table(LeaveRequests::Table)
        .col(LeaveRequests::Employee)
        .to_owned();

    let ledger = Table::create()
        .table(LeaveLedger::Table)
        .if_not_exists()
        .col(
            ColumnDef::new(LeaveLedger::Seq)
                .big_integer()
                .not_null()
                .auto_increment()
                .primary_key(),
        )
        .col(key(backend, LeaveLedger::Employee))
        .col(key(backend, LeaveLedger::LeaveType))
        .col(json(LeaveLedger::Data))
        .to_owned();
    let ledger_by_employee = Index::create()
        .if_not_exists()
        .name("att_leave_ledger_employee")
        .table(LeaveLedger::Table)
        .col(LeaveLedger::Employee)
        .col(LeaveLedger::Seq)
        .to_owned();

    let accounts = Table::create()
        .table(UserAccounts::Table)
        .if_not_exists()
        .col(key(backend, UserAccounts::Username).primary_key())
        .col(ColumnDef::new(UserAccounts::Employee).text().null())
        .col(json(UserAccounts::Data))
        .foreign_key(
            ForeignKey::create()
                .from(UserAccounts::Table, UserAccounts::Employee)
                .to(Employees::Table, Employees::Code)
                .on_delete(ForeignKeyAction::Restrict),
        )
        .to_owned();
    let accounts_by_employee = Index::create()
        .if_not_exists()
        .name("att_user_accounts_employee")
        .table(UserAccounts::Table)
        .col(UserAccounts::Employee)
        .to_owned();

    vec![
        SchemaStatement::Table(Box::new(scans)),
        SchemaStatement::Table(Box::new(cursors)),
        SchemaStatement::Table(Box::new(employees)),
        SchemaStatement::Index(Box::new(employees_by_department)),
        SchemaStatement::Table(Box::new(machines)),
        SchemaStatement::Table(Box::new(statuses)),
        SchemaStatement::Table(Box::new(records)),
        SchemaStatement::Index(Box::new(records_by_date)),
        SchemaStatement::Table(Box::new(settings)),
        SchemaStatement::Table(Box::new(holidays)),
        SchemaStatement::Table(Box::new(policies)),
        SchemaStatement::Table(Box::new(versions)),
        SchemaStatement::Table(Box::new(requests)),
        SchemaStatement::Index(Box::new(requests_by_employee)),
        SchemaStatement::Table(Box::new(ledger)),
        SchemaStatement::Index(Box::new(ledger_by_employee)),
        SchemaStatement::Table(Box::new(accounts)),
        SchemaStatement::Index(Box::new(accounts_by_employee)),
    ]
}

/// Migration 3: leave documents, their bytes in the row, listed per request in insertion
/// order.
fn leave_documents_schema(backend: Backend) -> Vec<SchemaStatement> {
    let documents = Table::create()
        .table(LeaveDocuments::Table)
        .if_not_exists()
        .col(
            ColumnDef::new(LeaveDocuments::Seq)
                .big_integer()
                .not_null()
                .auto_increment()
                .primary_key(),
        )
        .col(key(backend, LeaveDocuments::Id).unique_key())
        .col(key(backend, LeaveDocuments::Request))
        .col(json(LeaveDocuments::Data))
        .col(ColumnDef::new(LeaveDocuments::Content).blob().not_null())
        .foreign_key(
            ForeignKey::create()
                .from(LeaveDocuments::Table, LeaveDocuments::Request)
                .to(LeaveRequests::Table, LeaveRequests::Id)
                .on_delete(ForeignKeyAction::Cascade),
        )
        .to_owned();
    let documents_by_request = Index::create()
        .if_not_exists()
        .name("att_leave_documents_request")
        .table(LeaveDocuments::Table)
        .col(LeaveDocuments::Request)
        .col(LeaveDocuments::Seq)
        .to_owned();
    vec![
        SchemaStatement::Table(Box::new(documents)),
        SchemaStatement::Index(Box::new(documents_by_request)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_query::{PostgresQueryBuilder, SqliteQueryBuilder};

    fn render(backend: Backend) -> Vec<String> {
        MIGRATIONS
            .iter()
            .flat_map(|m| (m.statements)(backend))
            .filter(|s| !matches!(s, SchemaStatement::Sql(_)))
            .map(|s| match backend {
                Backend::Sqlite => s.render(SqliteQueryBuilder),
                Backend::Postgres => s.render(PostgresQueryBuilder),
            })
            .collect()
    }

    #[test]
    fn migration_2_is_sqlites_only() {
        let two = MIGRATIONS.iter().find(|m| m.version == 2);
        assert!(
            two.is_some_and(|m| (m.statements)(Backend::Postgres).is_empty()
                && !(m.statements)(Backend::Sqlite).is_empty()),
            "migration 2 rebuilds SQLite's scans table only"
        );
    }

    #[test]
    fn pending_migrations_come_by_version_skipping_the_applied() {
        fn none(_: Backend) -> Vec<SchemaStatement> {
            Vec::new()
        }
        let migration = |version| Migration {
            version,
            description: "",
            statements: none,
        };
        let listed = [migration(1), migration(3), migration(2), migration(4)];
        let versions = |applied: &[i64]| {
            pending_in(&listed, &applied.iter().copied().collect())
                .iter()
                .map(|m| m.version)
                .collect::<Vec<_>>()
        };
        assert_eq!(versions(&[]), [1, 2, 3, 4]);
        assert_eq!(versions(&[1, 3]), [2, 4], "a gap left by an older build");
        assert_eq!(versions(&[1, 2, 3, 4]), Vec::<i64>::new());
        let shipped: Vec<i64> = MIGRATIONS.iter().map(|m| m.version).collect();
        let mut sorted = shipped.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(
            shipped, sorted,
            "MIGRATIONS are listed once each, by version"
        );
    }

    #[test]
    fn documents_are_blobs_on_sqlite_and_bytea_on_postgres_and_go_with_their_request() {
        let sqlite = render(Backend::Sqlite).join("\n");
        let pg = render(Backend::Postgres).join("\n");
        for (sql, blob) in [
            (&sqlite, r#""content" blob NOT NULL"#),
            (&pg, r#""content" bytea NOT NULL"#),
        ] {
            assert!(sql.contains(blob), "{sql}");
            assert!(
                sql.contains(r#"FOREIGN KEY ("request") REFERENCES "att_leave_requests" ("id") ON DELETE CASCADE"#),
                "{sql}"
            );
        }
    }

    #[test]
    fn every_built_statement_is_idempotent_and_keys_sort_bytewise() {
        for backend in [Backend::Sqlite, Backend::Postgres] {
            for sql in render(backend) {
                assert!(sql.contains("IF NOT EXISTS"), "{sql}");
            }
        }
        let pg = render(Backend::Postgres).join("\n");
        assert!(
            pg.contains(r#""code" text NOT NULL PRIMARY KEY COLLATE "C""#)
                || pg.contains("COLLATE \"C\""),
            "{pg}"
        );
        let sqlite = render(Backend::Sqlite).join("\n");
        assert!(
            sqlite.contains("WITHOUT ROWID") && !sqlite.contains("COLLATE"),
            "{sqlite}"
        );
    }
}
