//! Who may do what: a pure function of the actor's role and identity, the action and the owner
//! of the resource. The server calls [`authorize`] on every endpoint and every WebSocket event,
//! and [`list_filter`] to restrict list queries.
//!
//! The rules, by role:
//! - [`Role::Employee`]: their own records (attendance, summaries, timesheets, statistics, manual
//!   scans, leave, profile, events); submits and cancels their own leave; reads holidays, leave
//!   policies and settings.
//! - [`Role::DepartmentHead`]: the same for every employee of their own department, and approves or
//!   rejects the leave of the others in it (never their own); submits their own leave.
//! - [`Role::HrStaff`]: everything, site-wide included; edits attendance, adds manual scans,
//!   imports scans, manages leave, leave policies, holidays, settings, machines and employees;
//!   approves or rejects anyone's leave but their own.
//! - [`Role::SuperAdmin`]: everything HR staff may do, approves their own leave too, and manages
//!   users and roles.
//!
//! Actions about one employee's records that change them (edit attendance, add a manual scan,
//! submit, approve, reject or cancel leave) need a target; without one they are refused.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::employee::{Department, EmployeeCode};
use crate::error::ValidationError;

/// A user's role. Serialised as `employee`, `department_head`, `hr_staff` or `super_admin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// An employee: their own records.
    Employee,
    /// A department head: their own department.
    DepartmentHead,
    /// HR staff: everything; manages leave, holidays, settings and machines.
    HrStaff,
    /// A super admin: everything, plus users and roles.
    SuperAdmin,
}

impl Role {
    /// Every role, from the narrowest to the widest.
    pub const ALL: [Role; 4] = [
        Role::Employee,
        Role::DepartmentHead,
        Role::HrStaff,
        Role::SuperAdmin,
    ];

    /// The role's name as serialised (`hr_staff`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Employee => "employee",
            Self::DepartmentHead => "department_head",
            Self::HrStaff => "hr_staff",
            Self::SuperAdmin => "super_admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = ValidationError;

    /// Parses the serialised names exactly; returns an error naming `role` for anything else.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|role| role.as_str() == text)
            .ok_or_else(|| ValidationError::Invalid {
                field: "role",
                reason: "must be employee, department_head, hr_staff or super_admin",
                value: text.to_owned(),
            })
    }
}

/// Something a server does on behalf of a user. Serialised in snake_case (`view_attendance`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Read daily attendance records.
    ViewAttendance,
    /// Change a daily attendance record by hand.
    EditAttendance,
    /// Read daily summaries.
    ViewSummary,
    /// Read timesheets.
    ViewTimesheet,
    /// Read statistics (counts, rates).
    ViewStatistics,
    /// Read manual scans.
    ViewManualScans,
    /// Add a manual scan.
    AddManualScan,
    /// Import scans in bulk (a file or a machine dump).
    ImportScans,
    /// Read leave requests and balances.
    ViewLeave,
    /// Submit a leave request.
    SubmitLeave,
    /// Approve a leave request at some level.
    ApproveLeave,
    /// Reject a leave request.
    RejectLeave,
    /// Cancel a leave request.
    CancelLeave,
    /// Read the leave policies.
    ViewLeavePolicies,
    /// Create, change or delete leave policies (and allocate balances).
    ManageLeavePolicies,
    /// Read the holidays.
    ViewHolidays,
    /// Create, change or delete holidays.
    ManageHolidays,
    /// Read the attendance settings.
    ViewSettings,
    /// Change the attendance settings.
    ManageSettings,
    /// Read machines and their health.
    ViewMachines,
    /// Add, change, remove or command machines.
    ManageMachines,
    /// Read employee profiles.
    ViewEmployees,
    /// Create, change or deactivate employees.
    ManageEmployees,
    /// Manage users and their roles.
    ManageUsers,
    /// Receive a real-time event about an employee (or, with no target, a site-wide event).
    ReceiveEvent,
    /// Ask for an attendance correction (a scan the device missed).
    RequestCorrection,
    /// Approve or reject a correction (never one's own).
    DecideCorrection,
    /// Void a scan: kept, but left out of every computation.
    VoidScan,
    /// Read the audit trail.
    ViewAuditLog,
}

