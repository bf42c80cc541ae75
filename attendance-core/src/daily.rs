//! The daily rules: from one employee's scans to one record per work date.

use std::cmp::Ordering;

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::attribution::{Attributor, WorkWindow};
use crate::calendar::DayCalendar;
use crate::employee::{Employee, EmployeeCode};
use crate::overtime::OvertimeKind;
use crate::scan::{MachineId, ScanData, ScanType};
use crate::settings::AttendanceSettings;
use crate::shift::{ShiftId, ShiftRoster};
use crate::status::AttendanceStatus;

/// Instants written as chrono writes them (RFC 3339, `Z`, a fraction only when there is one),
/// but handed to the serializer as one string: chrono's own `Serialize` hands it over in small
/// pieces, which `serde_json` escapes one at a time (measured: most of the time it takes to
/// serialize a record). Reading is chrono's own.
mod instant_text {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Serialize, Serializer};

    /// An instant serialized as one string.
    pub(super) struct Text<'a>(pub(super) &'a DateTime<Utc>);

    impl Serialize for Text<'_> {
        fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            serializer.serialize_str(&self.0.to_rfc3339_opts(SecondsFormat::AutoSi, true))
        }
    }

    pub(super) fn serialize<S: Serializer>(
        instant: &DateTime<Utc>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        Text(instant).serialize(serializer)
    }

    pub(super) fn serialize_option<S: Serializer>(
        instant: &Option<DateTime<Utc>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match instant {
            Some(instant) => serializer.serialize_some(&Text(instant)),
            None => serializer.serialize_none(),
        }
    }
}

/// One scan as the rules saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedScan {
    /// When it happened.
    #[serde(serialize_with = "instant_text::serialize")]
    pub timestamp: DateTime<Utc>,
    /// IN or OUT, as inferred.
    pub scan_type: ScanType,
    /// The machine it came from.
    pub machine_id: MachineId,
    /// A soft duplicate: kept for the record, ignored by the rules.
    pub soft_duplicate: bool,
}

/// The derived attendance of one employee on one work date. Everything here can be recomputed
/// from the scans, the calendar and the settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DailyRecord {
    /// The employee.
    pub employee_id: EmployeeCode,
    /// The work date (the date the shift starts).
    pub date: NaiveDate,
    /// The shift worked.
    pub shift: ShiftId,
    /// The status.
    pub status: AttendanceStatus,
    /// First IN.
    #[serde(serialize_with = "instant_text::serialize_option")]
    pub check_in: Option<DateTime<Utc>>,
    /// Last OUT after the first IN.
    #[serde(serialize_with = "instant_text::serialize_option")]
    pub check_out: Option<DateTime<Utc>>,
    /// Paid time between check-in and check-out, unpaid breaks removed, in seconds.
    pub working_seconds: i64,
    /// Overtime in seconds (after rounding and caps).
    pub overtime_seconds: i64,
    /// Extra overtime in seconds (after rounding and caps).
    pub extra_overtime_seconds: i64,
    /// Minutes the first arrival was after the shift start (0 when on time or absent).
    pub late_minutes: i64,
    /// The date's scans in time order, soft duplicates included and flagged.
    pub scans: Vec<RecordedScan>,
    /// Only one counted scan (or no OUT after the IN) and the date's window has closed.
    pub missing_checkout: bool,
    /// Scans on a holiday.
    pub worked_on_holiday: bool,
    /// Scans on a weekly off day.
    pub worked_on_weekend: bool,
    /// Extra overtime reached the snacks threshold.
    pub snacks_eligible: bool,
    /// Extra overtime reached the night-bill threshold.
    pub night_bill_eligible: bool,
    /// The holiday's name, when the date is one.
    pub holiday_name: Option<String>,
    /// Approved leave covers only half the day.
    pub half_day_leave: bool,
    /// The date's attribution window has closed: no later scan can change the record.
    pub window_closed: bool,
}

