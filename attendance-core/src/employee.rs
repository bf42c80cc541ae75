//! Employees and the values that identify them.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::error::{ValidationError, non_empty_trimmed};
use crate::ids::ShiftId;
pub use crate::ids::{Department, Designation, DeviceUserId, EmployeeCode, LevelOfWork};
use crate::text::no_control;

/// A person whose attendance is tracked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Employee {
    /// The employee's code (`EMP001`), unique on the site.
    pub employee_id: EmployeeCode,
    /// The full name.
    pub employee_name: String,
    /// The department.
    pub department: Department,
    /// The job title.
    pub designation: Designation,
    /// The level of work, which selects the overtime policy.
    pub level_of_work: LevelOfWork,
    /// The id enrolled on the machines.
    pub device_user_id: DeviceUserId,
    /// The employee's regular shift; `None` means the site's default shift.
    pub shift: Option<ShiftId>,
    /// Whether the employee is active; inactive employees are left out of summaries.
    pub active: bool,
    /// The day the employee joined, if known; yearly leave entitlements of policies with
    /// `pro_rata` are prorated from it.
    #[serde(default)]
    pub joined_on: Option<NaiveDate>,
}

/// The fields of a new employee as a user or a file gives them, before validation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewEmployee {
    /// The employee's code.
    pub employee_id: String,
    /// The full name.
    pub employee_name: String,
    /// The department.
    pub department: String,
    /// The job title.
    pub designation: String,
    /// The level of work.
    pub level_of_work: String,
    /// The id enrolled on the machines; defaults to the code's digits.
    #[serde(default)]
    pub device_user_id: Option<String>,
    /// The regular shift.
    #[serde(default)]
    pub shift: Option<String>,
    /// The joining date, `YYYY-MM-DD`.
    #[serde(default)]
    pub joined_on: Option<String>,
}

impl Employee {
    /// Validates every field of `input`. The first invalid field is returned as a
    /// [`ValidationError`]; a code without digits and no explicit device user id is invalid.
    pub fn parse(input: &NewEmployee) -> Result<Self, ValidationError> {
        let employee_id = EmployeeCode::parse(&input.employee_id)?;
        let employee_name = non_empty_trimmed("employee_name", &input.employee_name, 200)?;
        if let Some(reason) = no_control(&employee_name) {
            return Err(ValidationError::Invalid {
                field: "employee_name",
                reason,
                value: employee_name,
            });
        }
        let device_user_id = match input.device_user_id.as_deref() {
            Some(id) if !id.trim().is_empty() => DeviceUserId::parse(id)?,
            _ => DeviceUserId::from_employee_code(&employee_id).ok_or_else(|| {
                ValidationError::Invalid {
                    field: "device_user_id",
                    reason: "must be given when the employee code has no non-zero digits",
                    value: employee_id.to_string(),
                }
            })?,
        };
        let shift = match input.shift.as_deref() {
            Some(s) if !s.trim().is_empty() => Some(ShiftId::parse(s)?),
            _ => None,
        };
        Ok(Self {
            employee_id,
            employee_name,
            department: Department::parse(&input.department)?,
            designation: Designation::parse(&input.designation)?,
            level_of_work: LevelOfWork::parse(&input.level_of_work)?,
            device_user_id,
            shift,
            active: true,
            joined_on: match input.joined_on.as_deref().map(str::trim) {
                Some(d) if !d.is_empty() => Some(parse_date("joined_on", d)?),
                _ => None,
            },
        })
    }
}

/// `text` as a `YYYY-MM-DD` date, or an error naming `field`.
fn parse_date(field: &'static str, text: &str) -> Result<NaiveDate, ValidationError> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| ValidationError::Invalid {
        field,
        reason: "must be a date YYYY-MM-DD",
        value: text.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(code: &str, device: Option<&str>) -> NewEmployee {
        NewEmployee {
            employee_id: code.into(),
            employee_name: "Rahima Khatun".into(),
            department: "Sewing".into(),
            designation: "Senior Tailor".into(),
            level_of_work: "Worker".into(),
            device_user_id: device.map(Into::into),
            shift: None,
            joined_on: None,
        }
    }

    #[test]
    fn device_user_id_defaults_to_code_digits_without_leading_zeros() {
        let e = Employee::parse(&new("EMP007", None)).unwrap();
        assert_eq!(e.device_user_id.as_str(), "7");
        let e = Employee::parse(&new("EMP1001", None)).unwrap();
        assert_eq!(e.device_user_id.as_str(), "1001");
        let e = Employee::parse(&new("EMP000", Some("55"))).unwrap();
        assert_eq!(e.device_user_id.as_str(), "55");
    }

    #[test]
    fn invalid_fields_are_named() {
        let err = Employee::parse(&new("EMP 1", None)).unwrap_err();
        assert!(
            err.to_string().starts_with("employee_id may hold only"),
            "{err}"
        );
        let err = Employee::parse(&new("", None)).unwrap_err();
        assert_eq!(
            err,
            ValidationError::Empty {
                field: "employee_id"
            }
        );
        let err = Employee::parse(&new("EMPX", None)).unwrap_err();
        assert!(err.to_string().contains("device_user_id"), "{err}");
        let mut input = new("EMP1", None);
        input.department = "  ".into();
        assert_eq!(
            Employee::parse(&input).unwrap_err(),
            ValidationError::Empty {
                field: "department"
            }
        );
    }

    #[test]
    fn serde_rejects_invalid_codes() {
        assert!(serde_json::from_str::<EmployeeCode>("\"EMP 1\"").is_err());
        let code: EmployeeCode = serde_json::from_str("\" EMP1 \"").unwrap();
        assert_eq!(code.as_str(), "EMP1");
    }
}
