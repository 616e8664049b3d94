//! Health followed after an apply, written once against any API server reachable through a
//! kubeconfig: the fake playing the Deployment controller (always) and a real cluster whose
//! nodes run pods (with `CAIRN_TEST_KUBECONFIG`). An agent runs in a loop with its resync an
//! hour away; the status record must say `converged` soon after the Deployment is Available.

use std::path::Path;
use std::time::{Duration, Instant};

use cairn_agent::targets::kube::KubeOptions;
use cairn_agent::{Agent, TargetSpec};
use cairn_state_format::{Phase, StatusRecord};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams, PostParams};
use tokio::sync::oneshot;

use crate::kube_scenario::workload_image;
use crate::support::*;

/// How long a rollout may take before the scenario gives up.
const ROLLOUT_LIMIT: Duration = Duration::from_secs(120);

fn snapshot(ns: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Namespace\nmetadata: {{name: {ns}}}\n---\n\
         apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web, namespace: {ns}}}\n\
         spec:\n  replicas: 2\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    \
         metadata: {{labels: {{app: web}}}}\n    spec:\n      containers:\n      \
         - {{name: main, image: '{}'}}\n",
        workload_image()
    )
}

async fn status(store: &cairn_store::Store) -> Option<StatusRecord> {
    let fetched = store.get("status/prod/cluster-1").await.ok()??;
    StatusRecord::decode(&fetched.bytes, "status").ok()
}

async fn available(deployments: &Api<Deployment>) -> bool {
    let Ok(Some(d)) = deployments.get_opt("web").await else {
        return false;
    };
    d.status.and_then(|s| s.conditions).is_some_and(|c| {
        c.iter()
            .any(|c| c.type_ == "Available" && c.status == "True")
    })
}

/// Publishes a Deployment of two replicas to an agent polling every `interval`, and returns
/// how long after the Deployment became Available the status record said `converged`.
pub async fn converged_after_available(
    kubeconfig: &Path,
    client: kube::Client,
    suffix: &str,
    interval: Duration,
) -> Duration {
    let (ns, agent_ns) = (
        format!("cairn-rollout-{suffix}"),
        format!("cairn-rollout-agent-{suffix}"),
    );
    let namespaces = Api::<Namespace>::all(client.clone());
    let agent_namespace: Namespace =
        serde_json::from_value(serde_json::json!({"metadata": {"name": agent_ns}})).unwrap();
    namespaces
        .create(&PostParams::default(), &agent_namespace)
        .await
        .unwrap();
    let (store, _) = counting_memory();
    let mut hub = Publisher::new(&store, "prod");
    hub.publish(&snapshot(&ns)).await;
    let dirs = dirs();
    let mut config = config(opened(&store), &["prod"], &dirs);
    config.target = TargetSpec::Kube;
    config.kube = KubeOptions {
        kubeconfig: Some(kubeconfig.to_owned()),
        namespace: agent_ns.clone(),
        ..KubeOptions::default()
    };
    config.timing.interval = interval;
    config.timing.jitter = 0.0;
    config.timing.backoff_base = interval / 10;
    config.timing.resync = Duration::from_secs(3600);
    let agent = Agent::new(config).unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let running = tokio::spawn(agent.run(async {
        let _ = stopped.await;
    }));

    let deployments = Api::<Deployment>::namespaced(client.clone(), &ns);
    let started = Instant::now();
    while !available(&deployments).await {
        assert!(
            started.elapsed() < ROLLOUT_LIMIT,
            "the Deployment never became Available"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let became_available = Instant::now();
    let record = loop {
        let record = status(&store).await;
        if record.as_ref().is_some_and(|r| r.phase == Phase::Converged) {
            break record;
        }
        assert!(
            became_available.elapsed() < ROLLOUT_LIMIT,
            "never converged: {record:#?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let lag = became_available.elapsed();
    assert_eq!(record.unwrap().counts.healthy, 2);

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(30), running)
        .await
        .expect("the agent stops when told")
        .unwrap()
        .unwrap();
    let _ = namespaces.delete(&ns, &DeleteParams::default()).await;
    let _ = namespaces.delete(&agent_ns, &DeleteParams::default()).await;
    lag
}
