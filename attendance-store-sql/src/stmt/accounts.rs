//! User accounts.

use attendance_core::employee::EmployeeCode;
use sea_query::{
    DeleteStatement, Expr, ExprTrait, InsertStatement, Order, Query, SelectStatement,
    UpdateStatement,
};

use super::text;
use crate::schema::UserAccounts;

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