/// What a report counts of a [`DailyRecord`]: its key, status, durations and flags, without its
/// scans, shift, times or holiday name. Stores read it without decoding the whole record
/// ([`crate::store::DailyRecordStore::query_record_tallies`]); the monthly report counts
/// nothing else ([`crate::report::monthly::MonthlyCounts::add_tally`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayTally {
    /// The employee.
    pub employee_id: EmployeeCode,
    /// The work date.
    pub date: NaiveDate,
    /// The status (as computed; an override is applied by the reader).
    pub status: AttendanceStatus,
    /// See [`DailyRecord::working_seconds`].
    pub working_seconds: i64,
    /// See [`DailyRecord::overtime_seconds`].
    pub overtime_seconds: i64,
    /// See [`DailyRecord::extra_overtime_seconds`].
    pub extra_overtime_seconds: i64,
    /// See [`DailyRecord::late_minutes`].
    pub late_minutes: i64,
    /// See [`DailyRecord::worked_on_holiday`].
    pub worked_on_holiday: bool,
    /// See [`DailyRecord::worked_on_weekend`].
    pub worked_on_weekend: bool,
    /// See [`DailyRecord::snacks_eligible`].
    pub snacks_eligible: bool,
    /// See [`DailyRecord::night_bill_eligible`].
    pub night_bill_eligible: bool,
    /// See [`DailyRecord::half_day_leave`].
    pub half_day_leave: bool,
    /// See [`DailyRecord::window_closed`].
    pub window_closed: bool,
}

impl From<&DailyRecord> for DayTally {
    fn from(record: &DailyRecord) -> Self {
        Self {
            employee_id: record.employee_id.clone(),
            date: record.date,
            status: record.status.clone(),
            working_seconds: record.working_seconds,
            overtime_seconds: record.overtime_seconds,
            extra_overtime_seconds: record.extra_overtime_seconds,
            late_minutes: record.late_minutes,
            worked_on_holiday: record.worked_on_holiday,
            worked_on_weekend: record.worked_on_weekend,
            snacks_eligible: record.snacks_eligible,
            night_bill_eligible: record.night_bill_eligible,
            half_day_leave: record.half_day_leave,
            window_closed: record.window_closed,
        }
    }
}

impl DailyRecord {
    /// Number of counted scans (soft duplicates left out).
    pub fn attendance_count(&self) -> usize {
        self.scans.iter().filter(|s| !s.soft_duplicate).count()
    }
}

/// Everything about one employee the rules need besides the scans.
#[derive(Debug, Clone, Copy)]
pub struct EmployeeContext<'a> {
    /// The site's settings.
    pub settings: &'a AttendanceSettings,
    /// The employee.
    pub employee: &'a Employee,
    /// The employee's shifts by date.
    pub roster: &'a ShiftRoster<'a>,
    /// Holidays and the employee's approved leave.
    pub calendar: &'a DayCalendar,
}

/// The order in which the rules consider scans: by second, then by the dedupe key, then by every
/// other field. It is total, so the result never depends on the order the scans arrived in, and
/// exact duplicates sit next to each other.
fn scan_order(a: &ScanData, b: &ScanData) -> Ordering {
    a.timestamp
        .timestamp()
        .cmp(&b.timestamp.timestamp())
        .then_with(|| a.machine_id.cmp(&b.machine_id))
        .then_with(|| a.device_user_id.cmp(&b.device_user_id))
        .then_with(|| a.cmp(b))
}

/// Computes the records of `from..=to` (inclusive) for one employee from their scans (a slice,
/// or any iterator of references), in date order. Scans may come in any order and with exact
/// duplicates; scans outside the dates' windows are ignored. `now` decides whether a date's window has closed (which turns a day with no scans
/// into `Absent` and a lone scan into a missing checkout). An empty list is returned when
/// `to < from`.
pub fn compute_days<'s>(
    ctx: &EmployeeContext<'_>,
    scans: impl IntoIterator<Item = &'s ScanData>,
    from: NaiveDate,
    to: NaiveDate,
    now: DateTime<Utc>,
) -> Vec<DailyRecord> {
    let mut sorted: Vec<&ScanData> = scans.into_iter().collect();
    sorted.sort_unstable_by(|a, b| scan_order(a, b));
    sorted.dedup_by(|later, earlier| later.dedupe_key() == earlier.dedupe_key());

    let attributor = Attributor::new(ctx.settings, ctx.roster);
    let mut records = Vec::new();
    let mut rest: &[&ScanData] = &sorted;
    for window in attributor.windows(from, to) {
        let skip = rest.partition_point(|s| s.timestamp < window.opens);
        rest = &rest[skip..];
        let take = rest.partition_point(|s| s.timestamp < window.closes);
        let (day, after) = rest.split_at(take);
        records.push(compute_day(ctx, &window, day, now));
        rest = after;
    }
    records
}

