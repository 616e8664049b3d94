//! What each channel applied, kept in the cluster: one ConfigMap per channel in the agent's
//! namespace (`cairn-state-<channel>`), holding the state file zstd-compressed under
//! `binaryData["state.json.zst"]`, and the Kubernetes target's field-ownership fingerprints
//! under `binaryData["fingerprints.json.zst"]`. A pod that moves nodes, or a new leader, reads
//! it back, so rollback protection survives without a persistent volume.
//!
//! The ConfigMap is also the channel's ApplySet parent (KEP-3659): it carries the
//! `applyset.kubernetes.io/id` label and the tooling, group-kinds and namespaces annotations.
//! Before a pass writes anything, the group-kinds and namespaces it will write are added to the
//! record ([`ConfigMapState::record`]); after a pass that completed, the record is exactly what
//! the channel owns. A ConfigMap holding only the record (a first pass that did not complete)
//! reads as "nothing applied yet", and its record still lets prune find what that pass wrote.
//! The agent creates its namespace when it is missing and RBAC allows.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::watch_object;
use sha2::{Digest as _, Sha256};

use super::{Applied, StateBackend, StateError};
use crate::cluster::Cluster;
use crate::error::{Error, Result};
use crate::targets::kube::ledger::{Ledger, Parent, Recorded};
use crate::targets::kube::ownership::{
    APPLYSET_ID, APPLYSET_KINDS, APPLYSET_NAMESPACES, APPLYSET_TOOLING, CAIRN, CHANNEL, MANAGED_BY,
    STATE as STATE_LABEL, applyset_id,
};
use crate::targets::kube::scope::Scope;

const KEY: &str = "state.json.zst";
/// The ConfigMap holding the trust root versions the agent accepted, and its key.
const TRUST_CONFIGMAP: &str = "cairn-trust-chain";
const TRUST_KEY: &str = "trust-chain.json";
const FINGERPRINTS: &str = "fingerprints.json.zst";
/// The ApplySet tooling annotation's value.
const TOOLING: &str = concat!("cairn/v", env!("CARGO_PKG_VERSION"));

/// The ConfigMap name for `channel`: `cairn-state-<channel>`, or with a hash when the channel
/// name holds characters an object name cannot (`_`).
pub fn configmap_name(channel: &str) -> String {
    if channel.contains('_') {
        let digest = Sha256::digest(channel.as_bytes());
        let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
        format!("cairn-state-{hex}")
    } else {
        format!("cairn-state-{channel}")
    }
}

/// Applied state kept in the cluster, in the agent's namespace.
#[derive(Debug)]
pub struct ConfigMapState {
    cluster: Arc<Cluster>,
    namespace: String,
    field_manager: String,
    ledger: Arc<Ledger>,
    /// Per channel, the compressed state as last read or written (a parent record written
    /// before a pass keeps it).
    stored: Mutex<HashMap<String, Option<ByteString>>>,
    /// Channels whose ConfigMap this process wrote (so it can be written).
    written: Mutex<HashSet<String>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// What one write of the ConfigMap holds.
struct Contents<'a> {
    state: Option<ByteString>,
    fingerprints: Vec<u8>,
    scope: &'a Scope,
}

impl ConfigMapState {
    /// State in ConfigMaps of `namespace`, written with server-side apply as `field_manager`.
    pub fn new(cluster: Arc<Cluster>, namespace: &str, field_manager: &str) -> ConfigMapState {
        ConfigMapState::with_ledger(cluster, namespace, field_manager, Arc::default())
    }

    /// The same, sharing `ledger` with the Kubernetes target.
    pub(crate) fn with_ledger(
        cluster: Arc<Cluster>,
        namespace: &str,
        field_manager: &str,
        ledger: Arc<Ledger>,
    ) -> ConfigMapState {
        ConfigMapState {
            cluster,
            namespace: namespace.to_owned(),
            field_manager: field_manager.to_owned(),
            ledger,
            stored: Mutex::default(),
            written: Mutex::default(),
        }
    }

    async fn api(&self, channel: &str) -> Result<Api<ConfigMap>> {
        let client = self
            .cluster
            .client()
            .await
            .map_err(|e| Error::state(self.locate(channel), e.into()))?;
        Ok(Api::namespaced(client, &self.namespace))
    }

