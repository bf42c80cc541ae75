//! Machines and their statuses.

use attendance_core::scan::MachineId;
use sea_query::{
    DeleteStatement, Expr, ExprTrait, InsertStatement, OnConflict, Order, Query, SelectStatement,
    UpdateStatement,
};

use super::{count_all, text};
use crate::schema::{MachineStatuses, Machines};

/// `COUNT(*)` of machines with `id` (0 or 1).
pub fn count_machine(id: &MachineId) -> SelectStatement {
    count_all(Machines::Table)
        .and_where(Expr::col(Machines::Id).eq(id.as_str()))
        .to_owned()
}

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
