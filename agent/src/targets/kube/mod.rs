//! The Kubernetes target: server-side apply through the kube crate, at about one request per
//! object written, and resyncs that cost one label-selected list per owned kind.
//!
//! - **Discovery** ([`discovery`]): every kind at once with aggregated discovery, cached; run
//!   again (at most once per pass) when a kind is unknown after a CRD became Established.
//! - **Apply** ([`apply`]): `PATCH` with `application/apply-patch+yaml`, field manager `cairn`,
//!   force on conflicts (configurable), bounded concurrency. The answer is the live object: its
//!   resourceVersion, field-ownership fingerprint ([`fields`]) and health are recorded from it,
//!   so nothing is read back. CRDs are awaited with a watch until Established ([`crd`]).
//! - **Ownership** ([`ownership`], [`claims`]): every object carries labels naming cairn and the
//!   channel. An object not known to be the channel's is looked for before its first write (one
//!   metadata list per kind and namespace, or one get), and refused when someone else's.
//! - **Inventory and drift** ([`inventory`], [`drift`]): one label-selected list per kind the
//!   channel may own (the ApplySet parent's record), paginated, says what it owns (orphans of a
//!   crash included), how each object is doing, and which ones someone changed since cairn wrote
//!   them (their fingerprint moved); only those are re-applied, or dry-run when their drift is
//!   only reported ([`policy`]).
//! - **Prune** ([`prune`]): deletes with the UID cairn last saw as a precondition.
//! - **Permissions** ([`access`]): checked per kind and namespace before the first write of a
//!   pass, with every missing rule in one message.
//! - **Tenancy** ([`tenancy`]): each channel's scope, as the reconcile sets it before a pass,
//!   and where objects land as discovery places them (what the scope is checked against). A
//!   scope naming a ServiceAccount makes every read, write, prune and permission check of the
//!   channel go through a client impersonating it ([`crate::cluster::Cluster::client_as`]), so
//!   the API server holds the channel to that account's RBAC; the agent's own identity keeps the
//!   state ConfigMaps, the Lease and the placement of objects (discovery).
//!
//! - **State** ([`configmap`]): what a channel applied lives in a ConfigMap
//!   ([`ConfigMapState`], a [`crate::state::StateBackend`]), which is also the channel's ApplySet
//!   parent: the target records the group-kinds and namespaces a pass will write in it before
//!   the pass writes anything ([`KubeTarget::state`] shares it). It shares the target's
//!   `ledger.rs`, so what it records is what the target last wrote and saw.
//!
//! The replicas' leader election is [`crate::election`]; the tunables are
//! [`crate::config::KubeOptions`].

mod access;
mod apply;
mod claims;
pub mod configmap;
mod crd;
mod discovery;
mod drift;
mod fields;
pub mod health;
mod inventory;
pub(crate) mod ledger;
pub(crate) mod ownership;
pub mod policy;
mod prune;
pub(crate) mod scope;
mod tenancy;

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use cairn_state_format::{EntrySet, ResourceId, Scope};
use futures::future::BoxFuture;
use futures::{StreamExt, stream};
use kube::Client;

pub use configmap::{ConfigMapState, configmap_name};
pub use ownership::{CHANNEL, GENERATION, MANAGED_BY, PART_OF, applyset_id};

pub use crate::config::{
    DEFAULT_BURST, DEFAULT_QPS, DriftMode, DriftPolicy, KubeOptions, Propagation,
};

use super::{
    BatchReport, Drifted, HealthCheck, HealthReport, Inventory, Landing, LiveDrift, PassScope,
    Target, TargetError, Write,
};
use crate::cluster::Cluster;
use crate::error::{Error, Result};
use discovery::{Kinds, Resolved, Unresolved};
use ledger::Ledger;

/// Items per page of a list.
const PAGE: u32 = 500;

/// Applies objects to a Kubernetes cluster with server-side apply.
#[derive(Debug)]
pub struct KubeTarget {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    cluster: Arc<Cluster>,
    options: KubeOptions,
    kinds: Kinds,
    ledger: Arc<Ledger>,
    access: access::Access,
    /// What each channel may do (its scope's ServiceAccount is whom its requests act as).
    scopes: tenancy::ChannelScopes,
    /// The channels' state ConfigMaps, which are their ApplySet parents.
    parent: Arc<ConfigMapState>,
}

impl KubeTarget {
    /// A target applying through `cluster` (which it shares with the agent's election and
    /// state), with `options`.
    pub fn new(cluster: Arc<Cluster>, options: KubeOptions) -> KubeTarget {
        let ledger = Arc::new(Ledger::default());
        let parent = Arc::new(ConfigMapState::with_ledger(
            cluster.clone(),
            &options.namespace,
            &options.field_manager,
            ledger.clone(),
        ));
        KubeTarget {
            inner: Arc::new(Inner {
                cluster,
                kinds: Kinds::default(),
                ledger,
                access: access::Access::default(),
                scopes: tenancy::ChannelScopes::default(),
                parent,
                options,
            }),
        }
    }