impl Action {
    /// Every action.
    pub const ALL: [Action; 29] = [
        Action::ViewAttendance,
        Action::EditAttendance,
        Action::ViewSummary,
        Action::ViewTimesheet,
        Action::ViewStatistics,
        Action::ViewManualScans,
        Action::AddManualScan,
        Action::ImportScans,
        Action::ViewLeave,
        Action::SubmitLeave,
        Action::ApproveLeave,
        Action::RejectLeave,
        Action::CancelLeave,
        Action::ViewLeavePolicies,
        Action::ManageLeavePolicies,
        Action::ViewHolidays,
        Action::ManageHolidays,
        Action::ViewSettings,
        Action::ManageSettings,
        Action::ViewMachines,
        Action::ManageMachines,
        Action::ViewEmployees,
        Action::ManageEmployees,
        Action::ManageUsers,
        Action::ReceiveEvent,
        Action::RequestCorrection,
        Action::DecideCorrection,
        Action::VoidScan,
        Action::ViewAuditLog,
    ];

    /// Whether the action concerns a site-wide resource, whatever target is given (holidays,
    /// policies, settings, machines, users, imports, managing employees).
    pub fn is_site_wide(self) -> bool {
        matches!(
            self,
            Self::ImportScans
                | Self::ViewLeavePolicies
                | Self::ManageLeavePolicies
                | Self::ViewHolidays
                | Self::ManageHolidays
                | Self::ViewSettings
                | Self::ManageSettings
                | Self::ViewMachines
                | Self::ManageMachines
                | Self::ManageEmployees
                | Self::ManageUsers
                | Self::ViewAuditLog
        )
    }
}

impl Action {
    /// Whether the action changes one employee's records and so needs a target employee.
    pub fn requires_target(self) -> bool {
        matches!(
            self,
            Self::EditAttendance
                | Self::AddManualScan
                | Self::RequestCorrection
                | Self::DecideCorrection
                | Self::VoidScan
                | Self::SubmitLeave
                | Self::ApproveLeave
                | Self::RejectLeave
                | Self::CancelLeave
        )
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Debug is the variant name; the API uses snake_case.
        let name = format!("{self:?}");
        let mut out = String::with_capacity(name.len() + 4);
        for (i, c) in name.chars().enumerate() {
            if c.is_ascii_uppercase() {
                if i > 0 {
                    out.push('_');
                }
                out.push(c.to_ascii_lowercase());
            } else {
                out.push(c);
            }
        }
        f.write_str(&out)
    }
}

/// The user acting: their role, and the employee they are and the department they belong to, if
/// any (an HR or admin account may have neither).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// The role.
    pub role: Role,
    /// The employee this user is, if any.
    pub employee: Option<EmployeeCode>,
    /// The department this user belongs to (or heads), if any.
    pub department: Option<Department>,
}

impl Actor {
    /// An actor with `role`, employee code and department.
    pub fn new(role: Role, employee: Option<EmployeeCode>, department: Option<Department>) -> Self {
        Self {
            role,
            employee,
            department,
        }
    }
}

/// The owner of a resource about one employee: the employee and their department.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    /// The employee the resource is about.
    pub employee: EmployeeCode,
    /// That employee's department.
    pub department: Department,
}

/// Why access was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DenialReason {
    /// The role may never do this.
    RoleNotAllowed,
    /// The role may do this, but not on this target (another employee or department, or a
    /// site-wide target).
    OutOfScope,
    /// Approving or rejecting one's own leave.
    OwnRequest,
    /// The action needs a target employee and none was given.
    TargetRequired,
}

/// Access refused: the role, the action and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("{role} may not {action}: {reason:?}")]
pub struct AccessDenied {
    /// The actor's role.
    pub role: Role,
    /// The action refused.
    pub action: Action,
    /// Why.
    pub reason: DenialReason,
}

