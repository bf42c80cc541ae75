//! Every statement of the store contract, built once with sea-query and rendered by each store
//! for its database. Values are always bound parameters.
//!
//! Result columns come in the order the doc of each builder gives, so a store reads them by
//! position.

use attendance_core::employee::{Department, DeviceUserId, EmployeeCode};
use attendance_core::scan::MachineId;
use attendance_core::store::{LeaveRequestQuery, RecordOrder, RecordQuery, StoreResult};
use chrono::NaiveDate;
use sea_query::{
    Asterisk, Condition, DeleteStatement, Expr, ExprTrait, Func, InsertStatement, LockType,
    OnConflict, Order, Query, SelectStatement, UpdateStatement,
};

use crate::codec::{ScanRow, enum_text, to_i64};
use crate::schema::{
    DailyRecords, Employees, Holidays, LeaveDocuments, LeaveLedger, LeavePolicies, LeaveRequests,
    LeaveVersions, MachineCursors, MachineStatuses, Machines, Scans, SchemaMigrations, Settings,
    UserAccounts,
};

/// The columns an insert of scans writes, in [`ScanRow`] order.
const SCAN_COLUMNS: [Scans; 7] = [
    Scans::MachineId,
    Scans::DeviceUserId,
    Scans::AtSecond,
    Scans::AtNs,
    Scans::PunchState,
    Scans::VerifyMode,
    Scans::Raw,
];

/// How many scans one multi-row insert carries at most (7 bound values each: 3,584 per
/// statement, far under both databases' limits).
pub const SCAN_CHUNK: usize = 512;

/// Splits `len` rows into statement sizes: full [`SCAN_CHUNK`]s, then the remainder as powers of
/// two. Statements are prepared and cached by their text, so this keeps the distinct texts to
/// ten whatever the batch sizes are.
pub fn chunk_sizes(len: usize) -> Vec<usize> {
    let mut sizes = vec![SCAN_CHUNK; len / SCAN_CHUNK];
    let rest = len % SCAN_CHUNK;
    let mut bit = SCAN_CHUNK;
    while bit > 0 {
        if rest & bit != 0 {
            sizes.push(bit);
        }
        bit >>= 1;
    }
    sizes
}

fn text(value: &str) -> Expr {
    Expr::value(value.to_owned())
}

/// SQLite only (its table keyed by day, migration 2): `INSERT INTO att_scans … VALUES (…), …
/// ON CONFLICT DO NOTHING` with the columns `at_day` then [`ScanRow`]'s, and `RETURNING
/// machine_id, device_user_id, at_second` (the scans that were new) when `returning`.
pub fn sqlite_insert_scans(rows: &[ScanRow], returning: bool) -> StoreResult<InsertStatement> {
    let mut insert = Query::insert();
    insert
        .into_table(Scans::Table)
        .columns(std::iter::once(Scans::AtDay).chain(SCAN_COLUMNS));
    for row in rows {
        insert
            .values([
                Expr::value(row.at_day()),
                text(&row.machine_id),
                text(&row.device_user_id),
                Expr::value(row.at_second),
                Expr::value(row.at_ns),
                Expr::value(row.punch_state),
                Expr::value(row.verify_mode),
                Expr::value(row.raw.clone()),
            ])
            .map_err(|e| attendance_core::store::StoreError::Invalid(e.to_string()))?;
    }
    insert.on_conflict(
        OnConflict::columns([
            Scans::AtDay,
            Scans::DeviceUserId,
            Scans::AtSecond,
            Scans::MachineId,
        ])
        .do_nothing()
        .to_owned(),
    );
    if returning {
        insert.returning(Query::returning().columns([
            Scans::MachineId,
            Scans::DeviceUserId,
            Scans::AtSecond,
        ]));
    }
    Ok(insert)
}

/// PostgreSQL only, the fast path: scans of one machine as one insert of seven parameters, the
/// machine id (`$1`) and one array per other column (`$2`–`$7`: device user ids, seconds,
/// nanoseconds, punch codes, verify codes, raw records), skipping the keys already stored with
/// an anti-join. Returns `device_user_id, at_second` of the new scans.
///
/// It has no `ON CONFLICT`: PostgreSQL's speculative insertion doubles the cost of every row
/// (measured: 100,000 rows in 975 ms with `ON CONFLICT DO NOTHING`, 438 ms with the anti-join).
/// A concurrent transaction storing the same scan between the check and the insert makes it
/// fail with a unique violation; the store then runs the batch again with
/// [`PG_INSERT_SCANS_UNNEST_ON_CONFLICT`]. One text whatever the batch size, so it is prepared
/// once per connection.
pub const PG_INSERT_NEW_SCANS_UNNEST: &str = "INSERT INTO \"att_scans\" \
    (\"machine_id\", \"device_user_id\", \"at_second\", \"at_ns\", \"punch_state\", \"verify_mode\", \"raw\") \
    SELECT $1, u.d, u.s, u.ns, u.p, u.v, u.r \
    FROM UNNEST($2::text[], $3::int8[], $4::int8[], $5::int4[], $6::int4[], $7::text[]) AS u (d, s, ns, p, v, r) \
    WHERE NOT EXISTS (SELECT 1 FROM \"att_scans\" x \
        WHERE x.\"device_user_id\" = u.d AND x.\"at_second\" = u.s AND x.\"machine_id\" = $1) \
    RETURNING \"device_user_id\", \"at_second\"";

