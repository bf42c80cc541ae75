//! [`UserAccountStore`](attendance_core::store::UserAccountStore) over a [`SqlBackend`].

use attendance_core::store::{StoreError, StoreResult, UserAccount};

use super::{fetch_count, json_rows, not_found, unknown_account_employee};
use crate::backend::{On, SqlBackend, SqlRow};
use crate::codec::{from_json, to_json};
use crate::stmt;

/// [`UserAccountStore::create_account`](attendance_core::store::UserAccountStore::create_account).
pub async fn create_account<B: SqlBackend>(store: &B, account: &UserAccount) -> StoreResult<()> {
    let statement = stmt::insert_account(
        &account.username,
        account.employee.as_ref(),
        to_json(account)?,
    );
    match store
        .execute(On::Write, &statement, "create a user account")
        .await
    {
        Err(StoreError::Invalid(_)) => Err(unknown_account_employee(account)),
        other => other.map(|_| ()),
    }
}

/// [`UserAccountStore::update_account`](attendance_core::store::UserAccountStore::update_account).
pub async fn update_account<B: SqlBackend>(store: &B, account: &UserAccount) -> StoreResult<()> {
    let what = "update a user account";
    let mut tx = store.begin_write().await?;
    if let Some(code) = &account.employee
        && fetch_count(store, On::Tx(&mut tx), &stmt::count_employee(code), what).await? == 0
    {
        return Err(unknown_account_employee(account));
    }
    let statement = stmt::update_account(
        &account.username,
        account.employee.as_ref(),
        to_json(account)?,
    );
    if store.execute(On::Tx(&mut tx), &statement, what).await? == 0 {
        return Err(not_found("user account", &account.username));
    }
    B::commit(tx, what).await
}

/// [`UserAccountStore::account`](attendance_core::store::UserAccountStore::account).
pub async fn account<B: SqlBackend>(store: &B, username: &str) -> StoreResult<UserAccount> {
    let what = "read a user account";
    match store
        .fetch_optional(On::Read, &stmt::select_account(username), what)
        .await?
    {
        Some(row) => from_json("user account", &row.text(0, what)?),
        None => Err(not_found("user account", username)),
    }
}

/// [`UserAccountStore::list_accounts`](attendance_core::store::UserAccountStore::list_accounts).
pub async fn list_accounts<B: SqlBackend>(store: &B) -> StoreResult<Vec<UserAccount>> {
    let rows = store
        .fetch_all(On::Read, &stmt::list_accounts(), "list user accounts")
        .await?;
    json_rows(&rows, "user account")
}

/// [`UserAccountStore::delete_account`](attendance_core::store::UserAccountStore::delete_account).
pub async fn delete_account<B: SqlBackend>(store: &B, username: &str) -> StoreResult<()> {
    let statement = stmt::delete_account(username);
    match store
        .execute(On::Write, &statement, "delete a user account")
        .await?
    {
        0 => Err(not_found("user account", username)),
        _ => Ok(()),
    }
}