/// Seconds of `[a, b)` ∩ `[c, d)`.
fn overlap(a: DateTime<Utc>, b: DateTime<Utc>, c: DateTime<Utc>, d: DateTime<Utc>) -> i64 {
    (b.min(d) - a.max(c)).num_seconds().max(0)
}

fn round_and_cap(seconds: i64, rounding_minutes: u32, cap_minutes: Option<u32>) -> i64 {
    let step = i64::from(rounding_minutes) * 60;
    let rounded = if step > 0 {
        seconds - seconds.rem_euclid(step)
    } else {
        seconds
    };
    cap_minutes.map_or(rounded, |cap| rounded.min(i64::from(cap) * 60))
}

/// Which scans are IN and OUT: positional (first IN, last OUT, those between alternating), or
/// the device's punch state when trusted and usable. Returns the types and the indexes of the
/// check-in and check-out among `counted`.
fn infer_types(
    counted: &[&ScanData],
    trust_device: bool,
) -> (Vec<ScanType>, Option<usize>, Option<usize>) {
    let n = counted.len();
    let positional = |i: usize| {
        if (n >= 2 && i == n - 1) || i % 2 == 1 {
            ScanType::Out
        } else {
            ScanType::In
        }
    };
    if trust_device {
        let types: Vec<ScanType> = counted
            .iter()
            .enumerate()
            .map(|(i, s)| s.punch_state.direction().unwrap_or_else(|| positional(i)))
            .collect();
        let first_in = types.iter().position(|t| *t == ScanType::In);
        let last_out = first_in.and_then(|fi| {
            types
                .iter()
                .rposition(|t| *t == ScanType::Out)
                .filter(|lo| *lo > fi)
        });
        if first_in.is_some() && (last_out.is_some() || n == 1) {
            return (types, first_in, last_out);
        }
    }
    let types = (0..n).map(positional).collect();
    let first_in = (n >= 1).then_some(0);
    let last_out = n.checked_sub(1).filter(|&last| last >= 1);
    (types, first_in, last_out)
}

