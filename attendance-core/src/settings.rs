//! Site-wide attendance settings. Every number the rules use is a field here, with the defaults
//! of a Bangladesh garment factory.

use chrono::Weekday;
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use thiserror::Error;

use crate::employee::Employee;
use crate::error::ValidationError;
use crate::ids::LevelOfWork;
use crate::overtime::{
    ClockOffset, OvertimePolicy, OvertimeTier, default_worker_tiers, validate_tiers,
};
pub use crate::shift::UnpaidBreak;
use crate::shift::{Shift, ShiftId, ShiftRoster};

/// An employee names a shift the site does not have (neither the default shift nor one of
/// [`AttendanceSettings::shifts`]).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("the site has no shift {0:?}; add it to the settings' shifts or choose another")]
pub struct UnknownShift(pub ShiftId);

/// The settings the rules read. Build with `AttendanceSettings::default()` and change fields, then
/// call [`AttendanceSettings::validate`] before use (the server does this on every update).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AttendanceSettings {
    /// The site's time zone; it defines work dates and the `HH:MM` times shown.
    pub time_zone: Tz,
    /// The shift of employees with no shift of their own.
    pub default_shift: Shift,
    /// The site's shift catalogue besides the default shift: the shifts an employee may name as
    /// their regular shift (`Employee::shift`), each known by its id. Settings stored before the
    /// catalogue existed load with it empty.
    pub shifts: Vec<Shift>,
    /// How long before its shift starts a work date's window opens.
    pub early_margin_minutes: u32,
    /// How long after its shift ends a work date's window stays open (a checkout at 01:30 after a
    /// 17:00 shift end still belongs to that work date with the default of 10 h).
    pub late_margin_minutes: u32,
    /// First IN at most this long after the shift start is on time.
    pub on_time_grace_minutes: u32,
    /// First IN at most this long after the shift start is "considered"; later is late.
    pub considered_minutes: u32,
    /// Scans of one employee this close to the previous counted scan are soft duplicates: kept,
    /// flagged, and ignored by the rules.
    pub soft_duplicate_seconds: u32,
    /// Use the device's punch state (check-in / check-out) for IN and OUT; when `false`, or when a
    /// scan's state is undefined, the first scan of the day is IN and the last is OUT.
    pub trust_device_punch_state: bool,
    /// Unpaid breaks subtracted from the worked span they fall in.
    pub unpaid_breaks: Vec<UnpaidBreak>,
    /// Overtime tiers per level of work; a level not listed earns no overtime.
    pub overtime_policies: Vec<OvertimePolicy>,
    /// Round overtime and extra overtime down to a multiple of this many minutes (0: no rounding).
    pub overtime_rounding_minutes: u32,
    /// At most this much overtime a day, if set.
    pub daily_overtime_cap_minutes: Option<u32>,
    /// At most this much extra overtime a day, if set.
    pub daily_extra_overtime_cap_minutes: Option<u32>,
    /// Extra overtime of at least this much earns snacks.
    pub snacks_min_extra_minutes: u32,
    /// Extra overtime of at least this much earns the night bill.
    pub night_bill_min_extra_minutes: u32,
    /// The weekly off days (Friday in Bangladesh).
    pub weekly_off_days: Vec<Weekday>,
    /// On weekends and holidays, count all worked time as overtime (time in extra-overtime windows
    /// stays extra overtime).
    pub off_day_work_is_overtime: bool,
}

impl Default for AttendanceSettings {
    fn default() -> Self {
        let clock = |h: u32, m: u32| ClockOffset::at_minute(h * 60 + m);
        Self {
            time_zone: chrono_tz::Asia::Dhaka,
            default_shift: Shift::default_day(),
            shifts: Vec::new(),
            early_margin_minutes: 120,
            late_margin_minutes: 600,
            on_time_grace_minutes: 0,
            considered_minutes: 15,
            soft_duplicate_seconds: 60,
            trust_device_punch_state: false,
            unpaid_breaks: vec![
                UnpaidBreak {
                    name: "Lunch".into(),
                    start: clock(13, 0),
                    end: clock(14, 0),
                },
                UnpaidBreak {
                    name: "Tea".into(),
                    start: clock(15, 30),
                    end: clock(15, 45),
                },
            ],
            overtime_policies: vec![
                OvertimePolicy {
                    level_of_work: LevelOfWork::worker(),
                    tiers: default_worker_tiers(),
                },
                OvertimePolicy {
                    level_of_work: LevelOfWork::staff(),
                    tiers: Vec::new(),
                },
            ],
            overtime_rounding_minutes: 0,
            daily_overtime_cap_minutes: None,
            daily_extra_overtime_cap_minutes: None,
            snacks_min_extra_minutes: 60,
            night_bill_min_extra_minutes: 300,
            weekly_off_days: vec![Weekday::Fri],
            off_day_work_is_overtime: true,
        }
    }
}