/// How a list endpoint restricts its query for an actor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "scope", content = "value", rename_all = "snake_case")]
pub enum ListFilter {
    /// Every row.
    All,
    /// Rows of employees of this department.
    Department(Department),
    /// Rows of this employee only.
    Employee(EmployeeCode),
}

impl ListFilter {
    /// Whether a row owned by `owner` passes the filter.
    pub fn admits(&self, owner: &Owner) -> bool {
        match self {
            Self::All => true,
            Self::Department(department) => &owner.department == department,
            Self::Employee(code) => &owner.employee == code,
        }
    }
}

/// Where a target stands relative to the actor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Relation {
    Own,
    SameDepartment,
    OtherDepartment,
    SiteWide,
}

/// Which relations a role may act on for an action.
#[derive(Debug, Clone, Copy)]
struct Rule {
    own: bool,
    department: bool,
    others: bool,
    site: bool,
}

impl Rule {
    const NONE: Rule = Rule::new(false, false, false, false);
    const OWN: Rule = Rule::new(true, false, false, false);
    const DEPARTMENT: Rule = Rule::new(true, true, false, false);
    const EMPLOYEES: Rule = Rule::new(true, true, true, false);
    const EVERYTHING: Rule = Rule::new(true, true, true, true);

    const fn new(own: bool, department: bool, others: bool, site: bool) -> Self {
        Self {
            own,
            department,
            others,
            site,
        }
    }

    fn allows(self, relation: Relation) -> bool {
        match relation {
            Relation::Own => self.own,
            Relation::SameDepartment => self.department,
            Relation::OtherDepartment => self.others,
            Relation::SiteWide => self.site,
        }
    }

    fn any(self) -> bool {
        self.own || self.department || self.others || self.site
    }
}

fn rule(role: Role, action: Action) -> Rule {
    use Action as A;
    use Role as R;
    match action {
        // Reading records about employees: own, department, or everything.
        A::ViewAttendance
        | A::ViewSummary
        | A::ViewTimesheet
        | A::ViewStatistics
        | A::ViewManualScans
        | A::ViewLeave
        | A::ViewEmployees
        | A::ReceiveEvent => match role {
            R::Employee => Rule::OWN,
            R::DepartmentHead => Rule::DEPARTMENT,
            R::HrStaff | R::SuperAdmin => Rule::EVERYTHING,
        },
        // Changing one employee's records: HR and admins, a target required.
        A::EditAttendance | A::AddManualScan | A::VoidScan => match role {
            R::Employee | R::DepartmentHead => Rule::NONE,
            R::HrStaff | R::SuperAdmin => Rule::EMPLOYEES,
        },
        A::SubmitLeave => match role {
            R::Employee | R::DepartmentHead => Rule::OWN,
            R::HrStaff | R::SuperAdmin => Rule::EMPLOYEES,
        },
        // For oneself, or by one's head or HR.
        A::RequestCorrection => match role {
            R::Employee => Rule::OWN,
            R::DepartmentHead => Rule::DEPARTMENT,
            R::HrStaff | R::SuperAdmin => Rule::EMPLOYEES,
        },
        A::ApproveLeave | A::RejectLeave => match role {
            R::Employee => Rule::NONE,
            R::DepartmentHead => Rule::new(false, true, false, false),
            R::HrStaff => Rule::new(false, true, true, false),
            R::SuperAdmin => Rule::EMPLOYEES,
        },
        // Never one's own, whatever the role.
        A::DecideCorrection => match role {
            R::Employee => Rule::NONE,
            R::DepartmentHead => Rule::new(false, true, false, false),
            R::HrStaff | R::SuperAdmin => Rule::new(false, true, true, false),
        },
        A::CancelLeave => match role {
            R::Employee => Rule::OWN,
            R::DepartmentHead => Rule::DEPARTMENT,
            R::HrStaff | R::SuperAdmin => Rule::EMPLOYEES,
        },
        // Site-wide reading everyone needs.
        A::ViewLeavePolicies | A::ViewHolidays | A::ViewSettings => Rule::EVERYTHING,
        // Site-wide administration.
        A::ImportScans
        | A::ManageLeavePolicies
        | A::ManageHolidays
        | A::ManageSettings
        | A::ViewMachines
        | A::ManageMachines
        | A::ManageEmployees => match role {
            R::Employee | R::DepartmentHead => Rule::NONE,
            R::HrStaff | R::SuperAdmin => Rule::EVERYTHING,
        },
        A::ViewAuditLog => match role {
            R::Employee | R::DepartmentHead => Rule::NONE,
            R::HrStaff | R::SuperAdmin => Rule::EVERYTHING,
        },
        A::ManageUsers => match role {
            R::SuperAdmin => Rule::EVERYTHING,
            R::Employee | R::DepartmentHead | R::HrStaff => Rule::NONE,
        },
    }
}

