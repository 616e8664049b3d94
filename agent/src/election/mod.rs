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

use tokio::sync::watch;

pub use fence::{Leadership, Standing};
pub use kube_lease::KubeLease;
pub use lock::{LeaseLock, LeaseRecord, LockError, Taken, Versioned};
pub use memory::MemoryLease;

pub use crate::config::{Election, JITTER_FACTOR};

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
