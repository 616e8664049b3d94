//! The Kubernetes target: server-side apply through the kube crate.
//!
//! - **Discovery** ([`discovery`]): each kind is resolved per group-version on first use and
//!   cached; an unknown kind refreshes its group-version, so a CRD applied earlier in the same
//!   snapshot (the plan puts CRDs first, and [`apply`] waits for them to be Established) resolves.
//! - **Apply** ([`apply`]): `PATCH` with `application/apply-patch+yaml`, field manager `cairn`,
//!   force on conflicts (configurable), bounded concurrency; every request passes the cluster
//!   connection's QPS/burst limit ([`crate::cluster`]).
//! - **Ownership and prune** ([`ownership`]): every object carries labels naming cairn and the
//!   channel; prune deletes only objects the live labels say this channel owns, chosen from the
//!   previous snapshot's entries (never a cluster-wide list), with a UID precondition.
//! - **Drift**: on resync each object is dry-run applied and compared with its live state.
//! - **Health** ([`health`]): kstatus conventions per kind.
//!
//! What a channel applied lives in a ConfigMap ([`crate::state::ConfigMapState`]), which is also
//! the channel's ApplySet parent; the replicas' leader election is [`crate::election`].

mod apply;
mod discovery;
pub mod health;
mod options;
pub(crate) mod ownership;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use cairn_state_format::{Digest, EntrySet, ResourceId};
use futures::future::BoxFuture;
use futures::{StreamExt, stream};
use kube::Client;

pub use options::{KubeOptions, Propagation};
pub use ownership::{CHANNEL, GENERATION, MANAGED_BY, PART_OF, applyset_id};

use super::{
    BatchReport, HealthCheck, HealthReport, Inventory, LiveDrift, ObjectFailure, Target,
    TargetError, Write,
};
use crate::cluster::Cluster;
use crate::error::{Error, Result};
use crate::state::configmap_name;
use discovery::Kinds;

/// Applies objects to a Kubernetes cluster with server-side apply.
#[derive(Debug)]
pub struct KubeTarget {
    inner: Arc<Inner>,
}

/// What this process last did to an object.
#[derive(Clone, Copy, Debug)]
enum Mark {
    /// Applied this blob.
    Written(Digest),
    /// Tried to apply it and failed: it may or may not have landed, so it stays owned and is
    /// written again.
    Unconfirmed,
    /// Pruned it.
    Removed,
}

#[derive(Debug)]
struct Inner {
    cluster: Arc<Cluster>,
    options: KubeOptions,
    kinds: Kinds,
    /// Per channel, what this process last did to each object, laid over the previous
    /// snapshot's entries by `inventory` (it is never older than they are).
    overlay: Mutex<HashMap<String, BTreeMap<ResourceId, Mark>>>,
}

impl KubeTarget {
    /// A target applying through `cluster` (which it shares with the agent's election and
    /// state), with `options`.
    pub fn new(cluster: Arc<Cluster>, options: KubeOptions) -> KubeTarget {
        KubeTarget {
            inner: Arc::new(Inner {
                cluster,
                kinds: Kinds::default(),
                overlay: Mutex::default(),
                options,
            }),
        }
    }

    /// The ApplySet id of `channel` (its parent is the channel's state ConfigMap).
    pub fn applyset(&self, channel: &str) -> String {
        applyset_id(&configmap_name(channel), &self.inner.options.namespace)
    }

    async fn client(&self) -> Result<Client> {
        self.inner
            .cluster
            .client()
            .await
            .map_err(|e| self.error(TargetError::Connect(e)))
    }

    fn overlay(&self, channel: &str, id: ResourceId, mark: Mark) {
        let mut overlay = self.inner.overlay.lock().unwrap_or_else(|p| p.into_inner());
        overlay
            .entry(channel.to_owned())
            .or_default()
            .insert(id, mark);
    }

    fn error(&self, problem: TargetError) -> Error {
        Error::target(self.describe(), problem)
    }

    /// Runs `work` on every item with at most `concurrency` in flight.
    async fn each<T, R, F>(&self, items: Vec<T>, work: F) -> Vec<(T, R)>
    where
        T: Clone + Send,
        F: Fn(T) -> BoxFuture<'static, R>,
    {
        stream::iter(items.into_iter().map(|item| {
            let future = work(item.clone());
            async move { (item, future.await) }
        }))
        .buffer_unordered(self.inner.options.concurrency.max(1))
        .collect()
        .await
    }
}

#[async_trait]
impl Target for KubeTarget {
    fn describe(&self) -> String {
        "kube".to_owned()
    }

