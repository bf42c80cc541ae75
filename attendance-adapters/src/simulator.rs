//! The built-in simulator ([`MachineType::Simulated`]): a seeded, deterministic generator of
//! factory days ([`FactoryDay`]) and an adapter ([`SimulatorAdapter`]) that serves it as a machine.
//!
//! The same seed, employees and shift always give the same scans, whatever range is asked
//! for: every (date, user) pair has its own random stream derived from the seed. A day shift
//! worker arrives around the shift start (most a few minutes early, a late tail of up to 75
//! minutes), sometimes taps twice, leaves around the shift end or stays for overtime (some past
//! 19:00), sometimes forgets to check out, and is sometimes absent. Nobody's shift starts on
//! a weekly off day (Friday by default, Bangladesh's weekend). Some users work nights
//! (20:00–05:00 by default), checking out on the next date: either exactly the users listed in
//! `night_users` (to match the employees a site has on its night shift), or a configurable share.
//!
//! As an adapter, the simulator has its own clock: it starts at the configured `start` (or the
//! time given to [`SimulatorAdapter::starting_at`], or the real time when the adapter is
//! created) and runs `speed_up` times faster than real time. A fetch returns everything
//! generated up to that clock (the cursor is the last instant covered, `sim1:<RFC 3339>`);
//! without a cursor it reaches back `history_hours`, or with `history_from_last_working_day`
//! it reads the shifts that started on the last working day before today or later (usually
//! yesterday; whole nights). Live scans are emitted as the simulated clock reaches them.
//!
//! Configuration (every field optional):
//!
//! ```json
//! { "seed": 7, "employees": 50, "first_user_id": 1, "shift_start": "08:00", "shift_end": "17:00",
//!   "night_shift_start": "20:00", "night_shift_end": "05:00", "night_worker_percent": 8,
//!   "night_users": [45, 46, 47], "weekly_off_days": ["Fri"],
//!   "speed_up": 60.0, "start": "2026-01-05T07:30:00", "history_hours": 24,
//!   "history_from_last_working_day": false, "scans_per_minute": null }
//! ```
//!
//! With `scans_per_minute` set, the generator leaves factory days aside and produces a steady
//! stream at that rate from random users (a demo that looks alive at any hour, a load test).

use std::collections::VecDeque;
use std::time::Duration;

use async_trait::async_trait;
use attendance_core::employee::DeviceUserId;
use attendance_core::machine::{Machine, MachineType};
use attendance_core::scan::{MachineId, PunchState, ScanData, VerifyMode};
use attendance_core::store::MachineCursor;
use attendance_core::time::local_to_utc;
use chrono::{
    DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, SecondsFormat, TimeDelta, Utc, Weekday,
};
use chrono_tz::Tz;
use serde::{Deserialize, Deserializer};

use crate::adapter::{
    AdapterError, BaseMachineAdapter, ConnectionReport, Fetch, ScanStream, parse_config,
};

/// SplitMix64: a tiny, fast, well-mixed generator; enough for plausible simulated days and
/// reproducible everywhere (no dependency on a random crate's version).
#[derive(Debug, Clone)]
pub(crate) struct SplitMix(u64);

