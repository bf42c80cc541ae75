//! The validated names every part of the rules shares: who an employee is (code, device user),
//! where they work (department, designation, level of work) and which shift they are on. They
//! live below the modules that use them ([`crate::employee`], [`crate::shift`],
//! [`crate::overtime`], [`crate::settings`], …), so none of those depends on another for a name;
//! each is also exported from the module that describes it (`employee::EmployeeCode`,
//! `shift::ShiftId`).

use crate::text::{code_chars, id_chars, no_control, text_newtype};

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

text_newtype!(
    /// A shift's short id, such as `DAY` or `NIGHT`.
    ShiftId,
    "shift",
    32,
    id_chars
);

impl ShiftId {
    /// The id of the default day shift, `DAY`.
    pub(crate) fn day() -> Self {
        Self("DAY".to_owned())
    }
}
