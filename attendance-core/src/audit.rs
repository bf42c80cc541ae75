//! The audit trail: who changed what, when, from what to what, and why. Entries are appended and
//! never edited or deleted; the store gives each its id.
//!
//! ```
//! use attendance_core::audit::{AuditAction, AuditQuery, NewAuditEntry};
//! use chrono::{TimeZone, Utc};
//! use serde_json::json;
//!
//! let entry = NewAuditEntry::new(
//!     Utc.with_ymd_and_hms(2026, 12, 7, 6, 0, 0).unwrap(),
//!     "hr.ana",
//!     AuditAction::ScanVoided,
//!     "scan:BOCK200961014:1001:1796616000",
//! )
//! .before(json!({"voided": false}))
//! .after(json!({"voided": true}))
//! .reason("test punch by the installer");
//! let query = AuditQuery { action: Some(AuditAction::ScanVoided), ..AuditQuery::default() };
//! assert!(query.admits(&entry));
//! ```

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    /// A manual scan added.
    ManualScan,
    /// Scans imported from a file.
    ScanImport,
    /// A correction asked for.
    CorrectionRequested,
    /// A correction approved (its scan stored).
    CorrectionApproved,
    /// A correction rejected.
    CorrectionRejected,
    /// A scan voided.
    ScanVoided,
    /// A day's status set by hand.
    DayOverridden,
    /// A day's override removed.
    DayOverrideRemoved,
    /// A leave request approved at a level.
    LeaveApproved,
    /// A leave request rejected.
    LeaveRejected,
    /// A leave request cancelled.
    LeaveCancelled,
    /// A holiday added.
    HolidayCreated,
    /// A holiday changed.
    HolidayUpdated,
    /// A holiday removed.
    HolidayDeleted,
    /// The attendance settings changed.
    SettingsChanged,
    /// A machine added.
    MachineCreated,
    /// A machine changed.
    MachineUpdated,
    /// A machine removed.
    MachineDeleted,
    /// A command sent to a machine.
    MachineCommand,
    /// An employee added.
    EmployeeCreated,
    /// An employee changed.
    EmployeeUpdated,
    /// An employee removed (with their daily records).
    EmployeeDeleted,
    /// Employees imported in bulk.
    EmployeeImport,
    /// A leave policy added or changed.
    LeavePolicyChanged,
    /// Leave allocated: to one employee (target `employee:{code}`), or a year's entitlements in
    /// bulk (target `leave-year:{year}`).
    LeaveAllocated,
    /// An account added.
    AccountCreated,
    /// An account changed (role, employee, active).
    AccountUpdated,
    /// An account deactivated.
    AccountDeactivated,
    /// An account's password reset by someone else.
    PasswordReset,
    /// A user changed their own password.
    PasswordChanged,
    /// A leave year rolled over (carried forward and expired).
    LeaveRolledOver,
}

impl AuditAction {
    /// Every action.
    pub const ALL: [AuditAction; 31] = [
        Self::ManualScan,
        Self::ScanImport,
        Self::CorrectionRequested,
        Self::CorrectionApproved,
        Self::CorrectionRejected,
        Self::ScanVoided,
        Self::DayOverridden,
        Self::DayOverrideRemoved,
        Self::LeaveApproved,
        Self::LeaveRejected,
        Self::LeaveCancelled,
        Self::HolidayCreated,
        Self::HolidayUpdated,
        Self::HolidayDeleted,
        Self::SettingsChanged,
        Self::MachineCreated,
        Self::MachineUpdated,
        Self::MachineDeleted,
        Self::MachineCommand,
        Self::EmployeeCreated,
        Self::EmployeeUpdated,
        Self::EmployeeDeleted,
        Self::EmployeeImport,
        Self::LeavePolicyChanged,
        Self::LeaveAllocated,
        Self::AccountCreated,
        Self::AccountUpdated,
        Self::AccountDeactivated,
        Self::PasswordReset,
        Self::PasswordChanged,
        Self::LeaveRolledOver,
    ];

    /// The action as serialised (`scan_voided`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ManualScan => "manual_scan",
            Self::ScanImport => "scan_import",
            Self::CorrectionRequested => "correction_requested",
            Self::CorrectionApproved => "correction_approved",
            Self::CorrectionRejected => "correction_rejected",
            Self::ScanVoided => "scan_voided",
            Self::DayOverridden => "day_overridden",
            Self::DayOverrideRemoved => "day_override_removed",
            Self::LeaveApproved => "leave_approved",
            Self::LeaveRejected => "leave_rejected",
            Self::LeaveCancelled => "leave_cancelled",
            Self::HolidayCreated => "holiday_created",
            Self::HolidayUpdated => "holiday_updated",
            Self::HolidayDeleted => "holiday_deleted",
            Self::SettingsChanged => "settings_changed",
            Self::MachineCreated => "machine_created",
            Self::MachineUpdated => "machine_updated",
            Self::MachineDeleted => "machine_deleted",
            Self::MachineCommand => "machine_command",
            Self::EmployeeCreated => "employee_created",
            Self::EmployeeUpdated => "employee_updated",
            Self::EmployeeDeleted => "employee_deleted",
            Self::EmployeeImport => "employee_import",
            Self::LeavePolicyChanged => "leave_policy_changed",
            Self::LeaveAllocated => "leave_allocated",
            Self::AccountCreated => "account_created",
            Self::AccountUpdated => "account_updated",
            Self::AccountDeactivated => "account_deactivated",
            Self::PasswordReset => "password_reset",
            Self::PasswordChanged => "password_changed",
            Self::LeaveRolledOver => "leave_rolled_over",
        }
    }
}