/// PostgreSQL only, the safe path: [`PG_INSERT_NEW_SCANS_UNNEST`] deduplicated by the primary
/// key with `ON CONFLICT DO NOTHING`, which never fails on a racing duplicate.
pub const PG_INSERT_SCANS_UNNEST_ON_CONFLICT: &str = "INSERT INTO \"att_scans\" \
    (\"machine_id\", \"device_user_id\", \"at_second\", \"at_ns\", \"punch_state\", \"verify_mode\", \"raw\") \
    SELECT $1, u.* FROM UNNEST($2::text[], $3::int8[], $4::int8[], $5::int4[], $6::int4[], $7::text[]) AS u \
    ON CONFLICT (\"device_user_id\", \"at_second\", \"machine_id\") DO NOTHING \
    RETURNING \"device_user_id\", \"at_second\"";

/// PostgreSQL only: `COPY` of scans in text format, columns in [`ScanRow`] order, straight into
/// the table. It fails with a unique violation if any scan is stored already.
pub const PG_COPY_SCANS: &str = "COPY \"att_scans\" \
    (\"machine_id\", \"device_user_id\", \"at_second\", \"at_ns\", \"punch_state\", \"verify_mode\", \"raw\") \
    FROM STDIN";

/// PostgreSQL only: this connection's staging table for a group that overlaps stored scans (the
/// scans table's columns without its key; emptied at every commit).
pub const PG_CREATE_STAGING: &str = "CREATE TEMPORARY TABLE IF NOT EXISTS \"att_scans_staging\" \
    (LIKE \"att_scans\" INCLUDING DEFAULTS) ON COMMIT DELETE ROWS";

/// PostgreSQL only: [`PG_COPY_SCANS`] into the staging table.
pub const PG_COPY_STAGING: &str = "COPY \"att_scans_staging\" \
    (\"machine_id\", \"device_user_id\", \"at_second\", \"at_ns\", \"punch_state\", \"verify_mode\", \"raw\") \
    FROM STDIN";

/// PostgreSQL only: moves the staged scans not stored yet into the table with one anti-join,
/// returning `machine_id, device_user_id, at_second` of the new ones. Run it with hash and merge
/// joins off, so each staged row probes the primary key: left to itself the planner scans the
/// whole table per group. Fails with a unique violation on a racing duplicate, like
/// [`PG_INSERT_NEW_SCANS_UNNEST`].
pub const PG_MOVE_NEW_SCANS: &str = "INSERT INTO \"att_scans\" \
    SELECT s.* FROM \"att_scans_staging\" s \
    WHERE NOT EXISTS (SELECT 1 FROM \"att_scans\" x \
        WHERE x.\"device_user_id\" = s.\"device_user_id\" AND x.\"at_second\" = s.\"at_second\" \
        AND x.\"machine_id\" = s.\"machine_id\") \
    RETURNING \"machine_id\", \"device_user_id\", \"at_second\"";

/// PostgreSQL only, the safe path: [`PG_MOVE_NEW_SCANS`] deduplicated by the primary key with
/// `ON CONFLICT DO NOTHING`, which never fails on a racing duplicate.
pub const PG_MOVE_SCANS_ON_CONFLICT: &str = "INSERT INTO \"att_scans\" \
    SELECT s.* FROM \"att_scans_staging\" s \
    ON CONFLICT (\"device_user_id\", \"at_second\", \"machine_id\") DO NOTHING \
    RETURNING \"machine_id\", \"device_user_id\", \"at_second\"";

/// PostgreSQL only: scan rows as `COPY … FROM STDIN` text data, one line per row, columns in
/// [`ScanRow`] order. Text is escaped (backslash, tab, line feed, carriage return), so any text
/// round-trips; a missing raw record is `\N` (NULL), an empty one an empty field.
pub fn pg_copy_text<'a>(rows: impl IntoIterator<Item = &'a ScanRow>) -> Vec<u8> {
    use std::io::Write as _;
    fn push_text(out: &mut Vec<u8>, text: &str) {
        for byte in text.bytes() {
            match byte {
                b'\\' => out.extend_from_slice(b"\\\\"),
                b'\t' => out.extend_from_slice(b"\\t"),
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                other => out.push(other),
            }
        }
    }
    let mut out = Vec::new();
    for row in rows {
        push_text(&mut out, &row.machine_id);
        out.push(b'\t');
        push_text(&mut out, &row.device_user_id);
        // Writing to a Vec cannot fail.
        let _ = write!(
            out,
            "\t{}\t{}\t{}\t{}\t",
            row.at_second, row.at_ns, row.punch_state, row.verify_mode
        );
        match &row.raw {
            Some(raw) => push_text(&mut out, raw),
            None => out.extend_from_slice(b"\\N"),
        }
        out.push(b'\n');
    }
    out
}

