//! The Kubernetes scenario, written once against any API server reachable through a kubeconfig:
//! the in-process fake (always) and a real cluster (when `CAIRN_TEST_KUBECONFIG` names one).
//! Everything it does to the cluster "by hand" goes through kube's client. It checks apply,
//! prune, ownership, drift (corrected, report-only, and fields left to another manager) and
//! restarts; health where it can be known: on a control plane without nodes Deployments never
//! become available, and the scenario then accepts them progressing.

use std::path::Path;
use std::time::Duration;

use cairn_agent::targets::kube::KubeOptions;
use cairn_agent::{Agent, OnceReport, Outcome, TargetSpec};
use cairn_env_vars::EnvVars;
use cairn_state_format::Phase;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Node};
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};

use crate::support::*;

fn snapshot(ns: &str, group: &str, a: &str, with_b: bool) -> String {
    snapshot_with(ns, group, a, with_b, "")
}

/// The snapshot, plus `extra` documents (`NS` stands for the namespace).
fn snapshot_with(ns: &str, group: &str, a: &str, with_b: bool, extra: &str) -> String {
    let lines = [
        "apiVersion: v1",
        "kind: Namespace",
        "metadata: {name: NS}",
        "---",
        "apiVersion: apiextensions.k8s.io/v1",
        "kind: CustomResourceDefinition",
        "metadata: {name: widgets.GROUP}",
        "spec:",
        "  group: GROUP",
        "  scope: Namespaced",
        "  names: {plural: widgets, singular: widget, kind: Widget, listKind: WidgetList}",
        "  versions:",
        "  - name: v1",
        "    served: true",
        "    storage: true",
        "    schema:",
        "      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}",
        "---",
        "apiVersion: GROUP/v1",
        "kind: Widget",
        "metadata: {name: w1, namespace: NS}",
        "spec: {size: 3}",
        "---",
        "apiVersion: v1",
        "kind: ConfigMap",
        "metadata: {name: a, namespace: NS}",
        "data: {k: 'A'}",
        "---",
        "apiVersion: apps/v1",
        "kind: Deployment",
        "metadata: {name: web, namespace: NS, annotations: {cairn.dev/ignore-fields: /spec/replicas}}",
        "spec:",
        "  replicas: 1",
        "  selector: {matchLabels: {app: web}}",
        "  template:",
        "    metadata: {labels: {app: web}}",
        "    spec:",
        "      containers:",
        "      - {name: pause, image: 'WORKLOAD_IMAGE'}",
        "---",
    ];
    let mut yaml = lines.join("\n") + "\n" + extra;
    if with_b {
        yaml.push_str(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b, namespace: NS}\ndata: {k: b}\n",
        );
    }
    yaml.replace("NS", ns)
        .replace("GROUP", group)
        .replace("'A'", &format!("'{a}'"))
        .replace("WORKLOAD_IMAGE", &workload_image())
}

/// The Deployment's container image: `CAIRN_TEST_IMAGE` (for clusters that cannot pull from
/// registry.k8s.io: an image they hold whose default command keeps running), else the smallest
/// image that runs until stopped.
fn workload_image() -> String {
    std::env::var(EnvVars::CAIRN_TEST_IMAGE).unwrap_or_else(|_| "registry.k8s.io/pause:3.10".into())
}