impl std::fmt::Display for AuditAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An entry before the store numbers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewAuditEntry {
    /// When.
    pub at: DateTime<Utc>,
    /// Who (a username; `cli:<os user>` for the command line, `system` for changes made at
    /// start-up, not through a login).
    pub actor: String,
    /// What.
    pub action: AuditAction,
    /// On what: `employee:EMP001`, `scan:…`, `account:ana`, `holiday:12`, `machine:ZK1`,
    /// `leave_request:…`, `leave_policy:Casual`, `settings`, `scans`, `employees`, …
    pub target: String,
    /// The target before (absent when created).
    pub before: Option<Value>,
    /// The target after (absent when removed).
    pub after: Option<Value>,
    /// Why, when given.
    pub reason: Option<String>,
}

impl NewAuditEntry {
    /// An entry with no before, after or reason.
    pub fn new(at: DateTime<Utc>, actor: &str, action: AuditAction, target: &str) -> Self {
        Self {
            at,
            actor: actor.to_owned(),
            action,
            target: target.to_owned(),
            before: None,
            after: None,
            reason: None,
        }
    }

    /// With the target before the change.
    pub fn before(mut self, value: Value) -> Self {
        self.before = Some(value);
        self
    }

    /// With the target after the change.
    pub fn after(mut self, value: Value) -> Self {
        self.after = Some(value);
        self
    }

    /// With a reason (blank reasons are dropped).
    pub fn reason(mut self, reason: &str) -> Self {
        let reason = reason.trim();
        self.reason = (!reason.is_empty()).then(|| reason.to_owned());
        self
    }
}

/// A stored entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Its number, increasing in the order entries were stored.
    pub id: i64,
    /// The entry.
    #[serde(flatten)]
    pub entry: NewAuditEntry,
}

/// Which entries to list (every filter optional; all must hold).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditQuery {
    /// At or after.
    pub from: Option<DateTime<Utc>>,
    /// Before (exclusive).
    pub to: Option<DateTime<Utc>>,
    /// By this actor.
    pub actor: Option<String>,
    /// This action.
    pub action: Option<AuditAction>,
    /// On this target, exactly.
    pub target: Option<String>,
}

impl AuditQuery {
    /// Whether `entry` matches every filter.
    pub fn admits(&self, entry: &NewAuditEntry) -> bool {
        self.from.is_none_or(|from| entry.at >= from)
            && self.to.is_none_or(|to| entry.at < to)
            && self.actor.as_ref().is_none_or(|a| &entry.actor == a)
            && self.action.is_none_or(|a| entry.action == a)
            && self.target.as_ref().is_none_or(|t| &entry.target == t)
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeDelta, TimeZone};
    use serde_json::json;

    use super::*;

    fn at(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 7, h, 0, 0).unwrap()
    }

    #[test]
    fn every_filter_must_hold() {
        let entry = NewAuditEntry::new(at(6), "ana", AuditAction::HolidayCreated, "holiday:3")
            .after(json!({"name": "Victory Day"}))
            .reason("   ");
        assert_eq!(entry.reason, None);
        assert!(AuditQuery::default().admits(&entry));
        let q = |f: fn(&mut AuditQuery)| {
            let mut q = AuditQuery::default();
            f(&mut q);
            q.admits(&entry)
        };
        assert!(q(|q| q.from = Some(at(6))));
        assert!(!q(|q| q.from = Some(at(6) + TimeDelta::seconds(1))));
        assert!(!q(|q| q.to = Some(at(6))));
        assert!(q(|q| q.to = Some(at(7))));
        assert!(q(|q| q.actor = Some("ana".into())));
        assert!(!q(|q| q.actor = Some("bob".into())));
        assert!(!q(|q| q.action = Some(AuditAction::HolidayDeleted)));
        assert!(q(|q| q.target = Some("holiday:3".into())));
        assert!(!q(|q| q.target = Some("holiday:4".into())));
    }

    #[test]
    fn actions_serialise_as_their_names() {
        for action in AuditAction::ALL {
            let json = serde_json::to_value(action).unwrap();
            assert_eq!(json, Value::String(action.as_str().into()));
        }
        let stored = AuditEntry {
            id: 7,
            entry: NewAuditEntry::new(at(1), "root", AuditAction::SettingsChanged, "settings"),
        };
        let json = serde_json::to_value(&stored).unwrap();
        assert_eq!(json["id"], 7);
        assert_eq!(json["action"], "settings_changed");
        assert_eq!(serde_json::from_value::<AuditEntry>(json).unwrap(), stored);
    }
}