impl SplitMix {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Uniform in [lo, hi).
    fn between(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// Roughly standard normal (Irwin–Hall with 12 terms).
    fn normal(&mut self) -> f64 {
        (0..12).map(|_| self.unit()).sum::<f64>() - 6.0
    }
}

fn parse_clock<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveTime, D::Error> {
    let text = String::deserialize(d)?;
    NaiveTime::parse_from_str(&text, "%H:%M")
        .or_else(|_| NaiveTime::parse_from_str(&text, "%H:%M:%S"))
        .map_err(|_| serde::de::Error::custom(format!("`{text}` is not a time like 08:00")))
}

fn parse_start<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NaiveDateTime>, D::Error> {
    let text = Option::<String>::deserialize(d)?;
    text.map(|t| {
        NaiveDateTime::parse_from_str(&t, "%Y-%m-%dT%H:%M:%S")
            .or_else(|_| NaiveDateTime::parse_from_str(&t, "%Y-%m-%d %H:%M:%S"))
            .map_err(|_| {
                serde::de::Error::custom(format!(
                    "`{t}` is not a local time like 2026-01-05T07:30:00"
                ))
            })
    })
    .transpose()
}

fn hm(h: u32, m: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(h, m, 0).unwrap_or(NaiveTime::MIN)
}

/// The simulator's typed configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimulatorConfig {
    /// The seed: the same seed gives the same scans (default 1).
    pub seed: u64,
    /// How many employees (device users) punch (default 50, at most 100,000).
    pub employees: u32,
    /// The device user id of the first employee; the others follow (default 1).
    pub first_user_id: u32,
    /// Day shift start, local (default 08:00).
    #[serde(deserialize_with = "parse_clock")]
    pub shift_start: NaiveTime,
    /// Day shift end, local (default 17:00).
    #[serde(deserialize_with = "parse_clock")]
    pub shift_end: NaiveTime,
    /// Night shift start (default 20:00).
    #[serde(deserialize_with = "parse_clock")]
    pub night_shift_start: NaiveTime,
    /// Night shift end, on the next date (default 05:00).
    #[serde(deserialize_with = "parse_clock")]
    pub night_shift_end: NaiveTime,
    /// Share of users on the night shift, in percent (default 8), when `night_users` is not set.
    pub night_worker_percent: u8,
    /// When set, exactly these device user ids work the night shift (the share is ignored).
    pub night_users: Option<Vec<u32>>,
    /// No shift starts on these days (default Friday).
    pub weekly_off_days: Vec<Weekday>,
    /// How much faster than real time the simulated clock runs (default 1.0).
    pub speed_up: f64,
    /// The local time the simulated clock starts at (default: the real time at creation).
    #[serde(deserialize_with = "parse_start")]
    pub start: Option<NaiveDateTime>,
    /// How far back a fetch without cursor reaches, in hours (default 24, at most 744).
    pub history_hours: u32,
    /// A fetch without cursor reads the shifts that started on the last working day before
    /// today (local date; yesterday unless it was a weekly off day) or later instead (default
    /// false): a demo started at any hour shows a whole working day and today so far, and no
    /// night's check-out without its check-in.
    pub history_from_last_working_day: bool,
    /// Instead of factory days, a steady stream of this many scans per simulated minute from
    /// random users (for demos at any hour and load tests); at most 10,000.
    pub scans_per_minute: Option<f64>,
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        Self {
            seed: 1,
            employees: 50,
            first_user_id: 1,
            shift_start: hm(8, 0),
            shift_end: hm(17, 0),
            night_shift_start: hm(20, 0),
            night_shift_end: hm(5, 0),
            night_worker_percent: 8,
            night_users: None,
            weekly_off_days: vec![Weekday::Fri],
            speed_up: 1.0,
            start: None,
            history_hours: 24,
            history_from_last_working_day: false,
            scans_per_minute: None,
        }
    }
}

impl SimulatorConfig {
    fn validate(&self, machine_type: MachineType) -> Result<(), AdapterError> {
        let bad = |message: &str| {
            Err(AdapterError::Config {
                machine_type,
                message: message.into(),
            })
        };
        if !(self.speed_up.is_finite() && self.speed_up > 0.0 && self.speed_up <= 1e6) {
            return bad("speed_up must be a number in (0, 1000000]");
        }
        if self.employees > 100_000 {
            return bad("employees must be at most 100000");
        }
        if self.night_worker_percent > 100 {
            return bad("night_worker_percent must be at most 100");
        }
        if self.history_hours > 744 {
            return bad("history_hours must be at most 744 (31 days)");
        }
        if let Some(rate) = self.scans_per_minute
            && !(rate.is_finite() && rate > 0.0 && rate <= 10_000.0)
        {
            return bad("scans_per_minute must be a number in (0, 10000]");
        }
        if self.shift_start >= self.shift_end {
            return bad("shift_start must be before shift_end");
        }
        Ok(())
    }
}

/// Why a simulated punch happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PunchKind {
    /// The first punch of a shift.
    Arrival,
    /// A second tap seconds after the arrival.
    DoubleTap,
    /// The checkout.
    Departure,
}

/// One simulated punch, in local time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimPunch {
    /// The device user id.
    pub user: u32,
    /// Local wall-clock time (whole seconds).
    pub local: NaiveDateTime,
    /// Why.
    pub kind: PunchKind,
    /// Whether the user works the night shift.
    pub night: bool,
    /// ZK-style verify type: 1 finger, 15 face, 2 card.
    pub verify: u8,
}

/// The deterministic generator of factory days.
#[derive(Debug, Clone)]
pub struct FactoryDay {
    config: SimulatorConfig,
}