    fn fail(&self, channel: &str, op: &'static str) -> impl FnOnce(kube::Error) -> Error + '_ {
        let location = self.locate(channel);
        move |source| Error::state(location, StateError::Api { op, source })
    }

    /// Adds `scope` (the group-kinds and namespaces a pass is about to write) to `channel`'s
    /// ApplySet parent, before the pass writes anything; writes it also when this process has
    /// not yet (which proves the state can be recorded). Creates the agent's namespace if needed.
    pub async fn record(&self, channel: &str, scope: &Scope) -> Result<()> {
        let (parent, fingerprints) = self.ledger.with(channel, |book| {
            (book.parent.clone(), Recorded::of(&book.recorded))
        });
        let known = match &parent {
            Parent::Recorded(recorded) => recorded.clone(),
            Parent::Absent | Parent::Unknown => Scope::default(),
        };
        let written = lock(&self.written).contains(channel);
        if written && known.covers(scope) {
            return Ok(());
        }
        let union = known.union(scope);
        let state = lock(&self.stored).get(channel).cloned().flatten();
        let contents = Contents {
            state,
            fingerprints: self.encode_fingerprints(channel, &fingerprints)?,
            scope: &union,
        };
        self.put(channel, contents).await?;
        self.ledger
            .with(channel, |book| book.parent = Parent::Recorded(union));
        Ok(())
    }

    fn encode_fingerprints(&self, channel: &str, recorded: &Recorded) -> Result<Vec<u8>> {
        let json = serde_json::to_vec(recorded)
            .map_err(|e| Error::state(self.locate(channel), StateError::Encode(e)))?;
        zstd::encode_all(json.as_slice(), 3)
            .map_err(|e| Error::state(self.locate(channel), StateError::io("compress")(e)))
    }

    /// Writes the whole ConfigMap; creates the namespace first when it is missing.
    async fn put(&self, channel: &str, contents: Contents<'_>) -> Result<()> {
        let name = configmap_name(channel);
        let mut binary =
            BTreeMap::from([(FINGERPRINTS.to_owned(), ByteString(contents.fingerprints))]);
        if let Some(state) = &contents.state {
            binary.insert(KEY.to_owned(), state.clone());
        }
        let map = ConfigMap {
            metadata: kube::api::ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(self.namespace.clone()),
                labels: Some(self.labels(channel)),
                annotations: Some(BTreeMap::from([
                    (APPLYSET_TOOLING.to_owned(), TOOLING.to_owned()),
                    (APPLYSET_KINDS.to_owned(), contents.scope.kinds_annotation()),
                    (
                        APPLYSET_NAMESPACES.to_owned(),
                        contents.scope.namespaces_annotation(&self.namespace),
                    ),
                ])),
                ..Default::default()
            },
            binary_data: Some(binary),
            ..Default::default()
        };
        let mut value = serde_json::to_value(&map)
            .map_err(|e| Error::state(self.locate(channel), StateError::Encode(e)))?;
        value["apiVersion"] = "v1".into();
        value["kind"] = "ConfigMap".into();
        let api = self.api(channel).await?;
        let params = PatchParams::apply(&self.field_manager).force();
        let answer = match api.patch(&name, &params, &Patch::Apply(&value)).await {
            Err(kube::Error::Api(status)) if is_missing_namespace(&status) => {
                self.create_namespace(channel).await?;
                api.patch(&name, &params, &Patch::Apply(&value)).await
            }
            other => other,
        };
        if let Err(e) = answer {
            lock(&self.written).remove(channel);
            return Err(self.fail(channel, "write")(e));
        }
        lock(&self.written).insert(channel.to_owned());
        lock(&self.stored).insert(channel.to_owned(), contents.state);
        Ok(())
    }

    fn labels(&self, channel: &str) -> BTreeMap<String, String> {
        BTreeMap::from([
            (MANAGED_BY.to_owned(), CAIRN.to_owned()),
            (CHANNEL.to_owned(), channel.to_owned()),
            (STATE_LABEL.to_owned(), "true".to_owned()),
            (
                APPLYSET_ID.to_owned(),
                applyset_id(&configmap_name(channel), &self.namespace),
            ),
        ])
    }

    /// The ConfigMaps of the agent's namespace, for the trust chain's, and where that one is.
    async fn trust_api(&self) -> Result<(Api<ConfigMap>, PathBuf)> {
        let location = self.locate_trust();
        let client = self
            .cluster
            .client()
            .await
            .map_err(|e| Error::state(&location, e.into()))?;
        Ok((Api::namespaced(client, &self.namespace), location))
    }

