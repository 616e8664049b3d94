//! The trust root versions the agent accepted, kept in the cluster: the ConfigMap
//! `cairn-trust-chain` in the agent's namespace (see `crate::state` for what it records).

use std::path::PathBuf;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::Api;

use super::ConfigMapState;
use crate::error::{Error, Result, StateError};
use crate::targets::kube::ownership::{CAIRN, MANAGED_BY};

/// The ConfigMap holding the trust root versions the agent accepted, and its key.
const TRUST_CONFIGMAP: &str = "cairn-trust-chain";
const TRUST_KEY: &str = "trust-chain.json";

impl ConfigMapState {
    /// Where the accepted trust root versions are kept, for messages.
    pub(super) fn trust_location(&self) -> PathBuf {
        PathBuf::from(format!("configmap {}/{TRUST_CONFIGMAP}", self.namespace))
    }

    /// The record of accepted trust root versions, if any.
    pub(super) async fn trust_chain(&self) -> Result<Option<Vec<u8>>> {
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

    /// Replaces the record of accepted trust root versions.
    pub(super) async fn record_trust_chain(&self, bytes: Vec<u8>) -> Result<()> {
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
        let answer = self
            .apply(&api, TRUST_CONFIGMAP, &value, TRUST_CONFIGMAP)
            .await?;
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

    /// The ConfigMaps of the agent's namespace, for the trust chain's, and where that one is.
    async fn trust_api(&self) -> Result<(Api<ConfigMap>, PathBuf)> {
        let location = self.trust_location();
        let client = self
            .cluster
            .client()
            .await
            .map_err(|e| Error::state(&location, e.into()))?;
        Ok((Api::namespaced(client, &self.namespace), location))
    }
}
