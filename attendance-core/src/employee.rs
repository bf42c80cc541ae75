//! Employees and the values that identify them.

use serde::{Deserialize, Serialize};

use crate::error::{ValidationError, non_empty_trimmed};
use crate::shift::ShiftId;

/// Generates a validated string newtype with `parse`, `as_str`, `Display` and serde that goes
/// through `parse`, so an invalid value can never be deserialised into existence.
macro_rules! text_newtype {
    ($(#[$meta:meta])* $name:ident, $field:literal, $max:expr, $check:expr) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, ::serde::Serialize, ::serde::Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Parses and normalises the value; returns a [`ValidationError`](crate::error::ValidationError) naming the field
            /// when it is empty, too long or has characters it may not have.
            pub fn parse(value: &str) -> Result<Self, $crate::error::ValidationError> {
                let text = $crate::error::non_empty_trimmed($field, value, $max)?;
                let check: fn(&str) -> Option<&'static str> = $check;
                if let Some(reason) = check(&text) {
                    return Err($crate::error::ValidationError::Invalid { field: $field, reason, value: text });
                }
                Ok(Self(text))
            }

            /// The value as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl TryFrom<String> for $name {
            type Error = $crate::error::ValidationError;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(&value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }
    };
}
pub(crate) use text_newtype;

fn code_chars(text: &str) -> Option<&'static str> {
    let ok = text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
    (!ok).then_some("may hold only ASCII letters, digits, '-', '_' and '.'")
}

/// The rule of ids a store or a caller makes up (UUIDs, sequence numbers): ASCII letters,
/// digits, `-` and `_` only.
pub(crate) fn id_chars(text: &str) -> Option<&'static str> {
    (!text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
    .then_some("may hold only ASCII letters, digits, '-' and '_'")
}

fn no_control(text: &str) -> Option<&'static str> {
    text.chars()
        .any(char::is_control)
        .then_some("must not contain control characters")
}

text_newtype!(
    /// An employee's code as HR knows it, such as `EMP001`.
    EmployeeCode,
    "employee_id",
    32,
    code_chars
);

text_newtype!(
    /// The user id enrolled on the fingerprint machines (the device "PIN"), such as `1` or `1001`.
    DeviceUserId,
    "device_user_id",
    24,
    |text| {
        (!text.chars().all(|c| c.is_ascii_alphanumeric()))
            .then_some("may hold only ASCII letters and digits")
    }
);

text_newtype!(
    /// A department's name, such as `Sewing`.
    Department,
    "department",
    100,
    no_control
);

text_newtype!(
    /// A job title, such as `Senior Tailor`.
    Designation,
    "designation",
    100,
    no_control
);

text_newtype!(
    /// The level of work that selects an overtime policy: `Worker`, `Staff`, or a site's own.
    LevelOfWork,
    "level_of_work",
    50,
    no_control
);

impl LevelOfWork {
    /// The shop-floor level: overtime after 17:00, extra overtime after 19:00 by default.
    pub fn worker() -> Self {
        Self("Worker".to_owned())
    }

    /// The salaried level: no overtime by default.
    pub fn staff() -> Self {
        Self("Staff".to_owned())
    }
}

impl DeviceUserId {
    /// The default device user id for an employee code: its digits without leading zeros
    /// (`EMP007` → `7`). Returns `None` when the code has no digits or only zeros.
    pub fn from_employee_code(code: &EmployeeCode) -> Option<Self> {
        let digits: String = code.as_str().chars().filter(char::is_ascii_digit).collect();
        let trimmed = digits.trim_start_matches('0');
        if trimmed.is_empty() || trimmed.len() > 24 {
            return None;
        }
        Some(Self(trimmed.to_owned()))
    }
}

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
        })
    }
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
