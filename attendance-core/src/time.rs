//! Local-time helpers that are total: every local date and time maps to exactly one instant,
//! including times skipped or repeated by a daylight-saving change.

use chrono::{DateTime, LocalResult, NaiveDateTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;

/// The instant of a local wall-clock time in `tz`. A time repeated by a DST fall-back maps to its
/// first occurrence; a time skipped by a spring-forward maps to the instant the clocks jumped to
/// (so 02:30 on a night that skips 02:00–03:00 becomes 03:00 local).
pub fn local_to_utc(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(first, _) => first.with_timezone(&Utc),
        LocalResult::None => {
            // Walk forward minute by minute to the first valid local time: gaps are at most a few
            // hours in every zone of the tz database, so this ends quickly.
            let mut probe = local;
            for _ in 0..(24 * 60) {
                probe += TimeDelta::minutes(1);
                if let Some(t) = tz.from_local_datetime(&probe).earliest() {
                    return t.with_timezone(&Utc);
                }
            }
            // Unreachable for real zones; treat the time as UTC rather than panic.
            local.and_utc()
        }
    }
}

/// Local clock times of one date as instants, computed cheaply: when the zone's offset is the
/// same at the date's midnight and three days later (no DST change in between, true of almost
/// every date), an offset from midnight is a plain addition; otherwise each time goes through
/// [`local_to_utc`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayClock {
    tz: Tz,
    local_midnight: NaiveDateTime,
    midnight: DateTime<Utc>,
    uniform: bool,
}

impl DayClock {
    /// The clock of `date` in `tz`.
    pub fn new(tz: Tz, date: chrono::NaiveDate) -> Self {
        use chrono::Offset;
        let local_midnight = date.and_time(chrono::NaiveTime::MIN);
        let midnight = local_to_utc(tz, local_midnight);
        let offset_at = |t: DateTime<Utc>| tz.offset_from_utc_datetime(&t.naive_utc()).fix();
        let uniform = offset_at(midnight) == offset_at(midnight + TimeDelta::days(3))
            && midnight.with_timezone(&tz).naive_local() == local_midnight;
        Self {
            tz,
            local_midnight,
            midnight,
            uniform,
        }
    }

    /// The instant of the local time `offset` after the date's midnight (offsets past 24 h are
    /// times on the following days).
    pub fn at(&self, offset: TimeDelta) -> DateTime<Utc> {
        if self.uniform {
            self.midnight + offset
        } else {
            local_to_utc(self.tz, self.local_midnight + offset)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn local(y: i32, m: u32, d: u32, h: u32, min: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(y, m, d)
            .unwrap()
            .and_hms_opt(h, min, 0)
            .unwrap()
    }

    #[test]
    fn dst_gaps_and_overlaps_map_to_one_instant() {
        let ny = chrono_tz::America::New_York;
        // 2026-03-08 02:30 does not exist in New York: it becomes 03:00 EDT = 07:00 UTC.
        assert_eq!(
            local_to_utc(ny, local(2026, 3, 8, 2, 30)),
            local(2026, 3, 8, 7, 0).and_utc()
        );
        // 2026-11-01 01:30 happens twice: the first (EDT) is 05:30 UTC.
        assert_eq!(
            local_to_utc(ny, local(2026, 11, 1, 1, 30)),
            local(2026, 11, 1, 5, 30).and_utc()
        );
    }

    #[test]
    fn day_clock_matches_local_to_utc_across_dst() {
        for tz in [
            chrono_tz::America::New_York,
            chrono_tz::Asia::Dhaka,
            chrono_tz::Europe::London,
        ] {
            for (m, d) in [
                (3, 6),
                (3, 7),
                (3, 8),
                (3, 28),
                (3, 29),
                (10, 24),
                (10, 31),
                (11, 1),
            ] {
                let date = NaiveDate::from_ymd_opt(2026, m, d).unwrap();
                let clock = DayClock::new(tz, date);
                for minutes in (0..(2 * 24 * 60)).step_by(30) {
                    let offset = TimeDelta::minutes(minutes);
                    let want = local_to_utc(tz, date.and_time(chrono::NaiveTime::MIN) + offset);
                    assert_eq!(clock.at(offset), want, "{tz} {date} +{minutes}m");
                }
            }
        }
    }
}
