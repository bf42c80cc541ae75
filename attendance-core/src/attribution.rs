//! Day attribution: which work date an instant belongs to.
//!
//! Each work date `D` has a shift (`start(D)`, `end(D)` as instants in the site's zone). Its nominal
//! window is `[start(D) − early margin, end(D) + late margin]`. Consecutive windows are cut at one
//! point so that they never overlap and leave no gap:
//!
//! ```text
//! cut(D) = clamp(min(end(D) + late, start(D+1) − early), start(D), start(D+1))
//! window(D) = [cut(D−1), cut(D))
//! ```
//!
//! When the nominal windows overlap, the later date's opening wins; when they leave a gap, the
//! gap belongs to the later date (an early arrival). Because `start(D) ≤ cut(D) ≤ start(D+1)`,
//! every instant belongs to exactly one work date, which is its local date, the day before, or the
//! day after.

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};

use crate::settings::AttendanceSettings;
use crate::shift::{Shift, ShiftRoster};
use crate::time::DayClock;

/// A work date's shift in instants, and its attribution window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkWindow<'a> {
    /// The work date.
    pub date: NaiveDate,
    /// The shift worked that date.
    pub shift: &'a Shift,
    /// The date's local clock.
    pub clock: DayClock,
    /// When the shift starts.
    pub shift_start: DateTime<Utc>,
    /// When the shift ends.
    pub shift_end: DateTime<Utc>,
    /// First instant that belongs to the date (inclusive).
    pub opens: DateTime<Utc>,
    /// First instant that belongs to the next date (exclusive end).
    pub closes: DateTime<Utc>,
}

impl WorkWindow<'_> {
    /// Whether `instant` belongs to this work date.
    pub fn contains(&self, instant: DateTime<Utc>) -> bool {
        self.opens <= instant && instant < self.closes
    }
}

/// Computes work windows for one employee.
#[derive(Debug, Clone)]
pub struct Attributor<'a> {
    settings: &'a AttendanceSettings,
    roster: &'a ShiftRoster<'a>,
}

impl<'a> Attributor<'a> {
    /// An attributor for an employee whose shifts are given by `roster`.
    pub fn new(settings: &'a AttendanceSettings, roster: &'a ShiftRoster<'a>) -> Self {
        Self { settings, roster }
    }

    /// The shift worked on `date` and its start and end as instants.
    pub fn shift_instants(&self, date: NaiveDate) -> (&'a Shift, DateTime<Utc>, DateTime<Utc>) {
        let (shift, _, start, end) = self.shift_on(date);
        (shift, start, end)
    }

    fn shift_on(&self, date: NaiveDate) -> (&'a Shift, DayClock, DateTime<Utc>, DateTime<Utc>) {
        let shift = self.roster.shift_on(date);
        let clock = DayClock::new(self.settings.time_zone, date);
        (
            shift,
            clock,
            clock.at(shift.start_offset()),
            clock.at(shift.end_offset()),
        )
    }

    fn cut(
        &self,
        end_today: DateTime<Utc>,
        start_today: DateTime<Utc>,
        start_next: DateTime<Utc>,
    ) -> DateTime<Utc> {
        let late = TimeDelta::minutes(i64::from(self.settings.late_margin_minutes));
        let early = TimeDelta::minutes(i64::from(self.settings.early_margin_minutes));
        (end_today + late)
            .min(start_next - early)
            .clamp(start_today, start_next)
    }

    /// The window of `date`.
    pub fn window(&self, date: NaiveDate) -> WorkWindow<'a> {
        let prev = date.pred_opt().unwrap_or(date);
        let next = date.succ_opt().unwrap_or(date);
        let (_, start_prev, end_prev) = self.shift_instants(prev);
        let (shift, clock, start, end) = self.shift_on(date);
        let (_, start_next, _) = self.shift_instants(next);
        WorkWindow {
            date,
            shift,
            clock,
            shift_start: start,
            shift_end: end,
            opens: self.cut(end_prev, start_prev, start),
            closes: self.cut(end, start, start_next),
        }
    }

    /// Iterates the windows of `from..=to` in order, computing each shift once.
    pub fn windows(&self, from: NaiveDate, to: NaiveDate) -> WindowIter<'_, 'a> {
        let prev = from.pred_opt().unwrap_or(from);
        let (_, start_prev, end_prev) = self.shift_instants(prev);
        let current = self.shift_on(from);
        let (_, _, start, _) = current;
        WindowIter {
            attributor: self,
            next_date: Some(from),
            last: to,
            current,
            opens: self.cut(end_prev, start_prev, start),
        }
    }

    /// The work date `instant` belongs to.
    pub fn work_date_of(&self, instant: DateTime<Utc>) -> NaiveDate {
        let local = instant.with_timezone(&self.settings.time_zone).date_naive();
        let candidates = [local.pred_opt(), Some(local), local.succ_opt()];
        for date in candidates.into_iter().flatten() {
            if self.window(date).contains(instant) {
                return date;
            }
        }
        // By construction one of the three contains the instant; the local date is the
        // sensible answer should the calendar's ends (year ±262,143) be reached.
        local
    }
}

