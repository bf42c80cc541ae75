//! Public holidays: one day or several, once or every year, observed (a day off) or only listed
//! (shown in the calendar but worked).
//!
//! [`holiday_calendar`] expands a set of holidays into the date → name map that goes into
//! [`DayCalendar::holidays`](crate::calendar::DayCalendar::holidays).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, Days, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::error::{ValidationError, non_empty_trimmed};

/// The longest a single holiday may last, in days (its first and last day included).
pub const MAX_HOLIDAY_DAYS: u64 = 366;

/// A holiday, validated: a non-empty name and an inclusive date range of at most
/// [`MAX_HOLIDAY_DAYS`] days whose end is not before its start.
///
/// A recurring holiday falls on the same month and day every year from the year of its `start`
/// on, and lasts as many days as its first occurrence. A recurring holiday that starts on
/// 29 February falls on 28 February in years that have no 29 February.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "NewHoliday", into = "NewHoliday")]
pub struct Holiday {
    name: String,
    start: NaiveDate,
    end: NaiveDate,
    recurring_yearly: bool,
    observed: bool,
    holiday_type: HolidayType,
}

/// What kind of holiday it is. Descriptive: whether the day is off is [`Holiday::observed`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HolidayType {
    /// A public (national) holiday.
    #[default]
    Public,
    /// A holiday the company gives.
    Company,
    /// An optional holiday an employee may take.
    Optional,
}

impl HolidayType {
    /// The type as serialised (`public`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Company => "company",
            Self::Optional => "optional",
        }
    }
}

/// The fields of a holiday as a user or a file gives them, before validation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewHoliday {
    /// The holiday's name (`Victory Day`).
    pub name: String,
    /// The first day.
    pub start: NaiveDate,
    /// The last day (inclusive); `None` means a single day.
    #[serde(default)]
    pub end: Option<NaiveDate>,
    /// Whether it falls on the same month and day every year.
    #[serde(default)]
    pub recurring_yearly: bool,
    /// Whether it is a day off; an unobserved holiday is listed but worked.
    #[serde(default = "observed_by_default")]
    pub observed: bool,
    /// What kind of holiday it is (default public).
    #[serde(default)]
    pub holiday_type: HolidayType,
}

fn observed_by_default() -> bool {
    true
}

impl Holiday {
    /// A holiday from `start` to `end` (inclusive). Returns an error naming `holiday_name` when the
    /// name is empty, longer than 100 characters or holds control characters, `holiday_dates`
    /// when `end` is before `start`, and `holiday_days` when it lasts more than
    /// [`MAX_HOLIDAY_DAYS`] days.
    pub fn new(
        name: &str,
        start: NaiveDate,
        end: NaiveDate,
        recurring_yearly: bool,
        observed: bool,
    ) -> Result<Self, ValidationError> {
        let name = non_empty_trimmed("holiday_name", name, 100)?;
        if name.chars().any(char::is_control) {
            return Err(ValidationError::Invalid {
                field: "holiday_name",
                reason: "must not contain control characters",
                value: name,
            });
        }
        if end < start {
            return Err(ValidationError::Reversed {
                field: "holiday_dates",
                start: start.to_string(),
                end: end.to_string(),
            });
        }
        let days = end.signed_duration_since(start).num_days() + 1;
        if days > MAX_HOLIDAY_DAYS as i64 {
            return Err(ValidationError::OutOfRange {
                field: "holiday_days",
                value: days,
                min: 1,
                max: MAX_HOLIDAY_DAYS as i64,
            });
        }
        Ok(Self {
            name,
            start,
            end,
            recurring_yearly,
            observed,
            holiday_type: HolidayType::Public,
        })
    }

    /// The holiday with `holiday_type` as its type.
    pub fn with_type(mut self, holiday_type: HolidayType) -> Self {
        self.holiday_type = holiday_type;
        self
    }

    /// What kind of holiday it is.
    pub fn holiday_type(&self) -> HolidayType {
        self.holiday_type
    }

    /// A one-off, observed, single-day holiday.
    pub fn single(name: &str, date: NaiveDate) -> Result<Self, ValidationError> {
        Self::new(name, date, date, false, true)
    }

    /// Validates the fields of `input` (see [`Holiday::new`]).
    pub fn parse(input: &NewHoliday) -> Result<Self, ValidationError> {
        Self::new(
            &input.name,
            input.start,
            input.end.unwrap_or(input.start),
            input.recurring_yearly,
            input.observed,
        )
        .map(|h| h.with_type(input.holiday_type))
    }

    /// The holiday's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The first day (of the first occurrence, for a recurring holiday).
    pub fn start(&self) -> NaiveDate {
        self.start
    }

    /// The last day, inclusive (of the first occurrence, for a recurring holiday).
    pub fn end(&self) -> NaiveDate {
        self.end
    }