/// PostgreSQL only: inserts or replaces daily records (unique by key) given as four arrays,
/// employees (`$1`), dates (`$2`), statuses (`$3`) and JSON (`$4`), in one statement.
pub const PG_UPSERT_RECORDS_UNNEST: &str = "INSERT INTO \"att_daily_records\" (\"employee\", \"date\", \"status\", \"data\") \
    SELECT * FROM UNNEST($1::text[], $2::date[], $3::text[], $4::text[]) \
    ON CONFLICT (\"employee\", \"date\") DO UPDATE SET \"status\" = EXCLUDED.\"status\", \"data\" = EXCLUDED.\"data\"";

/// Inserts or replaces a machine's cursor.
pub fn upsert_cursor(machine: &MachineId, cursor: &str) -> InsertStatement {
    Query::insert()
        .into_table(MachineCursors::Table)
        .columns([MachineCursors::MachineId, MachineCursors::Cursor])
        .values_panic([text(machine.as_str()), text(cursor)])
        .on_conflict(
            OnConflict::column(MachineCursors::MachineId)
                .update_column(MachineCursors::Cursor)
                .to_owned(),
        )
        .to_owned()
}

/// A machine's cursor: `cursor`.
pub fn select_cursor(machine: &MachineId) -> SelectStatement {
    Query::select()
        .column(MachineCursors::Cursor)
        .from(MachineCursors::Table)
        .and_where(Expr::col(MachineCursors::MachineId).eq(machine.as_str()))
        .to_owned()
}

/// The scans of `user` with `from_ns <= at_ns < to_ns`, in time order (then machine id):
/// columns in [`ScanRow`] order. The bounds on `at_second` let PostgreSQL's primary key serve
/// the range.
pub fn select_scans_of_user(user: &DeviceUserId, from_ns: i64, to_ns: i64) -> SelectStatement {
    let mut select = scans_of_user_in(from_ns, to_ns);
    select.and_where(Expr::col(Scans::DeviceUserId).eq(user.as_str()));
    select
}

/// The scans of the device users `users` with `from_ns <= at_ns < to_ns`, in no particular
/// order (the caller sorts: the server would sort a month of a chunk's scans on disk, beyond
/// its default `work_mem`): columns in [`ScanRow`] order. PostgreSQL's primary key serves it
/// with one range per user.
pub fn select_scans_of_users(users: &[&str], from_ns: i64, to_ns: i64) -> SelectStatement {
    let mut select = scans_in(from_ns, to_ns);
    select.and_where(Expr::col(Scans::DeviceUserId).is_in(users.iter().copied()));
    select
}

/// The most days [`sqlite_select_scans_of_user`] seeks one by one.
pub const SQLITE_SEEK_DAYS: i64 = 62;

/// SQLite only (its table keyed by day, migration 2): [`select_scans_of_user`] as one seek of
/// `(day, user)` per day, `at_day IN (…)`, for ranges of up to [`SQLITE_SEEK_DAYS`] days; a
/// longer range reads every scan of its days.
pub fn sqlite_select_scans_of_user(
    user: &DeviceUserId,
    from_ns: i64,
    to_ns: i64,
) -> SelectStatement {
    let mut select = scans_of_user_in(from_ns, to_ns);
    sqlite_days(&mut select, from_ns, to_ns);
    select.and_where(Expr::col(Scans::DeviceUserId).eq(user.as_str()));
    select
}

/// SQLite only: one scan as JSON, `[at_ns, punch_state, verify_mode, machine_id, raw]`,
/// aggregated per device user by [`sqlite_select_scans_of_users`].
pub const SQLITE_SCAN_JSON: &str =
    r#"json_group_array(json_array("at_ns", "punch_state", "verify_mode", "machine_id", "raw"))"#;

/// SQLite only (its table keyed by day, migration 2): the scans of the device users `users` with
/// `from_ns <= at_ns < to_ns` as one row per user, by user: `device_user_id` and the user's
/// scans as a JSON array of [`SQLITE_SCAN_JSON`] (in no particular order; see
/// [`scans_from_json`](crate::codec::scans_from_json)). It seeks `(day, user)` for every day and
/// user, `at_day IN (…) AND device_user_id IN (…)`, for ranges of up to [`SQLITE_SEEK_DAYS`]
/// days; a longer range reads every scan of its days. One row per user, not per scan: sqlx hands
/// each row over from its worker thread one by one, which costs more than SQLite's reading.
pub fn sqlite_select_scans_of_users(users: &[&str], from_ns: i64, to_ns: i64) -> SelectStatement {
    let second = |ns: i64| ns.div_euclid(1_000_000_000);
    let mut select = Query::select();
    select
        .column(Scans::DeviceUserId)
        .expr(Expr::cust(SQLITE_SCAN_JSON))
        .from(Scans::Table)
        .and_where(Expr::col(Scans::AtSecond).gte(second(from_ns)))
        .and_where(Expr::col(Scans::AtSecond).lte(second(to_ns)))
        .and_where(Expr::col(Scans::AtNs).gte(from_ns))
        .and_where(Expr::col(Scans::AtNs).lt(to_ns));
    sqlite_days(&mut select, from_ns, to_ns);
    select
        .and_where(Expr::col(Scans::DeviceUserId).is_in(users.iter().copied()))
        .group_by_col(Scans::DeviceUserId)
        .order_by(Scans::DeviceUserId, Order::Asc);
    select
}

