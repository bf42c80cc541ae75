//! User accounts: round trip and typed clashes.

use super::fixtures::add_employees;
use super::{CheckResult, fail};
use crate::access::Role;
use crate::employee::EmployeeCode;
use crate::store::{Store, StoreError, UserAccount};

pub(super) async fn accounts_round_trip_and_clash_typed<S: Store + ?Sized>(
    store: &S,
) -> CheckResult {
    add_employees(store, &[("EMP001", "Sewing")]).await?;
    let mut account = UserAccount {
        username: "rahim".into(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo".into(),
        role: Role::Employee,
        employee: EmployeeCode::parse("EMP001").ok(),
        active: true,
        // The revocation counter and the creation time are kept like the rest.
        token_version: 2,
        created_at: chrono::DateTime::from_timestamp(1_796_600_000, 0),
    };
    store.create_account(&account).await.map_err(fail)?;
    ensure!(
        matches!(
            store.create_account(&account).await,
            Err(StoreError::Conflict(_))
        ),
        "a taken username must be a Conflict"
    );
    let stray = UserAccount {
        username: "ghost".into(),
        employee: EmployeeCode::parse("EMP404").ok(),
        ..account.clone()
    };
    ensure!(
        matches!(
            store.create_account(&stray).await,
            Err(StoreError::Invalid(_))
        ),
        "an account of an unknown employee must be Invalid"
    );
    let admin = UserAccount {
        username: "admin".into(),
        role: Role::SuperAdmin,
        employee: None,
        ..account.clone()
    };
    store.create_account(&admin).await.map_err(fail)?;
    account.role = Role::DepartmentHead;
    account.active = false;
    account.token_version += 1;
    store.update_account(&account).await.map_err(fail)?;
    ensure!(
        store.account("rahim").await.map_err(fail)? == account,
        "update not read back"
    );
    ensure!(
        store.list_accounts().await.map_err(fail)? == [admin.clone(), account.clone()],
        "accounts by username"
    );
    ensure!(
        matches!(
            store.update_account(&stray).await,
            Err(StoreError::Invalid(_) | StoreError::NotFound { .. })
        ),
        "updating a missing account must fail typed"
    );
    store.delete_account("admin").await.map_err(fail)?;
    ensure!(
        matches!(
            store.account("admin").await,
            Err(StoreError::NotFound { .. })
        ),
        "a deleted account must be NotFound"
    );
    Ok(())
}