    /// Whether it falls on the same month and day every year.
    pub fn recurring_yearly(&self) -> bool {
        self.recurring_yearly
    }

    /// Whether it is a day off.
    pub fn observed(&self) -> bool {
        self.observed
    }

    /// How many days one occurrence lasts.
    pub fn length_days(&self) -> u64 {
        self.end
            .signed_duration_since(self.start)
            .num_days()
            .unsigned_abs()
            + 1
    }

    /// The first and last day of the occurrence that starts in `year`, if there is one.
    pub fn occurrence_in(&self, year: i32) -> Option<(NaiveDate, NaiveDate)> {
        if !self.recurring_yearly {
            return (year == self.start.year()).then_some((self.start, self.end));
        }
        if year < self.start.year() {
            return None;
        }
        let start = same_day_in_year(self.start, year)?;
        let end = start.checked_add_days(Days::new(self.length_days() - 1))?;
        Some((start, end))
    }

    /// The dates from `from` to `to` (inclusive) that this holiday covers, in order, whether it
    /// is observed or not. Empty when `to` is before `from`.
    pub fn dates_between(&self, from: NaiveDate, to: NaiveDate) -> Vec<NaiveDate> {
        let mut dates = BTreeSet::new();
        if to < from {
            return Vec::new();
        }
        // An occurrence lasts at most a year, so one that starts the year before `from` may
        // still reach into the range.
        let first_year = from.year().saturating_sub(1).max(self.start.year());
        for year in first_year..=to.year() {
            let Some((start, end)) = self.occurrence_in(year) else {
                continue;
            };
            let mut date = start.max(from);
            let last = end.min(to);
            while date <= last {
                dates.insert(date);
                match date.succ_opt() {
                    Some(next) => date = next,
                    None => break,
                }
            }
        }
        dates.into_iter().collect()
    }

    /// Whether this holiday covers `date` (observed or not).
    pub fn covers(&self, date: NaiveDate) -> bool {
        !self.dates_between(date, date).is_empty()
    }
}

impl TryFrom<NewHoliday> for Holiday {
    type Error = ValidationError;
    fn try_from(value: NewHoliday) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Holiday> for NewHoliday {
    fn from(value: Holiday) -> Self {
        Self {
            name: value.name,
            start: value.start,
            end: Some(value.end),
            recurring_yearly: value.recurring_yearly,
            observed: value.observed,
            holiday_type: value.holiday_type,
        }
    }
}

/// `date`'s month and day in `year`; 29 February becomes 28 February in a common year.
fn same_day_in_year(date: NaiveDate, year: i32) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(year, date.month(), date.day()).or_else(|| {
        (date.month() == 2 && date.day() == 29)
            .then(|| NaiveDate::from_ymd_opt(year, 2, 28))
            .flatten()
    })
}