/// `at_day IN (…)` for the UTC days of `[from_ns, to_ns]` up to [`SQLITE_SEEK_DAYS`] of them,
/// else `at_day BETWEEN …`.
fn sqlite_days(select: &mut SelectStatement, from_ns: i64, to_ns: i64) {
    let day = |ns: i64| ns.div_euclid(NANOS_PER_DAY);
    let (first, last) = (day(from_ns), day(to_ns));
    if last - first < SQLITE_SEEK_DAYS {
        select.and_where(Expr::col(Scans::AtDay).is_in(first..=last));
    } else {
        select.and_where(Expr::col(Scans::AtDay).between(first, last));
    }
}

const NANOS_PER_DAY: i64 = crate::codec::SECONDS_PER_DAY * 1_000_000_000;

/// The select of scans in `[from_ns, to_ns)` without its key conditions, in time order.
fn scans_of_user_in(from_ns: i64, to_ns: i64) -> SelectStatement {
    let mut select = scans_in(from_ns, to_ns);
    by_time(&mut select);
    select
}

/// The select of scans in `[from_ns, to_ns)` without its key conditions or order.
fn scans_in(from_ns: i64, to_ns: i64) -> SelectStatement {
    let second = |ns: i64| ns.div_euclid(1_000_000_000);
    Query::select()
        .columns(SCAN_COLUMNS)
        .from(Scans::Table)
        .and_where(Expr::col(Scans::AtSecond).gte(second(from_ns)))
        .and_where(Expr::col(Scans::AtSecond).lte(second(to_ns)))
        .and_where(Expr::col(Scans::AtNs).gte(from_ns))
        .and_where(Expr::col(Scans::AtNs).lt(to_ns))
        .to_owned()
}

/// Orders by time, then machine id (after any order already given).
fn by_time(select: &mut SelectStatement) {
    select
        .order_by(Scans::AtNs, Order::Asc)
        .order_by(Scans::MachineId, Order::Asc);
}

/// `COUNT(*)` of a table.
pub fn count_all(table: impl sea_query::IntoTableRef) -> SelectStatement {
    Query::select()
        .expr(Func::count(Expr::col(Asterisk)))
        .from(table)
        .to_owned()
}

// ---- employees ----

/// Inserts an employee (code, device user id, department, JSON).
pub fn insert_employee(
    code: &EmployeeCode,
    device_user: &DeviceUserId,
    department: &Department,
    data: String,
) -> InsertStatement {
    Query::insert()
        .into_table(Employees::Table)
        .columns([
            Employees::Code,
            Employees::DeviceUserId,
            Employees::Department,
            Employees::Data,
        ])
        .values_panic([
            text(code.as_str()),
            text(device_user.as_str()),
            text(department.as_str()),
            Expr::value(data),
        ])
        .to_owned()
}

/// Replaces the employee with `code`.
pub fn update_employee(
    code: &EmployeeCode,
    device_user: &DeviceUserId,
    department: &Department,
    data: String,
) -> UpdateStatement {
    Query::update()
        .table(Employees::Table)
        .values([
            (Employees::DeviceUserId, text(device_user.as_str())),
            (Employees::Department, text(department.as_str())),
            (Employees::Data, Expr::value(data)),
        ])
        .and_where(Expr::col(Employees::Code).eq(code.as_str()))
        .to_owned()
}

/// One employee: `data`.
pub fn select_employee(code: &EmployeeCode) -> SelectStatement {
    Query::select()
        .column(Employees::Data)
        .from(Employees::Table)
        .and_where(Expr::col(Employees::Code).eq(code.as_str()))
        .to_owned()
}

/// The employee enrolled as `user`: `data`.
pub fn select_employee_by_device_user(user: &DeviceUserId) -> SelectStatement {
    Query::select()
        .column(Employees::Data)
        .from(Employees::Table)
        .and_where(Expr::col(Employees::DeviceUserId).eq(user.as_str()))
        .to_owned()
}

/// The employees enrolled as the device users `users`: `data` (in no particular order).
pub fn select_employees_by_device_users(users: &[&str]) -> SelectStatement {
    Query::select()
        .column(Employees::Data)
        .from(Employees::Table)
        .and_where(Expr::col(Employees::DeviceUserId).is_in(users.iter().copied()))
        .to_owned()
}

/// The employees with the codes `codes`: `data` (in no particular order).
pub fn select_employees_by_codes(codes: &[&str]) -> SelectStatement {
    Query::select()
        .column(Employees::Data)
        .from(Employees::Table)
        .and_where(Expr::col(Employees::Code).is_in(codes.iter().copied()))
        .to_owned()
}

/// Employees by code, optionally of one department: `data`.
pub fn list_employees(department: Option<&Department>) -> SelectStatement {
    let mut select = Query::select();
    select.column(Employees::Data).from(Employees::Table);
    if let Some(d) = department {
        select.and_where(Expr::col(Employees::Department).eq(d.as_str()));
    }
    select.order_by(Employees::Code, Order::Asc).to_owned()
}

/// `COUNT(*)` of the user accounts linked to `code`.
pub fn count_accounts_of(code: &EmployeeCode) -> SelectStatement {
    count_all(UserAccounts::Table)
        .and_where(Expr::col(UserAccounts::Employee).eq(code.as_str()))
        .to_owned()
}

