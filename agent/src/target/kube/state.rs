//! What each channel applied, kept in the cluster: one ConfigMap per channel in the agent's
//! namespace (`cairn-state-<channel>`), holding the state file zstd-compressed under
//! `binaryData["state.json.zst"]`. A pod that moves nodes, or a new leader, reads it back, so
//! rollback protection survives without a persistent volume.
//!
//! The ConfigMap is also the channel's ApplySet parent (KEP-3659): it carries the
//! `applyset.kubernetes.io/id` label and the tooling, group-kinds and namespaces annotations.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use sha2::{Digest as _, Sha256};

use super::Inner;
use super::apply::describe;
use super::discovery::is_not_found;
use super::ownership::{
    APPLYSET_ID, APPLYSET_KINDS, APPLYSET_NAMESPACES, APPLYSET_TOOLING, CAIRN, CHANNEL, MANAGED_BY,
    applyset_id,
};
use crate::error::{Error, Result};
use crate::state::{Applied, StateBackend};

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

/// The state backend of a [`super::KubeTarget`].
#[derive(Debug)]
pub struct ConfigMapState {
    pub(super) target: Arc<Inner>,
}

impl ConfigMapState {
    async fn api(&self) -> Result<Api<ConfigMap>> {
        let client = self.target.connection.client().await?;
        Ok(Api::namespaced(client, &self.target.options.namespace))
    }

    fn fail(&self, channel: &str, what: &str, e: &kube::Error) -> Error {
        Error::state(
            self.locate(channel),
            format!("cannot {what}: {}", describe(e)),
        )
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
            self.target.options.namespace,
            configmap_name(channel)
        ))
    }

    async fn read(&self, channel: &str) -> Result<Option<Vec<u8>>> {
        let api = self.api().await?;
        self.target.limit.acquire().await;
        let Some(map) = api
            .get_opt(&configmap_name(channel))
            .await
            .map_err(|e| self.fail(channel, "read", &e))?
        else {
            return Ok(None);
        };
        let compressed = map
            .binary_data
            .and_then(|mut d| d.remove(KEY))
            .ok_or_else(|| Error::state(self.locate(channel), format!("no {KEY} in it")))?;
        zstd::decode_all(compressed.0.as_slice())
            .map(Some)
            .map_err(|e| Error::state(self.locate(channel), format!("cannot decompress: {e}")))
    }

    async fn write(&self, channel: &str, bytes: Vec<u8>, applied: &Applied) -> Result<()> {
        let name = configmap_name(channel);
        let namespace = &self.target.options.namespace;
        let compressed = zstd::encode_all(bytes.as_slice(), 3)
            .map_err(|e| Error::state(self.locate(channel), format!("cannot compress: {e}")))?;
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
            .map_err(|e| Error::state(self.locate(channel), format!("cannot encode: {e}")))?;
        value["apiVersion"] = "v1".into();
        value["kind"] = "ConfigMap".into();
        let api = self.api().await?;
        self.target.limit.acquire().await;
        let params = PatchParams::apply(&self.target.options.field_manager).force();
        api.patch(&name, &params, &Patch::Apply(&value))
            .await
            .map_err(|e| self.fail(channel, "write", &e))?;
        Ok(())
    }

    async fn delete(&self, channel: &str) -> Result<()> {
        let api = self.api().await?;
        self.target.limit.acquire().await;
        match api
            .delete(&configmap_name(channel), &DeleteParams::default())
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(self.fail(channel, "delete", &e)),
        }
    }

    async fn list(&self) -> Result<Vec<String>> {
        let api = self.api().await?;
        self.target.limit.acquire().await;
        let maps = api
            .list(&ListParams::default().labels(&format!("{STATE_LABEL}=true")))
            .await
            .map_err(|e| {
                Error::state(
                    format!("configmaps in {}", self.target.options.namespace),
                    format!("cannot list: {}", describe(&e)),
                )
            })?;
        let mut channels: Vec<String> = maps
            .items
            .iter()
            .filter_map(|m| m.metadata.labels.as_ref()?.get(CHANNEL).cloned())
            .collect();
        channels.sort();
        Ok(channels)
    }
}
