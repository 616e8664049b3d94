//! Targets: where desired objects are written. The reconcile loop talks to a [`Target`] only, so a
//! Kubernetes target can be added beside the directory target.

mod dir;
mod layout;
mod manifest;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use cairn_state_format::{Digest, ResourceId};

pub use dir::DirTarget;

use crate::config::TargetSpec;
use crate::error::{Error, Result};

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
    async fn inventory(&self, channel: &str, check_drift: bool) -> Result<Inventory>;

    /// Creates or updates objects for `channel`.
    async fn apply(&self, channel: &str, writes: Vec<Write>) -> Result<BatchReport>;

    /// Removes objects `channel` owns.
    async fn delete(&self, channel: &str, ids: Vec<ResourceId>) -> Result<BatchReport>;
}

/// Opens the target a spec names; its bookkeeping lives under `state_dir`.
pub fn open(spec: &TargetSpec, state_dir: &std::path::Path) -> Result<Arc<dyn Target>> {
    match spec {
        TargetSpec::Dir(root) => Ok(Arc::new(DirTarget::open(
            root,
            &state_dir.join("dir-target"),
        )?)),
        TargetSpec::Kube => Err(Error::Config(
            "--target kube is not yet available in this build; use --target dir:PATH".to_owned(),
        )),
    }
}