/// `COUNT(*)` of the leave requests of `code`.
pub fn count_requests_of(code: &EmployeeCode) -> SelectStatement {
    count_all(LeaveRequests::Table)
        .and_where(Expr::col(LeaveRequests::Employee).eq(code.as_str()))
        .to_owned()
}

/// Deletes the daily records of `code` (the foreign key cascades too; this keeps the delete
/// independent of the connection's foreign-key setting).
pub fn delete_records_of(code: &EmployeeCode) -> DeleteStatement {
    Query::delete()
        .from_table(DailyRecords::Table)
        .and_where(Expr::col(DailyRecords::Employee).eq(code.as_str()))
        .to_owned()
}

/// Deletes the employee with `code`.
pub fn delete_employee(code: &EmployeeCode) -> DeleteStatement {
    Query::delete()
        .from_table(Employees::Table)
        .and_where(Expr::col(Employees::Code).eq(code.as_str()))
        .to_owned()
}

// ---- machines ----

/// Inserts a machine (id, JSON).
pub fn insert_machine(id: &MachineId, data: String) -> InsertStatement {
    Query::insert()
        .into_table(Machines::Table)
        .columns([Machines::Id, Machines::Data])
        .values_panic([text(id.as_str()), Expr::value(data)])
        .to_owned()
}

/// Replaces the machine `id`.
pub fn update_machine(id: &MachineId, data: String) -> UpdateStatement {
    Query::update()
        .table(Machines::Table)
        .value(Machines::Data, data)
        .and_where(Expr::col(Machines::Id).eq(id.as_str()))
        .to_owned()
}

/// One machine: `data`.
pub fn select_machine(id: &MachineId) -> SelectStatement {
    Query::select()
        .column(Machines::Data)
        .from(Machines::Table)
        .and_where(Expr::col(Machines::Id).eq(id.as_str()))
        .to_owned()
}

/// Every machine by id: `data`.
pub fn list_machines() -> SelectStatement {
    Query::select()
        .column(Machines::Data)
        .from(Machines::Table)
        .order_by(Machines::Id, Order::Asc)
        .to_owned()
}

/// Deletes the machine `id` (its status goes with it; scans and cursor stay).
pub fn delete_machine(id: &MachineId) -> DeleteStatement {
    Query::delete()
        .from_table(Machines::Table)
        .and_where(Expr::col(Machines::Id).eq(id.as_str()))
        .to_owned()
}

/// Deletes the status of machine `id`.
pub fn delete_machine_status(id: &MachineId) -> DeleteStatement {
    Query::delete()
        .from_table(MachineStatuses::Table)
        .and_where(Expr::col(MachineStatuses::MachineId).eq(id.as_str()))
        .to_owned()
}

/// Inserts or replaces the status of machine `id`.
pub fn upsert_machine_status(id: &MachineId, data: String) -> InsertStatement {
    Query::insert()
        .into_table(MachineStatuses::Table)
        .columns([MachineStatuses::MachineId, MachineStatuses::Data])
        .values_panic([text(id.as_str()), Expr::value(data)])
        .on_conflict(
            OnConflict::column(MachineStatuses::MachineId)
                .update_column(MachineStatuses::Data)
                .to_owned(),
        )
        .to_owned()
}

/// Every status by machine id: `data`.
pub fn list_machine_statuses() -> SelectStatement {
    Query::select()
        .column(MachineStatuses::Data)
        .from(MachineStatuses::Table)
        .order_by(MachineStatuses::MachineId, Order::Asc)
        .to_owned()
}

// ---- daily records ----

/// A daily record as its columns hold it.
#[derive(Debug, Clone)]
pub struct RecordRow {
    /// The employee code.
    pub employee: String,
    /// The work date.
    pub date: NaiveDate,
    /// The status string.
    pub status: String,
    /// The record as JSON.
    pub data: String,
}

/// Inserts or replaces records by (employee, date). The rows must have distinct keys (within one
/// statement PostgreSQL refuses to update a row twice).
pub fn upsert_records(rows: &[RecordRow]) -> StoreResult<InsertStatement> {
    let mut insert = Query::insert();
    insert.into_table(DailyRecords::Table).columns([
        DailyRecords::Employee,
        DailyRecords::Date,
        DailyRecords::Status,
        DailyRecords::Data,
    ]);
    for row in rows {
        insert
            .values([
                text(&row.employee),
                Expr::value(row.date),
                text(&row.status),
                Expr::value(row.data.clone()),
            ])
            .map_err(|e| attendance_core::store::StoreError::Invalid(e.to_string()))?;
    }
    insert.on_conflict(
        OnConflict::columns([DailyRecords::Employee, DailyRecords::Date])
            .update_columns([DailyRecords::Status, DailyRecords::Data])
            .to_owned(),
    );
    Ok(insert)
}

/// One record: `data`.
pub fn select_record(employee: &EmployeeCode, date: NaiveDate) -> SelectStatement {
    Query::select()
        .column(DailyRecords::Data)
        .from(DailyRecords::Table)
        .and_where(Expr::col(DailyRecords::Employee).eq(employee.as_str()))
        .and_where(Expr::col(DailyRecords::Date).eq(date))
        .to_owned()
}

