//! The Kubernetes target: server-side apply through the kube crate.
//!
//! - **Discovery** ([`discovery`]): each kind is resolved per group-version on first use and
//!   cached; an unknown kind refreshes its group-version, so a CRD applied earlier in the same
//!   snapshot (the plan puts CRDs first, and [`apply`] waits for them to be Established) resolves.
//! - **Apply** ([`apply`]): `PATCH` with `application/apply-patch+yaml`, field manager `cairn`,
//!   force on conflicts (configurable), bounded concurrency behind a client-side QPS/burst limit.
//! - **Ownership and prune** ([`ownership`]): every object carries labels naming cairn and the
//!   channel; prune deletes only objects the live labels say this channel owns, chosen from the
//!   previous snapshot's entries (never a cluster-wide list), with a UID precondition.
//! - **Drift**: on resync each object is dry-run applied and compared with its live state.
//! - **Health** ([`health`]): kstatus conventions per kind.
//! - **State** ([`state`]): what a channel applied lives in a ConfigMap in the agent's
//!   namespace, so a pod moving nodes keeps its rollback protection.
//! - **Leader election** ([`lease`]): a `coordination.k8s.io/v1` Lease.

mod apply;
mod discovery;
pub mod health;
mod lease;
mod limit;
mod options;
mod ownership;
mod state;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use cairn_state_format::{Digest, EntrySet, ResourceId};
use futures::future::BoxFuture;
use futures::{StreamExt, stream};
use kube::Client;
use tokio::sync::{OnceCell, watch};

pub use options::{Election, KubeOptions, Propagation};
pub use ownership::{CHANNEL, GENERATION, MANAGED_BY, PART_OF, applyset_id};

use super::{BatchReport, HealthReport, Inventory, ObjectFailure, Target, Write};
use crate::error::{Error, Result};
use crate::state::StateBackend;
use discovery::Kinds;
use limit::RateLimit;

/// How the target reaches the API server: a client made on first use (so opening the target
/// needs no runtime and no network), or one given by the caller.
struct Connection {
    kubeconfig: Option<std::path::PathBuf>,
    client: OnceCell<Client>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("kubeconfig", &self.kubeconfig)
            .field("connected", &self.client.initialized())
            .finish()
    }
}

impl Connection {
    async fn client(&self) -> Result<Client> {
        self.client
            .get_or_try_init(|| async {
                let config = match &self.kubeconfig {
                    Some(path) => {
                        let file = kube::config::Kubeconfig::read_from(path).map_err(|e| {
                            Error::Config(format!("kubeconfig {}: {e}", path.display()))
                        })?;
                        kube::Config::from_custom_kubeconfig(file, &Default::default())
                            .await
                            .map_err(|e| {
                                Error::Config(format!("kubeconfig {}: {e}", path.display()))
                            })?
                    }
                    None => kube::Config::infer().await.map_err(|e| {
                        Error::Config(format!(
                            "no cluster found (in-cluster service account, KUBECONFIG, ~/.kube/config): {e}"
                        ))
                    })?,
                };
                Client::try_from(config)
                    .map_err(|e| Error::Config(format!("cannot build a Kubernetes client: {e}")))
            })
            .await
            .cloned()
    }
}

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
    connection: Connection,
    options: KubeOptions,
    kinds: Kinds,
    limit: RateLimit,
    /// Per channel, what this process last did to each object, laid over the previous
    /// snapshot's entries by `inventory` (it is never older than they are).
    overlay: Mutex<HashMap<String, BTreeMap<ResourceId, Mark>>>,
}

impl KubeTarget {
    /// A target that connects on first use, through `options.kubeconfig` or by inference.
    pub fn new(options: KubeOptions) -> KubeTarget {
        KubeTarget::build(options, OnceCell::new())
    }

    /// A target using a client the caller made (tests point one at a fake API server).
    pub fn with_client(client: Client, options: KubeOptions) -> KubeTarget {
        KubeTarget::build(options, OnceCell::new_with(Some(client)))
    }

    fn build(options: KubeOptions, client: OnceCell<Client>) -> KubeTarget {
        KubeTarget {
            inner: Arc::new(Inner {
                connection: Connection {
                    kubeconfig: options.kubeconfig.clone(),
                    client,
                },
                limit: RateLimit::new(options.qps, options.burst),
                kinds: Kinds::default(),
                overlay: Mutex::default(),
                options,
            }),
        }
    }

    /// The ApplySet id of `channel` (its parent is the channel's state ConfigMap).
    pub fn applyset(&self, channel: &str) -> String {
        applyset_id(
            &state::configmap_name(channel),
            &self.inner.options.namespace,
        )
    }

    fn overlay(&self, channel: &str, id: ResourceId, mark: Mark) {
        let mut overlay = self.inner.overlay.lock().unwrap_or_else(|p| p.into_inner());
        overlay
            .entry(channel.to_owned())
            .or_default()
            .insert(id, mark);
    }

    fn error(&self, message: impl std::fmt::Display) -> Error {
        Error::Target {
            target: self.describe(),
            message: message.to_string(),
        }
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

    async fn apply(&self, channel: &str, writes: Vec<Write>) -> Result<BatchReport> {
        let client = self.inner.connection.client().await?;
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
                Err(message) => {
                    self.overlay(channel, write.id.clone(), Mark::Unconfirmed);
                    report.failed.push(ObjectFailure {
                        id: write.id,
                        message,
                    });
                }
            }
        }
        Ok(report)
    }

    async fn delete(&self, channel: &str, ids: Vec<ResourceId>) -> Result<BatchReport> {
        let client = self.inner.connection.client().await?;
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
                Err(message) => report.failed.push(ObjectFailure { id, message }),
            }
        }
        Ok(report)
    }

    fn assesses_health(&self) -> bool {
        true
    }

    fn compares_live_content(&self) -> bool {
        true
    }

    async fn drifted(&self, channel: &str, writes: Vec<Write>) -> Result<BTreeSet<ResourceId>> {
        let client = self.inner.connection.client().await?;
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
            match result {
                Ok(true) => {
                    drifted.insert(write.id);
                }
                Ok(false) => {}
                Err(message) => return Err(self.error(format!("{}: {message}", write.id))),
            }
        }
        Ok(drifted)
    }

    async fn health(&self, _channel: &str, ids: Vec<ResourceId>) -> Result<Option<HealthReport>> {
        let client = self.inner.connection.client().await?;
        let results = self
            .each(ids, |id| {
                let (inner, client) = (self.inner.clone(), client.clone());
                Box::pin(async move { apply::health_one(&inner, &client, &id).await })
            })
            .await;
        let mut report = HealthReport::default();
        let mut sorted = results;
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        for (id, result) in sorted {
            match result.map_err(|m| self.error(format!("{id}: {m}")))? {
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
        Ok(Some(report))
    }

    fn state_backend(&self) -> Option<Arc<dyn StateBackend>> {
        Some(Arc::new(state::ConfigMapState {
            target: self.inner.clone(),
        }))
    }

    fn elect(
        &self,
        leading: watch::Sender<bool>,
        shutdown: watch::Receiver<bool>,
    ) -> Option<BoxFuture<'static, ()>> {
        let election = self.inner.options.election.clone()?;
        let inner = self.inner.clone();
        Some(Box::pin(async move {
            lease::campaign(inner, election, leading, shutdown).await;
        }))
    }
}
