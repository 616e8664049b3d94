//! Targets: where desired objects are written. The reconcile loop talks to a [`Target`] only:
//! the directory target ([`DirTarget`]) and the Kubernetes target ([`KubeTarget`]) sit behind it.

mod dir;
pub mod kube;
mod layout;
mod manifest;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use cairn_state_format::{Digest, EntrySet, ResourceId};
use futures::future::BoxFuture;
use tokio::sync::watch;

pub use dir::DirTarget;
pub use kube::KubeTarget;

use crate::config::{Config, TargetSpec};
use crate::error::Result;
use crate::state::StateBackend;

/// What a channel owns in the target.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Inventory {
    /// Every object the channel wrote, with the blob digest last written (`None` when a write
    /// was started but not confirmed, so the object must be written again).
    pub owned: BTreeMap<ResourceId, Option<Digest>>,
    /// Objects whose live content no longer matches what was written (only when asked to check).
    pub drifted: BTreeSet<ResourceId>,
}

/// One object to create or update.
#[derive(Clone, Debug)]
pub struct Write {
    /// Its identity.
    pub id: ResourceId,
    /// Digest of its canonical bytes.
    pub blob: Digest,
    /// Its canonical bytes (verified).
    pub bytes: Bytes,
    /// The generation being applied (recorded on the object by targets that can).
    pub generation: u64,
}

/// How the objects of a channel are doing, for targets that can tell.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HealthReport {
    /// Objects reconciled and available.
    pub healthy: u64,
    /// Objects still rolling out.
    pub progressing: u64,
    /// Objects failed, stuck or missing.
    pub degraded: u64,
    /// The objects that are not healthy, each as `<object>: <state>: <why>`, in object order.
    pub unhealthy: Vec<String>,
}

/// One object that could not be written or removed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectFailure {
    /// The object.
    pub id: ResourceId,
    /// Why.
    pub message: String,
}

/// The outcome of a batch of writes or removals.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BatchReport {
    /// Objects written or removed.
    pub done: Vec<ResourceId>,
    /// Objects that failed; the target's bookkeeping still matches what it really did.
    pub failed: Vec<ObjectFailure>,
}

/// Something the agent reconciles: a directory of files, a cluster. Objects are owned per
/// channel; a target never changes objects it did not write for that channel.
#[async_trait]
pub trait Target: Send + Sync + std::fmt::Debug {
    /// The target, for messages (`dir:/srv/manifests`).
    fn describe(&self) -> String;

    /// What `channel` owns; with `check_drift`, also which objects changed behind its back.
    /// `previous` holds the entries the channel applied before, as selected for this cluster
    /// (targets that keep no bookkeeping of their own derive ownership from it).
    async fn inventory(
        &self,
        channel: &str,
        previous: &EntrySet,
        check_drift: bool,
    ) -> Result<Inventory>;

    /// Whether what `channel` owns is exactly `previous` (the entries it applied before, as
    /// selected for this cluster): nothing written or removed since that `previous` does not
    /// already say. Then a plan needs only the changes between two snapshots, not the whole
    /// inventory. Targets that derive ownership from `previous` can tell from their record of
    /// writes since; the default, `false`, always takes [`Target::inventory`].
    fn owns_exactly(&self, _channel: &str, _previous: &EntrySet) -> bool {
        false
    }

    /// Creates or updates objects for `channel`.
    async fn apply(&self, channel: &str, writes: Vec<Write>) -> Result<BatchReport>;

    /// Removes objects `channel` owns.
    async fn delete(&self, channel: &str, ids: Vec<ResourceId>) -> Result<BatchReport>;

    /// Whether drift is found by comparing live objects with their desired content
    /// ([`Target::drifted`]) rather than by [`Target::inventory`].
    fn compares_live_content(&self) -> bool {
        false
    }

    /// Which of `writes` (objects `channel` owns, already written) no longer match their live
    /// state: changed or deleted behind cairn's back.
    async fn drifted(&self, _channel: &str, _writes: Vec<Write>) -> Result<BTreeSet<ResourceId>> {
        Ok(BTreeSet::new())
    }

    /// Whether [`Target::health`] can tell anything (when not, the agent does not list the
    /// objects to ask about).
    fn assesses_health(&self) -> bool {
        false
    }

    /// How the objects `ids` are doing; `None` when the target cannot tell (every object written
    /// counts as healthy).
    async fn health(&self, _channel: &str, _ids: Vec<ResourceId>) -> Result<Option<HealthReport>> {
        Ok(None)
    }

    /// Where the agent's applied state lives when the target keeps it (the cluster); `None` for
    /// the state directory.
    fn state_backend(&self) -> Option<Arc<dyn StateBackend>> {
        None
    }

    /// Leader election among replicas: a future that runs until `shutdown`, telling `leading`
    /// whether this replica leads. `None` when the target has none (this agent always leads).
    fn elect(
        &self,
        _leading: watch::Sender<bool>,
        _shutdown: watch::Receiver<bool>,
    ) -> Option<BoxFuture<'static, ()>> {
        None
    }
}

/// Opens the target the configuration names; the directory target's bookkeeping lives under
/// the state dir. The Kubernetes target connects on first use.
pub fn open(config: &Config) -> Result<Arc<dyn Target>> {
    match &config.target {
        TargetSpec::Dir(root) => Ok(Arc::new(DirTarget::open(
            root,
            &config.state_dir.join("dir-target"),
        )?)),
        TargetSpec::Kube => Ok(Arc::new(KubeTarget::new(config.kube.clone()))),
        TargetSpec::Custom(target) => Ok(target.clone()),
    }
}
