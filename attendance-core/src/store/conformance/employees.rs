//! Employees: round trip, typed clashes, and no deletion while something refers to them.

use super::fixtures::{add_employees, date, employee, id, record};
use super::{CheckResult, fail};
use crate::access::Role;
use crate::employee::{Department, EmployeeCode};
use crate::shift::ShiftId;
use crate::status::AttendanceStatus;
use crate::store::{Store, StoreError, UserAccount};

pub(super) async fn employees_round_trip_and_clash_typed<S: Store + ?Sized>(
    store: &S,
) -> CheckResult {
    let a = employee("EMP001", "Sewing")?;
    let b = employee("EMP002", "Cutting")?;
    store.create_employee(&a).await.map_err(fail)?;
    store.create_employee(&b).await.map_err(fail)?;
    ensure!(
        matches!(
            store.create_employee(&a).await,
            Err(StoreError::Conflict(_))
        ),
        "a second EMP001 must be a Conflict"
    );
    let mut same_pin = employee("EMP003", "Sewing")?;
    same_pin.device_user_id = a.device_user_id.clone();
    ensure!(
        matches!(
            store.create_employee(&same_pin).await,
            Err(StoreError::Conflict(_))
        ),
        "a taken device user id must be a Conflict"
    );
    ensure!(
        store.employee(&a.employee_id).await.map_err(fail)? == a,
        "read back differs"
    );
    let mut moved = a.clone();
    moved.department = id(Department::parse("Finishing"))?;
    moved.shift = Some(id(ShiftId::parse("NIGHT"))?);
    moved.joined_on = chrono::NaiveDate::from_ymd_opt(2026, 3, 15);
    store.update_employee(&moved).await.map_err(fail)?;
    ensure!(
        store.employee(&a.employee_id).await.map_err(fail)? == moved,
        "update not read back"
    );
    let sewing = store
        .list_employees(Some(id(Department::parse("Finishing"))?))
        .await
        .map_err(fail)?;
    ensure!(sewing == [moved.clone()], "department filter: {sewing:?}");
    let all = store.list_employees(None).await.map_err(fail)?;
    ensure!(
        all.len() == 2 && all[0].employee_id < all[1].employee_id,
        "all, by code: {all:?}"
    );
    let by_pin = store
        .employee_by_device_user(&b.device_user_id)
        .await
        .map_err(fail)?;
    ensure!(by_pin.as_ref() == Some(&b), "by device user: {by_pin:?}");
    store.delete_employee(&b.employee_id).await.map_err(fail)?;
    let missing = id(EmployeeCode::parse("EMP999"))?;
    ensure!(
        matches!(
            store.employee(&b.employee_id).await,
            Err(StoreError::NotFound { .. })
        ),
        "deleted employee must be NotFound"
    );
    ensure!(
        matches!(
            store.delete_employee(&missing).await,
            Err(StoreError::NotFound { .. })
        ),
        "deleting a missing employee must be NotFound"
    );
    ensure!(
        matches!(
            store.update_employee(&employee("EMP999", "X")?).await,
            Err(StoreError::NotFound { .. })
        ),
        "updating a missing employee must be NotFound"
    );
    Ok(())
}

pub(super) async fn employees_in_use_cannot_be_deleted<S: Store + ?Sized>(
    store: &S,
) -> CheckResult {
    let code = id(EmployeeCode::parse("EMP001"))?;
    add_employees(store, &[("EMP001", "Sewing")]).await?;
    store
        .upsert_records(&[record("EMP001", date(11, 2), AttendanceStatus::Absent, 0)?])
        .await
        .map_err(fail)?;
    let account = UserAccount {
        username: "rahim".into(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo".into(),
        role: Role::Employee,
        employee: Some(code.clone()),
        active: true,
        token_version: 0,
        created_at: None,
    };
    store.create_account(&account).await.map_err(fail)?;
    ensure!(
        matches!(
            store.delete_employee(&code).await,
            Err(StoreError::Conflict(_))
        ),
        "an employee with an account must not be deleted"
    );
    store.delete_account("rahim").await.map_err(fail)?;
    store.delete_employee(&code).await.map_err(fail)?;
    ensure!(
        store
            .record(&code, date(11, 2))
            .await
            .map_err(fail)?
            .is_none(),
        "an employee's daily records go with them"
    );
    add_employees(store, &[("EMP001", "Sewing")]).await?;
    ensure!(
        store
            .record(&code, date(11, 2))
            .await
            .map_err(fail)?
            .is_none(),
        "a re-created employee starts with no records"
    );
    Ok(())
}
