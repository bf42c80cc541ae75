//! Which dates of a leave count, and how much each one counts.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate, Weekday};
use serde::{Deserialize, Serialize};

use super::{HalfDays, OffDayRule};

/// How much of a date a leave takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DayPart {
    /// The whole day.
    Full,
    /// The morning only (a leave that ends at midday).
    FirstHalf,
    /// The afternoon only (a leave that starts at midday).
    SecondHalf,
}

impl DayPart {
    /// The part as an amount: one or two half days.
    pub fn amount(self) -> HalfDays {
        match self {
            Self::Full => HalfDays::new(2),
            Self::FirstHalf | Self::SecondHalf => HalfDays::new(1),
        }
    }

    /// Whether two parts of the same date can both be on leave (a morning and an afternoon).
    pub fn overlaps(self, other: DayPart) -> bool {
        !matches!(
            (self, other),
            (Self::FirstHalf, Self::SecondHalf) | (Self::SecondHalf, Self::FirstHalf)
        )
    }
}

/// One date a leave counts, and how much.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountedDay {
    /// The date.
    pub date: NaiveDate,
    /// How much of it.
    pub part: DayPart,
    /// Whether it is a weekly off day or a holiday that counts under the policy's off-day rule.
    pub off_day: bool,
}

/// The part of `date` that a leave from `start` to `end` (inclusive) covers. `start_half` means the
/// leave starts at midday on `start`, `end_half` that it ends at midday on `end`; on a single
/// date, both together cover nothing. `None` for a date outside the range.
pub(crate) fn part_of(
    date: NaiveDate,
    start: NaiveDate,
    end: NaiveDate,
    start_half: bool,
    end_half: bool,
) -> Option<DayPart> {
    if date < start || date > end {
        return None;
    }
    let from_midday = date == start && start_half;
    let to_midday = date == end && end_half;
    match (from_midday, to_midday) {
        (true, true) => None,
        (true, false) => Some(DayPart::SecondHalf),
        (false, true) => Some(DayPart::FirstHalf),
        (false, false) => Some(DayPart::Full),
    }
}

fn is_off(
    date: NaiveDate,
    weekly_off_days: &[Weekday],
    holidays: &BTreeMap<NaiveDate, String>,
) -> bool {
    weekly_off_days.contains(&date.weekday()) || holidays.contains_key(&date)
}

fn dates(start: NaiveDate, end: NaiveDate) -> impl Iterator<Item = NaiveDate> {
    std::iter::successors((start <= end).then_some(start), move |d| {
        d.succ_opt().filter(|next| *next <= end)
    })
}

/// The dates a leave from `start` to `end` (inclusive) counts, in order, under `rule`. Weekly off
/// days and the dates in `holidays` (observed holidays, as in
/// [`DayCalendar::holidays`](crate::calendar::DayCalendar::holidays)) are off days: left out,
/// counted when sandwiched between working days of the leave, or always counted, as `rule` says.
/// `start_half` / `end_half` make the leave start / end at midday (see [`DayPart`]). Empty when
/// `end` is before `start`.
pub fn leave_days(
    start: NaiveDate,
    end: NaiveDate,
    (start_half, end_half): (bool, bool),
    rule: OffDayRule,
    weekly_off_days: &[Weekday],
    holidays: &BTreeMap<NaiveDate, String>,
) -> Vec<CountedDay> {
    let off = |d: NaiveDate| is_off(d, weekly_off_days, holidays);
    let first_working = dates(start, end).find(|d| !off(*d));
    let last_working = first_working.and_then(|_| {
        // Walk back from the end; the range is non-empty since a working day was found.
        let mut d = end;
        while off(d) {
            d = d.pred_opt()?;
        }
        Some(d)
    });
    dates(start, end)
        .filter_map(|date| {
            let off_day = off(date);
            let counts = !off_day
                || match rule {
                    OffDayRule::Excluded => false,
                    OffDayRule::Counted => true,
                    OffDayRule::Sandwiched => matches!(
                        (first_working, last_working),
                        (Some(first), Some(last)) if first < date && date < last
                    ),
                };
            if !counts {
                return None;
            }
            let part = part_of(date, start, end, start_half, end_half)?;
            Some(CountedDay {
                date,
                part,
                off_day,
            })
        })
        .collect()
}

/// The number of working days from `from` to `to` (inclusive): dates that are neither weekly off
/// days nor in `holidays`. Zero when `to` is before `from`.
pub fn count_working_days(
    from: NaiveDate,
    to: NaiveDate,
    weekly_off_days: &[Weekday],
    holidays: &BTreeMap<NaiveDate, String>,
) -> usize {
    dates(from, to)
        .filter(|d| !is_off(*d, weekly_off_days, holidays))
        .count()
}

