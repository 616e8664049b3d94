//! The state ConfigMaps as a [`StateBackend`]: what the agent reads back, writes after each
//! apply (with the ApplySet record and the fingerprints), lists, removes and watches.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, ListParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::watch_object;

use super::{ConfigMapState, FINGERPRINTS, KEY, configmap_name, decompress, lock};
use crate::error::{Error, Result, StateError};
use crate::state::{Applied, StateBackend};
use crate::targets::kube::ledger::{Parent, Recorded};
use crate::targets::kube::ownership::{
    APPLYSET_KINDS, APPLYSET_NAMESPACES, CHANNEL, STATE as STATE_LABEL,
};
use crate::targets::kube::scope::Scope;

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
        self.put(channel, Some(ByteString(compressed)), scope).await
    }

    fn locate_trust(&self) -> PathBuf {
        self.trust_location()
    }

    async fn read_trust(&self) -> Result<Option<Vec<u8>>> {
        self.trust_chain().await
    }

    async fn write_trust(&self, bytes: Vec<u8>) -> Result<()> {
        self.record_trust_chain(bytes).await
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
