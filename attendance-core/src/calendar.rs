//! What the rules need to know about a date besides the scans: holidays and approved leave.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::error::ValidationError;

/// A type of leave. The named ones are the defaults of the Bangladesh Labour Act; a site can add
/// its own with `Other`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum LeaveType {
    /// Casual leave (10 days a year by default).
    Casual,
    /// Sick leave (14 days a year by default).
    Sick,
    /// Annual or earned leave.
    Annual,
    /// Maternity leave (112 days by default).
    Maternity,
    /// Unpaid leave.
    Unpaid,
    /// Compensatory leave for a worked off day.
    Compensatory,
    /// A site's own type, by name (letters, digits and spaces).
    Other(String),
}

impl LeaveType {
    /// The name used in statuses (`Leave-Sick`) and in the API.
    pub fn name(&self) -> &str {
        match self {
            Self::Casual => "Casual",
            Self::Sick => "Sick",
            Self::Annual => "Annual",
            Self::Maternity => "Maternity",
            Self::Unpaid => "Unpaid",
            Self::Compensatory => "Compensatory",
            Self::Other(name) => name,
        }
    }
}

impl FromStr for LeaveType {
    type Err = ValidationError;

    /// Parses a name case-insensitively (`Earned` is `Annual`); other names of ASCII letters,
    /// digits and spaces become `Other`; returns an error for an empty or odd name.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        Ok(match text.to_ascii_lowercase().as_str() {
            "casual" => Self::Casual,
            "sick" => Self::Sick,
            "annual" | "earned" => Self::Annual,
            "maternity" => Self::Maternity,
            "unpaid" => Self::Unpaid,
            "compensatory" => Self::Compensatory,
            _ => {
                let ok = !text.is_empty()
                    && text.len() <= 40
                    && text.chars().all(|c| c.is_ascii_alphanumeric() || c == ' ');
                if !ok {
                    return Err(ValidationError::Invalid {
                        field: "leave_type",
                        reason: "must be 1 to 40 ASCII letters, digits or spaces",
                        value: text.to_owned(),
                    });
                }
                Self::Other(text.to_owned())
            }
        })
    }
}

impl fmt::Display for LeaveType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl TryFrom<String> for LeaveType {
    type Error = ValidationError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<LeaveType> for String {
    fn from(value: LeaveType) -> String {
        value.name().to_owned()
    }
}

/// One date of approved leave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaveDay {
    /// The leave's type.
    pub leave_type: LeaveType,
    /// Whether only half the day is on leave.
    pub half_day: bool,
}

/// The holidays of the site and the approved leave of one employee, by date. The rules read only
/// this; how it is built (recurring holidays, multi-day leave) is the business of the holiday and
/// leave modules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DayCalendar {
    /// Holiday name by date.
    pub holidays: BTreeMap<NaiveDate, String>,
    /// Approved leave by date.
    pub leave: BTreeMap<NaiveDate, LeaveDay>,
}

impl DayCalendar {
    /// An empty calendar: no holidays, no leave.
    pub fn new() -> Self {
        Self::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leave_types_parse_case_insensitively() {
        assert_eq!("sick".parse::<LeaveType>().unwrap(), LeaveType::Sick);
        assert_eq!("Earned".parse::<LeaveType>().unwrap(), LeaveType::Annual);
        assert_eq!(
            "Paternity".parse::<LeaveType>().unwrap(),
            LeaveType::Other("Paternity".into())
        );
        assert!("".parse::<LeaveType>().is_err());
        assert!("Sick-Leave".parse::<LeaveType>().is_err());
        assert_eq!(
            serde_json::to_string(&LeaveType::Maternity).unwrap(),
            "\"Maternity\""
        );
    }
}
