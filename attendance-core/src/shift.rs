//! Shifts and which shift an employee works on a date.

use chrono::{NaiveDate, NaiveTime, TimeDelta};
use serde::{Deserialize, Serialize};

use crate::error::ValidationError;
use crate::ids::EmployeeCode;
pub use crate::ids::ShiftId;
use crate::overtime::{ClockOffset, OvertimeTier};

/// An unpaid break: worked time inside `[start, end)` on the work date is not paid. The site has
/// its breaks (`AttendanceSettings::unpaid_breaks`), and a shift may have its own
/// ([`Shift::unpaid_breaks`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnpaidBreak {
    /// A name to show (`Lunch`).
    pub name: String,
    /// Start of the break.
    pub start: ClockOffset,
    /// End of the break.
    pub end: ClockOffset,
}

/// A working shift in the site's local clock. When `end` is not after `start` the shift runs
/// past midnight (a night shift such as 20:00–05:00) and ends on the next calendar day; the work
/// date is always the date on which the shift starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shift {
    /// The shift's id.
    pub id: ShiftId,
    /// A name to show.
    pub name: String,
    /// Local start time.
    pub start: NaiveTime,
    /// Local end time; at or before `start` means the next day.
    pub end: NaiveTime,
    /// Clock windows of overtime for this shift, overriding the level-of-work policy when set
    /// (night shifts usually need their own).
    #[serde(default)]
    pub overtime_tiers: Option<Vec<OvertimeTier>>,
    /// Unpaid breaks of this shift, overriding the site's breaks when set (a night shift's meal
    /// break is not the day shift's lunch).
    #[serde(default)]
    pub unpaid_breaks: Option<Vec<UnpaidBreak>>,
}

impl Shift {
    /// A shift from `start` to `end`; returns an error when they are equal (a zero-length shift).
    pub fn new(
        id: ShiftId,
        name: &str,
        start: NaiveTime,
        end: NaiveTime,
    ) -> Result<Self, ValidationError> {
        if start == end {
            return Err(ValidationError::Invalid {
                field: "shift",
                reason: "must not start and end at the same time",
                value: format!("{start}–{end}"),
            });
        }
        Ok(Self {
            id,
            name: name.to_owned(),
            start,
            end,
            overtime_tiers: None,
            unpaid_breaks: None,
        })
    }

    /// Whether the shift ends on the day after it starts.
    pub fn crosses_midnight(&self) -> bool {
        self.end <= self.start
    }

    /// The end as an offset from the work date's local midnight (more than a day for night shifts).
    pub fn end_offset(&self) -> TimeDelta {
        let end = self.end.signed_duration_since(NaiveTime::MIN);
        if self.crosses_midnight() {
            end + TimeDelta::days(1)
        } else {
            end
        }
    }

    /// The start as an offset from the work date's local midnight.
    pub fn start_offset(&self) -> TimeDelta {
        self.start.signed_duration_since(NaiveTime::MIN)
    }

    /// The default day shift, 08:00–17:00.
    pub fn default_day() -> Self {
        Self {
            id: ShiftId::day(),
            name: "Day".to_owned(),
            start: hm(8, 0),
            end: hm(17, 0),
            overtime_tiers: None,
            unpaid_breaks: None,
        }
    }
}

pub(crate) fn hm(hour: u32, minute: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(hour, minute, 0).unwrap_or(NaiveTime::MIN)
}

/// An employee works `shift` on every date from `from` to `to` (inclusive; open-ended when `None`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShiftAssignment {
    /// The employee.
    pub employee_id: EmployeeCode,
    /// The shift worked.
    pub shift: ShiftId,
    /// First date of the assignment.
    pub from: NaiveDate,
    /// Last date of the assignment, inclusive.
    pub to: Option<NaiveDate>,
}

impl ShiftAssignment {
    /// Whether this assignment covers `date`.
    pub fn covers(&self, date: NaiveDate) -> bool {
        self.from <= date && self.to.is_none_or(|to| date <= to)
    }
}

/// The shifts one employee works, resolved per date: the latest-starting assignment covering a
/// date wins, then the employee's regular shift, then the site default.
#[derive(Debug, Clone)]
pub struct ShiftRoster<'a> {
    default: &'a Shift,
    assigned: Vec<(&'a ShiftAssignment, &'a Shift)>,
}

impl<'a> ShiftRoster<'a> {
    /// Builds the roster from the site's shifts, the employee's assignments (ones naming an
    /// unknown shift are skipped) and the shift to use when no assignment covers a date.
    pub fn new(
        default: &'a Shift,
        shifts: &'a [Shift],
        assignments: &'a [ShiftAssignment],
    ) -> Self {
        let mut assigned: Vec<_> = assignments
            .iter()
            .filter_map(|a| shifts.iter().find(|s| s.id == a.shift).map(|s| (a, s)))
            .collect();
        assigned.sort_by_key(|(a, _)| std::cmp::Reverse(a.from));
        Self { default, assigned }
    }

    /// A roster with one shift on every date.
    pub fn fixed(shift: &'a Shift) -> Self {
        Self {
            default: shift,
            assigned: Vec::new(),
        }
    }

    /// The shift worked on `date`.
    pub fn shift_on(&self, date: NaiveDate) -> &'a Shift {
        self.assigned
            .iter()
            .find(|(a, _)| a.covers(date))
            .map_or(self.default, |(_, s)| s)
    }
}
