//! Drift policy against the fake API server: report-only drift, fields left to other managers
//! (`cairn.dev/ignore-fields`), and the ApplySet parent as `kubectl apply --prune --applyset`
//! reads it.

use std::collections::BTreeSet;

use cairn_agent::targets::kube::{DriftMode, DriftPolicy};
use cairn_state_format::Phase;
use kube::api::{Api, DynamicObject, ListParams};
use kube::discovery::{Discovery, Scope};
use serde_json::json;

use crate::kube_passes::{Rig, objects};
use crate::support::*;

fn deployment(name: &str, annotations: &str, replicas: u32, image: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}, namespace: app, annotations: {{{annotations}}}}}\n\
         spec: {{replicas: {replicas}, selector: {{matchLabels: {{app: {name}}}}}, template: {{metadata: {{labels: {{app: {name}}}}}, spec: {{containers: [{{name: c, image: '{image}'}}]}}}}}}\n---\n"
    )
}

/// Edits an object as `manager` would: `change` gets the live object.
fn edit(
    rig: &Rig,
    manager: &str,
    group: &str,
    plural: &str,
    name: &str,
    change: impl FnOnce(&mut serde_json::Value),
) {
    let mut live = rig.fake.get(group, plural, "app", name).unwrap();
    change(&mut live);
    rig.fake
        .put_as(manager, group, plural, "app", name, Some(live));
}

#[tokio::test]
async fn report_only_drift_is_reported_and_never_corrected() {
    let mut rig = Rig::new(true).await;
    let yaml = format!(
        "{NAMESPACE}{}{}",
        cm("fixed", "1"),
        cm("watched", "1").replace(
            "namespace: app}",
            "namespace: app, annotations: {cairn.dev/drift: report}}"
        )
    );
    rig.hub.publish(&yaml).await;
    assert_eq!(rig.pass(false).await.phase, Phase::Converged);
    for name in ["fixed", "watched"] {
        edit(&rig, "kubectl-edit", "", "configmaps", name, |o| {
            o["data"]["v"] = json!("by hand")
        });
    }
    let status = rig.pass(true).await;
    assert_eq!(status.counts.drifted, 2);
    let drifted: Vec<(String, bool)> = status
        .drifted
        .iter()
        .map(|d| (d.object.clone(), d.corrected))
        .collect();
    assert_eq!(
        drifted,
        [
            ("ConfigMap app/fixed".to_owned(), true),
            ("ConfigMap app/watched".to_owned(), false)
        ]
    );
    assert_eq!(
        rig.fake.get("", "configmaps", "app", "fixed").unwrap()["data"]["v"],
        "1"
    );
    assert_eq!(
        rig.fake.get("", "configmaps", "app", "watched").unwrap()["data"]["v"],
        "by hand"
    );

    // Still drifted at the next resync, known without asking again: lists only.
    rig.fake.clear_seen();
    let status = rig.pass(true).await;
    assert_eq!(status.counts.drifted, 1);
    assert_eq!(rig.fake.counts(), [("list".to_owned(), 2)].into());
    // Deleted by hand: reported, not recreated.
    rig.fake.put("", "configmaps", "app", "watched", None);
    let status = rig.pass(true).await;
    assert_eq!(status.drifted[0].object, "ConfigMap app/watched");
    assert!(rig.fake.get("", "configmaps", "app", "watched").is_none());
}

#[tokio::test]
async fn a_channel_can_report_drift_by_default() {
    let mut rig = Rig::new(true).await;
    rig.config.kube.drift = DriftPolicy {
        default: DriftMode::Correct,
        channels: [("prod".to_owned(), DriftMode::Report)].into(),
    };
    rig.restart();
    rig.hub
        .publish(&format!("{NAMESPACE}{}", cm("a", "1")))
        .await;
    rig.pass(false).await;
    edit(&rig, "kubectl-edit", "", "configmaps", "a", |o| {
        o["data"]["v"] = json!("by hand")
    });
    let status = rig.pass(true).await;
    assert_eq!(status.counts.drifted, 1);
    assert!(!status.drifted[0].corrected);
    assert_eq!(
        rig.fake.get("", "configmaps", "app", "a").unwrap()["data"]["v"],
        "by hand"
    );
}

