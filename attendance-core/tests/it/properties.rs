//! Property tests of the rule invariants: order and duplicates never matter, hours stay within
//! the worked span, overtime is never negative or more than the time worked, and every instant
//! belongs to exactly one work date in any time zone, DST included.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use attendance_core::prelude::*;
use chrono::{DateTime, NaiveDate, NaiveTime, TimeDelta, Utc};
use chrono_tz::Tz;
use proptest::prelude::*;

const ZONES: &[Tz] = &[
    chrono_tz::Asia::Dhaka,
    chrono_tz::UTC,
    chrono_tz::America::New_York,
    chrono_tz::Europe::London,
    chrono_tz::Australia::Lord_Howe, // DST of 30 minutes
    chrono_tz::America::Santiago,    // DST changes at midnight
    chrono_tz::Asia::Kathmandu,      // +05:45
    chrono_tz::Pacific::Apia,        // skipped 2011-12-30 entirely
];

fn zone() -> impl Strategy<Value = Tz> {
    prop::sample::select(ZONES)
}

/// A shift with any start and end minute (never equal).
fn shift() -> impl Strategy<Value = Shift> {
    (0u32..1440, 1u32..1440).prop_map(|(start, length)| {
        let at = |m: u32| NaiveTime::from_hms_opt((m % 1440) / 60, m % 60, 0).unwrap();
        Shift::new(
            ShiftId::parse("S").unwrap(),
            "S",
            at(start),
            at(start + length),
        )
        .unwrap()
    })
}

fn settings() -> impl Strategy<Value = AttendanceSettings> {
    (
        zone(),
        shift(),
        0u32..=720,
        0u32..=1200,
        any::<bool>(),
        0u32..=120,
        prop::sample::select(vec![0u32, 15, 30]),
    )
        .prop_map(
            |(tz, shift, early, late, trust, soft, rounding)| AttendanceSettings {
                time_zone: tz,
                default_shift: shift,
                early_margin_minutes: early,
                late_margin_minutes: late,
                trust_device_punch_state: trust,
                soft_duplicate_seconds: soft,
                overtime_rounding_minutes: rounding,
                ..AttendanceSettings::default()
            },
        )
        .prop_filter("valid settings", |s| s.validate().is_ok())
}

/// A date in 2010–2030, so DST transitions of every listed zone are reachable.
fn date() -> impl Strategy<Value = NaiveDate> {
    (0i64..(21 * 366))
        .prop_map(|d| NaiveDate::from_ymd_opt(2010, 1, 1).unwrap() + TimeDelta::days(d))
}

fn employee(level: &str) -> Employee {
    Employee::parse(&NewEmployee {
        employee_id: "EMP001".into(),
        employee_name: "A".into(),
        department: "Sewing".into(),
        designation: "Tailor".into(),
        level_of_work: level.into(),
        ..Default::default()
    })
    .unwrap()
}

/// Scans within four days of `start`, on one or two machines, with any punch state.
fn scans(start: DateTime<Utc>) -> impl Strategy<Value = Vec<ScanData>> {
    prop::collection::vec((0i64..(4 * 86_400), 0u8..2, 0u8..7), 0..24).prop_map(move |raw| {
        raw.into_iter()
            .map(|(offset, machine, state)| ScanData {
                machine_id: MachineId::parse(if machine == 0 { "M1" } else { "M2" }).unwrap(),
                device_user_id: DeviceUserId::parse("1").unwrap(),
                timestamp: start + TimeDelta::seconds(offset),
                punch_state: PunchState::from_code(if state == 6 { 255 } else { state }),
                verify_mode: VerifyMode::Fingerprint,
                raw: None,
            })
            .collect()
    })
}

#[derive(Debug, Clone)]
struct World {
    settings: AttendanceSettings,
    employee: Employee,
    calendar: DayCalendar,
    from: NaiveDate,
    now: DateTime<Utc>,
}

impl World {
    fn days(&self, scans: &[ScanData]) -> Vec<DailyRecord> {
        let roster = ShiftRoster::fixed(&self.settings.default_shift);
        let ctx = EmployeeContext {
            settings: &self.settings,
            employee: &self.employee,
            roster: &roster,
            calendar: &self.calendar,
        };
        compute_days(
            &ctx,
            scans,
            self.from,
            self.from + TimeDelta::days(3),
            self.now,
        )
    }
}