    async fn inventory(
        &self,
        channel: &str,
        previous: &EntrySet,
        _check_drift: bool,
    ) -> Result<Inventory> {
        // What the channel owns is what it applied before: the previous snapshot's entries
        // (no cluster-wide list), plus what this process wrote or removed since.
        let mut owned: BTreeMap<ResourceId, Option<Digest>> = previous
            .values()
            .map(|e| (e.id.clone(), Some(e.blob)))
            .collect();
        let overlay = self.inner.overlay.lock().unwrap_or_else(|p| p.into_inner());
        for (id, mark) in overlay.get(channel).into_iter().flatten() {
            match mark {
                Mark::Written(blob) => owned.insert(id.clone(), Some(*blob)),
                Mark::Unconfirmed => owned.insert(id.clone(), None),
                Mark::Removed => owned.remove(id),
            };
        }
        Ok(Inventory {
            owned,
            drifted: BTreeSet::new(),
        })
    }

    fn owns_exactly(&self, channel: &str, previous: &EntrySet) -> bool {
        let overlay = self.inner.overlay.lock().unwrap_or_else(|p| p.into_inner());
        overlay
            .get(channel)
            .into_iter()
            .flatten()
            .all(|(id, mark)| match mark {
                Mark::Written(blob) => previous.get(id).map(|e| &e.blob) == Some(blob),
                Mark::Unconfirmed => false,
                Mark::Removed => !previous.contains_key(id),
            })
    }

    fn forget(&self, channel: &str) {
        let mut overlay = self.inner.overlay.lock().unwrap_or_else(|p| p.into_inner());
        overlay.remove(channel);
    }

    async fn apply(&self, channel: &str, writes: Vec<Write>) -> Result<BatchReport> {
        let client = self.client().await?;
        let applyset = self.applyset(channel);
        let results = self
            .each(writes, |write| {
                let (inner, client, channel, applyset) = (
                    self.inner.clone(),
                    client.clone(),
                    channel.to_owned(),
                    applyset.clone(),
                );
                Box::pin(async move {
                    apply::apply_one(&inner, &client, &channel, &applyset, &write).await
                })
            })
            .await;
        let mut report = BatchReport::default();
        for (write, result) in results {
            match result {
                Ok(()) => {
                    self.overlay(channel, write.id.clone(), Mark::Written(write.blob));
                    report.done.push(write.id);
                }
                Err(error) => {
                    self.overlay(channel, write.id.clone(), Mark::Unconfirmed);
                    report.failed.push(ObjectFailure {
                        id: write.id,
                        error,
                    });
                }
            }
        }
        Ok(report)
    }

    async fn delete(&self, channel: &str, ids: Vec<ResourceId>) -> Result<BatchReport> {
        let client = self.client().await?;
        let results = self
            .each(ids, |id| {
                let (inner, client, channel) =
                    (self.inner.clone(), client.clone(), channel.to_owned());
                Box::pin(async move { apply::delete_one(&inner, &client, &channel, &id).await })
            })
            .await;
        let mut report = BatchReport::default();
        for (id, result) in results {
            match result {
                Ok(()) => {
                    self.overlay(channel, id.clone(), Mark::Removed);
                    report.done.push(id);
                }
                Err(error) => report.failed.push(ObjectFailure { id, error }),
            }
        }
        Ok(report)
    }

    fn live_drift(&self) -> Option<&dyn LiveDrift> {
        Some(self)
    }

    fn health(&self) -> Option<&dyn HealthCheck> {
        Some(self)
    }
}

#[async_trait]
impl LiveDrift for KubeTarget {
    async fn drifted(&self, channel: &str, writes: Vec<Write>) -> Result<BTreeSet<ResourceId>> {
        let client = self.client().await?;
        let applyset = self.applyset(channel);
        let results = self
            .each(writes, |write| {
                let (inner, client, channel, applyset) = (
                    self.inner.clone(),
                    client.clone(),
                    channel.to_owned(),
                    applyset.clone(),
                );
                Box::pin(async move {
                    apply::drifted_one(&inner, &client, &channel, &applyset, &write).await
                })
            })
            .await;
        let mut drifted = BTreeSet::new();
        for (write, result) in results {
            if result.map_err(|e| self.error(e.about(&write.id)))? {
                drifted.insert(write.id);
            }
        }
        Ok(drifted)
    }
}

#[async_trait]
impl HealthCheck for KubeTarget {
    async fn assess(&self, _channel: &str, ids: Vec<ResourceId>) -> Result<HealthReport> {
        let client = self.client().await?;
        let mut results = self
            .each(ids, |id| {
                let (inner, client) = (self.inner.clone(), client.clone());
                Box::pin(async move { apply::health_one(&inner, &client, &id).await })
            })
            .await;
        results.sort_by(|a, b| a.0.cmp(&b.0));
        let mut report = HealthReport::default();
        for (id, result) in results {
            match result.map_err(|e| self.error(e.about(&id)))? {
                health::Health::Healthy => report.healthy += 1,
                health::Health::Progressing(why) => {
                    report.progressing += 1;
                    report.unhealthy.push(format!("{id}: progressing: {why}"));
                }
                health::Health::Degraded(why) => {
                    report.degraded += 1;
                    report.unhealthy.push(format!("{id}: degraded: {why}"));
                }
            }
        }
        Ok(report)
    }
}
