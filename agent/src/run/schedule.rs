//! When to poll next: T ± jitter after a good pass, exponential backoff with full jitter after a
//! transient failure, never sooner than the store asked (`Retry-After`), and no sooner than the
//! next poll after a permanent one (retrying it faster cannot help).

use std::time::Duration;

use rand::Rng;

use crate::config::Timing;
use crate::error::Retry;

/// Longest wait a `Retry-After` may impose.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// The poll schedule of one channel.
#[derive(Clone, Debug)]
pub struct Schedule {
    interval: Duration,
    jitter: f64,
    base: Duration,
    cap: Duration,
    failures: u32,
}

impl Schedule {
    /// A schedule from the agent's timing.
    pub fn new(timing: &Timing) -> Schedule {
        Schedule {
            interval: timing.interval,
            jitter: timing.jitter,
            base: timing.backoff_base,
            cap: timing.backoff_cap,
            failures: 0,
        }
    }

    /// The first poll's offset: uniform in [0, T), so a fleet restart is not a herd.
    pub fn first_offset(&self) -> Duration {
        self.interval.mul_f64(rand::rng().random_range(0.0..1.0))
    }

    /// The delay after a pass that did not fail: T ± jitter.
    pub fn success(&mut self) -> Duration {
        self.failures = 0;
        spread(self.interval, self.jitter)
    }

    /// The delay after a failure: uniform in [0, min(cap, base · 2^(n-1))] for the n-th failure
    /// in a row; but at least what the store asked for when it throttled, and at least an
    /// interval (± jitter) when the failure is permanent.
    pub fn failure(&mut self, retry: Retry) -> Duration {
        self.failures = self.failures.saturating_add(1);
        let exponent = (self.failures - 1).min(30);
        let ceiling = self
            .base
            .saturating_mul(1u32 << exponent)
            .min(self.cap)
            .max(Duration::from_millis(1));
        let backoff = ceiling.mul_f64(rand::rng().random_range(0.0..=1.0));
        match retry {
            Retry::Transient => backoff,
            Retry::Throttled(wait) => backoff.max(wait.min(MAX_RETRY_AFTER)),
            Retry::Permanent => backoff.max(spread(self.interval, self.jitter)),
        }
    }

    /// Consecutive failures so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }
}

/// `d` ± `jitter` (a fraction), uniformly.
pub fn spread(d: Duration, jitter: f64) -> Duration {
    if jitter <= 0.0 {
        return d;
    }
    d.mul_f64(1.0 + rand::rng().random_range(-jitter..=jitter))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timing() -> Timing {
        Timing {
            interval: Duration::from_secs(30),
            jitter: 0.2,
            backoff_base: Duration::from_secs(1),
            backoff_cap: Duration::from_secs(60),
            ..Timing::default()
        }
    }

    #[test]
    fn polls_stay_within_jitter_and_failures_back_off_to_the_cap() {
        let mut s = Schedule::new(&timing());
        for _ in 0..100 {
            assert!(s.first_offset() < Duration::from_secs(30));
            let d = s.success();
            assert!(
                d >= Duration::from_secs(24) && d <= Duration::from_secs(36),
                "{d:?}"
            );
        }
        for n in 1..=20u32 {
            let d = s.failure(Retry::Transient);
            let ceiling = Duration::from_secs(1u64 << (n - 1).min(10)).min(Duration::from_secs(60));
            assert!(d <= ceiling, "failure {n}: {d:?} > {ceiling:?}");
        }
        assert_eq!(s.failures(), 20);
        assert!(s.failure(Retry::Throttled(Duration::from_secs(90))) >= Duration::from_secs(90));
        assert!(s.failure(Retry::Permanent) >= Duration::from_secs(24));
        s.success();
        assert_eq!(s.failures(), 0);
    }
}
