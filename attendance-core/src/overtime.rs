//! Overtime tiers: clock windows, counted from the work date's local midnight, in which worked
//! time is paid as overtime or extra overtime.

use std::fmt;
use std::str::FromStr;

use chrono::TimeDelta;
use serde::{Deserialize, Serialize};

use crate::error::ValidationError;
use crate::ids::LevelOfWork;

/// A wall-clock time on the work date, or on a following day: `17:00`, `19:00`, or `05:00+1`
/// (05:00 the next morning). Stored as minutes from the work date's local midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ClockOffset(u32);

impl ClockOffset {
    /// The largest offset accepted: two days after the work date's midnight.
    pub const MAX_MINUTES: u32 = 2 * 24 * 60;

    /// `hour:minute` on the work date plus `days_later` days.
    pub fn new(days_later: u32, hour: u32, minute: u32) -> Result<Self, ValidationError> {
        let minutes = days_later * 1440 + hour * 60 + minute;
        if hour > 23 || minute > 59 || minutes > Self::MAX_MINUTES {
            return Err(ValidationError::Invalid {
                field: "clock time",
                reason: "must be HH:MM, optionally followed by +1 or +2 for a later day",
                value: format!("{hour:02}:{minute:02}+{days_later}"),
            });
        }
        Ok(Self(minutes))
    }

    /// An offset known to be valid at compile time (defaults); values past the maximum are capped.
    pub(crate) const fn at_minute(minutes: u32) -> Self {
        if minutes > Self::MAX_MINUTES {
            Self(Self::MAX_MINUTES)
        } else {
            Self(minutes)
        }
    }

    /// Minutes from the work date's local midnight.
    pub fn minutes(self) -> u32 {
        self.0
    }

    /// The offset as a duration.
    pub fn as_delta(self) -> TimeDelta {
        TimeDelta::minutes(i64::from(self.0))
    }
}

impl FromStr for ClockOffset {
    type Err = ValidationError;

    /// Parses `HH:MM` or `HH:MM+D`; returns an error for anything else.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || ValidationError::Invalid {
            field: "clock time",
            reason: "must be HH:MM, optionally followed by +1 or +2 for a later day",
            value: text.to_owned(),
        };
        let (clock, days) = match text.trim().split_once('+') {
            Some((clock, days)) => (clock, days.trim().parse::<u32>().map_err(|_| bad())?),
            None => (text.trim(), 0),
        };
        let (h, m) = clock.split_once(':').ok_or_else(bad)?;
        if h.len() != 2 || m.len() != 2 {
            return Err(bad());
        }
        let hour = h.parse::<u32>().map_err(|_| bad())?;
        let minute = m.parse::<u32>().map_err(|_| bad())?;
        Self::new(days, hour, minute).map_err(|_| bad())
    }
}

impl fmt::Display for ClockOffset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (days, rest) = (self.0 / 1440, self.0 % 1440);
        write!(f, "{:02}:{:02}", rest / 60, rest % 60)?;
        if days > 0 {
            write!(f, "+{days}")?;
        }
        Ok(())
    }
}

impl TryFrom<String> for ClockOffset {
    type Error = ValidationError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<ClockOffset> for String {
    fn from(value: ClockOffset) -> String {
        value.to_string()
    }
}

/// Which pay bucket a tier fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OvertimeKind {
    /// Ordinary overtime.
    Overtime,
    /// Extra overtime (late evening and night), which also decides snacks and night bill.
    ExtraOvertime,
}

/// Worked time inside `[from, until)` counts as `kind`. `until = None` means "until the checkout,
/// however late".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OvertimeTier {
    /// The bucket.
    pub kind: OvertimeKind,
    /// Start of the window.
    pub from: ClockOffset,
    /// End of the window; open-ended when `None`.
    #[serde(default)]
    pub until: Option<ClockOffset>,
}

/// The tiers of one level of work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OvertimePolicy {
    /// The level of work the policy applies to.
    pub level_of_work: LevelOfWork,
    /// Its tiers; empty means no overtime.
    pub tiers: Vec<OvertimeTier>,
}

/// Checks that every tier's window is non-empty and that no two windows overlap (so overtime and
/// extra overtime together never exceed the time worked). Returns the first problem found.
pub fn validate_tiers(tiers: &[OvertimeTier]) -> Result<(), ValidationError> {
    let mut windows: Vec<(u32, u32)> = tiers
        .iter()
        .map(|t| {
            (
                t.from.minutes(),
                t.until.map_or(u32::MAX, ClockOffset::minutes),
            )
        })
        .collect();
    for tier in tiers {
        if let Some(until) = tier.until
            && until <= tier.from
        {
            return Err(ValidationError::Reversed {
                field: "overtime tier",
                start: tier.from.to_string(),
                end: until.to_string(),
            });
        }
    }
    windows.sort_unstable();
    for pair in windows.windows(2) {
        if pair[1].0 < pair[0].1 {
            return Err(ValidationError::Invalid {
                field: "overtime tiers",
                reason: "must not overlap",
                value: format!("{tiers:?}"),
            });
        }
    }
    Ok(())
}

/// The default Worker tiers: overtime 17:00–19:00, extra overtime from 19:00 on.
pub fn default_worker_tiers() -> Vec<OvertimeTier> {
    vec![
        OvertimeTier {
            kind: OvertimeKind::Overtime,
            from: ClockOffset::at_minute(17 * 60),
            until: Some(ClockOffset::at_minute(19 * 60)),
        },
        OvertimeTier {
            kind: OvertimeKind::ExtraOvertime,
            from: ClockOffset::at_minute(19 * 60),
            until: None,
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_offsets_parse_and_print() {
        for (text, minutes) in [
            ("17:00", 1020),
            ("05:00+1", 1740),
            ("00:00", 0),
            ("23:59+1", 2879),
            ("00:00+2", 2880),
        ] {
            let c: ClockOffset = text.parse().unwrap();
            assert_eq!(c.minutes(), minutes, "{text}");
            assert_eq!(c.to_string(), text);
        }
        for bad in [
            "", "7:00", "24:00", "12:60", "12:00+3", "00:01+2", "12:00+x", "noon",
        ] {
            assert!(bad.parse::<ClockOffset>().is_err(), "{bad}");
        }
    }

    #[test]
    fn overlapping_or_reversed_tiers_are_refused() {
        assert!(validate_tiers(&default_worker_tiers()).is_ok());
        let mut tiers = default_worker_tiers();
        tiers[1].from = ClockOffset(18 * 60);
        assert!(validate_tiers(&tiers).is_err());
        let reversed = [OvertimeTier {
            kind: OvertimeKind::Overtime,
            from: ClockOffset::at_minute(19 * 60),
            until: Some(ClockOffset::at_minute(17 * 60)),
        }];
        assert!(matches!(
            validate_tiers(&reversed),
            Err(ValidationError::Reversed { .. })
        ));
    }
}