/// Deletes one record.
pub fn delete_record(employee: &EmployeeCode, date: NaiveDate) -> DeleteStatement {
    Query::delete()
        .from_table(DailyRecords::Table)
        .and_where(Expr::col(DailyRecords::Employee).eq(employee.as_str()))
        .and_where(Expr::col(DailyRecords::Date).eq(date))
        .to_owned()
}

fn record_filter(query: &RecordQuery) -> Condition {
    let mut cond = Condition::all();
    if let Some(from) = query.from {
        cond = cond.add(Expr::col(DailyRecords::Date).gte(from));
    }
    if let Some(to) = query.to {
        cond = cond.add(Expr::col(DailyRecords::Date).lte(to));
    }
    if let Some(e) = &query.employee {
        cond = cond.add(Expr::col(DailyRecords::Employee).eq(e.as_str()));
    }
    if let Some(s) = &query.status {
        cond = cond.add(Expr::col(DailyRecords::Status).eq(s.to_string()));
    }
    if let Some(d) = &query.department {
        // The department as the employee is stored now.
        cond = cond.add(
            Expr::col(DailyRecords::Employee).in_subquery(
                Query::select()
                    .column(Employees::Code)
                    .from(Employees::Table)
                    .and_where(Expr::col(Employees::Department).eq(d.as_str()))
                    .to_owned(),
            ),
        );
    }
    cond
}

/// The page of records `query` asks for: `data`.
pub fn query_records(query: &RecordQuery) -> SelectStatement {
    let mut select = Query::select();
    select
        .column(DailyRecords::Data)
        .from(DailyRecords::Table)
        .cond_where(record_filter(query));
    match query.order {
        RecordOrder::DateThenEmployee => select
            .order_by(DailyRecords::Date, Order::Asc)
            .order_by(DailyRecords::Employee, Order::Asc),
        RecordOrder::DateDescThenEmployee => select
            .order_by(DailyRecords::Date, Order::Desc)
            .order_by(DailyRecords::Employee, Order::Asc),
        RecordOrder::EmployeeThenDate => select
            .order_by(DailyRecords::Employee, Order::Asc)
            .order_by(DailyRecords::Date, Order::Asc),
    };
    select
        .limit(to_i64(query.limit) as u64)
        .offset(to_i64(query.offset) as u64)
        .to_owned()
}

/// `COUNT(*)` of the records `query` matches.
pub fn count_records(query: &RecordQuery) -> SelectStatement {
    count_all(DailyRecords::Table)
        .cond_where(record_filter(query))
        .to_owned()
}

/// `status, COUNT(*)` of the records `query` matches, by status.
pub fn count_records_by_status(query: &RecordQuery) -> SelectStatement {
    Query::select()
        .column(DailyRecords::Status)
        .expr(Func::count(Expr::col(Asterisk)))
        .from(DailyRecords::Table)
        .cond_where(record_filter(query))
        .group_by_col(DailyRecords::Status)
        .order_by(DailyRecords::Status, Order::Asc)
        .to_owned()
}

// ---- settings ----

/// The settings: `data`.
pub fn select_settings() -> SelectStatement {
    Query::select()
        .column(Settings::Data)
        .from(Settings::Table)
        .and_where(Expr::col(Settings::Id).eq(1))
        .to_owned()
}

/// Inserts or replaces the settings.
pub fn upsert_settings(data: String) -> InsertStatement {
    Query::insert()
        .into_table(Settings::Table)
        .columns([Settings::Id, Settings::Data])
        .values_panic([Expr::value(1), Expr::value(data)])
        .on_conflict(
            OnConflict::column(Settings::Id)
                .update_column(Settings::Data)
                .to_owned(),
        )
        .to_owned()
}

// ---- holidays ----

/// Inserts a holiday, returning its new `id`.
pub fn insert_holiday(start: NaiveDate, data: String) -> InsertStatement {
    Query::insert()
        .into_table(Holidays::Table)
        .columns([Holidays::Start, Holidays::Data])
        .values_panic([Expr::value(start), Expr::value(data)])
        .returning_col(Holidays::Id)
        .to_owned()
}

/// Replaces holiday `id`.
pub fn update_holiday(id: i64, start: NaiveDate, data: String) -> UpdateStatement {
    Query::update()
        .table(Holidays::Table)
        .values([
            (Holidays::Start, Expr::value(start)),
            (Holidays::Data, Expr::value(data)),
        ])
        .and_where(Expr::col(Holidays::Id).eq(id))
        .to_owned()
}

/// Deletes holiday `id`.
pub fn delete_holiday(id: i64) -> DeleteStatement {
    Query::delete()
        .from_table(Holidays::Table)
        .and_where(Expr::col(Holidays::Id).eq(id))
        .to_owned()
}

/// Holiday `id`: `data`.
pub fn select_holiday(id: i64) -> SelectStatement {
    Query::select()
        .column(Holidays::Data)
        .from(Holidays::Table)
        .and_where(Expr::col(Holidays::Id).eq(id))
        .to_owned()
}

/// Every holiday by start date then id: `id, data`.
pub fn list_holidays() -> SelectStatement {
    Query::select()
        .columns([Holidays::Id, Holidays::Data])
        .from(Holidays::Table)
        .order_by(Holidays::Start, Order::Asc)
        .order_by(Holidays::Id, Order::Asc)
        .to_owned()
}

