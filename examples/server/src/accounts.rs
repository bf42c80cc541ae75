//! Logins as a resource: creating, changing and deactivating accounts, and changing one's own
//! password, with core's rules ([`attendance_core::account`]) applied to the store. The API
//! (`/api/auth/users/`, `/api/auth/password/`) and the command line (`attendance-server users …`)
//! both go through [`Accounts`], so the two refuse the same things with the same messages.
//!
//! - Who may: a super admin manages every account; HR staff manage `employee` and
//!   `department_head` accounts only; nobody else manages accounts. The command line acts as a
//!   super admin (whoever can run it can read the data directory or the database anyway).
//! - A password has at least 10 characters and is not the username; an `employee` or
//!   `department_head` account is linked to an existing employee.
//! - No change leaves the site without an active super admin.
//! - Revocation: a deactivation, a password change or reset, and a change of role or linked
//!   employee add one to the account's `token_version`. Tokens carry the version they were issued
//!   with, and a token whose version is not the account's is refused (see [`crate::auth`]).
//!
//! - Audit: every change is appended to the audit trail once stored, by the actor's name (a
//!   username, or [`crate::audit::cli_actor`] for the command line): `account_created`,
//!   `account_updated` (role, employee link, reactivation), `account_deactivated`,
//!   `password_reset` (someone else set it) and `password_changed` (one's own), target
//!   `account:{username}`, before and after as `{role, employee_id, active}`. No entry holds a
//!   password or its hash.
//!
//! Concurrency: within one server, account changes are serialised by a mutex, so two requests
//! cannot both demote "the other" of two super admins. Two processes on one database (two
//! servers on one PostgreSQL, or the command line beside a running server) are not serialised
//! with each other: the last-super-admin check and the write could still race there.

use std::sync::Arc;

use attendance_core::ValidationError;
use attendance_core::access::Role;
use attendance_core::account::{
    LastSuperAdmin, PasswordRule, check_link, check_password, keeps_a_super_admin,
    may_manage_account, parse_username,
};
use attendance_core::audit::{AuditAction, NewAuditEntry};
use attendance_core::employee::EmployeeCode;
use attendance_core::service::AttendanceService;
use attendance_core::store::{Store, StoreError, UserAccount};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::auth::{hash_password, verify_password};

/// Why an account operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// The caller may not manage this account, or may not give this role.
    #[error("{0}")]
    Forbidden(String),
    /// No account has this username.
    #[error("user account {0} was not found")]
    NotFound(String),
    /// A field breaks a rule; the message names the field.
    #[error("{message}")]
    Invalid {
        /// The field at fault (`username`, `password`, `role`, `employee_id`, …).
        field: &'static str,
        /// What is wrong, for a person.
        message: String,
    },
    /// The username is taken.
    #[error("username {0} is taken")]
    Taken(String),
    /// The change would leave the site without an active super admin.
    #[error(transparent)]
    LastSuperAdmin(#[from] LastSuperAdmin),
    /// The current password given for a password change is wrong.
    #[error("current_password is wrong")]
    WrongPassword,
    /// The store failed (or hashing did).
    #[error("{0}")]
    Failed(String),
}

impl AccountError {
    fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            message: message.into(),
        }
    }
}

impl From<ValidationError> for AccountError {
    fn from(e: ValidationError) -> Self {
        Self::invalid(validation_field(&e), e.to_string())
    }
}

impl From<StoreError> for AccountError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { key, .. } => Self::NotFound(key),
            StoreError::Conflict(message) => Self::Failed(message),
            StoreError::Invalid(message) => Self::invalid("employee_id", message),
            e @ StoreError::Backend { .. } => Self::Failed(match std::error::Error::source(&e) {
                Some(source) => format!("{e}: {source}"),
                None => e.to_string(),
            }),
        }
    }
}

