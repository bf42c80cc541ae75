//! Logins: the username and password rules, which accounts an actor may manage, and the rule
//! that a site always keeps an active super admin.
//!
//! - A super admin manages every account; HR staff manage `employee` and `department_head`
//!   accounts only (both the role an account has and the role it is given); nobody else manages
//!   accounts. Everyone may change their own password.
//! - `employee` and `department_head` accounts are linked to an employee (a head's department is
//!   that employee's); HR and super admin accounts may be.
//! - A password has at least [`MIN_PASSWORD_CHARS`] characters and is not the username.
//! - No change may leave the site without an active super admin.
//!
//! ```
//! use attendance_core::access::Role;
//! use attendance_core::account::{check_password, may_manage_account};
//!
//! assert!(may_manage_account(Role::HrStaff, None, Some(Role::Employee)));
//! assert!(!may_manage_account(Role::HrStaff, Some(Role::Employee), Some(Role::HrStaff)));
//! assert!(check_password("rahima", "rahima").is_err());
//! assert!(check_password("rahima", "correct horse battery").is_ok());
//! ```

use thiserror::Error;

use crate::access::Role;
use crate::employee::EmployeeCode;
use crate::error::ValidationError;
use crate::store::UserAccount;

/// The fewest characters a password may have.
pub const MIN_PASSWORD_CHARS: usize = 10;
/// The most characters a password may have (argon2 takes longer inputs, but nobody types them).
pub const MAX_PASSWORD_CHARS: usize = 1_024;
/// The most characters a username may have.
pub const MAX_USERNAME_CHARS: usize = 64;

/// A password that breaks the rule; the message names the rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum PasswordRule {
    /// Fewer than [`MIN_PASSWORD_CHARS`] characters.
    #[error("password must be at least {MIN_PASSWORD_CHARS} characters long")]
    TooShort,
    /// More than [`MAX_PASSWORD_CHARS`] characters.
    #[error("password must be at most {MAX_PASSWORD_CHARS} characters long")]
    TooLong,
    /// The username itself (in any case, surrounding spaces ignored).
    #[error("password must not be the username")]
    SameAsUsername,
}

/// Checks `password` for the account `username`.
pub fn check_password(username: &str, password: &str) -> Result<(), PasswordRule> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(PasswordRule::TooShort);
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(PasswordRule::TooLong);
    }
    if password.trim().to_lowercase() == username.trim().to_lowercase() {
        return Err(PasswordRule::SameAsUsername);
    }
    Ok(())
}

/// A username as typed: trimmed, 1 to [`MAX_USERNAME_CHARS`] characters of ASCII letters,
/// digits, `.`, `_`, `-` and `@`.
pub fn parse_username(value: &str) -> Result<String, ValidationError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(ValidationError::Empty { field: "username" });
    }
    let len = value.chars().count();
    if len > MAX_USERNAME_CHARS {
        return Err(ValidationError::TooLong {
            field: "username",
            len,
            max: MAX_USERNAME_CHARS,
        });
    }
    if !value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
    {
        return Err(ValidationError::Invalid {
            field: "username",
            reason: "may hold only ASCII letters, digits, '.', '_', '-' and '@'",
            value: value.to_owned(),
        });
    }
    Ok(value.to_owned())
}

/// Whether a role must be linked to an employee (`employee`, `department_head`).
pub fn role_needs_employee(role: Role) -> bool {
    matches!(role, Role::Employee | Role::DepartmentHead)
}

/// Checks that an account of `role` has the employee link it needs.
pub fn check_link(role: Role, employee: Option<&EmployeeCode>) -> Result<(), ValidationError> {
    if role_needs_employee(role) && employee.is_none() {
        return Err(ValidationError::Invalid {
            field: "employee_id",
            reason: "is required for the employee and department_head roles",
            value: String::new(),
        });
    }
    Ok(())
}

/// The roles HR staff may give and take: the two roles tied to an employee.
fn hr_manages(role: Role) -> bool {
    matches!(role, Role::Employee | Role::DepartmentHead)
}

/// Whether an actor of role `actor` may manage an account whose role is `current` (`None` when
/// the account is being created) and give it `new` (`None` when the role does not change or the
/// account is being deactivated). Viewing an account follows the same rule (with `new` `None`).
pub fn may_manage_account(actor: Role, current: Option<Role>, new: Option<Role>) -> bool {
    match actor {
        Role::SuperAdmin => true,
        Role::HrStaff => current.is_none_or(hr_manages) && new.is_none_or(hr_manages),
        Role::Employee | Role::DepartmentHead => false,
    }
}

/// Whether an actor of role `actor` may manage accounts at all (list them, create some).
pub fn manages_accounts(actor: Role) -> bool {
    matches!(actor, Role::SuperAdmin | Role::HrStaff)
}

/// Why an account change was refused by the last-super-admin rule.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{username} is the last active super admin: the site would have none left")]
pub struct LastSuperAdmin {
    /// The account the change was about.
    pub username: String,
}