// ---- leave ----

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
            .map_err(|e| attendance_core::store::StoreError::Invalid(e.to_string()))?;
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
            .map_err(|e| attendance_core::store::StoreError::Invalid(e.to_string()))?;
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

// ---- leave documents ----

/// `COUNT(*)` of leave requests with `id` (0 or 1).
pub fn count_leave_request(id: &str) -> SelectStatement {
    count_all(LeaveRequests::Table)
        .and_where(Expr::col(LeaveRequests::Id).eq(id))
        .to_owned()
}

/// PostgreSQL: locks the leave request `id` until the transaction ends, so adding documents to
/// it runs one transaction at a time: `id` (no row if there is no such request).
pub fn lock_leave_request(id: &str) -> SelectStatement {
    Query::select()
        .column(LeaveRequests::Id)
        .from(LeaveRequests::Table)
        .and_where(Expr::col(LeaveRequests::Id).eq(id))
        .lock(LockType::Update)
        .to_owned()
}

/// `COUNT(*)` of the documents of request `request`.
pub fn count_documents_of(request: &str) -> SelectStatement {
    count_all(LeaveDocuments::Table)
        .and_where(Expr::col(LeaveDocuments::Request).eq(request))
        .to_owned()
}

/// Inserts a document (id, request, metadata JSON, bytes).
pub fn insert_leave_document(
    id: &str,
    request: &str,
    data: String,
    content: Vec<u8>,
) -> InsertStatement {
    Query::insert()
        .into_table(LeaveDocuments::Table)
        .columns([
            LeaveDocuments::Id,
            LeaveDocuments::Request,
            LeaveDocuments::Data,
            LeaveDocuments::Content,
        ])
        .values_panic([
            text(id),
            text(request),
            Expr::value(data),
            Expr::value(content),
        ])
        .to_owned()
}

/// The documents of `request` in the order they were attached: `data`.
pub fn select_documents_of(request: &str) -> SelectStatement {
    Query::select()
        .column(LeaveDocuments::Data)
        .from(LeaveDocuments::Table)
        .and_where(Expr::col(LeaveDocuments::Request).eq(request))
        .order_by(LeaveDocuments::Seq, Order::Asc)
        .to_owned()
}

/// The document `id` of `request`: `data, content`.
pub fn select_document(request: &str, id: &str) -> SelectStatement {
    Query::select()
        .columns([LeaveDocuments::Data, LeaveDocuments::Content])
        .from(LeaveDocuments::Table)
        .and_where(Expr::col(LeaveDocuments::Request).eq(request))
        .and_where(Expr::col(LeaveDocuments::Id).eq(id))
        .to_owned()
}

// ---- accounts ----

/// `COUNT(*)` of employees with `code` (0 or 1).
pub fn count_employee(code: &EmployeeCode) -> SelectStatement {
    count_all(Employees::Table)
        .and_where(Expr::col(Employees::Code).eq(code.as_str()))
        .to_owned()
}

/// `COUNT(*)` of machines with `id` (0 or 1).
pub fn count_machine(id: &MachineId) -> SelectStatement {
    count_all(Machines::Table)
        .and_where(Expr::col(Machines::Id).eq(id.as_str()))
        .to_owned()
}

/// Inserts an account (username, employee, JSON).
pub fn insert_account(
    username: &str,
    employee: Option<&EmployeeCode>,
    data: String,
) -> InsertStatement {
    Query::insert()
        .into_table(UserAccounts::Table)
        .columns([
            UserAccounts::Username,
            UserAccounts::Employee,
            UserAccounts::Data,
        ])
        .values_panic([
            text(username),
            Expr::value(employee.map(|e| e.as_str().to_owned())),
            Expr::value(data),
        ])
        .to_owned()
}

/// Replaces the account `username`.
pub fn update_account(
    username: &str,
    employee: Option<&EmployeeCode>,
    data: String,
) -> UpdateStatement {
    Query::update()
        .table(UserAccounts::Table)
        .values([
            (
                UserAccounts::Employee,
                Expr::value(employee.map(|e| e.as_str().to_owned())),
            ),
            (UserAccounts::Data, Expr::value(data)),
        ])
        .and_where(Expr::col(UserAccounts::Username).eq(username))
        .to_owned()
}

/// One account: `data`.
pub fn select_account(username: &str) -> SelectStatement {
    Query::select()
        .column(UserAccounts::Data)
        .from(UserAccounts::Table)
        .and_where(Expr::col(UserAccounts::Username).eq(username))
        .to_owned()
}

/// Every account by username: `data`.
pub fn list_accounts() -> SelectStatement {
    Query::select()
        .column(UserAccounts::Data)
        .from(UserAccounts::Table)
        .order_by(UserAccounts::Username, Order::Asc)
        .to_owned()
}

/// Deletes the account `username`.
pub fn delete_account(username: &str) -> DeleteStatement {
    Query::delete()
        .from_table(UserAccounts::Table)
        .and_where(Expr::col(UserAccounts::Username).eq(username))
        .to_owned()
}

// ---- migrations ----

/// The versions already applied: `version`.
pub fn select_applied_migrations() -> SelectStatement {
    Query::select()
        .column(SchemaMigrations::Version)
        .from(SchemaMigrations::Table)
        .to_owned()
}