impl FactoryDay {
    /// A generator for `config`.
    pub fn new(config: SimulatorConfig) -> Self {
        Self { config }
    }

    /// The configuration.
    pub fn config(&self) -> &SimulatorConfig {
        &self.config
    }

    /// Whether `user` works the night shift.
    pub fn is_night_worker(&self, user: u32) -> bool {
        if let Some(night) = &self.config.night_users {
            return night.contains(&user);
        }
        let mut rng =
            SplitMix::new(self.config.seed ^ u64::from(user).wrapping_mul(0xA24B_AED4_963E_E407));
        rng.next_u64();
        rng.unit() * 100.0 < f64::from(self.config.night_worker_percent)
    }

    /// The punches of the shifts that start on `date`, sorted by time then user (none on a
    /// weekly off day). Night shifts end on the next date.
    pub fn shifts_starting(&self, date: NaiveDate) -> Vec<SimPunch> {
        let c = &self.config;
        let mut out = Vec::new();
        if c.weekly_off_days.contains(&date.weekday()) {
            return out;
        }
        for i in 0..c.employees {
            let user = c.first_user_id.saturating_add(i);
            let night = self.is_night_worker(user);
            let mut rng = SplitMix::new(
                c.seed
                    ^ (i64::from(date.num_days_from_ce()) as u64)
                        .wrapping_mul(0x9FB2_1C65_1E98_DF25)
                    ^ u64::from(user).wrapping_mul(0xD6E8_FEB8_6659_FD93),
            );
            rng.next_u64();
            let (start, end) = if night {
                (
                    date.and_time(c.night_shift_start),
                    date.succ_opt().unwrap_or(date).and_time(c.night_shift_end),
                )
            } else {
                (date.and_time(c.shift_start), date.and_time(c.shift_end))
            };
            // 4% absent.
            if rng.chance(0.04) {
                continue;
            }
            let minutes = |m: f64| TimeDelta::seconds((m * 60.0).round() as i64);
            let arrival_offset = if rng.chance(0.12) {
                // The late tail: 3 to 75 minutes after the start.
                rng.between(3.0, 75.0)
            } else {
                (-12.0 + 8.0 * rng.normal()).clamp(-60.0, 2.0)
            };
            let arrival = start + minutes(arrival_offset);
            let verify = |rng: &mut SplitMix| match rng.unit() {
                x if x < 0.85 => 1,
                x if x < 0.95 => 15,
                _ => 2,
            };
            let v = verify(&mut rng);
            out.push(SimPunch {
                user,
                local: arrival,
                kind: PunchKind::Arrival,
                night,
                verify: v,
            });
            if rng.chance(0.06) {
                out.push(SimPunch {
                    user,
                    local: arrival + TimeDelta::seconds(rng.between(2.0, 45.0) as i64),
                    kind: PunchKind::DoubleTap,
                    night,
                    verify: v,
                });
            }
            // 5% forget to check out.
            if rng.chance(0.05) {
                continue;
            }
            let departure_offset = match rng.unit() {
                // Overtime stayers, some past 19:00 (extra overtime).
                x if x < 0.30 => rng.between(30.0, 300.0),
                // Early leavers.
                x if x < 0.33 => -rng.between(30.0, 180.0),
                _ => rng.between(0.0, 20.0),
            };
            let departure = end + minutes(departure_offset);
            out.push(SimPunch {
                user,
                local: departure.max(arrival + TimeDelta::minutes(5)),
                kind: PunchKind::Departure,
                night,
                verify: verify(&mut rng),
            });
        }
        out.sort_by_key(|a| (a.local, a.user));
        out
    }