/// Runs passes until converged (a real Deployment takes a while to become available). Where
/// health cannot be known (`health_known` false: no node can run a pod), a pass whose only
/// unhealthy objects are Deployments progressing counts as converged.
async fn converge(agent: &Agent, health_known: bool) -> OnceReport {
    let settled = |report: &OnceReport| {
        report.outcome == Outcome::Converged
            || (!health_known
                && report.channels[0].phase == Phase::Progressing
                && report.channels[0]
                    .unhealthy
                    .iter()
                    .all(|u| u.starts_with("Deployment.apps ") && u.contains(": progressing: ")))
    };
    let mut report = agent.run_once().await;
    for _ in 0..90 {
        if settled(&report) || report.outcome == Outcome::Failed {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        report = agent.run_once().await;
    }
    assert!(settled(&report), "{report:#?}");
    report
}

/// Whether a pod can run anywhere (a Ready node that takes workloads).
pub async fn has_schedulable_nodes(client: &kube::Client) -> bool {
    let nodes = Api::<Node>::all(client.clone())
        .list(&Default::default())
        .await
        .map(|l| l.items)
        .unwrap_or_default();
    nodes.iter().any(|n| {
        let ready = n
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
        let unschedulable = n
            .spec
            .as_ref()
            .and_then(|s| s.unschedulable)
            .unwrap_or(false);
        ready && !unschedulable
    })
}

async fn live_cm(client: &kube::Client, ns: &str, name: &str) -> Option<ConfigMap> {
    Api::<ConfigMap>::namespaced(client.clone(), ns)
        .get_opt(name)
        .await
        .unwrap()
}

/// The whole scenario. `suffix` keeps runs apart on a shared cluster; `health_known` says
/// whether Deployments can become available there.
pub async fn run(kubeconfig: &Path, client: kube::Client, suffix: &str, health_known: bool) {
    let (ns, agent_ns, group) = (
        format!("cairn-e2e-{suffix}"),
        format!("cairn-e2e-agent-{suffix}"),
        format!("e2e{suffix}.cairn.dev"),
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
    let first = hub.publish(&snapshot(&ns, &group, "1", true)).await;
    let dirs = dirs();
    let mut config = config(opened(&store), &["prod"], &dirs);
    config.target = TargetSpec::Kube;
    config.kube = KubeOptions {
        kubeconfig: Some(kubeconfig.to_owned()),
        namespace: agent_ns.clone(),
        ..KubeOptions::default()
    };
    let agent = Agent::new(config.clone()).unwrap();

    // 1. Namespace, CRD and its custom resource, ConfigMaps and a Deployment, in one snapshot.
    let report = converge(&agent, health_known).await;
    assert_eq!(report.channels[0].counts.objects, 6);
    let a = live_cm(&client, &ns, "a").await.expect("a applied");
    let labels = a.metadata.labels.clone().unwrap();
    assert_eq!(labels["app.kubernetes.io/managed-by"], "cairn");
    assert_eq!(labels["cairn.dev/channel"], "prod");
    assert!(labels["applyset.kubernetes.io/part-of"].starts_with("applyset-"));
    assert_eq!(a.metadata.annotations.unwrap()["cairn.dev/generation"], "1");
    let widgets = ApiResource {
        group: group.clone(),
        version: "v1".into(),
        api_version: format!("{group}/v1"),
        kind: "Widget".into(),
        plural: "widgets".into(),
    };
    let widget_api = Api::<DynamicObject>::namespaced_with(client.clone(), &ns, &widgets);
    assert!(
        widget_api.get_opt("w1").await.unwrap().is_some(),
        "custom resource applied"
    );

    // 2. Change one, remove one; meanwhile someone replaces the removed one with their own.
    hub.publish(&snapshot(&ns, &group, "2", false)).await;
    let cms = Api::<ConfigMap>::namespaced(client.clone(), &ns);
    cms.delete("b", &DeleteParams::default()).await.unwrap();
    let foreign: ConfigMap = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "b", "namespace": ns}, "data": {"k": "someone else's"}
    }))
    .unwrap();
    cms.create(&PostParams::default(), &foreign).await.unwrap();
    converge(&agent, health_known).await;
    let a = live_cm(&client, &ns, "a").await.unwrap();
    assert_eq!(a.data.unwrap()["k"], "2");
    let b = live_cm(&client, &ns, "b")
        .await
        .expect("someone else's b is not pruned");
    assert_eq!(b.data.unwrap()["k"], "someone else's");

    // 3. Pruned for real once cairn owns it: publish b again, then remove it.
    hub.publish(&snapshot(&ns, &group, "2", true)).await;
    cms.delete("b", &DeleteParams::default()).await.unwrap();
    converge(&agent, health_known).await;
    assert!(live_cm(&client, &ns, "b").await.is_some());
    hub.publish(&snapshot(&ns, &group, "2", false)).await;
    let report = converge(&agent, health_known).await;
    assert!(live_cm(&client, &ns, "b").await.is_none(), "b pruned");
    assert_eq!(report.channels[0].counts.pruned, 1);

    // 4. Drift: an edit by hand and a deletion by hand are counted and corrected on resync.
    let mut a = live_cm(&client, &ns, "a").await.unwrap();
    a.data = Some([("k".to_owned(), "edited".to_owned())].into());
    cms.replace("a", &PostParams::default(), &a).await.unwrap();
    widget_api
        .delete("w1", &DeleteParams::default())
        .await
        .unwrap();
    let report = converge(&agent, health_known).await;
    assert_eq!(report.channels[0].counts.drifted, 2, "{report:#?}");
    assert_eq!(
        live_cm(&client, &ns, "a").await.unwrap().data.unwrap()["k"],
        "2"
    );
    assert!(
        widget_api.get_opt("w1").await.unwrap().is_some(),
        "w1 recreated"
    );

    // 5. An unchanged snapshot on an undrifted cluster changes nothing.
    let version = live_cm(&client, &ns, "a")
        .await
        .unwrap()
        .metadata
        .resource_version;
    let report = converge(&agent, health_known).await;
    assert_eq!(report.channels[0].counts.drifted, 0);
    assert_eq!(
        live_cm(&client, &ns, "a")
            .await
            .unwrap()
            .metadata
            .resource_version,
        version
    );

    // 5b. Report-only drift: reported, never corrected; and a field left to another manager
    //     (an autoscaler scaling the Deployment) is neither drift nor taken back.
    let watched = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: watched, namespace: NS, annotations: {cairn.dev/drift: report}}\ndata: {k: w}\n---\n"
        .replace("NS", &ns);
    hub.publish(&snapshot_with(&ns, &group, "2", false, &watched))
        .await;
    converge(&agent, health_known).await;
    let mut w = live_cm(&client, &ns, "watched").await.unwrap();
    w.data = Some([("k".to_owned(), "by hand".to_owned())].into());
    cms.replace("watched", &PostParams::default(), &w)
        .await
        .unwrap();
    let deployments = Api::<Deployment>::namespaced(client.clone(), &ns);
    let scaler = PatchParams {
        field_manager: Some("cairn-e2e-autoscaler".into()),
        ..PatchParams::default()
    };
    deployments
        .patch(
            "web",
            &scaler,
            &Patch::Merge(serde_json::json!({"spec": {"replicas": 2}})),
        )
        .await
        .unwrap();
    let report = converge(&agent, health_known).await;
    let status = &report.channels[0];
    assert_eq!(status.counts.drifted, 1, "{status:#?}");
    assert_eq!(status.drifted[0].object, format!("ConfigMap {ns}/watched"));
    assert!(!status.drifted[0].corrected);
    assert_eq!(
        live_cm(&client, &ns, "watched")
            .await
            .unwrap()
            .data
            .unwrap()["k"],
        "by hand"
    );
    let web = deployments.get("web").await.unwrap();
    assert_eq!(
        web.spec.unwrap().replicas,
        Some(2),
        "the autoscaler's replicas stay"
    );
    let owners: Vec<String> = web
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .filter(|e| {
            e.fields_v1
                .as_ref()
                .is_some_and(|f| f.0.pointer("/f:spec/f:replicas").is_some())
        })
        .filter_map(|e| e.manager)
        .collect();
    assert_eq!(
        owners,
        ["cairn-e2e-autoscaler"],
        "cairn did not take the field back"
    );
    hub.publish(&snapshot(&ns, &group, "2", false)).await;
    converge(&agent, health_known).await;

    // 6. Restart on another node (empty state dir): the state is in the cluster, so nothing is
    //    re-applied, and an old head is refused as a rollback.
    let generation = hub.generation;
    drop(agent);
    let moved = dirs_for_restart();
    let mut config = config.clone();
    config.state_dir = moved.state.clone();
    let agent = Agent::new(config).unwrap();
    let report = converge(&agent, health_known).await;
    let status = &report.channels[0];
    assert_eq!(status.applied.as_ref().unwrap().generation, generation);
    assert_eq!(
        status.counts.applied, 0,
        "nothing re-applied after a restart"
    );
    assert_eq!(
        live_cm(&client, &ns, "a")
            .await
            .unwrap()
            .metadata
            .resource_version,
        version
    );
    hub.put_raw_head(first_head_bytes(&hub, &first)).await;
    let report = agent.run_once().await;
    assert_eq!(report.channels[0].phase, Phase::Frozen, "{report:#?}");
    assert_eq!(
        report.channels[0].applied.as_ref().unwrap().generation,
        generation
    );

    // Clean up what a real cluster would keep.
    let _ = namespaces.delete(&ns, &DeleteParams::default()).await;
    let _ = namespaces.delete(&agent_ns, &DeleteParams::default()).await;
    let crds = Api::<DynamicObject>::all_with(
        client.clone(),
        &ApiResource {
            group: "apiextensions.k8s.io".into(),
            version: "v1".into(),
            api_version: "apiextensions.k8s.io/v1".into(),
            kind: "CustomResourceDefinition".into(),
            plural: "customresourcedefinitions".into(),
        },
    );
    let _ = crds
        .delete(&format!("widgets.{group}"), &DeleteParams::default())
        .await;
}

fn dirs_for_restart() -> Dirs {
    dirs()
}

fn first_head_bytes(hub: &Publisher, first: &cairn_state_format::Head) -> Vec<u8> {
    cairn_state_format::SignedHead::sign(first, &[&hub.key])
}
