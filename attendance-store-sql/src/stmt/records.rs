//! Daily records: the shared upsert, single reads and deletes, and the filtered queries.

use attendance_core::employee::EmployeeCode;
use attendance_core::store::{RecordOrder, RecordQuery, StoreError, StoreResult};
use chrono::NaiveDate;
use sea_query::{
    Asterisk, Condition, DeleteStatement, Expr, ExprTrait, Func, InsertStatement, OnConflict,
    Order, Query, SelectStatement,
};

use super::{count_all, text};
use crate::codec::to_i64;
use crate::schema::{Backend, DailyRecords, Employees};

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
    /// The [`TALLY_FIELDS`] of the record as a JSON array.
    pub tally: String,
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
        DailyRecords::Tally,
    ]);
    for row in rows {
        insert
            .values([
                text(&row.employee),
                Expr::value(row.date),
                text(&row.status),
                Expr::value(row.data.clone()),
                Expr::value(row.tally.clone()),
            ])
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
    }
    insert.on_conflict(
        OnConflict::columns([DailyRecords::Employee, DailyRecords::Date])
            .update_columns([
                DailyRecords::Status,
                DailyRecords::Data,
                DailyRecords::Tally,
            ])
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
    select.column(DailyRecords::Data);
    ordered_page(select, query)
}

/// `employee`, `status` and a JSON array of the [`TALLY_FIELDS`] in that order: what
/// [`DayTally`](attendance_core::daily::DayTally) holds, as the record's `tally` column keeps
/// it (written with the record since migration 9, which filled it for the records before), so
/// the record is never decoded whole. Should a row lack it, the database reads the fields out
/// of the stored JSON in one pass (SQLite's `json_extract` of several paths; PostgreSQL's
/// `json_build_array`). The page and order are `query`'s, as [`query_records`] reads them.
pub fn query_record_tallies(query: &RecordQuery, backend: Backend) -> SelectStatement {
    let fields = match backend {
        Backend::Sqlite => {
            let paths: Vec<String> = TALLY_FIELDS.iter().map(|f| format!("'$.{f}'")).collect();
            format!(r#"json_extract("data", {})"#, paths.join(", "))
        }
        Backend::Postgres => {
            let values: Vec<String> = TALLY_FIELDS
                .iter()
                .map(|f| format!(r#"("data"::json -> '{f}')"#))
                .collect();
            format!("json_build_array({})::text", values.join(", "))
        }
    };
    let mut select = Query::select();
    select
        .column(DailyRecords::Employee)
        .column(DailyRecords::Status)
        .expr(Expr::cust(format!(r#"COALESCE("tally", {fields})"#)));
    ordered_page(select, query)
}

/// The JSON fields [`query_record_tallies`] reads, in the order of its array: the date, the
/// four durations, then the six flags of [`DayTally`](attendance_core::daily::DayTally).
pub const TALLY_FIELDS: [&str; 11] = [
    "date",
    "working_seconds",
    "overtime_seconds",
    "extra_overtime_seconds",
    "late_minutes",
    "worked_on_holiday",
    "worked_on_weekend",
    "snacks_eligible",
    "night_bill_eligible",
    "half_day_leave",
    "window_closed",
];

/// `select` over the records `query` matches, in its order, its page.
fn ordered_page(mut select: SelectStatement, query: &RecordQuery) -> SelectStatement {
    select
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