/// Checks that `accounts` (every account, as stored) still has an active super admin once the
/// account `username` becomes `after` (`None`: removed).
pub fn keeps_a_super_admin(
    accounts: &[UserAccount],
    username: &str,
    after: Option<&UserAccount>,
) -> Result<(), LastSuperAdmin> {
    let active_admin = |a: &UserAccount| a.active && a.role == Role::SuperAdmin;
    let others = accounts
        .iter()
        .filter(|a| a.username != username)
        .any(active_admin);
    if others || after.is_some_and(active_admin) {
        return Ok(());
    }
    // Only refuse a change to an account that is an active super admin now: a site restored
    // without any admin can still be repaired by adding one.
    let was_admin = accounts
        .iter()
        .any(|a| a.username == username && active_admin(a));
    if was_admin {
        Err(LastSuperAdmin {
            username: username.to_owned(),
        })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(name: &str, role: Role, active: bool) -> UserAccount {
        UserAccount {
            username: name.into(),
            password_hash: String::new(),
            role,
            employee: None,
            active,
            token_version: 0,
            created_at: None,
        }
    }

    #[test]
    fn the_password_rule_names_what_is_wrong() {
        assert_eq!(check_password("ana", "short"), Err(PasswordRule::TooShort));
        assert_eq!(
            check_password("administrator", " Administrator "),
            Err(PasswordRule::SameAsUsername)
        );
        assert_eq!(
            check_password("a", &"x".repeat(MAX_PASSWORD_CHARS + 1)),
            Err(PasswordRule::TooLong)
        );
        // Characters, not bytes.
        assert_eq!(
            check_password("ana", "ধধধধধধধধধ"),
            Err(PasswordRule::TooShort)
        );
        assert_eq!(check_password("ana", "ধধধধধধধধধধ"), Ok(()));
        assert!(
            PasswordRule::TooShort
                .to_string()
                .contains("at least 10 characters")
        );
    }

    #[test]
    fn usernames_are_trimmed_and_plain() {
        assert_eq!(parse_username("  rahima.k ").unwrap(), "rahima.k");
        assert!(parse_username("   ").is_err());
        assert!(parse_username("a b").is_err());
        assert!(parse_username(&"a".repeat(MAX_USERNAME_CHARS + 1)).is_err());
        assert!(parse_username("hr@factory-1_a").is_ok());
    }

    #[test]
    fn the_who_may_matrix() {
        use Role::*;
        let roles = [
            None,
            Some(Employee),
            Some(DepartmentHead),
            Some(HrStaff),
            Some(SuperAdmin),
        ];
        for current in roles {
            for new in roles {
                assert!(may_manage_account(SuperAdmin, current, new));
                assert!(!may_manage_account(Employee, current, new));
                assert!(!may_manage_account(DepartmentHead, current, new));
                let hr = may_manage_account(HrStaff, current, new);
                let tied =
                    |r: Option<Role>| r.is_none_or(|r| matches!(r, Employee | DepartmentHead));
                assert_eq!(hr, tied(current) && tied(new), "{current:?} → {new:?}");
            }
        }
        assert!(manages_accounts(HrStaff) && manages_accounts(SuperAdmin));
        assert!(!manages_accounts(Employee) && !manages_accounts(DepartmentHead));
    }

    #[test]
    fn tied_roles_need_an_employee() {
        assert!(check_link(Role::Employee, None).is_err());
        assert!(check_link(Role::DepartmentHead, None).is_err());
        assert!(check_link(Role::HrStaff, None).is_ok());
        let code = EmployeeCode::parse("EMP001").unwrap();
        assert!(check_link(Role::Employee, Some(&code)).is_ok());
    }

    #[test]
    fn the_last_active_super_admin_stays() {
        let accounts = vec![
            account("root", Role::SuperAdmin, true),
            account("old", Role::SuperAdmin, false),
            account("hr", Role::HrStaff, true),
        ];
        let demoted = account("root", Role::HrStaff, true);
        let disabled = account("root", Role::SuperAdmin, false);
        assert!(keeps_a_super_admin(&accounts, "root", Some(&demoted)).is_err());
        assert!(keeps_a_super_admin(&accounts, "root", Some(&disabled)).is_err());
        assert!(keeps_a_super_admin(&accounts, "root", None).is_err());
        // Changing anyone else, or root's password, is fine.
        assert!(keeps_a_super_admin(&accounts, "hr", None).is_ok());
        let same = account("root", Role::SuperAdmin, true);
        assert!(keeps_a_super_admin(&accounts, "root", Some(&same)).is_ok());
        // With a second active admin, root may go.
        let mut two = accounts.clone();
        two.push(account("second", Role::SuperAdmin, true));
        assert!(keeps_a_super_admin(&two, "root", Some(&demoted)).is_ok());
        // Re-activating the old admin of a site with none is allowed.
        let none = vec![account("old", Role::SuperAdmin, false)];
        let back = account("old", Role::SuperAdmin, true);
        assert!(keeps_a_super_admin(&none, "old", Some(&back)).is_ok());
        assert!(keeps_a_super_admin(&none, "old", None).is_ok());
        assert_eq!(
            keeps_a_super_admin(&accounts, "root", None)
                .unwrap_err()
                .to_string(),
            "root is the last active super admin: the site would have none left"
        );
    }
}
