//! Attendance corrections: an employee (or their head, or HR) asks for a scan the device did not
//! record (a forgotten punch); the employee's department head or HR approves or rejects it, never
//! the person it is about. An approved correction becomes a manual scan linked to it.
//!
//! ```
//! use attendance_core::access::{Actor, Owner, Role};
//! use attendance_core::correction::{Correction, CorrectionId, CorrectionStatus, NewCorrection};
//! use attendance_core::employee::{Department, EmployeeCode};
//! use chrono::{TimeZone, Utc};
//!
//! let emp = EmployeeCode::parse("EMP001")?;
//! let sewing = Department::parse("Sewing")?;
//! let now = Utc.with_ymd_and_hms(2026, 12, 7, 6, 0, 0).unwrap();
//! let asked = NewCorrection {
//!     employee_id: emp.clone(),
//!     scan_time: Utc.with_ymd_and_hms(2026, 12, 7, 2, 0, 0).unwrap(),
//!     scan_type: None,
//!     reason: "forgot to punch in".into(),
//! };
//! let mut correction = Correction::file(CorrectionId::parse("C1")?, asked, "rahima", now)?;
//! let head = Actor::new(Role::DepartmentHead, Some(EmployeeCode::parse("EMP900")?), Some(sewing.clone()));
//! let owner = Owner { employee: emp, department: sewing };
//! correction.decide(true, &head, "karim", &owner, None, now)?;
//! assert_eq!(correction.status, CorrectionStatus::Approved);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::access::{AccessDenied, Action, Actor, Owner, authorize};
use crate::error::{ValidationError, non_empty_trimmed};
use crate::ids::EmployeeCode;
use crate::scan::PunchState;
use crate::text::{id_chars, text_newtype};

text_newtype!(
    /// A correction's id, given by the store or the server (a UUID).
    CorrectionId,
    "correction_id",
    64,
    id_chars
);

/// The most characters of a reason.
pub const MAX_REASON_CHARS: usize = 500;

/// The machine id an approved correction's scan is stored under: the one of every manual scan
/// (the server's manual scans and imports use the same), so a correction and a manual scan of
/// the same second are one scan.
pub const MANUAL_MACHINE: &str = "MANUAL";

/// How far after "now" a corrected scan may be (a clock a little ahead); a later time is refused.
pub const FUTURE_TOLERANCE: TimeDelta = TimeDelta::minutes(5);

/// The earliest scan time a correction may ask for (the engine's storable window starts there).
pub fn earliest_scan_time() -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(1_262_304_000, 0).unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Where a correction stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CorrectionStatus {
    /// Waiting for the head or HR.
    Pending,
    /// Approved: its scan is stored.
    Approved,
    /// Rejected.
    Rejected,
}

impl CorrectionStatus {
    /// The status as serialised (`pending`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
        }
    }
}

/// What someone asks for, validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewCorrection {
    /// The employee whose scan is missing.
    pub employee_id: EmployeeCode,
    /// When the scan should have been recorded.
    pub scan_time: DateTime<Utc>,
    /// What was (or should have been) pressed; `None` when not known.
    pub scan_type: Option<PunchState>,
    /// Why.
    pub reason: String,
}

/// A correction and its decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Correction {
    /// Its id.
    pub id: CorrectionId,
    /// The employee it is about.
    pub employee_id: EmployeeCode,
    /// The scan asked for.
    pub scan_time: DateTime<Utc>,
    /// What was pressed, if known.
    pub scan_type: Option<PunchState>,
    /// Why it was asked.
    pub reason: String,
    /// Who asked (a username).
    pub requested_by: String,
    /// When.
    pub requested_at: DateTime<Utc>,
    /// Where it stands.
    pub status: CorrectionStatus,
    /// Who decided (a username).
    pub decided_by: Option<String>,
    /// When.
    pub decided_at: Option<DateTime<Utc>>,
    /// The decider's note.
    pub decision_note: Option<String>,
}

/// Why a correction could not be filed or decided.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CorrectionError {
    /// A field was invalid.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// The actor may not do this (including deciding one's own correction).
    #[error(transparent)]
    Denied(#[from] AccessDenied),
    /// It was decided already.
    #[error("correction {id} is {status} already", status = status.as_str())]
    AlreadyDecided {
        /// The correction.
        id: CorrectionId,
        /// Its status.
        status: CorrectionStatus,
    },
}

impl Correction {
    /// Files `new` as asked by `requested_by` at `now`: the reason is required (at most
    /// [`MAX_REASON_CHARS`]), the time between [`earliest_scan_time`] and `now` +
    /// [`FUTURE_TOLERANCE`]. Who may file is the caller's check
    /// ([`Action::RequestCorrection`]).
    pub fn file(
        id: CorrectionId,
        new: NewCorrection,
        requested_by: &str,
        now: DateTime<Utc>,
    ) -> Result<Self, CorrectionError> {
        let reason = non_empty_trimmed("reason", &new.reason, MAX_REASON_CHARS)?;
        check_scan_time(new.scan_time, now)?;
        Ok(Self {
            id,
            employee_id: new.employee_id,
            scan_time: new.scan_time,
            scan_type: new.scan_type,
            reason,
            requested_by: requested_by.to_owned(),
            requested_at: now,
            status: CorrectionStatus::Pending,
            decided_by: None,
            decided_at: None,
            decision_note: None,
        })
    }