/// Records a migration as applied.
pub fn insert_applied_migration(version: i64, description: &str) -> InsertStatement {
    Query::insert()
        .into_table(SchemaMigrations::Table)
        .columns([SchemaMigrations::Version, SchemaMigrations::Description])
        .values_panic([Expr::value(version), text(description)])
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_query::{PostgresQueryBuilder, SqliteQueryBuilder};

    #[test]
    fn chunk_sizes_cover_every_row_with_few_distinct_sizes() {
        for len in [0, 1, 7, 511, 512, 513, 1000, 5000] {
            let sizes = chunk_sizes(len);
            assert_eq!(sizes.iter().sum::<usize>(), len);
            assert!(
                sizes
                    .iter()
                    .all(|s| s.is_power_of_two() && *s <= SCAN_CHUNK)
            );
        }
    }

    #[test]
    fn copy_text_escapes_every_special_byte_and_tells_empty_from_null() {
        let row = |raw: Option<&str>| ScanRow {
            machine_id: "M\\1".into(),
            device_user_id: "7".into(),
            at_second: -1,
            at_ns: -999_999_999,
            punch_state: 1,
            verify_mode: 15,
            raw: raw.map(str::to_owned),
        };
        let text = pg_copy_text(&[row(Some("a\tb\\c\r\nd")), row(Some("")), row(None)]);
        let text = String::from_utf8(text).unwrap_or_default();
        assert_eq!(
            text,
            "M\\\\1\t7\t-1\t-999999999\t1\t15\ta\\tb\\\\c\\r\\nd\n\
             M\\\\1\t7\t-1\t-999999999\t1\t15\t\n\
             M\\\\1\t7\t-1\t-999999999\t1\t15\t\\N\n"
        );
    }

    #[test]
    fn sqlite_seeks_each_day_of_a_short_range_and_floors_days_before_1970() {
        let user = DeviceUserId::parse("7").unwrap_or_else(|_| unreachable!());
        let ns = |s: i64| s * 1_000_000_000;
        // From one second before 1970 (day -1) to the middle of day 1.
        let sql = sqlite_select_scans_of_user(&user, ns(-1), ns(86_400 + 5))
            .to_string(SqliteQueryBuilder);
        assert!(sql.contains(r#""at_day" IN (-1, 0, 1)"#), "{sql}");
        assert!(sql.contains(r#""device_user_id" = '7'"#), "{sql}");
        let long =
            sqlite_select_scans_of_user(&user, 0, ns(86_400 * 100)).to_string(SqliteQueryBuilder);
        assert!(long.contains(r#""at_day" BETWEEN 0 AND 100"#), "{long}");
        let row = ScanRow {
            at_second: -1,
            ..ScanRow::default()
        };
        assert_eq!(row.at_day(), -1);
        let insert = sqlite_insert_scans(&[row], true)
            .unwrap_or_else(|_| unreachable!())
            .to_string(SqliteQueryBuilder);
        assert!(
            insert.contains(
                r#"ON CONFLICT ("at_day", "device_user_id", "at_second", "machine_id") DO NOTHING"#
            ),
            "{insert}"
        );
    }

    #[test]
    fn bulk_scan_reads_seek_each_day_and_user_and_order_by_user_then_time() {
        let ns = |s: i64| s * 1_000_000_000;
        let sql = sqlite_select_scans_of_users(&["7", "12"], ns(0), ns(86_400 + 5))
            .to_string(SqliteQueryBuilder);
        assert!(sql.contains(r#""at_day" IN (0, 1)"#), "{sql}");
        assert!(sql.contains(r#""device_user_id" IN ('7', '12')"#), "{sql}");
        assert!(
            sql.ends_with(r#"GROUP BY "device_user_id" ORDER BY "device_user_id" ASC"#),
            "{sql}"
        );
        assert!(
            sql.starts_with(r#"SELECT "device_user_id", json_group_array("#),
            "{sql}"
        );
        let pg = select_scans_of_users(&["7"], 0, ns(10)).to_string(PostgresQueryBuilder);
        assert!(pg.ends_with(r#""device_user_id" IN ('7')"#), "{pg}");
        assert!(!pg.contains("at_day"), "{pg}");
        let requests = select_requests_of_employees(&["E1", "E2"]).to_string(PostgresQueryBuilder);
        assert!(
            requests
                .ends_with(r#"WHERE "employee" IN ('E1', 'E2') ORDER BY "employee" ASC, "id" ASC"#),
            "{requests}"
        );
    }

    #[test]
    fn statements_render_for_both_backends() {
        let user = DeviceUserId::parse("7").unwrap_or_else(|_| unreachable!());
        let select = select_scans_of_user(&user, 0, 10);
        assert!(
            select
                .to_string(SqliteQueryBuilder)
                .contains(r#"ORDER BY "at_ns" ASC"#)
        );
        let bump = bump_leave_version(
            &EmployeeCode::parse("E1").unwrap_or_else(|_| unreachable!()),
            3,
        );
        assert_eq!(
            bump.to_string(PostgresQueryBuilder),
            r#"UPDATE "att_leave_versions" SET "version" = "version" + 1 WHERE "employee" = 'E1' AND "version" = 3"#
        );
    }
}
