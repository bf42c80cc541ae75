//! Holidays.

use chrono::NaiveDate;
use sea_query::{
    DeleteStatement, Expr, ExprTrait, InsertStatement, Order, Query, SelectStatement,
    UpdateStatement,
};

use crate::schema::Holidays;

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