impl AttendanceSettings {
    /// The tiers that apply to `level` on `shift`: the shift's own tiers if it has them, else the
    /// level's policy, else none.
    pub fn tiers_for<'a>(&'a self, level: &LevelOfWork, shift: &'a Shift) -> &'a [OvertimeTier] {
        if let Some(tiers) = &shift.overtime_tiers {
            return tiers;
        }
        self.overtime_policies
            .iter()
            .find(|p| &p.level_of_work == level)
            .map_or(&[], |p| p.tiers.as_slice())
    }

    /// The unpaid breaks of `shift`: its own if it has them, else the site's.
    pub fn breaks_for<'a>(&'a self, shift: &'a Shift) -> &'a [UnpaidBreak] {
        shift
            .unpaid_breaks
            .as_deref()
            .unwrap_or(&self.unpaid_breaks)
    }

    /// The site's shift `id`: the default shift or one of the catalogue; `None` when the site has
    /// no such shift.
    pub fn shift(&self, id: &ShiftId) -> Option<&Shift> {
        if *id == self.default_shift.id {
            return Some(&self.default_shift);
        }
        self.shifts.iter().find(|s| s.id == *id)
    }

    /// The regular shift of an employee whose shift is `id` (`None`: the default shift). Returns
    /// [`UnknownShift`] when the site has no shift `id`.
    pub fn regular_shift(&self, id: Option<&ShiftId>) -> Result<&Shift, UnknownShift> {
        match id {
            None => Ok(&self.default_shift),
            Some(id) => self.shift(id).ok_or_else(|| UnknownShift(id.clone())),
        }
    }

    /// The roster `employee` is scored on: their regular shift on every date. An employee naming
    /// a shift the site does not have (the shift was removed from the catalogue after they were
    /// given it) falls back to the default shift; the daily records then show the default
    /// shift's id, and callers that want to report it check [`Self::regular_shift`].
    pub fn roster_of(&self, employee: &Employee) -> ShiftRoster<'_> {
        ShiftRoster::fixed(
            self.regular_shift(employee.shift.as_ref())
                .unwrap_or(&self.default_shift),
        )
    }

    /// Checks that the settings make sense together. Returns the first problem found: margins
    /// so wide that consecutive work dates could swallow each other (early margin at most 12 h,
    /// late margin at most 20 h), a considered window shorter than the on-time grace, unpaid
    /// breaks that are reversed or overlap, overlapping overtime tiers, rounding beyond a day,
    /// an invalid shift (the default or any of the catalogue), or two different shifts with one
    /// id (a catalogue entry may repeat the default shift only as it is).
    pub fn validate(&self) -> Result<(), ValidationError> {
        range(
            "early_margin_minutes",
            self.early_margin_minutes,
            0,
            12 * 60,
        )?;
        range("late_margin_minutes", self.late_margin_minutes, 0, 20 * 60)?;
        range(
            "on_time_grace_minutes",
            self.on_time_grace_minutes,
            0,
            24 * 60,
        )?;
        range(
            "considered_minutes",
            self.considered_minutes,
            self.on_time_grace_minutes,
            24 * 60,
        )?;
        range(
            "soft_duplicate_seconds",
            self.soft_duplicate_seconds,
            0,
            3600,
        )?;
        range(
            "overtime_rounding_minutes",
            self.overtime_rounding_minutes,
            0,
            24 * 60,
        )?;
        validate_breaks(&self.unpaid_breaks)?;
        for policy in &self.overtime_policies {
            validate_tiers(&policy.tiers)?;
        }
        validate_shift(&self.default_shift)?;
        for (i, shift) in self.shifts.iter().enumerate() {
            validate_shift(shift)?;
            let same_id = |other: &Shift| other.id == shift.id;
            let clashes_default = same_id(&self.default_shift) && *shift != self.default_shift;
            if clashes_default || self.shifts[..i].iter().any(same_id) {
                return Err(ValidationError::Invalid {
                    field: "shifts",
                    reason: "must not hold two different shifts with one id",
                    value: shift.id.to_string(),
                });
            }
        }
        Ok(())
    }
}

/// Checks a shift's own settings: it has a length, and its own tiers and breaks (if any) are
/// valid. Returns the first problem found.
pub fn validate_shift(shift: &Shift) -> Result<(), ValidationError> {
    if shift.start == shift.end {
        return Err(ValidationError::Invalid {
            field: "shift",
            reason: "must not start and end at the same time",
            value: shift.start.to_string(),
        });
    }
    if let Some(tiers) = &shift.overtime_tiers {
        validate_tiers(tiers)?;
    }
    if let Some(breaks) = &shift.unpaid_breaks {
        validate_breaks(breaks)?;
    }
    Ok(())
}

