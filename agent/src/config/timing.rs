//! How often and how patiently the agent works.

use std::time::Duration;

use crate::error::ConfigError;

/// How often and how patiently the agent works. Every default is the production value.
#[derive(Clone, Debug)]
pub struct Timing {
    /// Poll interval T (default 30 s).
    pub interval: Duration,
    /// Spread of each poll around T, as a fraction (default 0.2: T ± 20 %).
    pub jitter: f64,
    /// How often the target is checked for drift and corrected (default 10 min).
    pub resync: Duration,
    /// How often a status record is written when nothing changes (default 5 min, ± jitter).
    pub heartbeat: Duration,
    /// First retry delay after a failure, doubled per failure (default 1 s).
    pub backoff_base: Duration,
    /// Longest delay between retries (default 5 min).
    pub backoff_cap: Duration,
    /// How long a shutdown waits for in-flight work (default 10 s).
    pub drain: Duration,
    /// Timeout of one store request (default 15 s).
    pub request_timeout: Duration,
    /// Whether the first poll waits a random offset in [0, T) so a fleet restart is not a herd
    /// (default true).
    pub first_poll_offset: bool,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            interval: Duration::from_secs(30),
            jitter: 0.2,
            resync: Duration::from_secs(600),
            heartbeat: Duration::from_secs(300),
            backoff_base: Duration::from_secs(1),
            backoff_cap: Duration::from_secs(300),
            drain: Duration::from_secs(10),
            request_timeout: Duration::from_secs(15),
            first_poll_offset: true,
        }
    }
}

impl Timing {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.interval.is_zero() {
            return Err(ConfigError::invalid("--interval", "must be positive"));
        }
        if !(0.0..1.0).contains(&self.jitter) {
            return Err(ConfigError::invalid(
                "--jitter",
                "must be at least 0 % and below 100 %",
            ));
        }
        Ok(())
    }
}
