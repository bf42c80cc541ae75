//! Employees, and the counts that guard their deletion.

use attendance_core::employee::{Department, DeviceUserId, EmployeeCode};
use sea_query::{
    DeleteStatement, Expr, ExprTrait, InsertStatement, Order, Query, SelectStatement,
    UpdateStatement,
};

use super::{count_all, text};
use crate::schema::{DailyRecords, Employees, LeaveRequests, UserAccounts};

/// `COUNT(*)` of employees with `code` (0 or 1).
pub fn count_employee(code: &EmployeeCode) -> SelectStatement {
    count_all(Employees::Table)
        .and_where(Expr::col(Employees::Code).eq(code.as_str()))
        .to_owned()
}

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
