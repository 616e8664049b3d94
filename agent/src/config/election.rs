//! Leader election's settings (`--leader-elect` and the lease flags, or a library caller's
//! replicas): names and timings, checked as client-go checks them. The election itself is
//! the `election` module.

use std::time::Duration;

use crate::error::ConfigError;

/// client-go's `JitterFactor`: a follower's retries are spread over [1, 1.2] retry periods, so
/// the renew deadline must leave room for more than one.
pub const JITTER_FACTOR: f64 = 1.2;

/// Leader election among agent replicas. Defaults are client-go's (15 s, 10 s, 2 s).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Election {
    /// The Lease's name, in the agent's namespace (default `cairn-agent`).
    pub lease: String,
    /// This replica's identity (default: the pod name, else the host name).
    pub identity: String,
    /// How long a follower waits, after it last saw the lease renewed, before it may take it
    /// (default 15 s). Whole seconds: the Lease records seconds.
    pub lease_duration: Duration,
    /// How long a leader keeps writing after the start of its last successful renewal; it steps
    /// down (stops writing) when it cannot renew within this (default 10 s).
    pub renew_deadline: Duration,
    /// How often the leader renews, and how long each lease call may take (default 2 s).
    pub retry_period: Duration,
}

impl Election {
    /// An election for `identity` with the default lease and timings.
    pub fn new(identity: &str) -> Election {
        Election {
            lease: "cairn-agent".to_owned(),
            identity: identity.to_owned(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }

    /// Checks names and timings as client-go does: lease duration > renew deadline > retry
    /// period × [`JITTER_FACTOR`] > 0.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.identity.is_empty() {
            return Err(ConfigError::invalid("--identity", "must not be empty"));
        }
        if self.lease.is_empty() {
            return Err(ConfigError::invalid("--lease-name", "must not be empty"));
        }
        let (lease, renew, retry) = (self.lease_duration, self.renew_deadline, self.retry_period);
        if lease < Duration::from_secs(1) || lease.subsec_nanos() != 0 {
            return Err(ConfigError::invalid(
                "--lease-duration",
                format!(
                    "{lease:?}: must be a whole number of seconds, at least 1s (the Lease records seconds)"
                ),
            ));
        }
        if retry.is_zero() {
            return Err(ConfigError::invalid("--retry-period", "must be positive"));
        }
        if renew >= lease {
            return Err(ConfigError::invalid(
                "--renew-deadline",
                format!(
                    "{renew:?} must be shorter than --lease-duration ({lease:?}): a leader must stop writing before another replica may take the lease"
                ),
            ));
        }
        if renew.as_secs_f64() <= retry.as_secs_f64() * JITTER_FACTOR {
            return Err(ConfigError::invalid(
                "--renew-deadline",
                format!(
                    "{renew:?} must be longer than --retry-period ({retry:?}) × {JITTER_FACTOR}: a leader needs more than one try to renew before its deadline"
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timings(lease: u64, renew: u64, retry: u64) -> Election {
        Election {
            lease_duration: Duration::from_millis(lease),
            renew_deadline: Duration::from_millis(renew),
            retry_period: Duration::from_millis(retry),
            ..Election::new("pod-a")
        }
    }

    fn refused(election: &Election) -> String {
        election.validate().unwrap_err().to_string()
    }

    #[test]
    fn timings_are_checked_as_client_go_does() {
        assert!(Election::new("pod-a").validate().is_ok());
        assert!(timings(2000, 1000, 500).validate().is_ok());
        let e = refused(&timings(15000, 15000, 2000));
        assert!(
            e.starts_with("--renew-deadline") && e.contains("shorter than --lease-duration"),
            "{e}"
        );
        let e = refused(&timings(15000, 2400, 2000));
        assert!(
            e.starts_with("--renew-deadline") && e.contains("--retry-period"),
            "{e}"
        );
        let e = refused(&timings(1500, 1000, 200));
        assert!(
            e.starts_with("--lease-duration") && e.contains("whole number"),
            "{e}"
        );
        let e = refused(&timings(15000, 10000, 0));
        assert!(e.starts_with("--retry-period"), "{e}");
        let e = refused(&Election::new(""));
        assert!(e.starts_with("--identity"), "{e}");
    }
}