fn relation(actor: &Actor, action: Action, target: Option<&Owner>) -> Relation {
    if action.is_site_wide() {
        return Relation::SiteWide;
    }
    match target {
        None => Relation::SiteWide,
        Some(owner) if actor.employee.as_ref() == Some(&owner.employee) => Relation::Own,
        Some(owner) if actor.department.as_ref() == Some(&owner.department) => {
            Relation::SameDepartment
        }
        Some(_) => Relation::OtherDepartment,
    }
}

/// Whether `actor` may do `action` on a resource owned by `target` (`None` for a site-wide
/// resource, or a site-wide view such as statistics over every employee). Site-wide actions
/// (see [`Action::is_site_wide`]) ignore the target. Returns [`AccessDenied`] with the reason
/// otherwise.
pub fn authorize(
    actor: &Actor,
    action: Action,
    target: Option<&Owner>,
) -> Result<(), AccessDenied> {
    let rule = rule(actor.role, action);
    let relation = relation(actor, action, target);
    if rule.allows(relation) {
        return Ok(());
    }
    let reason = if !rule.any() {
        DenialReason::RoleNotAllowed
    } else if relation == Relation::Own
        && matches!(
            action,
            Action::ApproveLeave | Action::RejectLeave | Action::DecideCorrection
        )
    {
        DenialReason::OwnRequest
    } else if relation == Relation::SiteWide && action.requires_target() {
        DenialReason::TargetRequired
    } else {
        DenialReason::OutOfScope
    };
    Err(AccessDenied {
        role: actor.role,
        action,
        reason,
    })
}

