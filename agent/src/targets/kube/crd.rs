//! Waiting for a CustomResourceDefinition to be Established, with a watch (kube-runtime's
//! `await_condition`): a list and one watch request, however long the API server takes.

use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::Api;
use kube::runtime::wait::{await_condition, conditions};
use serde_json::Value;

use crate::targets::TargetError;

/// Waits up to `timeout` for CRD `name` to be Established; returns it as it is then.
pub async fn established(
    client: &Client,
    name: &str,
    timeout: Duration,
) -> Result<Value, TargetError> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let wait = await_condition(api, name, conditions::is_crd_established());
    match tokio::time::timeout(timeout, wait).await {
        Ok(Ok(Some(crd))) => {
            let mut live =
                serde_json::to_value(&crd).map_err(|e| TargetError::Malformed(e.to_string()))?;
            live["apiVersion"] = "apiextensions.k8s.io/v1".into();
            live["kind"] = "CustomResourceDefinition".into();
            Ok(live)
        }
        Ok(Ok(None)) => Err(TargetError::NotEstablished(timeout)),
        Ok(Err(e)) => Err(TargetError::Wait(e)),
        Err(_) => Err(TargetError::NotEstablished(timeout)),
    }
}
