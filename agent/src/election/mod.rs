//! Leader election among an agent's replicas (a DaemonSet has one per node) with a
//! `coordination.k8s.io/v1` Lease, as client-go's leaderelection does it. Only the leader writes
//! to the cluster and reports; [`campaign`] tells the rest of the agent, through a
//! `watch` channel, whether this replica leads.

mod lease;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

pub use lease::campaign;

use crate::cluster::Cluster;
use crate::config::ConfigError;

/// Leader election among agent replicas with a `coordination.k8s.io/v1` Lease.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Election {
    /// The Lease's name, in the agent's namespace (default `cairn-agent`).
    pub lease: String,
    /// This replica's identity (default: the pod name, else the host name).
    pub identity: String,
    /// How long a leader holds the lease without renewing it (default 15 s); a follower takes
    /// over within this time after the leader stops.
    pub lease_duration: Duration,
    /// How often the leader renews and followers retry (default 5 s, a third of the duration).
    pub retry_period: Duration,
}

impl Election {
    /// An election for `identity` with the default lease and timings.
    pub fn new(identity: &str) -> Election {
        Election {
            lease: "cairn-agent".to_owned(),
            identity: identity.to_owned(),
            lease_duration: Duration::from_secs(15),
            retry_period: Duration::from_secs(5),
        }
    }

    /// Checks names and timings.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.identity.is_empty() {
            return Err(ConfigError::invalid("--identity", "must not be empty"));
        }
        if self.lease.is_empty() {
            return Err(ConfigError::invalid("--lease-name", "must not be empty"));
        }
        if self.lease_duration < Duration::from_secs(2) {
            return Err(ConfigError::invalid(
                "--lease-duration",
                "must be at least 2s",
            ));
        }
        Ok(())
    }
}

/// One replica's campaign: the election, the cluster it runs in and the namespace of its Lease.
#[derive(Clone, Debug)]
pub struct Campaign {
    /// The election's settings.
    pub election: Election,
    /// The cluster.
    pub cluster: Arc<Cluster>,
    /// The Lease's namespace (the agent's own).
    pub namespace: String,
}

impl Campaign {
    /// Competes for the lease until `shutdown`, telling `leading` whether this replica leads.
    pub async fn run(self, leading: watch::Sender<bool>, shutdown: watch::Receiver<bool>) {
        campaign(&self, leading, shutdown).await;
    }
}
