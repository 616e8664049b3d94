//! Leader election among an agent's replicas (a DaemonSet has one per node), as client-go's
//! leaderelection does it, with one guarantee more: **a leader stops writing before any other
//! replica may take the lease**.
//!
//! - [`lock`]: what the election needs of a lease ([`LeaseLock`]); [`KubeLease`] keeps it in a
//!   `coordination.k8s.io/v1` Lease, [`MemoryLease`] in memory (replicas in one process: the
//!   fleet load tester).
//! - [`campaign`]: the loop. The holder renews every retry period; a follower watches the lease
//!   (no polling) and takes it once it has seen the same record, unrenewed, for the record's
//!   lease duration, measured on its own clock (so clock skew between nodes does not matter).
//!   Every write is checked by version, so of two candidates racing exactly one wins; every
//!   lease call is bounded by a timeout.
//! - [`fence`]: what the rest of the agent sees ([`Leadership`]). A term's writes are allowed
//!   until the *renew deadline* after the start of its last successful renewal; a follower
//!   cannot take the lease before a whole *lease duration* after it saw that renewal, which
//!   happened after it started. With renew deadline < lease duration, the old leader's work is
//!   cancelled before a new leader can exist, even if the old one's API calls hang.

mod campaign;
mod fence;
mod kube_lease;
mod lock;
mod memory;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

pub use fence::{Leadership, Standing};
pub use kube_lease::KubeLease;
pub use lock::{LeaseLock, LeaseRecord, LockError, Taken, Versioned};
pub use memory::MemoryLease;

use crate::config::ConfigError;

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

/// One replica's campaign: the election's settings and where the lease is kept.
#[derive(Clone, Debug)]
pub struct Campaign {
    /// The election's settings.
    pub election: Election,
    /// The lease.
    pub lock: Arc<dyn LeaseLock>,
}

impl Campaign {
    /// Competes for the lease until `shutdown`, telling `standing` whether (and until when)
    /// this replica leads; on shutdown a leader steps down, then releases the lease so another
    /// replica takes over at once.
    pub async fn run(self, standing: watch::Sender<Standing>, shutdown: watch::Receiver<bool>) {
        campaign::run(&self, standing, shutdown).await;
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