/// Checks that unpaid breaks are in order and do not overlap (so no second is subtracted twice).
/// Returns the first reversed or overlapping break.
pub fn validate_breaks(breaks: &[UnpaidBreak]) -> Result<(), ValidationError> {
    let mut spans: Vec<_> = breaks.iter().map(|b| (b.start, b.end)).collect();
    spans.sort_unstable();
    for (start, end) in &spans {
        if end <= start {
            return Err(ValidationError::Reversed {
                field: "unpaid_breaks",
                start: start.to_string(),
                end: end.to_string(),
            });
        }
    }
    if spans.windows(2).any(|w| w[1].0 < w[0].1) {
        return Err(ValidationError::Invalid {
            field: "unpaid_breaks",
            reason: "must not overlap",
            value: format!("{spans:?}"),
        });
    }
    Ok(())
}

fn range(field: &'static str, value: u32, min: u32, max: u32) -> Result<(), ValidationError> {
    if value < min || value > max {
        return Err(ValidationError::OutOfRange {
            field,
            value: i64::from(value),
            min: i64::from(min),
            max: i64::from(max),
        });
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::field_reassign_with_default)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_round_trip_through_json() {
        let settings = AttendanceSettings::default();
        settings.validate().unwrap();
        let json = serde_json::to_string(&settings).unwrap();
        let back: AttendanceSettings = serde_json::from_str(&json).unwrap();
        assert_eq!(back, settings);
        // A partial document fills the rest from the defaults.
        let partial: AttendanceSettings =
            serde_json::from_str(r#"{"considered_minutes": 20, "time_zone": "Europe/London"}"#)
                .unwrap();
        assert_eq!(partial.considered_minutes, 20);
        assert_eq!(partial.time_zone, chrono_tz::Europe::London);
        assert_eq!(partial.snacks_min_extra_minutes, 60);
    }

    #[test]
    fn inconsistent_settings_are_refused() {
        let mut s = AttendanceSettings::default();
        s.considered_minutes = 0;
        s.on_time_grace_minutes = 5;
        assert!(matches!(
            s.validate(),
            Err(ValidationError::OutOfRange {
                field: "considered_minutes",
                ..
            })
        ));
        let mut s = AttendanceSettings::default();
        s.late_margin_minutes = 23 * 60;
        assert!(s.validate().is_err());
        let mut s = AttendanceSettings::default();
        s.unpaid_breaks[1].start = "13:30".parse().unwrap();
        assert!(s.validate().is_err());
    }

    fn night() -> Shift {
        Shift::new(
            ShiftId::parse("NIGHT").unwrap(),
            "Night",
            crate::shift::hm(20, 0),
            crate::shift::hm(5, 0),
        )
        .unwrap()
    }

    #[test]
    fn settings_stored_before_the_shift_catalogue_still_load() {
        let mut old = serde_json::to_value(AttendanceSettings::default()).unwrap();
        old.as_object_mut().unwrap().remove("shifts").unwrap();
        let loaded: AttendanceSettings = serde_json::from_value(old).unwrap();
        assert!(loaded.shifts.is_empty());
        assert_eq!(loaded, AttendanceSettings::default());
    }

    #[test]
    fn the_catalogue_resolves_shift_ids_and_every_shift_is_validated() {
        let mut s = AttendanceSettings::default();
        s.shifts = vec![night()];
        s.validate().unwrap();
        let id = |t: &str| ShiftId::parse(t).unwrap();
        assert_eq!(s.regular_shift(None).unwrap().id, id("DAY"));
        assert_eq!(s.regular_shift(Some(&id("DAY"))).unwrap().id, id("DAY"));
        assert_eq!(s.regular_shift(Some(&id("NIGHT"))).unwrap(), &night());
        assert_eq!(
            s.regular_shift(Some(&id("GHOST"))),
            Err(UnknownShift(id("GHOST")))
        );
        // A catalogue shift of zero length, with overlapping breaks, or clashing ids is refused.
        let mut bad = s.clone();
        bad.shifts[0].end = bad.shifts[0].start;
        assert!(bad.validate().is_err());
        let mut bad = s.clone();
        bad.shifts[0].unpaid_breaks = Some(vec![
            UnpaidBreak {
                name: "Meal".into(),
                start: "00:00+1".parse().unwrap(),
                end: "01:00+1".parse().unwrap(),
            },
            UnpaidBreak {
                name: "Tea".into(),
                start: "00:30+1".parse().unwrap(),
                end: "00:45+1".parse().unwrap(),
            },
        ]);
        assert!(bad.validate().is_err());
        let mut bad = s.clone();
        bad.shifts.push(Shift {
            name: "Other night".into(),
            ..night()
        });
        assert!(matches!(
            bad.validate(),
            Err(ValidationError::Invalid {
                field: "shifts",
                ..
            })
        ));
        let mut bad = s.clone();
        bad.shifts.push(Shift {
            start: crate::shift::hm(9, 0),
            ..Shift::default_day()
        });
        assert!(bad.validate().is_err());
        // Repeating the default shift as it is does no harm.
        let mut fine = s;
        fine.shifts.push(Shift::default_day());
        fine.validate().unwrap();
    }
}