/// The total amount of `days`.
pub(crate) fn total(days: &[CountedDay]) -> HalfDays {
    days.iter().map(|d| d.part.amount()).sum()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn d(day: u32) -> NaiveDate {
        // March 2026: the 6th, 13th, 20th and 27th are Fridays.
        NaiveDate::from_ymd_opt(2026, 3, day).unwrap()
    }

    fn holidays(days: &[u32]) -> BTreeMap<NaiveDate, String> {
        days.iter().map(|&n| (d(n), "Holiday".to_owned())).collect()
    }

    /// Counts a leave over March 2026 with Friday off and a holiday on the 17th, and compares
    /// the counted half days and the counted dates with `expected`.
    fn check(
        (start, end, start_half, end_half): (u32, u32, bool, bool),
        rule: OffDayRule,
        expected: (i64, &[u32]),
    ) {
        let days = leave_days(
            d(start),
            d(end),
            (start_half, end_half),
            rule,
            &[Weekday::Fri],
            &holidays(&[17]),
        );
        let dates: Vec<u32> = days.iter().map(|c| c.date.day()).collect();
        assert_eq!(
            (total(&days).halves(), dates.as_slice()),
            expected,
            "{start}..{end} halves {start_half}/{end_half} {rule:?}"
        );
    }

    #[test]
    fn counting_table() {
        use OffDayRule::*;
        // Thursday 5th to Saturday 7th, Friday off.
        check((5, 7, false, false), Excluded, (4, &[5, 7]));
        check((5, 7, false, false), Sandwiched, (6, &[5, 6, 7]));
        check((5, 7, false, false), Counted, (6, &[5, 6, 7]));
        // Off days at the edges are not sandwiched.
        check((6, 7, false, false), Sandwiched, (2, &[7]));
        check((4, 6, false, false), Sandwiched, (4, &[4, 5]));
        check((6, 6, false, false), Counted, (2, &[6]));
        check((6, 6, false, false), Sandwiched, (0, &[]));
        // A holiday counts like a weekend.
        check((16, 18, false, false), Excluded, (4, &[16, 18]));
        check((16, 18, false, false), Sandwiched, (6, &[16, 17, 18]));
        // Half days at the edges.
        check((5, 7, true, false), Excluded, (3, &[5, 7]));
        check((5, 7, true, true), Excluded, (2, &[5, 7]));
        check((5, 5, true, false), Excluded, (1, &[5]));
        check((5, 5, false, true), Excluded, (1, &[5]));
        check((5, 5, true, true), Excluded, (0, &[]));
        // A half at an off edge that does not count changes nothing.
        check((6, 7, true, false), Excluded, (2, &[7]));
        // Reversed.
        check((7, 5, false, false), Counted, (0, &[]));
        // Whole March: 31 days, 4 Fridays, 1 holiday.
        check(
            (1, 31, false, false),
            Excluded,
            (
                52,
                &[
                    1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 12, 14, 15, 16, 18, 19, 21, 22, 23, 24, 25, 26,
                    28, 29, 30, 31,
                ],
            ),
        );
    }

    #[test]
    fn parts_and_working_days() {
        assert_eq!(
            part_of(d(5), d(5), d(7), true, false),
            Some(DayPart::SecondHalf)
        );
        assert_eq!(
            part_of(d(7), d(5), d(7), true, true),
            Some(DayPart::FirstHalf)
        );
        assert_eq!(part_of(d(8), d(5), d(7), false, false), None);
        assert!(!DayPart::FirstHalf.overlaps(DayPart::SecondHalf));
        assert!(DayPart::Full.overlaps(DayPart::SecondHalf));
        assert!(DayPart::FirstHalf.overlaps(DayPart::FirstHalf));
        assert_eq!(
            count_working_days(d(1), d(31), &[Weekday::Fri], &holidays(&[17])),
            26
        );
        assert_eq!(
            count_working_days(d(31), d(1), &[Weekday::Fri], &holidays(&[])),
            0
        );
    }

    fn weekdays() -> impl Strategy<Value = Vec<Weekday>> {
        proptest::collection::vec(0u8..7, 0..4).prop_map(|v| {
            v.into_iter()
                .filter_map(|n| Weekday::try_from(n).ok())
                .collect()
        })
    }

    proptest! {
        #[test]
        fn working_days_never_exceed_calendar_days(
            start in 0u32..400,
            len in 0u32..120,
            halves in any::<(bool, bool)>(),
            rule in prop_oneof![Just(OffDayRule::Excluded), Just(OffDayRule::Sandwiched), Just(OffDayRule::Counted)],
            off in weekdays(),
            holiday_offsets in proptest::collection::vec(0u32..520, 0..20),
        ) {
            let base = NaiveDate::from_ymd_opt(2025, 1, 1).unwrap();
            let from = base + chrono::Days::new(u64::from(start));
            let to = from + chrono::Days::new(u64::from(len));
            let holidays: BTreeMap<NaiveDate, String> = holiday_offsets
                .into_iter()
                .map(|o| (base + chrono::Days::new(u64::from(o)), "H".to_owned()))
                .collect();
            let calendar_days = i64::from(len) + 1;
            let days = leave_days(from, to, halves, rule, &off, &holidays);
            prop_assert!(total(&days).halves() <= 2 * calendar_days);
            let working = count_working_days(from, to, &off, &holidays);
            prop_assert!(working as i64 <= calendar_days);
            // Counting off days never counts less than excluding them.
            let excluded = leave_days(from, to, halves, OffDayRule::Excluded, &off, &holidays);
            prop_assert!(total(&excluded) <= total(&days));
            prop_assert!(total(&excluded).halves() <= 2 * working as i64);
        }
    }
}