    /// Creates the agent's namespace (it holds the state and the Lease).
    async fn create_namespace(&self, channel: &str) -> Result<()> {
        let client = self
            .cluster
            .client()
            .await
            .map_err(|e| Error::state(self.locate(channel), e.into()))?;
        let namespace = Namespace {
            metadata: kube::api::ObjectMeta {
                name: Some(self.namespace.clone()),
                labels: Some(BTreeMap::from([(MANAGED_BY.to_owned(), CAIRN.to_owned())])),
                ..Default::default()
            },
            ..Default::default()
        };
        match Api::<Namespace>::all(client)
            .create(&PostParams::default(), &namespace)
            .await
        {
            Ok(_) => {
                tracing::info!(namespace = %self.namespace, "created the agent's namespace");
                Ok(())
            }
            Err(kube::Error::Api(status)) if status.code == 409 => Ok(()),
            Err(source) => Err(Error::state(
                self.locate(channel),
                StateError::NoNamespace {
                    namespace: self.namespace.clone(),
                    source,
                },
            )),
        }
    }

    /// The scope to record after `applied` was written whole: what the channel owns as the
    /// target last listed and wrote it, else what the record and the entries say.
    fn scope_after(&self, channel: &str, applied: &Applied) -> Scope {
        self.ledger.with(channel, |book| {
            let live = Scope::of(book.live.keys());
            if book.listed {
                return live;
            }
            let recorded = match &book.parent {
                Parent::Recorded(scope) => scope.clone(),
                Parent::Absent | Parent::Unknown => Scope::default(),
            };
            recorded
                .union(&live)
                .union(&Scope::of(applied.entries().keys()))
        })
    }
}

/// Whether an API answer says the namespace does not exist (its details name it).
fn is_missing_namespace(status: &kube::core::Status) -> bool {
    status.code == 404
        && status
            .details
            .as_ref()
            .is_some_and(|d| d.kind == "namespaces")
}

fn decompress(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    zstd::decode_all(bytes)
}

#[async_trait]
impl StateBackend for ConfigMapState {
    fn locate(&self, channel: &str) -> PathBuf {
        PathBuf::from(format!(
            "configmap {}/{}",
            self.namespace,
            configmap_name(channel)
        ))
    }

    async fn read(&self, channel: &str) -> Result<Option<Vec<u8>>> {
        let api = self.api(channel).await?;
        let Some(map) = api
            .get_opt(&configmap_name(channel))
            .await
            .map_err(self.fail(channel, "read"))?
        else {
            self.ledger
                .with(channel, |book| book.parent = Parent::Absent);
            lock(&self.stored).insert(channel.to_owned(), None);
            return Ok(None);
        };
        let annotations = map.metadata.annotations.unwrap_or_default();
        let text = |key: &str| annotations.get(key).map(String::as_str).unwrap_or_default();
        let mut scope = Scope::parse(text(APPLYSET_KINDS), text(APPLYSET_NAMESPACES));
        scope.namespaces.insert(self.namespace.clone());
        let mut binary = map.binary_data.unwrap_or_default();
        let fingerprints = binary
            .remove(FINGERPRINTS)
            .and_then(|b| decompress(&b.0).ok())
            .and_then(|json| serde_json::from_slice::<Recorded>(&json).ok())
            .map(Recorded::into_map)
            .unwrap_or_default();
        self.ledger.with(channel, |book| {
            book.parent = Parent::Recorded(scope);
            book.recorded = fingerprints;
        });
        let state = binary.remove(KEY);
        lock(&self.stored).insert(channel.to_owned(), state.clone());
        let Some(compressed) = state else {
            tracing::info!(
                channel,
                "the state ConfigMap records no applied generation yet (a first pass that did not complete)"
            );
            return Ok(None);
        };
        decompress(&compressed.0)
            .map(Some)
            .map_err(|e| Error::state(self.locate(channel), StateError::io("decompress")(e)))
    }

    async fn write(&self, channel: &str, bytes: Vec<u8>, applied: &Applied) -> Result<()> {
        let compressed = zstd::encode_all(bytes.as_slice(), 3)
            .map_err(|e| Error::state(self.locate(channel), StateError::io("compress")(e)))?;
        let scope = self.scope_after(channel, applied);
        let fingerprints = self
            .ledger
            .with(channel, |book| Recorded::of(&book.recorded));
        let contents = Contents {
            state: Some(ByteString(compressed)),
            fingerprints: self.encode_fingerprints(channel, &fingerprints)?,
            scope: &scope,
        };
        self.put(channel, contents).await?;
        self.ledger
            .with(channel, |book| book.parent = Parent::Recorded(scope));
        Ok(())
    }