    /// Approves (`approve`) or rejects the correction as `actor` (username `by`), whose
    /// employee is `owner`: only a pending correction, only by the employee's department head or
    /// HR ([`Action::DecideCorrection`]), never by the employee themselves.
    pub fn decide(
        &mut self,
        approve: bool,
        actor: &Actor,
        by: &str,
        owner: &Owner,
        note: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), CorrectionError> {
        authorize(actor, Action::DecideCorrection, Some(owner))?;
        if self.status != CorrectionStatus::Pending {
            return Err(CorrectionError::AlreadyDecided {
                id: self.id.clone(),
                status: self.status,
            });
        }
        let note = note
            .map(|n| n.trim())
            .filter(|n| !n.is_empty())
            .map(|n| non_empty_trimmed("note", n, MAX_REASON_CHARS))
            .transpose()?;
        self.status = if approve {
            CorrectionStatus::Approved
        } else {
            CorrectionStatus::Rejected
        };
        self.decided_by = Some(by.to_owned());
        self.decided_at = Some(now);
        self.decision_note = note;
        Ok(())
    }
}

/// Checks a corrected (or manual) scan time: not before [`earliest_scan_time`], not later than
/// `now` + [`FUTURE_TOLERANCE`].
pub fn check_scan_time(at: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), ValidationError> {
    if at < earliest_scan_time() || at > now + FUTURE_TOLERANCE {
        return Err(ValidationError::Invalid {
            field: "scan_time",
            reason: "must be between 2010-01-01 and now",
            value: at.to_rfc3339(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::access::{DenialReason, Role};
    use crate::employee::Department;

    fn code(s: &str) -> EmployeeCode {
        EmployeeCode::parse(s).unwrap()
    }

    fn dept(s: &str) -> Department {
        Department::parse(s).unwrap()
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 7, 6, 0, 0).unwrap()
    }

    fn filed() -> Correction {
        let new = NewCorrection {
            employee_id: code("EMP001"),
            scan_time: Utc.with_ymd_and_hms(2026, 12, 7, 2, 0, 0).unwrap(),
            scan_type: Some(PunchState::CheckIn),
            reason: "  forgot to punch  ".into(),
        };
        Correction::file(CorrectionId::parse("C1").unwrap(), new, "rahima", now()).unwrap()
    }

    fn owner() -> Owner {
        Owner {
            employee: code("EMP001"),
            department: dept("Sewing"),
        }
    }

    #[test]
    fn filing_checks_the_reason_and_the_time() {
        let c = filed();
        assert_eq!(c.reason, "forgot to punch");
        assert_eq!(c.status, CorrectionStatus::Pending);
        let mut new = NewCorrection {
            employee_id: code("EMP001"),
            scan_time: now() + TimeDelta::hours(1),
            scan_type: None,
            reason: "x".into(),
        };
        let id = CorrectionId::parse("C2").unwrap();
        let err = Correction::file(id.clone(), new.clone(), "a", now()).unwrap_err();
        assert!(err.to_string().contains("scan_time"), "{err}");
        new.scan_time = Utc.with_ymd_and_hms(2009, 12, 31, 0, 0, 0).unwrap();
        assert!(Correction::file(id.clone(), new.clone(), "a", now()).is_err());
        new.scan_time = now();
        new.reason = "   ".into();
        let err = Correction::file(id.clone(), new.clone(), "a", now()).unwrap_err();
        assert!(err.to_string().contains("reason"), "{err}");
        new.reason = "y".repeat(MAX_REASON_CHARS + 1);
        assert!(Correction::file(id, new, "a", now()).is_err());
    }

    #[test]
    fn the_head_or_hr_decides_never_the_employee() {
        let head = Actor::new(
            Role::DepartmentHead,
            Some(code("EMP900")),
            Some(dept("Sewing")),
        );
        let other_head = Actor::new(
            Role::DepartmentHead,
            Some(code("EMP901")),
            Some(dept("Cutting")),
        );
        let hr = Actor::new(Role::HrStaff, None, None);
        let admin = Actor::new(Role::SuperAdmin, Some(code("EMP001")), Some(dept("Sewing")));
        let employee = Actor::new(Role::Employee, Some(code("EMP001")), Some(dept("Sewing")));

        let mut c = filed();
        let own = c
            .decide(true, &employee, "rahima", &owner(), None, now())
            .unwrap_err();
        assert!(matches!(own, CorrectionError::Denied(_)), "{own}");
        // An admin who is the employee may not approve their own correction either.
        let own = c
            .decide(true, &admin, "root", &owner(), None, now())
            .unwrap_err();
        let CorrectionError::Denied(denied) = own else {
            panic!("{own}")
        };
        assert_eq!(denied.reason, DenialReason::OwnRequest);
        assert!(
            c.decide(true, &other_head, "x", &owner(), None, now())
                .is_err()
        );
        assert_eq!(c.status, CorrectionStatus::Pending);

        c.decide(true, &head, "karim", &owner(), Some(" ok "), now())
            .unwrap();
        assert_eq!(c.status, CorrectionStatus::Approved);
        assert_eq!(c.decided_by.as_deref(), Some("karim"));
        assert_eq!(c.decision_note.as_deref(), Some("ok"));
        let again = c
            .decide(false, &hr, "hr", &owner(), None, now())
            .unwrap_err();
        assert!(matches!(again, CorrectionError::AlreadyDecided { .. }));

        let mut c = filed();
        c.decide(false, &hr, "hr", &owner(), None, now()).unwrap();
        assert_eq!(c.status, CorrectionStatus::Rejected);
        assert_eq!(c.decision_note, None);
    }

    #[test]
    fn corrections_round_trip_as_json() {
        let c = filed();
        let json = serde_json::to_string(&c).unwrap();
        assert!(json.contains("\"status\":\"pending\""), "{json}");
        assert_eq!(serde_json::from_str::<Correction>(&json).unwrap(), c);
    }
}
