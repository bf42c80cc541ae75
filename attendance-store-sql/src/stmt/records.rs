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
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
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
    select.column(DailyRecords::Data);
    ordered_page(select, query)
}

/// The fields of [`TALLY_FIELDS`], in that order, after `employee` and `status`: what
/// [`DayTally`](attendance_core::daily::DayTally) holds, read out of the stored JSON by the
/// database (`date` as `YYYY-MM-DD` text, the numbers as integers, the flags as 0 or 1), so
/// the record is never decoded whole. The page and order are `query`'s, as
/// [`query_records`] reads them.
pub fn query_record_tallies(query: &RecordQuery, backend: Backend) -> SelectStatement {
    let mut select = Query::select();
    select
        .column(DailyRecords::Employee)
        .column(DailyRecords::Status);
    for (field, kind) in TALLY_FIELDS {
        select.expr(Expr::cust(json_field(backend, field, kind)));
    }
    ordered_page(select, query)
}

/// How a tally field is stored in the record's JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TallyField {
    /// A string.
    Text,
    /// An integer.
    Int,
    /// `true` or `false`, read as 1 or 0.
    Flag,
}

/// The JSON fields [`query_record_tallies`] reads, in column order (after `employee` and
/// `status`).
pub const TALLY_FIELDS: [(&str, TallyField); 11] = [
    ("date", TallyField::Text),
    ("working_seconds", TallyField::Int),
    ("overtime_seconds", TallyField::Int),
    ("extra_overtime_seconds", TallyField::Int),
    ("late_minutes", TallyField::Int),
    ("worked_on_holiday", TallyField::Flag),
    ("worked_on_weekend", TallyField::Flag),
    ("snacks_eligible", TallyField::Flag),
    ("night_bill_eligible", TallyField::Flag),
    ("half_day_leave", TallyField::Flag),
    ("window_closed", TallyField::Flag),
];

/// The SQL reading `field` of the `data` column. SQLite's `->>` gives SQL values (a JSON
/// boolean as 1 or 0); PostgreSQL's gives text from the column cast to `json` (parsed lazily,
/// not into `jsonb`), cast to `bigint`.
fn json_field(backend: Backend, field: &str, kind: TallyField) -> String {
    match (backend, kind) {
        (Backend::Sqlite, _) => format!(r#"("data" ->> '{field}')"#),
        (Backend::Postgres, TallyField::Text) => format!(r#"("data"::json ->> '{field}')"#),
        (Backend::Postgres, TallyField::Int) => {
            format!(r#"("data"::json ->> '{field}')::bigint"#)
        }
        (Backend::Postgres, TallyField::Flag) => {
            format!(r#"("data"::json ->> '{field}')::boolean::int::bigint"#)
        }
    }
}

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