/// Iterator over consecutive work windows; see [`Attributor::windows`].
#[derive(Debug)]
pub struct WindowIter<'s, 'a> {
    attributor: &'s Attributor<'a>,
    next_date: Option<NaiveDate>,
    last: NaiveDate,
    current: (&'a Shift, DayClock, DateTime<Utc>, DateTime<Utc>),
    opens: DateTime<Utc>,
}

impl<'a> Iterator for WindowIter<'_, 'a> {
    type Item = WorkWindow<'a>;

    fn next(&mut self) -> Option<WorkWindow<'a>> {
        let date = self.next_date.filter(|d| *d <= self.last)?;
        let next = date.succ_opt();
        let (shift, clock, start, end) = self.current;
        let following = self.attributor.shift_on(next.unwrap_or(date));
        let closes = self.attributor.cut(end, start, following.2);
        let window = WorkWindow {
            date,
            shift,
            clock,
            shift_start: start,
            shift_end: end,
            opens: self.opens,
            closes,
        };
        self.opens = closes;
        self.current = following;
        self.next_date = next;
        Some(window)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shift::{ShiftId, hm};
    use crate::time::local_to_utc;

    fn at(settings: &AttendanceSettings, date: (i32, u32, u32), h: u32, m: u32) -> DateTime<Utc> {
        let d = NaiveDate::from_ymd_opt(date.0, date.1, date.2).unwrap();
        local_to_utc(settings.time_zone, d.and_time(hm(h, m)))
    }

    #[test]
    fn day_shift_windows_with_default_margins() {
        let settings = AttendanceSettings::default();
        let roster = ShiftRoster::fixed(&settings.default_shift);
        let a = Attributor::new(&settings, &roster);
        let d = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
        let w = a.window(d);
        assert_eq!(w.opens, at(&settings, (2026, 3, 1), 3, 0));
        assert_eq!(w.closes, at(&settings, (2026, 3, 2), 3, 0));
        assert_eq!(a.work_date_of(at(&settings, (2026, 3, 2), 1, 30)), d);
        assert_eq!(
            a.work_date_of(at(&settings, (2026, 3, 2), 3, 0)),
            d.succ_opt().unwrap()
        );
        assert_eq!(a.work_date_of(at(&settings, (2026, 3, 1), 5, 0)), d);
    }

    #[test]
    fn night_shift_belongs_to_the_start_date() {
        let settings = AttendanceSettings::default();
        let night = Shift::new(
            ShiftId::parse("NIGHT").unwrap(),
            "Night",
            hm(20, 0),
            hm(5, 0),
        )
        .unwrap();
        let roster = ShiftRoster::fixed(&night);
        let a = Attributor::new(&settings, &roster);
        let d = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
        assert_eq!(a.work_date_of(at(&settings, (2026, 3, 1), 19, 45)), d);
        assert_eq!(a.work_date_of(at(&settings, (2026, 3, 2), 5, 10)), d);
        // The window closes 10 h after the 05:00 end; the gap before the next opening (18:00)
        // belongs to the next date as early arrivals.
        let next = d.succ_opt().unwrap();
        assert_eq!(a.work_date_of(at(&settings, (2026, 3, 2), 14, 59)), d);
        assert_eq!(a.work_date_of(at(&settings, (2026, 3, 2), 15, 0)), next);
        assert_eq!(a.work_date_of(at(&settings, (2026, 3, 2), 17, 0)), next);
    }

    #[test]
    fn iterated_windows_equal_single_windows() {
        let settings = AttendanceSettings::default();
        let roster = ShiftRoster::fixed(&settings.default_shift);
        let a = Attributor::new(&settings, &roster);
        let from = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
        let to = NaiveDate::from_ymd_opt(2026, 1, 31).unwrap();
        let windows: Vec<_> = a.windows(from, to).collect();
        assert_eq!(windows.len(), 31);
        for w in &windows {
            assert_eq!(*w, a.window(w.date));
        }
    }
}
