//! Scans and machine cursors: the cursor upsert and read, and the range reads of scans.

use attendance_core::employee::DeviceUserId;
use attendance_core::scan::MachineId;
use sea_query::{Expr, ExprTrait, InsertStatement, OnConflict, Order, Query, SelectStatement};

use super::text;
use crate::schema::{MachineCursors, Scans};

/// The columns an insert of scans writes, in [`ScanRow`](crate::codec::ScanRow) order.
pub const SCAN_COLUMNS: [Scans; 7] = [
    Scans::MachineId,
    Scans::DeviceUserId,
    Scans::AtSecond,
    Scans::AtNs,
    Scans::PunchState,
    Scans::VerifyMode,
    Scans::Raw,
];

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
/// columns in [`ScanRow`](crate::codec::ScanRow) order. The bounds on `at_second` let
/// PostgreSQL's primary key serve the range.
pub fn select_scans_of_user(user: &DeviceUserId, from_ns: i64, to_ns: i64) -> SelectStatement {
    let mut select = scans_of_user_in(from_ns, to_ns);
    select.and_where(Expr::col(Scans::DeviceUserId).eq(user.as_str()));
    select
}

/// The scans of the device users `users` with `from_ns <= at_ns < to_ns`, in no particular
/// order (the caller sorts: the server would sort a month of a chunk's scans on disk, beyond
/// its default `work_mem`): columns in [`ScanRow`](crate::codec::ScanRow) order. PostgreSQL's
/// primary key serves it with one range per user.
pub fn select_scans_of_users(users: &[&str], from_ns: i64, to_ns: i64) -> SelectStatement {
    let mut select = scans_in(from_ns, to_ns);
    select.and_where(Expr::col(Scans::DeviceUserId).is_in(users.iter().copied()));
    select
}

/// The select of scans in `[from_ns, to_ns)` without its key conditions, in time order.
pub fn scans_of_user_in(from_ns: i64, to_ns: i64) -> SelectStatement {
    let mut select = scans_in(from_ns, to_ns);
    by_time(&mut select);
    select
}

/// The select of scans in `[from_ns, to_ns)` without its key conditions or order.
pub fn scans_in(from_ns: i64, to_ns: i64) -> SelectStatement {
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