#[tokio::test]
async fn ignored_fields_stay_with_the_manager_that_owns_them() {
    let mut rig = Rig::new(true).await;
    let ignore = "cairn.dev/ignore-fields: /spec/replicas";
    rig.hub
        .publish(&format!(
            "{NAMESPACE}{}",
            deployment("web", ignore, 2, "web:1")
        ))
        .await;
    assert_eq!(rig.pass(false).await.phase, Phase::Converged);
    // An autoscaler scales it: neither drift nor corrected, and its field stays its own.
    edit(
        &rig,
        "horizontal-pod-autoscaler",
        "apps",
        "deployments",
        "web",
        |o| o["spec"]["replicas"] = json!(5),
    );
    let status = rig.pass(true).await;
    assert_eq!(status.counts.drifted, 0, "{status:#?}");
    let live = rig.fake.get("apps", "deployments", "app", "web").unwrap();
    assert_eq!(live["spec"]["replicas"], 5);
    let owners = |live: &serde_json::Value| -> BTreeSet<String> {
        live["metadata"]["managedFields"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["fieldsV1"]["f:spec"].get("f:replicas").is_some())
            .map(|e| e["manager"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        owners(&live),
        BTreeSet::from(["horizontal-pod-autoscaler".to_owned()])
    );
    // A new generation changes the image, not the replicas.
    rig.hub
        .publish(&format!(
            "{NAMESPACE}{}",
            deployment("web", ignore, 2, "web:2")
        ))
        .await;
    rig.pass(false).await;
    let live = rig.fake.get("apps", "deployments", "app", "web").unwrap();
    assert_eq!(
        live["spec"]["template"]["spec"]["containers"][0]["image"],
        "web:2"
    );
    assert_eq!(live["spec"]["replicas"], 5);
    // A field that is not ignored is still corrected.
    edit(&rig, "kubectl-edit", "apps", "deployments", "web", |o| {
        o["spec"]["template"]["spec"]["containers"][0]["image"] = json!("evil:1")
    });
    let status = rig.pass(true).await;
    assert_eq!(status.counts.drifted, 1);
    let live = rig.fake.get("apps", "deployments", "app", "web").unwrap();
    assert_eq!(
        live["spec"]["template"]["spec"]["containers"][0]["image"],
        "web:2"
    );
    assert_eq!(live["spec"]["replicas"], 5);
}

#[tokio::test]
async fn ignoring_a_field_cairn_alone_owns_keeps_its_value() {
    let mut rig = Rig::new(true).await;
    rig.hub
        .publish(&format!("{NAMESPACE}{}", deployment("web", "", 3, "web:1")))
        .await;
    rig.pass(false).await;
    // The annotation arrives while cairn still owns the field: dropping the field from the
    // apply would make the API server remove it; it keeps its live value instead.
    rig.hub
        .publish(&format!(
            "{NAMESPACE}{}",
            deployment("web", "cairn.dev/ignore-fields: /spec/replicas", 1, "web:1")
        ))
        .await;
    assert_eq!(rig.pass(false).await.phase, Phase::Converged);
    assert_eq!(
        rig.fake.get("apps", "deployments", "app", "web").unwrap()["spec"]["replicas"],
        3
    );
}

#[tokio::test]
async fn a_malformed_policy_annotation_fails_its_object_with_a_clear_message() {
    let mut rig = Rig::new(true).await;
    let bad = cm("a", "1").replace(
        "namespace: app}",
        "namespace: app, annotations: {cairn.dev/ignore-fields: 'spec/replicas'}}",
    );
    rig.hub.publish(&format!("{NAMESPACE}{bad}")).await;
    let status = rig.pass(false).await;
    assert_eq!(status.phase, Phase::Failed);
    let reason = status.reason.unwrap();
    assert!(
        reason.contains("annotation cairn.dev/ignore-fields")
            && reason.contains("must start with '/'"),
        "{reason}"
    );
}

/// The channel's objects as `kubectl apply --prune --applyset` finds them from the parent: each
/// group-kind it records, in the parent's namespace and the additional ones (or cluster-wide),
/// selected by `applyset.kubernetes.io/part-of`.
async fn kubectl_members(rig: &Rig) -> BTreeSet<(String, String, String)> {
    let parent = rig
        .fake
        .get("", "configmaps", "cairn-system", "cairn-state-prod")
        .unwrap();
    let id = parent["metadata"]["labels"]["applyset.kubernetes.io/id"]
        .as_str()
        .unwrap()
        .to_owned();
    let annotations = &parent["metadata"]["annotations"];
    let text = |k: &str| annotations[k].as_str().unwrap_or_default().to_owned();
    let mut namespaces = vec!["cairn-system".to_owned()];
    namespaces.extend(
        text("applyset.kubernetes.io/additional-namespaces")
            .split(',')
            .filter(|n| !n.is_empty())
            .map(str::to_owned),
    );
    let client = rig.fake.client();
    let discovery = Discovery::new(client.clone())
        .run_aggregated()
        .await
        .unwrap();
    let mut members = BTreeSet::new();
    for gk in text("applyset.kubernetes.io/contains-group-kinds").split(',') {
        let (kind, group) = gk.split_once('.').unwrap_or((gk, ""));
        let (resource, caps) = discovery
            .get(group)
            .and_then(|g| g.recommended_kind(kind))
            .unwrap_or_else(|| panic!("{gk} is served"));
        let apis: Vec<Api<DynamicObject>> = if caps.scope == Scope::Namespaced {
            namespaces
                .iter()
                .map(|ns| Api::namespaced_with(client.clone(), ns, &resource))
                .collect()
        } else {
            vec![Api::all_with(client.clone(), &resource)]
        };
        for api in apis {
            let listed = api
                .list(
                    &ListParams::default().labels(&format!("applyset.kubernetes.io/part-of={id}")),
                )
                .await
                .unwrap();
            for item in listed.items {
                members.insert((
                    gk.to_owned(),
                    item.metadata.namespace.unwrap_or_default(),
                    item.metadata.name.unwrap_or_default(),
                ));
            }
        }
    }
    members
}

fn snapshot_members(yaml: &str) -> BTreeSet<(String, String, String)> {
    cairn_state_format::parse_documents("s.yaml", yaml)
        .unwrap()
        .into_iter()
        .map(|r| {
            let gk = if r.id.group.is_empty() {
                r.id.kind.clone()
            } else {
                format!("{}.{}", r.id.kind, r.id.group)
            };
            (gk, r.id.namespace, r.id.name)
        })
        .collect()
}

#[tokio::test]
async fn kubectl_finds_exactly_what_the_channel_owns_from_the_applyset_parent() {
    let mut rig = Rig::new(true).await;
    let other = "apiVersion: v1\nkind: Namespace\nmetadata: {name: other}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: x, namespace: other}\n---\n";
    let first = format!("{}{other}", objects(2, 0, ""));
    rig.hub.publish(&first).await;
    assert_eq!(rig.pass(false).await.phase, Phase::Converged);
    assert_eq!(kubectl_members(&rig).await, snapshot_members(&first));
    // Objects and a whole namespace dropped: pruned, and the parent no longer names them.
    let second = objects(1, 0, "");
    rig.hub.publish(&second).await;
    assert_eq!(rig.pass(false).await.phase, Phase::Converged);
    assert_eq!(kubectl_members(&rig).await, snapshot_members(&second));
    let parent = rig
        .fake
        .get("", "configmaps", "cairn-system", "cairn-state-prod")
        .unwrap();
    assert_eq!(
        parent["metadata"]["annotations"]["applyset.kubernetes.io/additional-namespaces"],
        "app"
    );
    assert_eq!(
        parent["metadata"]["annotations"]["applyset.kubernetes.io/tooling"],
        concat!("cairn/v", env!("CARGO_PKG_VERSION"))
    );
}
