//! [`EmployeeStore`](attendance_core::store::EmployeeStore) over a [`SqlBackend`].

use attendance_core::employee::{Department, DeviceUserId, Employee, EmployeeCode};
use attendance_core::store::{StoreError, StoreResult};

use super::{fetch_count, json_rows, not_found, unique_keys};
use crate::backend::{On, SqlBackend, SqlRow};
use crate::codec::{from_json, to_json};
use crate::stmt;

/// [`EmployeeStore::create_employee`](attendance_core::store::EmployeeStore::create_employee).
pub async fn create_employee<B: SqlBackend>(store: &B, employee: &Employee) -> StoreResult<()> {
    let statement = stmt::insert_employee(
        &employee.employee_id,
        &employee.device_user_id,
        &employee.department,
        to_json(employee)?,
    );
    store
        .execute(On::Write, &statement, "create an employee")
        .await?;
    Ok(())
}

/// [`EmployeeStore::update_employee`](attendance_core::store::EmployeeStore::update_employee).
pub async fn update_employee<B: SqlBackend>(store: &B, employee: &Employee) -> StoreResult<()> {
    let statement = stmt::update_employee(
        &employee.employee_id,
        &employee.device_user_id,
        &employee.department,
        to_json(employee)?,
    );
    match store
        .execute(On::Write, &statement, "update an employee")
        .await?
    {
        0 => Err(not_found("employee", &employee.employee_id)),
        _ => Ok(()),
    }
}

/// [`EmployeeStore::employee`](attendance_core::store::EmployeeStore::employee).
pub async fn employee<B: SqlBackend>(store: &B, code: &EmployeeCode) -> StoreResult<Employee> {
    let what = "read an employee";
    match store
        .fetch_optional(On::Read, &stmt::select_employee(code), what)
        .await?
    {
        Some(row) => from_json("employee", &row.text(0, what)?),
        None => Err(not_found("employee", code)),
    }
}

/// [`EmployeeStore::employee_by_device_user`](attendance_core::store::EmployeeStore::employee_by_device_user).
pub async fn employee_by_device_user<B: SqlBackend>(
    store: &B,
    user: &DeviceUserId,
) -> StoreResult<Option<Employee>> {
    let what = "read an employee by device user";
    let statement = stmt::select_employee_by_device_user(user);
    match store.fetch_optional(On::Read, &statement, what).await? {
        Some(row) => Ok(Some(from_json("employee", &row.text(0, what)?)?)),
        None => Ok(None),
    }
}

/// [`EmployeeStore::employees_by_device_users`](attendance_core::store::EmployeeStore::employees_by_device_users):
/// one read per chunk of [`SqlBackend::key_chunks`].
pub async fn employees_by_device_users<B: SqlBackend>(
    store: &B,
    users: &[DeviceUserId],
) -> StoreResult<Vec<Employee>> {
    let what = "read employees by device user";
    let users = unique_keys(users.iter().map(DeviceUserId::as_str));
    let mut employees: Vec<Employee> = Vec::new();
    for chunk in store.key_chunks(&users) {
        let statement = stmt::select_employees_by_device_users(chunk);
        let rows = store.fetch_all(On::Read, &statement, what).await?;
        employees.extend(json_rows::<Employee>(&rows, "employee")?);
    }
    employees.sort_by(|a, b| a.employee_id.cmp(&b.employee_id));
    Ok(employees)
}

/// [`EmployeeStore::employees_by_codes`](attendance_core::store::EmployeeStore::employees_by_codes):
/// one read per chunk of [`SqlBackend::key_chunks`].
pub async fn employees_by_codes<B: SqlBackend>(
    store: &B,
    codes: &[EmployeeCode],
) -> StoreResult<Vec<Employee>> {
    let what = "read employees by code";
    let codes = unique_keys(codes.iter().map(EmployeeCode::as_str));
    let mut employees: Vec<Employee> = Vec::new();
    for chunk in store.key_chunks(&codes) {
        let statement = stmt::select_employees_by_codes(chunk);
        let rows = store.fetch_all(On::Read, &statement, what).await?;
        employees.extend(json_rows::<Employee>(&rows, "employee")?);
    }
    employees.sort_by(|a, b| a.employee_id.cmp(&b.employee_id));
    Ok(employees)
}

/// [`EmployeeStore::list_employees`](attendance_core::store::EmployeeStore::list_employees).
pub async fn list_employees<B: SqlBackend>(
    store: &B,
    department: Option<Department>,
) -> StoreResult<Vec<Employee>> {
    let statement = stmt::list_employees(department.as_ref());
    let rows = store
        .fetch_all(On::Read, &statement, "list employees")
        .await?;
    json_rows(&rows, "employee")
}

/// [`EmployeeStore::delete_employee`](attendance_core::store::EmployeeStore::delete_employee):
/// refused while an account or leave requests refer to the employee, their daily records go
/// with them.
pub async fn delete_employee<B: SqlBackend>(store: &B, code: &EmployeeCode) -> StoreResult<()> {
    let what = "delete an employee";
    let mut tx = store.begin_write().await?;
    if fetch_count(store, On::Tx(&mut tx), &stmt::count_employee(code), what).await? == 0 {
        return Err(not_found("employee", code));
    }
    if fetch_count(store, On::Tx(&mut tx), &stmt::count_accounts_of(code), what).await? > 0
        || fetch_count(store, On::Tx(&mut tx), &stmt::count_requests_of(code), what).await? > 0
    {
        return Err(StoreError::Conflict(format!(
            "employee {code} still has a user account, leave requests or corrections"
        )));
    }
    store
        .execute(On::Tx(&mut tx), &stmt::delete_records_of(code), what)
        .await?;
    match store
        .execute(On::Tx(&mut tx), &stmt::delete_employee(code), what)
        .await
    {
        // An account or request linked in between by a concurrent transaction.
        Err(StoreError::Invalid(why)) => return Err(StoreError::Conflict(why)),
        other => other?,
    };
    B::commit(tx, what).await
}
