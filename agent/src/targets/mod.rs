//! Targets: where desired objects are written. The reconcile loop talks to a [`Target`] only:
//! the directory target ([`DirTarget`]) and the Kubernetes target ([`KubeTarget`]) sit behind it,
//! and a library caller may bring its own ([`crate::AgentBuilder::target`]).
//!
//! A target owns its objects per channel and never changes objects it did not write for that
//! channel. What only some targets can do is an optional capability: [`Target::live_drift`]
//! (compare live objects with their desired content) and [`Target::health`].

mod dir;
pub mod kube;

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use bytes::Bytes;
use cairn_state_format::{Digest, EntrySet, ResourceId, Scope};

pub use dir::DirTarget;
pub use kube::KubeTarget;

use crate::error::Result;
pub use crate::error::{MissingPermission, TargetError};

/// What a channel owns in the target.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Inventory {
    /// Every object the channel wrote, with the blob digest last written (`None` when a write
    /// was started but not confirmed, or the target holds an object of the channel's that no
    /// snapshot it knows names, so the object must be written again or removed).
    pub owned: BTreeMap<ResourceId, Option<Digest>>,
    /// Objects whose live content no longer matches what was written (only when asked to
    /// check): they are written again.
    pub drifted: BTreeSet<ResourceId>,
    /// Objects whose drift is only reported, never corrected.
    pub reported: BTreeSet<ResourceId>,
    /// For targets with [`Target::live_drift`]: the only objects that may have drifted (the
    /// others are unchanged since written, as far as the target can tell without reading them).
    /// Empty when the target cannot narrow it down: then every owned, unchanged object is
    /// checked.
    pub suspects: BTreeSet<ResourceId>,
    /// Whether `suspects` is the whole story (the target narrowed the check down).
    pub narrowed: bool,
}

/// What a pass is about to write and remove, for [`Target::prepare`].
#[derive(Clone, Debug, Default)]
pub struct PassScope {
    /// Objects it creates or updates.
    pub writes: Vec<ResourceId>,
    /// Objects it removes.
    pub deletes: Vec<ResourceId>,
    /// The canonical bytes of the CustomResourceDefinitions among the writes (their kinds are
    /// not served before they are applied).
    pub definitions: Vec<Bytes>,
}

/// Where an object lands when written, as the target sees it (what a channel's scope is
/// checked against).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Landing {
    /// In this namespace.
    Namespace(String),
    /// Cluster-wide (a cluster-scoped kind, or a target without namespaces for an object that
    /// names none).
    Cluster,
}

impl Landing {
    /// The landing of an object by what it says itself: the namespace it names, else
    /// cluster-wide (the directory target, and kinds a cluster neither serves nor defines).
    pub fn named(id: &ResourceId) -> Landing {
        if id.namespace.is_empty() {
            Landing::Cluster
        } else {
            Landing::Namespace(id.namespace.clone())
        }
    }
}

/// The verdict of [`LiveDrift::drifted`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Drifted {
    /// Drifted (or suspected of it) and to be written again; the write tells whether anything
    /// changed ([`BatchReport::unchanged`]).
    pub correct: BTreeSet<ResourceId>,
    /// Drifted, and only to be reported.
    pub report: BTreeSet<ResourceId>,
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
#[derive(Debug)]
pub struct ObjectFailure {
    /// The object.
    pub id: ResourceId,
    /// Why.
    pub error: TargetError,
}

/// The outcome of a batch of writes or removals.
#[derive(Debug, Default)]
pub struct BatchReport {
    /// Objects written or removed.
    pub done: Vec<ResourceId>,
    /// Of `done`, writes that turned out to change nothing (for targets that can tell).
    pub unchanged: Vec<ResourceId>,
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
    /// `previous` holds the entries the channel applied before and `desired` those it is
    /// moving to, both as selected for this cluster (targets that keep no bookkeeping of their
    /// own derive ownership from them).
    async fn inventory(
        &self,
        channel: &str,
        desired: &EntrySet,
        previous: &EntrySet,
        check_drift: bool,
    ) -> Result<Inventory>;

    /// Tells the target what `channel` may do, before each pass that may touch it (the scope of
    /// the delegation that decided for the channel's head; `None`: anything). The reconcile has
    /// already held the pass to it; a target that can make the cluster enforce it too (the
    /// Kubernetes target, by acting as the scope's ServiceAccount) keeps it for the pass's
    /// reads, writes and removals. The default ignores it.
    fn set_scope(&self, _channel: &str, _scope: Option<&Scope>) {}

    /// Where each of `ids` lands when written, in order, for the scope check before a pass's
    /// first write. `definitions` are the canonical bytes of the CustomResourceDefinitions
    /// among the desired objects (their kinds may not be served yet). The default places an
    /// object by what it names ([`Landing::named`]).
    async fn landings(&self, ids: &[&ResourceId], _definitions: &[Bytes]) -> Result<Vec<Landing>> {
        Ok(ids.iter().map(|id| Landing::named(id)).collect())
    }

    /// Starts a pass of `channel` that writes and removes what `scope` says, before its first
    /// write (the reconcile calls it once per pass that writes anything): a target refuses here
    /// what it knows it cannot do (missing permissions), so that a pass is not left
    /// half-applied for a reason known up front, and records what it needs to find everything
    /// the pass writes later. The default does nothing.
    async fn prepare(&self, _channel: &str, _scope: &PassScope) -> Result<()> {
        Ok(())
    }

    /// Whether what `channel` owns is exactly `previous` (the entries it applied before, as
    /// selected for this cluster): nothing written or removed since that `previous` does not
    /// already say. Then a plan needs only the changes between two snapshots, not the whole
    /// inventory. Targets that derive ownership from `previous` can tell from their record of
    /// writes since; the default, `false`, always takes [`Target::inventory`].
    fn owns_exactly(&self, _channel: &str, _previous: &EntrySet) -> bool {
        false
    }

    /// Forgets what this process remembers writing for `channel` (it took over from another
    /// replica, whose recorded state is newer than that memory). By default there is nothing to
    /// forget.
    fn forget(&self, _channel: &str) {}

    /// Creates or updates objects for `channel`.
    async fn apply(&self, channel: &str, writes: Vec<Write>) -> Result<BatchReport>;

    /// Removes objects `channel` owns.
    async fn delete(&self, channel: &str, ids: Vec<ResourceId>) -> Result<BatchReport>;

    /// How to find drift by comparing live objects with their desired content, for targets
    /// whose [`Target::inventory`] cannot see it.
    fn live_drift(&self) -> Option<&dyn LiveDrift> {
        None
    }

    /// How to assess the objects' health, for targets that can tell (without it, every object
    /// written counts as healthy).
    fn health(&self) -> Option<&dyn HealthCheck> {
        None
    }

    /// The requests sent to the target so far, by verb, for targets that count them.
    fn requests(&self) -> Option<crate::cluster::Tally> {
        None
    }
}

/// Drift found by comparing live objects with what applying them would make of them.
#[async_trait]
pub trait LiveDrift: Send + Sync {
    /// Which of `writes` (objects `channel` owns, already written) no longer match their live
    /// state (changed or deleted behind cairn's back), by what is to be done about it.
    async fn drifted(&self, channel: &str, writes: Vec<Write>) -> Result<Drifted>;
}

/// Health as the target sees it.
#[async_trait]
pub trait HealthCheck: Send + Sync {
    /// How the objects `ids` of `channel` are doing.
    async fn assess(&self, channel: &str, ids: Vec<ResourceId>) -> Result<HealthReport>;
}
