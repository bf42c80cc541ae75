//! Reconnect pacing: exponential backoff with jitter, and a circuit breaker (both pure: the
//! machine's task does the waiting).

use std::time::Duration;

use serde::Serialize;

/// Exponential backoff with jitter between reconnects.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// The delay after the first failure.
    pub initial: Duration,
    /// The longest delay.
    pub max: Duration,
    /// Growth per consecutive failure (at least 1).
    pub multiplier: f64,
    /// Share of the delay taken off at random, in [0, 1]: 0.2 gives delays in [0.8 d, d].
    pub jitter: f64,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(60),
            multiplier: 2.0,
            jitter: 0.2,
        }
    }
}

impl Backoff {
    /// The delay after `failures` consecutive failures (1 for the first), with `unit` a random
    /// number in [0, 1) for the jitter. Always in `[0, max]`; out-of-range settings are clamped.
    pub fn delay(&self, failures: u32, unit: f64) -> Duration {
        let exponent = i32::try_from(failures.saturating_sub(1)).unwrap_or(i32::MAX);
        let max = self.max.as_secs_f64();
        let base = (self.initial.as_secs_f64() * self.multiplier.max(1.0).powi(exponent)).min(max);
        let jitter = self.jitter.clamp(0.0, 1.0) * unit.clamp(0.0, 1.0);
        let secs = (base * (1.0 - jitter)).clamp(0.0, max);
        if secs.is_finite() {
            Duration::from_secs_f64(secs)
        } else {
            self.max
        }
    }
}

/// When the circuit opens and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerPolicy {
    /// Consecutive failures that open the circuit (at least 1).
    pub failure_threshold: u32,
    /// How long the circuit stays open before one trial.
    pub cool_down: Duration,
}

impl Default for BreakerPolicy {
    fn default() -> Self {
        Self {
            failure_threshold: 5,
            cool_down: Duration::from_secs(300),
        }
    }
}

/// A circuit breaker's position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    /// Calls go through.
    Closed,
    /// Calls wait for the cool-down.
    Open,
    /// One trial call decides.
    HalfOpen,
}

/// A circuit breaker counting consecutive failures (pure: the caller waits the cool-down).
#[derive(Debug, Clone)]
pub struct CircuitBreaker {
    policy: BreakerPolicy,
    consecutive: u32,
    state: BreakerState,
}

impl CircuitBreaker {
    /// A closed breaker.
    pub fn new(policy: BreakerPolicy) -> Self {
        Self {
            policy,
            consecutive: 0,
            state: BreakerState::Closed,
        }
    }

    /// Its state.
    pub fn state(&self) -> BreakerState {
        self.state
    }

    /// Consecutive failures so far.
    pub fn failures(&self) -> u32 {
        self.consecutive
    }

    /// A call succeeded: the circuit closes.
    pub fn on_success(&mut self) {
        self.consecutive = 0;
        self.state = BreakerState::Closed;
    }

    /// A call failed; returns the new state (open after the threshold, or after a failed trial).
    pub fn on_failure(&mut self) -> BreakerState {
        self.consecutive = self.consecutive.saturating_add(1);
        if self.state == BreakerState::HalfOpen
            || self.consecutive >= self.policy.failure_threshold.max(1)
        {
            self.state = BreakerState::Open;
        }
        self.state
    }

    /// The cool-down is over: allow one trial.
    pub fn half_open(&mut self) {
        if self.state == BreakerState::Open {
            self.state = BreakerState::HalfOpen;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulator::SplitMix;

    #[test]
    fn backoff_grows_is_bounded_and_jittered() {
        let b = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
            multiplier: 2.0,
            jitter: 0.5,
        };
        assert_eq!(b.delay(1, 0.0), Duration::from_millis(100));
        assert_eq!(b.delay(2, 0.0), Duration::from_millis(200));
        assert_eq!(b.delay(3, 0.0), Duration::from_millis(400));
        assert_eq!(b.delay(10, 0.0), Duration::from_secs(1));
        assert_eq!(b.delay(u32::MAX, 0.0), Duration::from_secs(1));
        assert_eq!(b.delay(2, 0.999_999).as_millis(), 100);
        let mut rng = SplitMix::new(3);
        for n in 1..50 {
            let d = b.delay(n, rng.unit());
            assert!(d <= b.max && d >= b.delay(n, 0.0) / 2, "{n}: {d:?}");
        }
    }

    #[test]
    fn breaker_opens_after_the_threshold_and_a_failed_trial_reopens_it() {
        let mut b = CircuitBreaker::new(BreakerPolicy {
            failure_threshold: 3,
            cool_down: Duration::from_millis(10),
        });
        assert_eq!(b.on_failure(), BreakerState::Closed);
        assert_eq!(b.on_failure(), BreakerState::Closed);
        assert_eq!(b.on_failure(), BreakerState::Open);
        b.half_open();
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert_eq!(b.on_failure(), BreakerState::Open);
        b.half_open();
        b.on_success();
        assert_eq!((b.state(), b.failures()), (BreakerState::Closed, 0));
        assert_eq!(b.on_failure(), BreakerState::Closed);
    }
}
