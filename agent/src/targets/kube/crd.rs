//! Waiting for a CustomResourceDefinition to be Established, with a watch (kube-runtime's
//! `await_condition`): a list and one watch request, however long the API server takes; then
//! for discovery to serve its kinds, which lags the Established condition on a real API server
//! (the apiextensions-apiserver's discovery controller catches up through a work queue), so the
//! CRD's objects can be applied in the same pass.

use std::time::Duration;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::Client;
use kube::api::Api;
use kube::runtime::wait::{await_condition, conditions};
use serde_json::Value;

use super::discovery::{Kinds, Unresolved};
use crate::targets::TargetError;

/// The first wait before asking discovery again for a new CRD's kinds; doubled each time.
const FIRST_WAIT: Duration = Duration::from_millis(50);
/// The longest wait between two discovery runs while a CRD's kinds are not served.
const LONGEST_WAIT: Duration = Duration::from_secs(2);

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

/// Waits up to `timeout`, asking discovery again with backoff, until every served version of
/// Established CRD `crd` is served by discovery.
pub async fn discovered(
    kinds: &Kinds,
    client: &Client,
    crd: &Value,
    timeout: Duration,
) -> Result<(), TargetError> {
    let wanted = served(crd);
    let started = tokio::time::Instant::now();
    let mut wait = FIRST_WAIT;
    loop {
        kinds.mark_stale();
        let mut missing = Vec::new();
        for (api_version, kind) in &wanted {
            match kinds.for_object(client, api_version, kind).await {
                Ok(_) => {}
                Err(Unresolved::Unknown(_)) => missing.push(format!("{kind}.{api_version}")),
                Err(Unresolved::Failed(e)) => return Err(TargetError::Discovery(e)),
            }
        }
        if missing.is_empty() {
            return Ok(());
        }
        let waited = started.elapsed();
        if waited + wait > timeout {
            return Err(TargetError::Undiscovered {
                kinds: missing.join(", "),
                waited,
            });
        }
        tracing::debug!(kinds = %missing.join(", "), ?wait, "waiting for discovery to serve new kinds");
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(LONGEST_WAIT);
    }
}

/// `(apiVersion, kind)` of each served version of `crd`.
fn served(crd: &Value) -> Vec<(String, String)> {
    let spec = &crd["spec"];
    let (group, kind) = (
        spec["group"].as_str().unwrap_or_default(),
        spec["names"]["kind"].as_str().unwrap_or_default(),
    );
    spec["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|v| v["served"] != false)
        .filter_map(|v| v["name"].as_str())
        .map(|version| (format!("{group}/{version}"), kind.to_owned()))
        .collect()
}