/// The field a validation error is about.
pub fn validation_field(e: &ValidationError) -> &'static str {
    match e {
        ValidationError::Empty { field }
        | ValidationError::TooLong { field, .. }
        | ValidationError::Invalid { field, .. }
        | ValidationError::OutOfRange { field, .. }
        | ValidationError::Reversed { field, .. } => field,
    }
}

fn password_error(rule: PasswordRule, field: &'static str) -> AccountError {
    AccountError::invalid(field, format!("{field}: {rule}"))
}

/// A role from its name (`employee`, `department_head`, `hr_staff`, `super_admin`).
pub fn parse_role(text: &str) -> Result<Role, AccountError> {
    text.trim().parse::<Role>().map_err(AccountError::from)
}

/// An employee code for an account link (`employee_id`).
pub fn parse_employee(text: &str) -> Result<EmployeeCode, AccountError> {
    EmployeeCode::parse(text).map_err(|e| AccountError::invalid("employee_id", e.to_string()))
}

/// A new account, as asked for.
#[derive(Debug, Clone)]
pub struct NewAccount {
    /// The username (checked by [`parse_username`]).
    pub username: String,
    /// The password in clear (checked by [`check_password`], then hashed).
    pub password: String,
    /// The role.
    pub role: Role,
    /// The linked employee.
    pub employee: Option<EmployeeCode>,
}

/// A change to an account; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct AccountChange {
    /// A new role.
    pub role: Option<Role>,
    /// A new link: `Some(None)` unlinks.
    pub employee: Option<Option<EmployeeCode>>,
    /// Activate or deactivate.
    pub active: Option<bool>,
    /// A new password (a reset).
    pub password: Option<String>,
}

/// What a change did.
#[derive(Debug, Clone)]
pub struct Changed {
    /// The account as stored now.
    pub account: UserAccount,
    /// Whether its existing tokens were revoked (its `token_version` went up).
    pub revoked: bool,
}

/// The account use cases over a store, with the mutex that serialises changes.
#[derive(Clone)]
pub struct Accounts {
    store: Arc<dyn Store>,
    trail: AttendanceService,
    changes: Arc<Mutex<()>>,
}

/// An account as the audit trail shows it: never its password hash.
fn audited(account: &UserAccount) -> Value {
    json!({
        "role": account.role,
        "employee_id": account.employee,
        "active": account.active,
    })
}

fn target(username: &str) -> String {
    format!("account:{username}")
}

impl std::fmt::Debug for Accounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Accounts").finish_non_exhaustive()
    }
}

fn forbidden(by: Role, role: Role) -> AccountError {
    AccountError::Forbidden(format!(
        "a {by} may not manage {role} accounts (super admins manage every account, HR staff \
         employee and department_head accounts)"
    ))
}

