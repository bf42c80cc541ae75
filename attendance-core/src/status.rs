//! The status of a work date, serialised exactly as the frontend expects.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::calendar::LeaveType;
use crate::error::ValidationError;

/// What a work date was for one employee. Serialised as `Present-OnTime`, `Present-Considered`,
/// `Present-Late`, `Absent`, `Leave-<Type>` (such as `Leave-Sick`), `Holiday`, `Weekend`, or
/// `Pending` (a working day with no scan whose window has not closed yet: it may still become
/// present, so it is not yet absent).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum AttendanceStatus {
    /// First arrival within the on-time grace.
    PresentOnTime,
    /// First arrival after the grace but within the considered window.
    PresentConsidered,
    /// First arrival after the considered window.
    PresentLate,
    /// A working day with no valid scan and no approved leave, whose window has closed.
    Absent,
    /// Approved leave of this type.
    Leave(LeaveType),
    /// A public holiday.
    Holiday,
    /// A weekly off day.
    Weekend,
    /// A working day with no scan yet whose window is still open (or lies in the future).
    Pending,
}

impl AttendanceStatus {
    /// Whether the status counts as present.
    pub fn is_present(&self) -> bool {
        matches!(
            self,
            Self::PresentOnTime | Self::PresentConsidered | Self::PresentLate
        )
    }
}

impl fmt::Display for AttendanceStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PresentOnTime => f.write_str("Present-OnTime"),
            Self::PresentConsidered => f.write_str("Present-Considered"),
            Self::PresentLate => f.write_str("Present-Late"),
            Self::Absent => f.write_str("Absent"),
            Self::Leave(kind) => write!(f, "Leave-{kind}"),
            Self::Holiday => f.write_str("Holiday"),
            Self::Weekend => f.write_str("Weekend"),
            Self::Pending => f.write_str("Pending"),
        }
    }
}

impl FromStr for AttendanceStatus {
    type Err = ValidationError;

    /// Parses the exact strings above; returns an error naming `status` for anything else.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(match text {
            "Present-OnTime" => Self::PresentOnTime,
            "Present-Considered" => Self::PresentConsidered,
            "Present-Late" => Self::PresentLate,
            "Absent" => Self::Absent,
            "Holiday" => Self::Holiday,
            "Weekend" => Self::Weekend,
            "Pending" => Self::Pending,
            other => match other.strip_prefix("Leave-") {
                Some(kind) => Self::Leave(kind.parse()?),
                None => {
                    return Err(ValidationError::Invalid {
                        field: "status",
                        reason: "must be Present-OnTime, Present-Considered, Present-Late, Absent, \
                                 Leave-<Type>, Holiday, Weekend or Pending",
                        value: other.to_owned(),
                    });
                }
            },
        })
    }
}

impl TryFrom<String> for AttendanceStatus {
    type Error = ValidationError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<AttendanceStatus> for String {
    fn from(value: AttendanceStatus) -> String {
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_as_the_frontend_spells_them() {
        for text in [
            "Present-OnTime",
            "Present-Considered",
            "Present-Late",
            "Absent",
            "Leave-Sick",
            "Leave-Casual",
            "Holiday",
            "Weekend",
            "Pending",
        ] {
            let status: AttendanceStatus = text.parse().unwrap();
            assert_eq!(status.to_string(), text);
            assert_eq!(
                serde_json::to_string(&status).unwrap(),
                format!("\"{text}\"")
            );
        }
        assert!("present".parse::<AttendanceStatus>().is_err());
        assert!("Leave-".parse::<AttendanceStatus>().is_err());
    }
}