    /// The in-cluster state this target records its ApplySet parents in; the agent keeps each
    /// channel's applied state there.
    pub fn state(&self) -> Arc<ConfigMapState> {
        self.inner.parent.clone()
    }

    /// What `channel` may do on this cluster, as the reconcile set it last (`None`: anything):
    /// its ServiceAccount is whom the channel's requests act as.
    pub fn scope(&self, channel: &str) -> Option<Scope> {
        self.inner.scopes.get(channel)
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

    /// The client `channel`'s requests go through, and the user it acts as: its scope's
    /// ServiceAccount when it names one (so the API server holds the channel to that account's
    /// RBAC), else the agent's own. The agent's state, Lease and election keep [`Self::client`].
    async fn channel_client(&self, channel: &str) -> Result<(Client, Option<String>)> {
        let Some(account) = self.scope(channel).and_then(|s| s.service_account) else {
            return Ok((self.client().await?, None));
        };
        let user = account.username();
        let client = (self.inner.cluster.client_as(&user).await)
            .map_err(|e| self.error(TargetError::Connect(e)))?;
        Ok((client, Some(user)))
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
        each(self.inner.options.concurrency, items, work).await
    }
}

/// Runs `work` on every item with at most `concurrency` in flight.
async fn each<T, R, F>(concurrency: usize, items: Vec<T>, work: F) -> Vec<(T, R)>
where
    T: Clone + Send,
    F: Fn(T) -> BoxFuture<'static, R>,
{
    stream::iter(items.into_iter().map(|item| {
        let future = work(item.clone());
        async move { (item, future.await) }
    }))
    .buffer_unordered(concurrency.max(1))
    .collect()
    .await
}

impl Inner {
    /// How to reach `id`'s kind, and `id` as the API server sees it.
    async fn locate(
        &self,
        client: &Client,
        id: &ResourceId,
    ) -> Result<(Resolved, ResourceId), Unresolved> {
        let resolved = self
            .kinds
            .for_group_kind(client, &id.group, &id.kind)
            .await?;
        let effective = scope::effective(id, resolved.namespaced);
        Ok((resolved, effective))
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
        desired: &EntrySet,
        previous: &EntrySet,
        check_drift: bool,
    ) -> Result<Inventory> {
        let (client, _) = self.channel_client(channel).await?;
        inventory::take(
            &self.inner,
            &client,
            channel,
            desired,
            previous,
            check_drift,
        )
        .await
        .map_err(|e| self.error(e))
    }

    fn owns_exactly(&self, channel: &str, previous: &EntrySet) -> bool {
        self.inner
            .ledger
            .with(channel, |book| inventory::owns_exactly(book, previous))
    }

    fn set_scope(&self, channel: &str, scope: Option<&Scope>) {
        self.inner.scopes.set(channel, scope);
    }

    async fn landings(&self, ids: &[&ResourceId], definitions: &[Bytes]) -> Result<Vec<Landing>> {
        let client = self.client().await?;
        tenancy::landings(&self.inner, &client, ids, definitions)
            .await
            .map_err(|e| self.error(e))
    }

    async fn prepare(&self, channel: &str, scope: &PassScope) -> Result<()> {
        let (client, user) = self.channel_client(channel).await?;
        access::prepare(&self.inner, &client, user.as_deref(), channel, scope).await
    }

    fn forget(&self, channel: &str) {
        // Everything: the channel's state is loaded again next, which reads the ApplySet
        // record and the fingerprints back from the state ConfigMap.
        self.inner.ledger.books().remove(channel);
    }

    async fn apply(&self, channel: &str, writes: Vec<Write>) -> Result<BatchReport> {
        let (client, _) = self.channel_client(channel).await?;
        Ok(apply::batch(self, &client, channel, writes).await)
    }

    async fn delete(&self, channel: &str, ids: Vec<ResourceId>) -> Result<BatchReport> {
        let (client, _) = self.channel_client(channel).await?;
        Ok(prune::batch(self, &client, channel, ids).await)
    }

    fn live_drift(&self) -> Option<&dyn LiveDrift> {
        Some(self)
    }

    fn health(&self) -> Option<&dyn HealthCheck> {
        Some(self)
    }

    fn requests(&self) -> Option<crate::cluster::Tally> {
        Some(self.inner.cluster.requests())
    }
}

#[async_trait]
impl LiveDrift for KubeTarget {
    async fn drifted(&self, channel: &str, writes: Vec<Write>) -> Result<Drifted> {
        let (client, _) = self.channel_client(channel).await?;
        drift::check(self, &client, channel, writes).await
    }
}

#[async_trait]
impl HealthCheck for KubeTarget {
    async fn assess(&self, channel: &str, ids: Vec<ResourceId>) -> Result<HealthReport> {
        let (client, _) = self.channel_client(channel).await?;
        health::assess_all(self, &client, channel, ids)
            .await
            .map_err(|e| self.error(e))
    }
}