impl Accounts {
    /// The use cases over `store` (its audit trail included).
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            trail: AttendanceService::new(store.clone()),
            store,
            changes: Arc::new(Mutex::new(())),
        }
    }

    /// The accounts an actor of role `by` may manage, by username.
    pub async fn list(&self, by: Role) -> Result<Vec<UserAccount>, AccountError> {
        Ok(self
            .store
            .list_accounts()
            .await?
            .into_iter()
            .filter(|a| may_manage_account(by, Some(a.role), None))
            .collect())
    }

    /// The account `username`, if an actor of role `by` may manage it.
    pub async fn get(&self, by: Role, username: &str) -> Result<UserAccount, AccountError> {
        let account = self.store.account(username).await?;
        if !may_manage_account(by, Some(account.role), None) {
            return Err(forbidden(by, account.role));
        }
        Ok(account)
    }

    /// Checks that `employee` exists (422 on `employee_id` when not).
    async fn check_employee(&self, employee: Option<&EmployeeCode>) -> Result<(), AccountError> {
        let Some(code) = employee else {
            return Ok(());
        };
        match self.store.employee(code).await {
            Ok(_) => Ok(()),
            Err(StoreError::NotFound { .. }) => Err(AccountError::invalid(
                "employee_id",
                format!("employee_id {code} is not a registered employee"),
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// Creates an account (by an actor of role `by`, named `actor` in the audit trail) at `now`.
    pub async fn create(
        &self,
        by: Role,
        actor: &str,
        new: NewAccount,
        now: DateTime<Utc>,
    ) -> Result<UserAccount, AccountError> {
        if !may_manage_account(by, None, Some(new.role)) {
            return Err(forbidden(by, new.role));
        }
        let username = parse_username(&new.username)?;
        check_link(new.role, new.employee.as_ref())?;
        check_password(&username, &new.password).map_err(|r| password_error(r, "password"))?;
        self.check_employee(new.employee.as_ref()).await?;
        let password_hash = hash(new.password).await?;
        let account = UserAccount {
            username,
            password_hash,
            role: new.role,
            employee: new.employee,
            active: true,
            token_version: 0,
            created_at: Some(now),
        };
        let _serial = self.changes.lock().await;
        match self.store.create_account(&account).await {
            Ok(()) => {
                let entry = NewAuditEntry::new(
                    now,
                    actor,
                    AuditAction::AccountCreated,
                    &target(&account.username),
                )
                .after(audited(&account));
                self.trail.audit(entry).await;
                Ok(account)
            }
            Err(StoreError::Conflict(_)) => Err(AccountError::Taken(account.username)),
            Err(e) => Err(e.into()),
        }
    }

    /// Changes the account `username` (by an actor of role `by`, named `actor` in the audit
    /// trail).
    pub async fn update(
        &self,
        by: Role,
        actor: &str,
        username: &str,
        change: AccountChange,
    ) -> Result<Changed, AccountError> {
        // Hash before taking the lock: it is the slow part, and needs only the username.
        let password_hash = match &change.password {
            Some(password) => {
                check_password(username, password).map_err(|r| password_error(r, "password"))?;
                Some(hash(password.clone()).await?)
            }
            None => None,
        };
        let _serial = self.changes.lock().await;
        let current = self.store.account(username).await?;
        if !may_manage_account(by, Some(current.role), None) {
            return Err(forbidden(by, current.role));
        }
        if let Some(role) = change.role
            && !may_manage_account(by, Some(current.role), Some(role))
        {
            return Err(forbidden(by, role));
        }
        let mut after = current.clone();
        if let Some(role) = change.role {
            after.role = role;
        }
        if let Some(employee) = change.employee {
            after.employee = employee;
        }
        if let Some(active) = change.active {
            after.active = active;
        }
        if let Some(hash) = password_hash {
            after.password_hash = hash;
        }
        check_link(after.role, after.employee.as_ref())?;
        if after.employee != current.employee {
            self.check_employee(after.employee.as_ref()).await?;
        }
        let all = self.store.list_accounts().await?;
        keeps_a_super_admin(&all, username, Some(&after))?;
        let revoked = after.role != current.role
            || after.employee != current.employee
            || (current.active && !after.active)
            || change.password.is_some();
        if revoked {
            after.token_version = current.token_version.wrapping_add(1);
        }
        if after != current {
            self.store.update_account(&after).await?;
            self.audit_update(actor, &current, &after, change.password.is_some())
                .await;
        }
        Ok(Changed {
            account: after,
            revoked,
        })
    }

    /// Audits an update stored by `actor`: the account's change (a deactivation, or any other
    /// change of role, link or active state) and a password reset, each its own entry.
    async fn audit_update(
        &self,
        actor: &str,
        current: &UserAccount,
        after: &UserAccount,
        reset: bool,
    ) {
        let now = Utc::now();
        let (was, is) = (audited(current), audited(after));
        if was != is {
            let action = if current.active && !after.active {
                AuditAction::AccountDeactivated
            } else {
                AuditAction::AccountUpdated
            };
            let entry = NewAuditEntry::new(now, actor, action, &target(&after.username))
                .before(was)
                .after(is);
            self.trail.audit(entry).await;
        }
        if reset {
            let entry = NewAuditEntry::new(
                now,
                actor,
                AuditAction::PasswordReset,
                &target(&after.username),
            )
            .after(json!({"tokens_revoked": true}));
            self.trail.audit(entry).await;
        }
    }

    /// Deactivates the account `username` (by an actor of role `by`, named `actor`); it keeps
    /// its name, so the history that names it still reads.
    pub async fn deactivate(
        &self,
        by: Role,
        actor: &str,
        username: &str,
    ) -> Result<Changed, AccountError> {
        self.update(
            by,
            actor,
            username,
            AccountChange {
                active: Some(false),
                ..AccountChange::default()
            },
        )
        .await
    }

    /// Changes the password of `username` itself, given its current one.
    pub async fn change_own_password(
        &self,
        username: &str,
        current_password: String,
        new_password: String,
    ) -> Result<Changed, AccountError> {
        check_password(username, &new_password).map_err(|r| password_error(r, "new_password"))?;
        let account = self.store.account(username).await?;
        if !verify_password(current_password, account.password_hash.clone()).await {
            return Err(AccountError::WrongPassword);
        }
        let password_hash = hash(new_password).await?;
        let _serial = self.changes.lock().await;
        let mut after = self.store.account(username).await?;
        after.password_hash = password_hash;
        after.token_version = after.token_version.wrapping_add(1);
        self.store.update_account(&after).await?;
        let entry = NewAuditEntry::new(
            Utc::now(),
            username,
            AuditAction::PasswordChanged,
            &target(username),
        )
        .after(json!({"tokens_revoked": true}));
        self.trail.audit(entry).await;
        Ok(Changed {
            account: after,
            revoked: true,
        })
    }
}

async fn hash(password: String) -> Result<String, AccountError> {
    hash_password(password)
        .await
        .map_err(|e| AccountError::Failed(e.message))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use attendance_core::employee::{Employee, NewEmployee};
    use attendance_core::store::memory::MemoryStore;

    use super::*;

    const PASSWORD: &str = "correct horse battery";

    async fn accounts() -> Accounts {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let employee = Employee::parse(&NewEmployee {
            employee_id: "EMP001".into(),
            employee_name: "Rahima".into(),
            department: "Sewing".into(),
            designation: "Operator".into(),
            level_of_work: "Worker".into(),
            ..NewEmployee::default()
        })
        .unwrap();
        store.create_employee(&employee).await.unwrap();
        let accounts = Accounts::new(store);
        accounts
            .create(
                Role::SuperAdmin,
                "test",
                new("root", Role::SuperAdmin, None),
                Utc::now(),
            )
            .await
            .unwrap();
        accounts
    }

    fn new(username: &str, role: Role, employee: Option<&str>) -> NewAccount {
        NewAccount {
            username: username.into(),
            password: PASSWORD.into(),
            role,
            employee: employee.map(|c| EmployeeCode::parse(c).unwrap()),
        }
    }

    #[tokio::test]
    async fn changes_that_end_tokens_bump_the_version() {
        let accounts = accounts().await;
        let worker = accounts
            .create(
                Role::HrStaff,
                "hr",
                new("worker", Role::Employee, Some("EMP001")),
                Utc::now(),
            )
            .await
            .unwrap();
        assert_eq!(worker.token_version, 0);
        assert!(worker.created_at.is_some());
        // Re-activating an active account changes nothing and revokes nothing.
        let same = AccountChange {
            active: Some(true),
            ..AccountChange::default()
        };
        let changed = accounts
            .update(Role::HrStaff, "hr", "worker", same)
            .await
            .unwrap();
        assert!(!changed.revoked);
        let promoted = AccountChange {
            role: Some(Role::DepartmentHead),
            ..AccountChange::default()
        };
        let changed = accounts
            .update(Role::HrStaff, "hr", "worker", promoted)
            .await
            .unwrap();
        assert!(changed.revoked);
        assert_eq!(changed.account.token_version, 1);
        let changed = accounts
            .change_own_password("worker", PASSWORD.into(), "another long one".into())
            .await
            .unwrap();
        assert_eq!(changed.account.token_version, 2);
        assert!(matches!(
            accounts
                .change_own_password("worker", PASSWORD.into(), "and yet another".into())
                .await,
            Err(AccountError::WrongPassword)
        ));
        // Each stored change left its entry; the no-op and the refused change left none, and
        // no entry holds a password or its hash.
        let trail = accounts
            .store
            .query_audit(&attendance_core::audit::AuditQuery::default(), 0, 20)
            .await
            .unwrap();
        let got: Vec<(String, String, String)> = trail
            .results
            .iter()
            .rev()
            .map(|e| {
                let e = &e.entry;
                (e.action.to_string(), e.actor.clone(), e.target.clone())
            })
            .collect();
        let want = [
            ("account_created", "test", "account:root"),
            ("account_created", "hr", "account:worker"),
            ("account_updated", "hr", "account:worker"),
            ("password_changed", "worker", "account:worker"),
        ]
        .map(|(a, b, c)| (a.to_owned(), b.to_owned(), c.to_owned()));
        assert_eq!(got, want);
        let updated = &trail.results[1].entry;
        assert_eq!(updated.before.as_ref().unwrap()["role"], "employee");
        assert_eq!(updated.after.as_ref().unwrap()["role"], "department_head");
        let text = serde_json::to_string(&trail.results).unwrap();
        for secret in [PASSWORD, "another long one", "argon2"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
    }

    #[tokio::test]
    async fn the_rules_are_refused_with_the_field() {
        let accounts = accounts().await;
        let field = |e: AccountError| match e {
            AccountError::Invalid { field, .. } => field,
            other => panic!("not a field error: {other:?}"),
        };
        let now = Utc::now();
        let mut short = new("ana", Role::HrStaff, None);
        short.password = "short".into();
        assert_eq!(
            field(
                accounts
                    .create(Role::SuperAdmin, "test", short, now)
                    .await
                    .unwrap_err()
            ),
            "password"
        );
        let unlinked = new("ana", Role::Employee, None);
        assert_eq!(
            field(
                accounts
                    .create(Role::SuperAdmin, "test", unlinked, now)
                    .await
                    .unwrap_err()
            ),
            "employee_id"
        );
        let ghost = new("ana", Role::Employee, Some("EMP404"));
        assert_eq!(
            field(
                accounts
                    .create(Role::SuperAdmin, "test", ghost, now)
                    .await
                    .unwrap_err()
            ),
            "employee_id"
        );
        let spaced = new("a b", Role::HrStaff, None);
        assert_eq!(
            field(
                accounts
                    .create(Role::SuperAdmin, "test", spaced, now)
                    .await
                    .unwrap_err()
            ),
            "username"
        );
        assert!(matches!(
            accounts
                .create(
                    Role::SuperAdmin,
                    "test",
                    new("root", Role::HrStaff, None),
                    now
                )
                .await,
            Err(AccountError::Taken(_))
        ));
        assert!(matches!(
            accounts
                .create(
                    Role::HrStaff,
                    "test",
                    new("boss", Role::SuperAdmin, None),
                    now
                )
                .await,
            Err(AccountError::Forbidden(_))
        ));
        assert!(matches!(
            accounts.deactivate(Role::SuperAdmin, "test", "root").await,
            Err(AccountError::LastSuperAdmin(_))
        ));
        assert!(matches!(
            accounts
                .deactivate(Role::SuperAdmin, "test", "nobody")
                .await,
            Err(AccountError::NotFound(_))
        ));
        assert_eq!(parse_role("boss").map_err(field).unwrap_err(), "role");
    }
}
