//! The agent's namespace holds the state ConfigMaps and the Lease: created when a write finds it
//! missing and RBAC allows.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, Patch, PatchParams, PostParams};

use super::ConfigMapState;
use crate::error::{Error, Result, StateError};
use crate::state::StateBackend;
use crate::targets::kube::ownership::{CAIRN, MANAGED_BY};

impl ConfigMapState {
    /// Applies `value` as the ConfigMap `name` (the state of `channel`, or the trust chain's),
    /// creating the agent's namespace first when the answer says it is missing. A failure to
    /// create the namespace is the error; the apply's own answer is returned as it came.
    pub(super) async fn apply(
        &self,
        api: &Api<ConfigMap>,
        name: &str,
        value: &serde_json::Value,
        channel: &str,
    ) -> Result<kube::Result<ConfigMap>> {
        let params = PatchParams::apply(&self.field_manager).force();
        let patch = Patch::Apply(value);
        match api.patch(name, &params, &patch).await {
            Err(kube::Error::Api(status)) if is_missing_namespace(&status) => {
                self.create_namespace(channel).await?;
                Ok(api.patch(name, &params, &patch).await)
            }
            other => Ok(other),
        }
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
}

/// Whether an API answer says the namespace does not exist (its details name it).
fn is_missing_namespace(status: &kube::core::Status) -> bool {
    status.code == 404
        && status
            .details
            .as_ref()
            .is_some_and(|d| d.kind == "namespaces")
}