fn world_and_scans() -> impl Strategy<Value = (World, Vec<ScanData>)> {
    (
        settings(),
        date(),
        prop::sample::select(vec!["Worker", "Staff"]),
        0i64..(6 * 86_400),
        any::<bool>(),
    )
        .prop_flat_map(|(settings, from, level, now_offset, holiday)| {
            let start = attendance_core::time::local_to_utc(
                settings.time_zone,
                from.and_time(NaiveTime::MIN),
            ) - TimeDelta::hours(12);
            let mut calendar = DayCalendar::new();
            if holiday {
                calendar
                    .holidays
                    .insert(from + TimeDelta::days(1), "Holiday".into());
            }
            let world = World {
                now: start + TimeDelta::seconds(now_offset),
                settings,
                employee: employee(level),
                calendar,
                from,
            };
            (Just(world), scans(start))
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn order_and_exact_duplicates_never_change_a_result(
        (world, scans) in world_and_scans(),
        seed in any::<u64>(),
        dup_every in 1usize..4,
    ) {
        let expected = world.days(&scans);
        // A deterministic shuffle from the seed, plus an exact copy of every n-th scan.
        let mut shuffled: Vec<ScanData> = scans.clone();
        shuffled.extend(scans.iter().step_by(dup_every).cloned());
        let mut state = seed | 1;
        for i in (1..shuffled.len()).rev() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            shuffled.swap(i, (state % (i as u64 + 1)) as usize);
        }
        prop_assert_eq!(world.days(&shuffled), expected);
    }

    #[test]
    fn hours_stay_within_the_worked_span((world, scans) in world_and_scans()) {
        for r in world.days(&scans) {
            prop_assert!(r.working_seconds >= 0);
            prop_assert!(r.overtime_seconds >= 0, "{r:?}");
            prop_assert!(r.extra_overtime_seconds >= 0, "{r:?}");
            prop_assert!(r.overtime_seconds + r.extra_overtime_seconds <= r.working_seconds, "{r:?}");
            match (r.check_in, r.check_out) {
                (Some(ci), Some(co)) => {
                    prop_assert!(ci < co);
                    prop_assert!(r.working_seconds <= (co - ci).num_seconds());
                    let first = r.scans.first().map(|s| s.timestamp);
                    let last = r.scans.last().map(|s| s.timestamp);
                    prop_assert!(first <= Some(ci) && Some(co) <= last);
                }
                _ => prop_assert_eq!(r.working_seconds, 0),
            }
            let counted = r.attendance_count() > 0;
            prop_assert!(!r.status.is_present() || counted, "{:?}", r);
            prop_assert!(!counted || !matches!(r.status, AttendanceStatus::Absent | AttendanceStatus::Pending), "{:?}", r);
            if r.status == AttendanceStatus::Absent {
                prop_assert!(r.window_closed && r.attendance_count() == 0);
            }
        }
    }

    #[test]
    fn every_scan_is_counted_in_at_most_one_record((world, scans) in world_and_scans()) {
        let days = world.days(&scans);
        let mut seen: Vec<DateTime<Utc>> = days.iter().flat_map(|r| r.scans.iter().map(|s| s.timestamp)).collect();
        let total = seen.len();
        seen.sort();
        seen.dedup();
        // Timestamps can repeat only across machines within one record, never across records.
        for r in &days {
            for s in &r.scans {
                let elsewhere = days.iter().filter(|o| o.date != r.date).any(|o| o.scans.iter().any(|x| x.timestamp == s.timestamp));
                prop_assert!(!elsewhere);
            }
        }
        prop_assert!(seen.len() <= total);
    }

    #[test]
    fn every_instant_belongs_to_exactly_one_work_date(
        settings in settings(),
        night in shift(),
        day in date(),
        offset in 0i64..(3 * 86_400),
    ) {
        // Two shifts alternating by date, so day and night shifts meet in both directions.
        let shifts = [settings.default_shift.clone(), Shift { id: ShiftId::parse("N").unwrap(), ..night }];
        let assignments: Vec<ShiftAssignment> = (0..8)
            .map(|i| ShiftAssignment {
                employee_id: EmployeeCode::parse("EMP001").unwrap(),
                shift: shifts[i % 2].id.clone(),
                from: day + TimeDelta::days(i as i64 - 2),
                to: Some(day + TimeDelta::days(i as i64 - 2)),
            })
            .collect();
        let roster = ShiftRoster::new(&settings.default_shift, &shifts, &assignments);
        let attributor = Attributor::new(&settings, &roster);
        let instant = attendance_core::time::local_to_utc(settings.time_zone, day.and_time(NaiveTime::MIN))
            + TimeDelta::seconds(offset);
        let date = attributor.work_date_of(instant);
        let window = attributor.window(date);
        prop_assert!(window.contains(instant), "{instant} not in {window:?}");
        for other in [date - TimeDelta::days(1), date + TimeDelta::days(1)] {
            prop_assert!(!attributor.window(other).contains(instant));
        }
        // Consecutive windows meet exactly: no overlap, no gap.
        let next = attributor.window(date + TimeDelta::days(1));
        prop_assert_eq!(window.closes, next.opens);
        prop_assert!(window.opens <= window.closes);
        prop_assert!(window.opens <= window.shift_start && window.shift_start <= window.closes);
    }
}