/// The observed holidays from `from` to `to` (inclusive) as a date → name map, ready for
/// [`DayCalendar::holidays`](crate::calendar::DayCalendar::holidays). Holidays that are not
/// observed are left out (they are working days). When several holidays fall on one date, their
/// names are sorted and joined with ` / `, so the result does not depend on the input's order.
pub fn holiday_calendar(
    holidays: &[Holiday],
    from: NaiveDate,
    to: NaiveDate,
) -> BTreeMap<NaiveDate, String> {
    let mut names: BTreeMap<NaiveDate, BTreeSet<&str>> = BTreeMap::new();
    for holiday in holidays.iter().filter(|h| h.observed) {
        for date in holiday.dates_between(from, to) {
            names.entry(date).or_default().insert(holiday.name());
        }
    }
    names
        .into_iter()
        .map(|(date, set)| (date, set.into_iter().collect::<Vec<_>>().join(" / ")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn h(name: &str, start: NaiveDate, end: NaiveDate, recurring: bool, observed: bool) -> Holiday {
        Holiday::new(name, start, end, recurring, observed).unwrap()
    }

    /// Expands `holidays` over `range` and compares with `expected` (date, name) pairs.
    fn check(holidays: &[Holiday], range: (NaiveDate, NaiveDate), expected: &[(NaiveDate, &str)]) {
        let got = holiday_calendar(holidays, range.0, range.1);
        let want: BTreeMap<NaiveDate, String> = expected
            .iter()
            .map(|(date, name)| (*date, (*name).to_owned()))
            .collect();
        assert_eq!(got, want, "holidays {holidays:?} over {range:?}");
    }

    #[test]
    fn expansion_table() {
        let victory = h("Victory Day", d(2024, 12, 16), d(2024, 12, 16), true, true);
        let eid = h("Eid", d(2026, 3, 19), d(2026, 3, 22), false, true);
        let listed = h("Listed", d(2026, 3, 1), d(2026, 3, 1), false, false);
        let leap = h("Leap", d(2024, 2, 29), d(2024, 2, 29), true, true);
        let new_year = h("New Year", d(2025, 12, 31), d(2026, 1, 1), true, true);
        let other = h("Another", d(2026, 3, 20), d(2026, 3, 20), false, true);
        let jan = (d(2026, 1, 1), d(2026, 1, 31));

        // One-off single day inside and outside the range.
        check(
            std::slice::from_ref(&victory),
            (d(2024, 12, 1), d(2024, 12, 31)),
            &[(d(2024, 12, 16), "Victory Day")],
        );
        // Recurring: every year from its first year on, never before.
        check(
            std::slice::from_ref(&victory),
            (d(2023, 1, 1), d(2026, 12, 31)),
            &[
                (d(2024, 12, 16), "Victory Day"),
                (d(2025, 12, 16), "Victory Day"),
                (d(2026, 12, 16), "Victory Day"),
            ],
        );
        // Multi-day, clipped to the range.
        check(
            std::slice::from_ref(&eid),
            (d(2026, 3, 20), d(2026, 3, 31)),
            &[
                (d(2026, 3, 20), "Eid"),
                (d(2026, 3, 21), "Eid"),
                (d(2026, 3, 22), "Eid"),
            ],
        );
        // One-off holidays do not repeat.
        check(
            std::slice::from_ref(&eid),
            (d(2027, 3, 1), d(2027, 3, 31)),
            &[],
        );
        // Not observed: listed but a working day.
        check(
            std::slice::from_ref(&listed),
            (d(2026, 3, 1), d(2026, 3, 1)),
            &[],
        );
        // 29 February falls on 28 February in a common year.
        check(
            std::slice::from_ref(&leap),
            (d(2025, 2, 1), d(2025, 3, 31)),
            &[(d(2025, 2, 28), "Leap")],
        );
        check(
            std::slice::from_ref(&leap),
            (d(2028, 2, 28), d(2028, 2, 29)),
            &[(d(2028, 2, 29), "Leap")],
        );
        // A recurring holiday across the year end reaches into the next year's range.
        check(
            std::slice::from_ref(&new_year),
            jan,
            &[(d(2026, 1, 1), "New Year")],
        );
        // Two holidays on one date: names sorted and joined, whatever the input order.
        check(
            &[eid.clone(), other.clone()],
            (d(2026, 3, 20), d(2026, 3, 20)),
            &[(d(2026, 3, 20), "Another / Eid")],
        );
        check(
            &[other, eid],
            (d(2026, 3, 20), d(2026, 3, 20)),
            &[(d(2026, 3, 20), "Another / Eid")],
        );
        // A reversed range is empty.
        check(&[victory], (d(2026, 12, 31), d(2026, 1, 1)), &[]);
    }

    #[test]
    fn invalid_holidays_are_refused() {
        let cases: &[(&str, NaiveDate, NaiveDate, &str)] = &[
            (
                "  ",
                d(2026, 1, 1),
                d(2026, 1, 1),
                "holiday_name must not be empty",
            ),
            (
                "Eid",
                d(2026, 1, 2),
                d(2026, 1, 1),
                "holiday_dates: 2026-01-02 is after 2026-01-01",
            ),
            (
                "Long",
                d(2026, 1, 1),
                d(2027, 1, 2),
                "holiday_days must be between 1 and 366 (got 367)",
            ),
            (
                "Bad\u{7}",
                d(2026, 1, 1),
                d(2026, 1, 1),
                "holiday_name must not contain control",
            ),
        ];
        for (name, start, end, message) in cases {
            let err = Holiday::new(name, *start, *end, false, true).unwrap_err();
            assert!(err.to_string().starts_with(message), "{err}");
        }
    }

    #[test]
    fn serde_validates_and_defaults() {
        let holiday: Holiday =
            serde_json::from_str(r#"{"name": "Victory Day", "start": "2026-12-16"}"#).unwrap();
        assert_eq!(
            holiday,
            Holiday::single("Victory Day", d(2026, 12, 16)).unwrap()
        );
        assert!(holiday.observed());
        let json = serde_json::to_string(&holiday).unwrap();
        assert_eq!(serde_json::from_str::<Holiday>(&json).unwrap(), holiday);
        assert!(
            serde_json::from_str::<Holiday>(
                r#"{"name": "x", "start": "2026-12-16", "end": "2026-12-15"}"#
            )
            .is_err()
        );
    }

    #[test]
    fn covers_and_occurrences() {
        let leap = h("Leap", d(2024, 2, 29), d(2024, 3, 1), true, true);
        assert_eq!(leap.occurrence_in(2023), None);
        assert_eq!(
            leap.occurrence_in(2025),
            Some((d(2025, 2, 28), d(2025, 3, 1)))
        );
        assert!(leap.covers(d(2027, 3, 1)));
        assert!(!leap.covers(d(2027, 3, 2)));
        assert_eq!(leap.length_days(), 2);
    }
}
