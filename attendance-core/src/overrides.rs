//! Day overrides: HR sets a day's status by hand (a machine was broken and the whole line was
//! present; an official outing), with a reason. The computed record stays as it is — its hours,
//! overtime and scans — and is recomputed as usual; the override sits beside it and wins for the
//! status wherever the day is shown or counted, until it is removed.
//!
//! ```
//! use attendance_core::employee::EmployeeCode;
//! use attendance_core::overrides::DayOverride;
//! use attendance_core::status::AttendanceStatus;
//! use chrono::{NaiveDate, TimeZone, Utc};
//!
//! let o = DayOverride::new(
//!     EmployeeCode::parse("EMP001")?,
//!     NaiveDate::from_ymd_opt(2026, 12, 6).unwrap(),
//!     AttendanceStatus::PresentOnTime,
//!     "device 3 was down all morning",
//!     "hr.ana",
//!     Utc.with_ymd_and_hms(2026, 12, 7, 6, 0, 0).unwrap(),
//! )?;
//! assert_eq!(o.status, AttendanceStatus::PresentOnTime);
//! # Ok::<(), attendance_core::ValidationError>(())
//! ```

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::daily::DailyRecord;
use crate::employee::EmployeeCode;
use crate::error::{ValidationError, non_empty_trimmed};
use crate::report::{DailySummary, OverrideNote};
use crate::status::AttendanceStatus;

/// The most characters of an override's reason.
pub const MAX_OVERRIDE_REASON_CHARS: usize = 500;

/// A day's status set by hand.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayOverride {
    /// The employee.
    pub employee_id: EmployeeCode,
    /// The work date.
    pub date: NaiveDate,
    /// The status shown and counted for the day.
    pub status: AttendanceStatus,
    /// Why (required).
    pub reason: String,
    /// Who set it (a username).
    pub set_by: String,
    /// When.
    pub set_at: DateTime<Utc>,
}

impl DayOverride {
    /// An override; the reason is required (at most [`MAX_OVERRIDE_REASON_CHARS`]) and `Pending`
    /// is refused (it is what a day is before its window closes, not a decision).
    pub fn new(
        employee_id: EmployeeCode,
        date: NaiveDate,
        status: AttendanceStatus,
        reason: &str,
        set_by: &str,
        set_at: DateTime<Utc>,
    ) -> Result<Self, ValidationError> {
        let reason = non_empty_trimmed("reason", reason, MAX_OVERRIDE_REASON_CHARS)?;
        if status == AttendanceStatus::Pending {
            return Err(ValidationError::Invalid {
                field: "status",
                reason: "may not be set to pending by hand",
                value: "pending".into(),
            });
        }
        Ok(Self {
            employee_id,
            date,
            status,
            reason,
            set_by: set_by.to_owned(),
            set_at,
        })
    }

    /// Whether the override is about `record`'s employee and date.
    pub fn is_for(&self, record: &DailyRecord) -> bool {
        self.employee_id == record.employee_id && self.date == record.date
    }

    /// `summary` with the overridden status; everything else (hours, scans) as computed.
    /// Returns the computed status.
    /// `summary.computed_status` keeps the computed one and `summary.day_override` names this
    /// override.
    pub fn apply(&self, summary: &mut DailySummary) -> AttendanceStatus {
        summary.day_override = Some(self.note());
        std::mem::replace(&mut summary.status, self.status.clone())
    }

    /// The override as shown beside its day.
    pub fn note(&self) -> OverrideNote {
        OverrideNote {
            status: self.status.clone(),
            reason: self.reason.clone(),
            set_by: self.set_by.clone(),
            set_at: self.set_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn new(status: AttendanceStatus, reason: &str) -> Result<DayOverride, ValidationError> {
        DayOverride::new(
            EmployeeCode::parse("EMP001").unwrap(),
            NaiveDate::from_ymd_opt(2026, 12, 6).unwrap(),
            status,
            reason,
            "hr",
            Utc.with_ymd_and_hms(2026, 12, 7, 6, 0, 0).unwrap(),
        )
    }

    #[test]
    fn a_reason_is_required_and_pending_refused() {
        assert!(new(AttendanceStatus::Absent, " ").is_err());
        let err = new(AttendanceStatus::Pending, "x").unwrap_err();
        assert!(err.to_string().contains("status"), "{err}");
        let o = new(AttendanceStatus::PresentLate, "  late bus  ").unwrap();
        assert_eq!(o.reason, "late bus");
        let json = serde_json::to_string(&o).unwrap();
        assert_eq!(serde_json::from_str::<DayOverride>(&json).unwrap(), o);
    }
}
