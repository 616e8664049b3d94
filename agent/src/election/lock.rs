//! What the election needs of a lease, wherever it is kept: read it, create it, replace it if
//! nobody else wrote since a version, and watch it. client-go calls this a resource lock.

use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use futures::stream::BoxStream;

use crate::error::ConfigError;

/// The election's record in a lease.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseRecord {
    /// Who holds it (`None`: released).
    pub holder: Option<String>,
    /// How long the holder may go without renewing before another replica may take it.
    pub duration: Duration,
    /// When the holder took it.
    pub acquired: Option<SystemTime>,
    /// When the holder last renewed it (informational: followers time expiry by their own
    /// clock, from when they saw the record change).
    pub renewed: Option<SystemTime>,
    /// How often the lease changed hands.
    pub transitions: i32,
}

impl LeaseRecord {
    /// Whether `identity` holds it.
    pub fn held_by(&self, identity: &str) -> bool {
        self.holder.as_deref() == Some(identity)
    }
}

/// A record and the version it was read or written at (a resourceVersion).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Versioned {
    /// The record.
    pub record: LeaseRecord,
    /// Its version: a write naming it fails if anyone wrote since.
    pub version: String,
}

/// How a conditional write ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Taken {
    /// Written: this is the new record and version.
    Written(Versioned),
    /// Someone else wrote first (a conflict): nothing was written.
    Lost,
}

/// Why a lease could not be read, written or watched.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// No connection to the cluster could be made.
    #[error(transparent)]
    Connect(#[from] ConfigError),
    /// The API server refused or failed a request.
    #[error("lease {lease}: {op}: {source}")]
    Api {
        /// The lease.
        lease: String,
        /// What was being done.
        op: &'static str,
        /// What kube reported.
        #[source]
        source: kube::Error,
    },
    /// The watch of the lease failed (it is restarted).
    #[error("lease {lease}: watch: {source}")]
    Watch {
        /// The lease.
        lease: String,
        /// What the watcher reported.
        #[source]
        source: kube::runtime::watcher::Error,
    },
    /// A call took longer than it may.
    #[error("lease {lease}: {op} did not answer within {after:?}")]
    TimedOut {
        /// The lease.
        lease: String,
        /// What was being done.
        op: &'static str,
        /// The bound.
        after: Duration,
    },
}

/// Where a lease is kept.
#[async_trait]
pub trait LeaseLock: Send + Sync + std::fmt::Debug {
    /// The lease, for messages.
    fn describe(&self) -> String;
    /// The current record, if the lease exists.
    async fn get(&self) -> Result<Option<Versioned>, LockError>;
    /// Creates the lease with `record`; [`Taken::Lost`] if it exists.
    async fn create(&self, record: &LeaseRecord) -> Result<Taken, LockError>;
    /// Replaces the record if its version is still `version`; [`Taken::Lost`] otherwise.
    async fn replace(&self, record: &LeaseRecord, version: &str) -> Result<Taken, LockError>;
    /// The record now (`None`: no lease) and after every change. Errors are reported and the
    /// stream goes on.
    fn watch(&self) -> BoxStream<'static, Result<Option<Versioned>, LockError>>;
}
