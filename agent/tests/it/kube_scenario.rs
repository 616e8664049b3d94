//! The Kubernetes scenario of issue 5, written once against any API server reachable through a
//! kubeconfig: the in-process fake (always) and a real cluster (when `CAIRN_TEST_KUBECONFIG`
//! names one). Everything it does to the cluster "by hand" goes through kube's client.

use std::path::Path;
use std::time::Duration;

use cairn_agent::targets::kube::KubeOptions;
use cairn_agent::{Agent, OnceReport, Outcome, TargetSpec};
use cairn_state_format::Phase;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, PostParams};

use crate::support::*;

fn snapshot(ns: &str, group: &str, a: &str, with_b: bool) -> String {
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
        "metadata: {name: web, namespace: NS}",
        "spec:",
        "  replicas: 1",
        "  selector: {matchLabels: {app: web}}",
        "  template:",
        "    metadata: {labels: {app: web}}",
        "    spec:",
        "      containers:",
        "      - {name: pause, image: 'registry.k8s.io/pause:3.10'}",
        "---",
    ];
    let mut yaml = lines.join("\n") + "\n";
    if with_b {
        yaml.push_str(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: b, namespace: NS}\ndata: {k: b}\n",
        );
    }
    yaml.replace("NS", ns)
        .replace("GROUP", group)
        .replace("'A'", &format!("'{a}'"))
}

/// Runs passes until converged (a real Deployment takes a while to become available).
async fn converge(agent: &Agent) -> OnceReport {
    let mut report = agent.run_once().await;
    for _ in 0..90 {
        if report.outcome != Outcome::Waiting {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        report = agent.run_once().await;
    }
    assert_eq!(report.outcome, Outcome::Converged, "{report:#?}");
    report
}

async fn live_cm(client: &kube::Client, ns: &str, name: &str) -> Option<ConfigMap> {
    Api::<ConfigMap>::namespaced(client.clone(), ns)
        .get_opt(name)
        .await
        .unwrap()
}

/// The whole scenario. `suffix` keeps runs apart on a shared cluster.
pub async fn run(kubeconfig: &Path, client: kube::Client, suffix: &str) {
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
    let report = converge(&agent).await;
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
    converge(&agent).await;
    let a = live_cm(&client, &ns, "a").await.unwrap();
    assert_eq!(a.data.unwrap()["k"], "2");
    let b = live_cm(&client, &ns, "b")
        .await
        .expect("someone else's b is not pruned");
    assert_eq!(b.data.unwrap()["k"], "someone else's");

    // 3. Pruned for real once cairn owns it: publish b again, then remove it.
    hub.publish(&snapshot(&ns, &group, "2", true)).await;
    cms.delete("b", &DeleteParams::default()).await.unwrap();
    converge(&agent).await;
    assert!(live_cm(&client, &ns, "b").await.is_some());
    hub.publish(&snapshot(&ns, &group, "2", false)).await;
    let report = converge(&agent).await;
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
    let report = converge(&agent).await;
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
    let report = converge(&agent).await;
    assert_eq!(report.channels[0].counts.drifted, 0);
    assert_eq!(
        live_cm(&client, &ns, "a")
            .await
            .unwrap()
            .metadata
            .resource_version,
        version
    );

    // 6. Restart on another node (empty state dir): the state is in the cluster, so nothing is
    //    re-applied, and an old head is refused as a rollback.
    let generation = hub.generation;
    drop(agent);
    let moved = dirs_for_restart();
    let mut config = config.clone();
    config.state_dir = moved.state.clone();
    let agent = Agent::new(config).unwrap();
    let report = converge(&agent).await;
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