/// The widest filter under which `actor` may list resources for `action`: everything, their
/// department, or their own records. Returns [`AccessDenied`] when the role may not do the action
/// at all, or when the scope it has needs an identity the actor lacks (a department head without
/// a department falls back to their own records).
pub fn list_filter(actor: &Actor, action: Action) -> Result<ListFilter, AccessDenied> {
    let rule = rule(actor.role, action);
    let denied = |reason| AccessDenied {
        role: actor.role,
        action,
        reason,
    };
    if !rule.any() {
        return Err(denied(DenialReason::RoleNotAllowed));
    }
    if rule.others || (action.is_site_wide() && rule.site) {
        return Ok(ListFilter::All);
    }
    if rule.department
        && let Some(department) = &actor.department
    {
        return Ok(ListFilter::Department(department.clone()));
    }
    if rule.own
        && let Some(employee) = &actor.employee
    {
        return Ok(ListFilter::Employee(employee.clone()));
    }
    Err(denied(DenialReason::OutOfScope))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(text: &str) -> EmployeeCode {
        EmployeeCode::parse(text).unwrap()
    }

    fn dept(text: &str) -> Department {
        Department::parse(text).unwrap()
    }

    fn actor(role: Role) -> Actor {
        Actor::new(role, Some(code("EMP1")), Some(dept("Sewing")))
    }

    fn owner(employee: &str, department: &str) -> Owner {
        Owner {
            employee: code(employee),
            department: dept(department),
        }
    }

    /// Checks one action for one role on the four targets: own, same department, other
    /// department, site-wide. `expected` is four characters, `Y` allowed and `-` denied.
    fn check(role: Role, action: Action, expected: &str) {
        let targets = [
            Some(owner("EMP1", "Sewing")),
            Some(owner("EMP2", "Sewing")),
            Some(owner("EMP3", "Cutting")),
            None,
        ];
        let got: String = targets
            .iter()
            .map(|t| match authorize(&actor(role), action, t.as_ref()) {
                Ok(()) => 'Y',
                Err(_) => '-',
            })
            .collect();
        assert_eq!(got, expected, "{role} {action} (own, dept, other, site)");
    }

    #[test]
    fn access_matrix() {
        use Action as A;
        // Columns per role: own, same department, other department, site-wide.
        #[rustfmt::skip]
        let table: &[(Action, [&str; 4])] = &[
            //                         employee  dept_head  hr_staff  super_admin
            (A::ViewAttendance,      ["Y---", "YY--", "YYYY", "YYYY"]),
            (A::EditAttendance,      ["----", "----", "YYY-", "YYY-"]),
            (A::ViewSummary,         ["Y---", "YY--", "YYYY", "YYYY"]),
            (A::ViewTimesheet,       ["Y---", "YY--", "YYYY", "YYYY"]),
            (A::ViewStatistics,      ["Y---", "YY--", "YYYY", "YYYY"]),
            (A::ViewManualScans,     ["Y---", "YY--", "YYYY", "YYYY"]),
            (A::AddManualScan,       ["----", "----", "YYY-", "YYY-"]),
            (A::ImportScans,         ["----", "----", "YYYY", "YYYY"]),
            (A::ViewLeave,           ["Y---", "YY--", "YYYY", "YYYY"]),
            (A::SubmitLeave,         ["Y---", "Y---", "YYY-", "YYY-"]),
            (A::ApproveLeave,        ["----", "-Y--", "-YY-", "YYY-"]),
            (A::RejectLeave,         ["----", "-Y--", "-YY-", "YYY-"]),
            (A::CancelLeave,         ["Y---", "YY--", "YYY-", "YYY-"]),
            (A::ViewLeavePolicies,   ["YYYY", "YYYY", "YYYY", "YYYY"]),
            (A::ManageLeavePolicies, ["----", "----", "YYYY", "YYYY"]),
            (A::ViewHolidays,        ["YYYY", "YYYY", "YYYY", "YYYY"]),
            (A::ManageHolidays,      ["----", "----", "YYYY", "YYYY"]),
            (A::ViewSettings,        ["YYYY", "YYYY", "YYYY", "YYYY"]),
            (A::ManageSettings,      ["----", "----", "YYYY", "YYYY"]),
            (A::ViewMachines,        ["----", "----", "YYYY", "YYYY"]),
            (A::ManageMachines,      ["----", "----", "YYYY", "YYYY"]),
            (A::ViewEmployees,       ["Y---", "YY--", "YYYY", "YYYY"]),
            (A::ManageEmployees,     ["----", "----", "YYYY", "YYYY"]),
            (A::ManageUsers,         ["----", "----", "----", "YYYY"]),
            (A::ReceiveEvent,        ["Y---", "YY--", "YYYY", "YYYY"]),
            (A::RequestCorrection,   ["Y---", "YY--", "YYY-", "YYY-"]),
            (A::DecideCorrection,    ["----", "-Y--", "-YY-", "-YY-"]),
            (A::VoidScan,            ["----", "----", "YYY-", "YYY-"]),
            (A::ViewAuditLog,        ["----", "----", "YYYY", "YYYY"]),
        ];
        assert_eq!(table.len(), Action::ALL.len());
        for action in Action::ALL {
            let row = table.iter().find(|(a, _)| *a == action);
            let Some((_, expected)) = row else {
                panic!("{action} missing from the table");
            };
            for (role, expected) in Role::ALL.into_iter().zip(expected) {
                check(role, action, expected);
            }
        }
    }

    #[test]
    fn denial_reasons() {
        use Action as A;
        let cases = [
            (
                Role::Employee,
                A::ManageUsers,
                Some(owner("EMP1", "Sewing")),
                DenialReason::RoleNotAllowed,
            ),
            (
                Role::Employee,
                A::ViewAttendance,
                Some(owner("EMP2", "Sewing")),
                DenialReason::OutOfScope,
            ),
            (
                Role::DepartmentHead,
                A::ApproveLeave,
                Some(owner("EMP1", "Sewing")),
                DenialReason::OwnRequest,
            ),
            (
                Role::HrStaff,
                A::ApproveLeave,
                None,
                DenialReason::TargetRequired,
            ),
            (
                Role::DepartmentHead,
                A::ViewSummary,
                None,
                DenialReason::OutOfScope,
            ),
            (
                Role::Employee,
                A::SubmitLeave,
                None,
                DenialReason::TargetRequired,
            ),
        ];
        for (role, action, target, reason) in cases {
            let err = authorize(&actor(role), action, target.as_ref()).unwrap_err();
            assert_eq!(err.reason, reason, "{role} {action}");
        }
    }

    #[test]
    fn an_actor_without_identity_has_no_own_records() {
        let anonymous = Actor::new(Role::Employee, None, None);
        assert!(
            authorize(
                &anonymous,
                Action::ViewAttendance,
                Some(&owner("EMP1", "Sewing"))
            )
            .is_err()
        );
        assert!(list_filter(&anonymous, Action::ViewAttendance).is_err());
        let head = Actor::new(Role::DepartmentHead, Some(code("EMP9")), None);
        assert_eq!(
            list_filter(&head, Action::ViewAttendance),
            Ok(ListFilter::Employee(code("EMP9")))
        );
    }

    #[test]
    fn list_filters() {
        let cases = [
            (
                Role::Employee,
                Action::ViewAttendance,
                Ok(ListFilter::Employee(code("EMP1"))),
            ),
            (
                Role::DepartmentHead,
                Action::ViewLeave,
                Ok(ListFilter::Department(dept("Sewing"))),
            ),
            (
                Role::DepartmentHead,
                Action::ApproveLeave,
                Ok(ListFilter::Department(dept("Sewing"))),
            ),
            (Role::HrStaff, Action::ViewTimesheet, Ok(ListFilter::All)),
            (Role::SuperAdmin, Action::ReceiveEvent, Ok(ListFilter::All)),
            (Role::Employee, Action::ViewHolidays, Ok(ListFilter::All)),
            (
                Role::Employee,
                Action::ApproveLeave,
                Err(DenialReason::RoleNotAllowed),
            ),
            (
                Role::HrStaff,
                Action::ManageUsers,
                Err(DenialReason::RoleNotAllowed),
            ),
        ];
        for (role, action, expected) in cases {
            let got = list_filter(&actor(role), action).map_err(|e| e.reason);
            assert_eq!(got, expected, "{role} {action}");
        }
        let filter = ListFilter::Department(dept("Sewing"));
        assert!(filter.admits(&owner("EMP7", "Sewing")));
        assert!(!filter.admits(&owner("EMP7", "Cutting")));
    }

    #[test]
    fn roles_and_actions_serialise_in_snake_case() {
        for (role, name) in
            Role::ALL
                .into_iter()
                .zip(["employee", "department_head", "hr_staff", "super_admin"])
        {
            assert_eq!(serde_json::to_string(&role).unwrap(), format!("\"{name}\""));
            assert_eq!(role.to_string(), name);
            assert_eq!(name.parse::<Role>().unwrap(), role);
        }
        assert!("admin".parse::<Role>().is_err());
        for action in Action::ALL {
            assert_eq!(
                serde_json::to_string(&action).unwrap(),
                format!("\"{action}\"")
            );
        }
        assert_eq!(Action::ViewLeavePolicies.to_string(), "view_leave_policies");
    }
}
