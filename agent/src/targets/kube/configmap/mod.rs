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

mod backend;
mod namespace;
mod trust;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::Api;
use sha2::{Digest as _, Sha256};

use super::ledger::{Ledger, Parent, Recorded};
use super::ownership::{
    APPLYSET_ID, APPLYSET_KINDS, APPLYSET_NAMESPACES, APPLYSET_TOOLING, CAIRN, CHANNEL, MANAGED_BY,
    STATE as STATE_LABEL, applyset_id,
};
use super::scope::Scope;
use crate::cluster::Cluster;
use crate::error::{Error, Result, StateError};
use crate::state::{Applied, StateBackend};

const KEY: &str = "state.json.zst";
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
        let parent = self.ledger.with(channel, |book| book.parent.clone());
        let known = match &parent {
            Parent::Recorded(recorded) => recorded.clone(),
            Parent::Absent | Parent::Unknown => Scope::default(),
        };
        let written = lock(&self.written).contains(channel);
        if written && known.covers(scope) {
            return Ok(());
        }
        let state = lock(&self.stored).get(channel).cloned().flatten();
        self.put(channel, state, known.union(scope)).await
    }

    /// The fingerprints the target recorded for `channel`, as the ConfigMap keeps them.
    fn fingerprints(&self, channel: &str) -> Result<Vec<u8>> {
        let recorded = self
            .ledger
            .with(channel, |book| Recorded::of(&book.recorded));
        let json = serde_json::to_vec(&recorded)
            .map_err(|e| Error::state(self.locate(channel), StateError::Encode(e)))?;
        zstd::encode_all(json.as_slice(), 3)
            .map_err(|e| Error::state(self.locate(channel), StateError::io("compress")(e)))
    }

    /// Writes the whole ConfigMap: the (compressed) `state`, the target's fingerprints, and
    /// `scope` as the ApplySet record, which the ledger then holds as the parent's; creates the
    /// namespace first when it is missing.
    async fn put(&self, channel: &str, state: Option<ByteString>, scope: Scope) -> Result<()> {
        let name = configmap_name(channel);
        let fingerprints = ByteString(self.fingerprints(channel)?);
        let mut binary = BTreeMap::from([(FINGERPRINTS.to_owned(), fingerprints)]);
        if let Some(state) = &state {
            binary.insert(KEY.to_owned(), state.clone());
        }
        let map = ConfigMap {
            metadata: kube::api::ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(self.namespace.clone()),
                labels: Some(self.labels(channel)),
                annotations: Some(BTreeMap::from([
                    (APPLYSET_TOOLING.to_owned(), TOOLING.to_owned()),
                    (APPLYSET_KINDS.to_owned(), scope.kinds_annotation()),
                    (
                        APPLYSET_NAMESPACES.to_owned(),
                        scope.namespaces_annotation(&self.namespace),
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
        if let Err(e) = self.apply(&api, &name, &value, channel).await? {
            lock(&self.written).remove(channel);
            return Err(self.fail(channel, "write")(e));
        }
        lock(&self.written).insert(channel.to_owned());
        lock(&self.stored).insert(channel.to_owned(), state);
        self.ledger
            .with(channel, |book| book.parent = Parent::Recorded(scope));
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

fn decompress(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    zstd::decode_all(bytes)
}