    async fn delete(&self, channel: &str) -> Result<()> {
        let api = self.api(channel).await?;
        lock(&self.stored).remove(channel);
        lock(&self.written).remove(channel);
        self.ledger.books().remove(channel);
        match api
            .delete(&configmap_name(channel), &DeleteParams::default())
            .await
        {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
            Err(e) => Err(self.fail(channel, "delete")(e)),
        }
    }

    async fn list(&self) -> Result<Vec<String>> {
        let location = format!("configmaps in {}", self.namespace);
        let client = self
            .cluster
            .client()
            .await
            .map_err(|e| Error::state(&location, e.into()))?;
        let api: Api<ConfigMap> = Api::namespaced(client, &self.namespace);
        let maps = api
            .list(&ListParams::default().labels(&format!("{STATE_LABEL}=true")))
            .await
            .map_err(|source| Error::state(&location, StateError::Api { op: "list", source }))?;
        let mut channels: Vec<String> = maps
            .items
            .iter()
            .filter_map(|m| m.metadata.labels.as_ref()?.get(CHANNEL).cloned())
            .collect();
        channels.sort();
        Ok(channels)
    }

    fn locate_trust(&self) -> PathBuf {
        PathBuf::from(format!("configmap {}/{TRUST_CONFIGMAP}", self.namespace))
    }

    async fn read_trust(&self) -> Result<Option<Vec<u8>>> {
        let (api, location) = self.trust_api().await?;
        let map = api
            .get_opt(TRUST_CONFIGMAP)
            .await
            .map_err(|source| Error::state(&location, StateError::Api { op: "read", source }))?;
        Ok(map
            .and_then(|m| m.binary_data)
            .and_then(|mut d| d.remove(TRUST_KEY))
            .map(|b| b.0))
    }

    async fn write_trust(&self, bytes: Vec<u8>) -> Result<()> {
        let (api, location) = self.trust_api().await?;
        let value = serde_json::json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": TRUST_CONFIGMAP,
                "namespace": self.namespace,
                "labels": {MANAGED_BY: CAIRN},
            },
            "binaryData": {TRUST_KEY: ByteString(bytes)},
        });
        let params = PatchParams::apply(&self.field_manager).force();
        let patch = Patch::Apply(&value);
        let answer = match api.patch(TRUST_CONFIGMAP, &params, &patch).await {
            Err(kube::Error::Api(status)) if is_missing_namespace(&status) => {
                self.create_namespace(TRUST_CONFIGMAP).await?;
                api.patch(TRUST_CONFIGMAP, &params, &patch).await
            }
            other => other,
        };
        answer.map(drop).map_err(|source| {
            Error::state(
                &location,
                StateError::Api {
                    op: "write",
                    source,
                },
            )
        })
    }

    fn follow(&self, channel: &str) -> BoxStream<'static, Result<Option<Vec<u8>>>> {
        let (cluster, namespace, name) = (
            self.cluster.clone(),
            self.namespace.clone(),
            configmap_name(channel),
        );
        let location = self.locate(channel);
        let failed = {
            let location = location.clone();
            move |e: StateError| Error::state(&location, e)
        };
        futures::stream::once(async move { cluster.client().await })
            .map_err(StateError::Connect)
            .map_ok(move |client| {
                let api: Api<ConfigMap> = Api::namespaced(client, &namespace);
                watch_object(api, &name)
                    .default_backoff()
                    .map_err(StateError::Watch)
            })
            .try_flatten()
            .map_err(failed)
            .and_then(move |map| {
                let state = map.map_or(Ok(None), |map| state_file(&location, map));
                futures::future::ready(state)
            })
            .boxed()
    }
}

/// The state file a state ConfigMap delivered by a watch holds (`None`: only the ApplySet
/// record of a first pass that did not complete).
fn state_file(location: &Path, map: ConfigMap) -> Result<Option<Vec<u8>>> {
    let Some(compressed) = map.binary_data.and_then(|mut d| d.remove(KEY)) else {
        return Ok(None);
    };
    decompress(&compressed.0)
        .map(Some)
        .map_err(|e| Error::state(location, StateError::io("decompress")(e)))
}