fn compute_day(
    ctx: &EmployeeContext<'_>,
    window: &WorkWindow<'_>,
    day_scans: &[&ScanData],
    now: DateTime<Utc>,
) -> DailyRecord {
    let settings = ctx.settings;
    let date = window.date;
    let window_closed = now >= window.closes;

    // Soft duplicates: too close to the previous counted scan.
    let soft_gap = i64::from(settings.soft_duplicate_seconds);
    let mut counted: Vec<&ScanData> = Vec::with_capacity(day_scans.len());
    let mut soft: Vec<bool> = Vec::with_capacity(day_scans.len());
    for scan in day_scans {
        let is_soft = counted
            .last()
            .is_some_and(|prev| (scan.timestamp - prev.timestamp).num_seconds() < soft_gap);
        soft.push(is_soft);
        if !is_soft {
            counted.push(scan);
        }
    }

    let (types, first_in, last_out) = infer_types(&counted, settings.trust_device_punch_state);
    let mut counted_types = types.iter();
    let scans: Vec<RecordedScan> = day_scans
        .iter()
        .zip(&soft)
        .map(|(scan, &soft_duplicate)| {
            // A soft duplicate repeats the previous counted scan's direction.
            let scan_type = if soft_duplicate {
                None
            } else {
                counted_types.next().copied()
            };
            (scan, soft_duplicate, scan_type)
        })
        .scan(ScanType::In, |last, (scan, soft_duplicate, scan_type)| {
            let scan_type = scan_type.unwrap_or(*last);
            *last = scan_type;
            Some(RecordedScan {
                timestamp: scan.timestamp,
                scan_type,
                machine_id: scan.machine_id.clone(),
                soft_duplicate,
            })
        })
        .collect();

    let check_in = first_in.map(|i| counted[i].timestamp);
    let check_out = last_out.map(|i| counted[i].timestamp);

    let holiday_name = ctx.calendar.holidays.get(&date).cloned();
    let leave = ctx.calendar.leave.get(&date);
    let weekend = settings.weekly_off_days.contains(&date.weekday());
    let off_day = holiday_name.is_some() || weekend;
    let worked_any = !counted.is_empty();

    let (mut working, mut overtime, mut extra) = (0, 0, 0);
    if let (Some(start), Some(end)) = (check_in, check_out) {
        let clock = &window.clock;
        let breaks_in = |a: DateTime<Utc>, b: DateTime<Utc>| -> i64 {
            settings
                .breaks_for(window.shift)
                .iter()
                .map(|br| {
                    let (bs, be) = (clock.at(br.start.as_delta()), clock.at(br.end.as_delta()));
                    overlap(a.max(start), b.min(end), bs, be)
                })
                .sum()
        };
        // Worked time inside [a, b): the span's overlap minus the breaks inside it.
        let worked_in =
            |a: DateTime<Utc>, b: DateTime<Utc>| overlap(start, end, a, b) - breaks_in(a, b);
        working = (end - start).num_seconds() - breaks_in(start, end);
        let far_future = end + TimeDelta::seconds(1);
        for tier in settings.tiers_for(&ctx.employee.level_of_work, window.shift) {
            let from = clock.at(tier.from.as_delta());
            let until = tier
                .until
                .map_or(far_future.max(from), |u| clock.at(u.as_delta()));
            let seconds = worked_in(from, until);
            match tier.kind {
                OvertimeKind::Overtime => overtime += seconds,
                OvertimeKind::ExtraOvertime => extra += seconds,
            }
        }
        extra = round_and_cap(
            extra,
            settings.overtime_rounding_minutes,
            settings.daily_extra_overtime_cap_minutes,
        );
        if off_day && settings.off_day_work_is_overtime {
            overtime = working - extra;
        }
        overtime = round_and_cap(
            overtime,
            settings.overtime_rounding_minutes,
            settings.daily_overtime_cap_minutes,
        );
        working = working.max(0);
    }

    let arrival = counted.first().map(|s| s.timestamp);
    let late_minutes = arrival.map_or(0, |t| {
        let minute = t.timestamp().div_euclid(60) * 60;
        ((minute - window.shift_start.timestamp()) / 60).max(0)
    });
    let status = if let Some(leave) = leave {
        AttendanceStatus::Leave(leave.leave_type.clone())
    } else if holiday_name.is_some() {
        AttendanceStatus::Holiday
    } else if weekend {
        AttendanceStatus::Weekend
    } else if worked_any {
        let late = late_minutes;
        if late <= i64::from(settings.on_time_grace_minutes) {
            AttendanceStatus::PresentOnTime
        } else if late <= i64::from(settings.considered_minutes) {
            AttendanceStatus::PresentConsidered
        } else {
            AttendanceStatus::PresentLate
        }
    } else if window_closed {
        AttendanceStatus::Absent
    } else {
        AttendanceStatus::Pending
    };

    DailyRecord {
        employee_id: ctx.employee.employee_id.clone(),
        date,
        shift: window.shift.id.clone(),
        status,
        check_in,
        check_out,
        working_seconds: working,
        overtime_seconds: overtime,
        extra_overtime_seconds: extra,
        late_minutes,
        scans,
        missing_checkout: worked_any && check_out.is_none() && window_closed,
        worked_on_holiday: worked_any && holiday_name.is_some(),
        worked_on_weekend: worked_any && weekend,
        snacks_eligible: extra > 0 && extra >= i64::from(settings.snacks_min_extra_minutes) * 60,
        night_bill_eligible: extra > 0
            && extra >= i64::from(settings.night_bill_min_extra_minutes) * 60,
        holiday_name,
        half_day_leave: leave.is_some_and(|l| l.half_day),
        window_closed,
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Utc};

    use super::instant_text::Text;

    #[test]
    fn instants_serialize_exactly_as_chrono_writes_them() {
        // Whole seconds, milli-, micro- and nanoseconds, before 1970 and far ahead.
        let mut seconds: i64 = -2_208_988_800;
        let mut nanos: u32 = 0;
        for i in 0..2_000u32 {
            let instant = DateTime::<Utc>::from_timestamp(seconds, nanos).unwrap_or_default();
            assert_eq!(
                serde_json::to_string(&Text(&instant)).ok(),
                serde_json::to_string(&instant).ok(),
                "{instant:?}"
            );
            seconds += 7_919_993 + i64::from(i) * 104_729;
            nanos = match i % 4 {
                0 => 0,
                1 => (i * 1_000_000) % 1_000_000_000,
                2 => (i * 7_001) % 1_000_000_000,
                _ => (i * 999_983) % 1_000_000_000,
            };
        }
    }
}
