//! What each channel applied, kept in the cluster: one ConfigMap per channel in the agent's
//! namespace (`cairn-state-<channel>`), holding the state file zstd-compressed under
//! `binaryData["state.json.zst"]`. A pod that moves nodes, or a new leader, reads it back, so
//! rollback protection survives without a persistent volume.
//!
//! The ConfigMap is also the channel's ApplySet parent (KEP-3659): it carries the
//! `applyset.kubernetes.io/id` label and the tooling, group-kinds and namespaces annotations.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::watch_object;
use sha2::{Digest as _, Sha256};

use super::{Applied, StateBackend, StateError};
use crate::cluster::Cluster;
use crate::error::{Error, Result};
use crate::targets::kube::ownership::{
    APPLYSET_ID, APPLYSET_KINDS, APPLYSET_NAMESPACES, APPLYSET_TOOLING, CAIRN, CHANNEL, MANAGED_BY,
    applyset_id,
};

/// Label marking the state ConfigMaps.
const STATE_LABEL: &str = "cairn.dev/state";
const KEY: &str = "state.json.zst";

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
}

impl ConfigMapState {
    /// State in ConfigMaps of `namespace`, written with server-side apply as `field_manager`.
    pub fn new(cluster: Arc<Cluster>, namespace: &str, field_manager: &str) -> ConfigMapState {
        ConfigMapState {
            cluster,
            namespace: namespace.to_owned(),
            field_manager: field_manager.to_owned(),
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
}

/// `Kind.group` of every entry, as ApplySet's `contains-group-kinds` spells them.
fn group_kinds(applied: &Applied) -> String {
    let kinds: BTreeSet<String> = applied
        .entries()
        .keys()
        .map(|id| {
            if id.group.is_empty() {
                id.kind.clone()
            } else {
                format!("{}.{}", id.kind, id.group)
            }
        })
        .collect();
    kinds.into_iter().collect::<Vec<_>>().join(",")
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
            return Ok(None);
        };
        state_file(&self.locate(channel), map).map(Some)
    }

    async fn write(&self, channel: &str, bytes: Vec<u8>, applied: &Applied) -> Result<()> {
        let name = configmap_name(channel);
        let namespace = &self.namespace;
        let compressed = zstd::encode_all(bytes.as_slice(), 3)
            .map_err(|e| Error::state(self.locate(channel), StateError::io("compress")(e)))?;
        let namespaces: BTreeSet<&str> = applied
            .entries()
            .keys()
            .map(|id| id.namespace.as_str())
            .filter(|ns| !ns.is_empty() && ns != namespace)
            .collect();
        let labels = BTreeMap::from([
            (MANAGED_BY.to_owned(), CAIRN.to_owned()),
            (CHANNEL.to_owned(), channel.to_owned()),
            (STATE_LABEL.to_owned(), "true".to_owned()),
            (APPLYSET_ID.to_owned(), applyset_id(&name, namespace)),
        ]);
        let annotations = BTreeMap::from([
            (
                APPLYSET_TOOLING.to_owned(),
                concat!("cairn/", env!("CARGO_PKG_VERSION")).to_owned(),
            ),
            (APPLYSET_KINDS.to_owned(), group_kinds(applied)),
            (
                APPLYSET_NAMESPACES.to_owned(),
                namespaces.into_iter().collect::<Vec<_>>().join(","),
            ),
        ]);
        let map = ConfigMap {
            metadata: kube::api::ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(namespace.clone()),
                labels: Some(labels),
                annotations: Some(annotations),
                ..Default::default()
            },
            binary_data: Some(BTreeMap::from([(KEY.to_owned(), ByteString(compressed))])),
            ..Default::default()
        };
        let mut value = serde_json::to_value(&map)
            .map_err(|e| Error::state(self.locate(channel), StateError::Encode(e)))?;
        value["apiVersion"] = "v1".into();
        value["kind"] = "ConfigMap".into();
        let api = self.api(channel).await?;
        let params = PatchParams::apply(&self.field_manager).force();
        api.patch(&name, &params, &Patch::Apply(&value))
            .await
            .map_err(self.fail(channel, "write"))?;
        Ok(())
    }

    async fn delete(&self, channel: &str) -> Result<()> {
        let api = self.api(channel).await?;
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
                let state = map.map(|map| state_file(&location, map)).transpose();
                futures::future::ready(state)
            })
            .boxed()
    }
}

/// The state file a state ConfigMap holds (read, or delivered by a watch).
fn state_file(location: &Path, map: ConfigMap) -> Result<Vec<u8>> {
    let compressed = map
        .binary_data
        .and_then(|mut d| d.remove(KEY))
        .ok_or_else(|| Error::state(location, StateError::Damaged(format!("no {KEY} in it"))))?;
    zstd::decode_all(compressed.0.as_slice())
        .map_err(|e| Error::state(location, StateError::io("decompress")(e)))
}