    /// The scans in `(from, to]`, in time order, for `machine` whose clock runs in `tz`.
    pub fn scans_between(
        &self,
        machine: &MachineId,
        tz: Tz,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Vec<ScanData> {
        if from >= to {
            return Vec::new();
        }
        if let Some(rate) = self.config.scans_per_minute {
            return self.steady_between(machine, tz, rate, from, to);
        }
        // Shifts that start the day before may end inside the range (night shifts); a day of
        // margin on both sides covers every zone offset.
        let first = from.with_timezone(&tz).date_naive() - TimeDelta::days(2);
        self.scans_of_shifts(machine, tz, first, to, |at| at > from)
    }

    /// The last date before `date` that is not a weekly off day (at most a week back; `date`
    /// itself when every day is off).
    pub fn last_working_day_before(&self, date: NaiveDate) -> NaiveDate {
        date.pred_opt()
            .into_iter()
            .flat_map(|d| d.iter_days().rev().take(7))
            .find(|d| !self.config.weekly_off_days.contains(&d.weekday()))
            .unwrap_or(date)
    }

    /// The scans up to `to` of the shifts that start on `first` or later, in time order: a
    /// backfill of whole shifts (no night's check-out without its check-in). In the steady
    /// mode, the scans from `first`'s local midnight.
    pub fn shifts_since(
        &self,
        machine: &MachineId,
        tz: Tz,
        first: NaiveDate,
        to: DateTime<Utc>,
    ) -> Vec<ScanData> {
        if self.config.scans_per_minute.is_some() {
            let from = local_to_utc(tz, first.and_time(NaiveTime::MIN)) - TimeDelta::nanoseconds(1);
            return self.scans_between(machine, tz, from, to);
        }
        self.scans_of_shifts(machine, tz, first, to, |_| true)
    }

    /// The scans up to `to` that `keep` accepts, of the shifts starting from `first` to the day
    /// after `to`'s local date, in time order.
    fn scans_of_shifts(
        &self,
        machine: &MachineId,
        tz: Tz,
        first: NaiveDate,
        to: DateTime<Utc>,
        keep: impl Fn(DateTime<Utc>) -> bool,
    ) -> Vec<ScanData> {
        let last = to.with_timezone(&tz).date_naive() + TimeDelta::days(1);
        let mut out = Vec::new();
        let mut date = first;
        while date <= last {
            for p in self.shifts_starting(date) {
                let at = local_to_utc(tz, p.local);
                if at <= to && keep(at) {
                    out.push((at, p));
                }
            }
            date = match date.succ_opt() {
                Some(d) => d,
                None => break,
            };
        }
        out.sort_by_key(|a| (a.0, a.1.user));
        out.into_iter()
            .filter_map(|(at, p)| Self::to_scan(machine, at, &p))
            .collect()
    }

    /// The steady mode: every simulated minute (from the epoch) has its own random stream, so
    /// ranges can be cut anywhere. A minute holds `rate` scans (the fraction is a chance of one
    /// more) at random seconds from random users, check-in or check-out at random.
    fn steady_between(
        &self,
        machine: &MachineId,
        tz: Tz,
        rate: f64,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Vec<ScanData> {
        let c = &self.config;
        if c.employees == 0 {
            return Vec::new();
        }
        let mut out = Vec::new();
        let mut minute = from.timestamp().div_euclid(60);
        let last = to.timestamp().div_euclid(60);
        while minute <= last {
            let mut rng =
                SplitMix::new(c.seed ^ (minute as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F));
            rng.next_u64();
            let whole = rate.floor();
            let count = whole as u64 + u64::from(rng.chance(rate - whole));
            let mut scans = Vec::new();
            for _ in 0..count {
                let second = rng.next_u64() % 60;
                let user = c
                    .first_user_id
                    .saturating_add((rng.next_u64() % u64::from(c.employees)) as u32);
                let kind = if rng.chance(0.5) {
                    PunchKind::Arrival
                } else {
                    PunchKind::Departure
                };
                let Some(at) = DateTime::from_timestamp(minute * 60 + second as i64, 0) else {
                    continue;
                };
                let punch = SimPunch {
                    user,
                    local: at.with_timezone(&tz).naive_local(),
                    kind,
                    night: false,
                    verify: 1,
                };
                if at > from && at <= to {
                    scans.push((at, punch));
                }
            }
            scans.sort_by_key(|a| (a.0, a.1.user));
            out.extend(
                scans
                    .into_iter()
                    .filter_map(|(at, p)| Self::to_scan(machine, at, &p)),
            );
            minute += 1;
        }
        out
    }

    fn to_scan(machine: &MachineId, at: DateTime<Utc>, p: &SimPunch) -> Option<ScanData> {
        let device_user_id = DeviceUserId::parse(&p.user.to_string()).ok()?;
        let (punch_state, kind) = match p.kind {
            PunchKind::Arrival => (PunchState::CheckIn, "arrival"),
            PunchKind::DoubleTap => (PunchState::CheckIn, "double_tap"),
            PunchKind::Departure => (PunchState::CheckOut, "departure"),
        };
        let verify_mode = match p.verify {
            1 => VerifyMode::Fingerprint,
            15 => VerifyMode::Face,
            2 => VerifyMode::Card,
            other => VerifyMode::Other(u16::from(other)),
        };
        Some(ScanData {
            machine_id: machine.clone(),
            device_user_id,
            timestamp: at,
            punch_state,
            verify_mode,
            raw: Some(format!("sim:{}:{kind}", p.user)),
        })
    }
}

/// The simulated clock: starts at `origin_sim` and runs `speed` times faster than real time.
#[derive(Debug, Clone, Copy)]
struct SimClock {
    origin_real: tokio::time::Instant,
    origin_sim: DateTime<Utc>,
    speed: f64,
}

impl SimClock {
    fn now(&self) -> DateTime<Utc> {
        let elapsed = self.origin_real.elapsed().as_secs_f64() * self.speed;
        let nanos = (elapsed * 1e9).min(i64::MAX as f64) as i64;
        self.origin_sim + TimeDelta::nanoseconds(nanos)
    }

    /// The real time to wait until the simulated clock shows `at`.
    fn real_wait_until(&self, at: DateTime<Utc>) -> Duration {
        let ahead = (at - self.now()).to_std().unwrap_or(Duration::ZERO);
        Duration::from_secs_f64(ahead.as_secs_f64() / self.speed)
    }
}

const CURSOR_PREFIX: &str = "sim1:";

fn sim_cursor(at: DateTime<Utc>) -> MachineCursor {
    MachineCursor(format!(
        "{CURSOR_PREFIX}{}",
        at.to_rfc3339_opts(SecondsFormat::Nanos, true)
    ))
}

fn parse_sim_cursor(cursor: &MachineCursor) -> Option<DateTime<Utc>> {
    let text = cursor.0.strip_prefix(CURSOR_PREFIX)?;
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The simulator as a machine.
#[derive(Debug)]
pub struct SimulatorAdapter {
    machine: Machine,
    generator: FactoryDay,
    clock: SimClock,
    connected: bool,
    // Where the last fetch ended, so live scans continue from there without a gap.
    last_fetch: Option<DateTime<Utc>>,
}

impl SimulatorAdapter {
    /// An adapter for `machine` (type `simulated`); [`AdapterError::Config`] when the config
    /// does not parse or is out of range. The simulated clock starts at the config's `start`,
    /// else now.
    pub fn new(machine: Machine) -> Result<Self, AdapterError> {
        Self::build(machine, None)
    }

    /// Like [`Self::new`], with the simulated clock starting at `now` unless the config names
    /// a `start` (a host that injects its clock, a deterministic test).
    pub fn starting_at(machine: Machine, now: DateTime<Utc>) -> Result<Self, AdapterError> {
        Self::build(machine, Some(now))
    }

    fn build(machine: Machine, now: Option<DateTime<Utc>>) -> Result<Self, AdapterError> {
        if machine.machine_type != MachineType::Simulated {
            return Err(AdapterError::Config {
                machine_type: machine.machine_type,
                message: "the simulator adapter reads only simulated machines".into(),
            });
        }
        let config: SimulatorConfig = parse_config(&machine)?;
        config.validate(machine.machine_type)?;
        let origin_sim = match config.start {
            Some(local) => local_to_utc(machine.time_zone, local),
            None => now.unwrap_or_else(Utc::now),
        };
        let clock = SimClock {
            origin_real: tokio::time::Instant::now(),
            origin_sim,
            speed: config.speed_up,
        };
        Ok(Self {
            machine,
            generator: FactoryDay::new(config),
            clock,
            connected: false,
            last_fetch: None,
        })
    }

    /// The generator behind the adapter.
    pub fn generator(&self) -> &FactoryDay {
        &self.generator
    }

    /// The simulated clock's current time.
    pub fn simulated_now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    fn not_connected(&self) -> AdapterError {
        AdapterError::NotConnected {
            target: format!("simulator {}", self.machine.machine_id),
        }
    }
}

#[async_trait]
impl BaseMachineAdapter for SimulatorAdapter {
    fn machine(&self) -> &Machine {
        &self.machine
    }

    async fn connect(&mut self) -> Result<(), AdapterError> {
        self.connected = true;
        Ok(())
    }

    async fn disconnect(&mut self) -> Result<(), AdapterError> {
        self.connected = false;
        Ok(())
    }

    async fn test_connection(
        &mut self,
        now: DateTime<Utc>,
    ) -> Result<ConnectionReport, AdapterError> {
        self.connect().await?;
        let sim_now = self.clock.now();
        Ok(ConnectionReport {
            reachable: true,
            authenticated: true,
            serial: Some(format!("SIM-{}", self.machine.machine_id)),
            firmware: Some(concat!("attendance simulator ", env!("CARGO_PKG_VERSION")).into()),
            device_time: Some(sim_now.with_timezone(&self.machine.time_zone).naive_local()),
            clock_drift_seconds: Some((sim_now - now).num_seconds()),
            record_count: None,
            elapsed_ms: 0,
        })
    }

    async fn fetch_scans(&mut self, since: Option<&MachineCursor>) -> Result<Fetch, AdapterError> {
        if !self.connected {
            return Err(self.not_connected());
        }
        let to = self.clock.now();
        let floor = to - TimeDelta::days(31);
        let from = match since.and_then(parse_sim_cursor) {
            Some(t) if t <= to => Some(t.max(floor)),
            Some(t) => {
                // A cursor ahead of the simulated clock (a restarted demo with an earlier
                // `start`): like a cleared log, read the history again rather than wait.
                tracing::warn!(cursor = %t, now = %to, "simulator cursor is ahead of its clock; reading history again");
                None
            }
            None => None,
        };
        let (machine, tz) = (&self.machine.machine_id, self.machine.time_zone);
        let scans = match from {
            Some(from) => self.generator.scans_between(machine, tz, from, to),
            None if self.generator.config.history_from_last_working_day => {
                let today = to.with_timezone(&tz).date_naive();
                let first = self.generator.last_working_day_before(today);
                self.generator.shifts_since(machine, tz, first, to)
            }
            None => {
                let hours = TimeDelta::hours(i64::from(self.generator.config.history_hours));
                self.generator.scans_between(machine, tz, to - hours, to)
            }
        };
        self.last_fetch = Some(to);
        Ok(Fetch {
            scans,
            cursor: Some(sim_cursor(to)),
            skipped: 0,
        })
    }

    fn supports_live(&self) -> bool {
        true
    }

    async fn live_scans(&mut self) -> Result<ScanStream, AdapterError> {
        if !self.connected {
            return Err(self.not_connected());
        }
        let clock = self.clock;
        let generator = self.generator.clone();
        let machine = self.machine.machine_id.clone();
        let tz = self.machine.time_zone;
        let from = self.last_fetch.unwrap_or_else(|| clock.now());
        if generator.config.employees == 0 {
            return Ok(Box::pin(futures::stream::pending()));
        }
        struct State {
            from: DateTime<Utc>,
            pending: VecDeque<ScanData>,
        }
        let state = State {
            from,
            pending: VecDeque::new(),
        };
        let stream = futures::stream::unfold(state, move |mut state| {
            let generator = generator.clone();
            let machine = machine.clone();
            async move {
                loop {
                    if let Some(scan) = state.pending.pop_front() {
                        tokio::time::sleep(clock.real_wait_until(scan.timestamp)).await;
                        return Some((Ok(scan), state));
                    }
                    // Generate the next simulated hour ahead of time and wait for each scan.
                    let to = state.from + TimeDelta::hours(1);
                    state.pending = generator.scans_between(&machine, tz, state.from, to).into();
                    state.from = to;
                }
            }
        });
        Ok(Box::pin(stream))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_parses_times_and_rejects_nonsense() {
        let c: SimulatorConfig = serde_json::from_value(
            serde_json::json!({"shift_start": "07:30", "shift_end": "16:30:00", "start": "2026-01-05T07:00:00"}),
        )
        .unwrap();
        assert_eq!(c.shift_start, hm(7, 30));
        assert_eq!(c.shift_end, hm(16, 30));
        assert!(c.start.is_some());
        assert!(
            serde_json::from_value::<SimulatorConfig>(serde_json::json!({"shift_start": "8am"}))
                .is_err()
        );
        assert!(
            serde_json::from_value::<SimulatorConfig>(serde_json::json!({"speed": 2})).is_err()
        );
        let bad = SimulatorConfig {
            speed_up: 0.0,
            ..SimulatorConfig::default()
        };
        assert!(bad.validate(MachineType::Simulated).is_err());
    }

    #[test]
    fn splitmix_is_stable() {
        let mut a = SplitMix::new(42);
        let mut b = SplitMix::new(42);
        assert_eq!(a.next_u64(), b.next_u64());
        assert!((0..1000).all(|_| (0.0..1.0).contains(&a.unit())));
    }
}
