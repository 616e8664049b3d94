//! The Kubernetes target through kube's client against an in-process fake API server:
//! server-side apply, discovery of CRDs applied in the same snapshot, ownership and prune,
//! API errors (409, 404, 422, 429 with Retry-After, 500), drift, health, state in a ConfigMap,
//! and the whole agent scenario (leader election: `election.rs`, `replicas.rs`).

use bytes::Bytes;
use cairn_agent::targets::kube::{KubeOptions, KubeTarget};
use cairn_agent::targets::{PassScope, Target, Write};
use cairn_agent::{ConfigMapState, StateBackend};
use cairn_state_format::{EntrySet, ResourceId, parse_documents};
use serde_json::json;

use crate::kube_fake::{Connect, FakeApi};

fn writes(yaml: &str, generation: u64) -> Vec<Write> {
    parse_documents("t.yaml", yaml)
        .unwrap()
        .into_iter()
        .map(|r| Write {
            id: r.id,
            blob: r.digest,
            bytes: Bytes::from(r.canonical),
            generation,
        })
        .collect()
}

fn options() -> KubeOptions {
    KubeOptions {
        namespace: "cairn-system".into(),
        ..KubeOptions::default()
    }
}

const NS: &str = "apiVersion: v1\nkind: Namespace\nmetadata: {name: app}\n";
const CRD: &str = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: widgets.example.com}\nspec:\n  group: example.com\n  scope: Namespaced\n  names: {plural: widgets, singular: widget, kind: Widget}\n  versions: [{name: v1, served: true, storage: true}]\n";
const WIDGET: &str = "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w, namespace: app}\nspec: {size: 1}\n";

fn cm(name: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, namespace: app}}\ndata: {{k: '{value}'}}\n"
    )
}

async fn target() -> (FakeApi, KubeTarget) {
    let fake = FakeApi::start().await;
    let target = KubeTarget::new(fake.cluster(), options());
    (fake, target)
}

#[tokio::test]
async fn applies_with_server_side_apply_resolving_crds_of_the_same_snapshot() {
    let (fake, target) = target().await;
    let first = target
        .apply("prod", writes(&format!("{NS}---\n{CRD}"), 1))
        .await
        .unwrap();
    assert!(first.failed.is_empty(), "{first:?}");
    // The custom resource resolves although its kind was unknown before the CRD.
    let second = target
        .apply("prod", writes(&format!("{WIDGET}---\n{}", cm("a", "1")), 1))
        .await
        .unwrap();
    assert!(second.failed.is_empty(), "{second:?}");
    let widget = fake.get("example.com", "widgets", "app", "w").unwrap();
    assert_eq!(widget["metadata"]["labels"]["cairn.dev/channel"], "prod");
    let a = fake.get("", "configmaps", "app", "a").unwrap();
    assert_eq!(
        a["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "cairn"
    );
    assert_eq!(a["metadata"]["annotations"]["cairn.dev/generation"], "1");
    assert_eq!(
        a["metadata"]["labels"]["applyset.kubernetes.io/part-of"],
        target.applyset("prod")
    );
    let patches: Vec<_> = fake
        .seen()
        .into_iter()
        .filter(|s| s.method == "PATCH")
        .collect();
    assert_eq!(patches.len(), 4);
    for p in &patches {
        assert_eq!(p.content_type, "application/apply-patch+yaml");
        assert!(
            p.path.starts_with("/api/v1/") || p.path.starts_with("/apis/"),
            "{}",
            p.path
        );
        assert!(
            p.query.contains("fieldManager=cairn") && p.query.contains("force=true"),
            "{}",
            p.query
        );
    }
}

#[tokio::test]
async fn prune_deletes_only_what_the_channel_owns() {
    let (fake, target) = target().await;
    let first = writes(
        &format!("{NS}---\n{}---\n{}", cm("a", "1"), cm("b", "1")),
        1,
    );
    let scope = PassScope {
        writes: first.iter().map(|w| w.id.clone()).collect(),
        ..PassScope::default()
    };
    target.prepare("prod", &scope).await.unwrap();
    target.apply("prod", first).await.unwrap();
    // Someone replaces b with their own object; another channel's object is in the way of c.
    fake.put(
        "",
        "configmaps",
        "app",
        "b",
        Some(json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "b", "namespace": "app"}, "data": {"k": "theirs"}})),
    );
    let ids = |yaml: &str| {
        writes(yaml, 1)
            .into_iter()
            .map(|w| w.id)
            .collect::<Vec<ResourceId>>()
    };
    // A new pass (the agent prepares each one before its first write).
    let scope = PassScope {
        writes: ids(&format!("{}---\n{}", cm("b", "2"), cm("c", "2"))),
        deletes: ids(&format!("{}---\n{}", cm("a", "1"), cm("b", "1"))),
        definitions: Vec::new(),
    };
    target.prepare("prod", &scope).await.unwrap();
    let report = target
        .delete(
            "prod",
            ids(&format!("{}---\n{}", cm("a", "1"), cm("b", "1"))),
        )
        .await
        .unwrap();
    assert_eq!(report.done.len(), 2, "{report:?}");
    assert!(fake.get("", "configmaps", "app", "a").is_none(), "a pruned");
    assert_eq!(
        fake.get("", "configmaps", "app", "b").unwrap()["data"]["k"],
        "theirs"
    );

    // Applying over an object cairn does not own is refused; over another channel's too.
    let refused = target
        .apply("prod", writes(&cm("b", "2"), 2))
        .await
        .unwrap();
    assert!(
        refused.failed[0]
            .error
            .to_string()
            .contains("did not create it"),
        "{refused:?}"
    );
    target
        .apply("staging", writes(&cm("c", "1"), 1))
        .await
        .unwrap();
    let refused = target
        .apply("prod", writes(&cm("c", "2"), 2))
        .await
        .unwrap();
    assert!(
        refused.failed[0]
            .error
            .to_string()
            .contains("channel staging"),
        "{refused:?}"
    );
    // Deleting an object that is gone, or of a kind the server does not serve, is done.
    let gone = target
        .delete("prod", ids(&format!("{}---\n{WIDGET}", cm("zz", "1"))))
        .await
        .unwrap();
    assert_eq!(gone.done.len(), 2, "{gone:?}");
    // The inventory lists what the channel's labels mark (the Namespace), and keeps what the
    // previous snapshot names but the listing did not find (`old`, for the drift check to
    // judge); a was pruned, b and c are someone else's.
    let previous: EntrySet = parse_documents("p.yaml", &cm("old", "1"))
        .unwrap()
        .iter()
        .map(|r| (r.id.clone(), r.entry()))
        .collect();
    let inventory = target
        .inventory("prod", &EntrySet::new(), &previous, false)
        .await
        .unwrap();
    let names: Vec<&str> = inventory.owned.keys().map(|id| id.name.as_str()).collect();
    assert_eq!(names, ["old", "app"]);
}

#[tokio::test]
async fn api_errors_are_reported_per_object_and_throttling_is_retried() {
    let (fake, target) = target().await;
    target.apply("prod", writes(NS, 1)).await.unwrap();
    fake.fail("PATCH", "slow", 429, Some(1), 1);
    fake.fail("PATCH", "broken", 500, None, 1);
    let yaml = format!(
        "{}---\n{}---\n{}---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: x, namespace: nowhere}}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: Bad_Name, namespace: app}}\n",
        cm("slow", "1"),
        cm("broken", "1"),
        cm("fine", "1")
    );
    let report = target.apply("prod", writes(&yaml, 1)).await.unwrap();
    let mut done: Vec<&str> = report.done.iter().map(|id| id.name.as_str()).collect();
    done.sort();
    assert_eq!(
        done,
        ["fine", "slow"],
        "429 retried after Retry-After: {report:?}"
    );
    let message = |name: &str| {
        report
            .failed
            .iter()
            .find(|f| f.id.name == name)
            .unwrap()
            .error
            .to_string()
    };
    assert!(message("broken").contains("500"), "{}", message("broken"));
    assert!(message("x").contains("not found"), "{}", message("x"));
    assert!(
        message("Bad_Name").contains("invalid"),
        "{}",
        message("Bad_Name")
    );

    // With force off, a field owned by another manager is a conflict.
    let strict = KubeTarget::new(
        fake.cluster(),
        KubeOptions {
            force_conflicts: false,
            ..options()
        },
    );
    let mut edited = fake.get("", "configmaps", "app", "fine").unwrap();
    edited["data"]["k"] = json!("edited by hand");
    fake.put("", "configmaps", "app", "fine", Some(edited));
    let report = strict
        .apply("prod", writes(&cm("fine", "2"), 2))
        .await
        .unwrap();
    assert!(
        report.failed[0].error.to_string().contains("conflict"),
        "{report:?}"
    );
    let report = target
        .apply("prod", writes(&cm("fine", "2"), 2))
        .await
        .unwrap();
    assert!(
        report.failed.is_empty(),
        "force takes the field over: {report:?}"
    );
}

#[tokio::test]
async fn drift_is_found_from_one_list_per_kind_and_an_idle_check_writes_nothing() {
    let (fake, target) = target().await;
    let all = writes(
        &format!("{NS}---\n{}---\n{}", cm("a", "1"), cm("b", "1")),
        1,
    );
    let scope = PassScope {
        writes: all.iter().map(|w| w.id.clone()).collect(),
        ..PassScope::default()
    };
    target.prepare("prod", &scope).await.unwrap();
    target.apply("prod", all.clone()).await.unwrap();
    let entries: EntrySet = parse_documents(
        "t.yaml",
        &format!("{NS}---\n{}---\n{}", cm("a", "1"), cm("b", "1")),
    )
    .unwrap()
    .iter()
    .map(|r| (r.id.clone(), r.entry()))
    .collect();
    fake.clear_seen();
    let inventory = target
        .inventory("prod", &entries, &entries, true)
        .await
        .unwrap();
    assert!(
        inventory.narrowed && inventory.suspects.is_empty(),
        "{inventory:?}"
    );
    // Checked at a later generation: the generation mark alone is not drift.
    let later: Vec<Write> = all
        .iter()
        .cloned()
        .map(|w| Write { generation: 5, ..w })
        .collect();
    let drifted = target
        .live_drift()
        .unwrap()
        .drifted("prod", later.clone())
        .await
        .unwrap();
    assert!(drifted.correct.is_empty() && drifted.report.is_empty());
    assert_eq!(
        fake.counts(),
        [("list".to_owned(), 2)].into(),
        "one list per kind, nothing else"
    );

    let mut a = fake.get("", "configmaps", "app", "a").unwrap();
    a["data"]["k"] = json!("edited by hand");
    fake.put("", "configmaps", "app", "a", Some(a));
    fake.put("", "configmaps", "app", "b", None);
    let inventory = target
        .inventory("prod", &entries, &entries, true)
        .await
        .unwrap();
    let suspects: Vec<&str> = inventory
        .suspects
        .iter()
        .map(|id| id.name.as_str())
        .collect();
    assert_eq!(suspects, ["a", "b"]);
    let drifted = target
        .live_drift()
        .unwrap()
        .drifted("prod", later)
        .await
        .unwrap();
    let names: Vec<&str> = drifted.correct.iter().map(|id| id.name.as_str()).collect();
    assert_eq!(names, ["a", "b"]);
}

#[tokio::test]
async fn health_follows_each_kind() {
    let (fake, target) = target().await;
    let yaml = format!(
        "{NS}---\n{}---\napiVersion: batch/v1\nkind: Job\nmetadata: {{name: j, namespace: app}}\nspec: {{}}\n",
        cm("a", "1")
    );
    let all = writes(&yaml, 1);
    target.apply("prod", all.clone()).await.unwrap();
    let mut ids: Vec<ResourceId> = all.iter().map(|w| w.id.clone()).collect();
    ids.push(writes(&cm("missing", "1"), 1).remove(0).id);
    let report = target
        .health()
        .unwrap()
        .assess("prod", ids.clone())
        .await
        .unwrap();
    assert_eq!(
        (report.healthy, report.progressing, report.degraded),
        (2, 1, 1),
        "{report:?}"
    );
    assert!(
        report
            .unhealthy
            .iter()
            .any(|u| u.contains("j: progressing")),
        "{report:?}"
    );
    let mut job = fake.get("batch", "jobs", "app", "j").unwrap();
    job["status"] = json!({"conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]});
    fake.put("batch", "jobs", "app", "j", Some(job));
    let report = target.health().unwrap().assess("prod", ids).await.unwrap();
    assert_eq!(report.degraded, 2, "{report:?}");
}

#[tokio::test]
async fn state_lives_in_a_configmap_that_is_the_applyset_parent() {
    let (fake, target) = target().await;
    target
        .apply(
            "prod",
            writes(
                "apiVersion: v1\nkind: Namespace\nmetadata: {name: cairn-system}\n",
                1,
            ),
        )
        .await
        .unwrap();
    let backend = ConfigMapState::new(fake.cluster(), "cairn-system", "cairn");
    assert_eq!(backend.read("prod").await.unwrap(), None);
    let entries: EntrySet = parse_documents("a.yaml", &cm("a", "1"))
        .unwrap()
        .iter()
        .map(|r| (r.id.clone(), r.entry()))
        .collect();
    let applied = cairn_agent::Applied::new(3, Bytes::from_static(b"{}"), None, entries);
    backend
        .write("prod", b"state bytes".to_vec(), &applied)
        .await
        .unwrap();
    assert_eq!(backend.read("prod").await.unwrap().unwrap(), b"state bytes");
    assert_eq!(backend.list().await.unwrap(), ["prod"]);
    let map = fake
        .get("", "configmaps", "cairn-system", "cairn-state-prod")
        .unwrap();
    assert_eq!(
        map["metadata"]["labels"]["applyset.kubernetes.io/id"],
        target.applyset("prod")
    );
    assert_eq!(
        map["metadata"]["annotations"]["applyset.kubernetes.io/contains-group-kinds"],
        "ConfigMap"
    );
    assert_eq!(
        map["metadata"]["annotations"]["applyset.kubernetes.io/additional-namespaces"],
        "app"
    );
    backend.delete("prod").await.unwrap();
    assert_eq!(backend.read("prod").await.unwrap(), None);

    // The trust root versions the agent accepted live beside, in a ConfigMap of their own that
    // is no channel's state.
    assert_eq!(backend.read_trust().await.unwrap(), None);
    backend.write_trust(b"chain".to_vec()).await.unwrap();
    backend.write_trust(b"longer chain".to_vec()).await.unwrap();
    assert_eq!(
        backend.read_trust().await.unwrap().unwrap(),
        b"longer chain"
    );
    assert!(backend.list().await.unwrap().is_empty());
}

#[tokio::test]
async fn the_agent_reconciles_a_cluster_end_to_end_against_the_fake() {
    let fake = FakeApi::start().await;
    let tmp = tempfile::tempdir().unwrap();
    let kubeconfig = fake.kubeconfig(tmp.path());
    crate::kube_scenario::run(&kubeconfig, fake.client(), "fake", true).await;
}

#[tokio::test]
async fn the_agent_reconciles_a_cluster_without_nodes_against_the_fake() {
    let fake = FakeApi::start().await;
    fake.stall_rollouts(true);
    let tmp = tempfile::tempdir().unwrap();
    let kubeconfig = fake.kubeconfig(tmp.path());
    crate::kube_scenario::run(&kubeconfig, fake.client(), "fake", false).await;
}

#[tokio::test]
async fn a_team_channel_cannot_escape_its_scope_on_the_fake() {
    let fake = FakeApi::start().await;
    let tmp = tempfile::tempdir().unwrap();
    let kubeconfig = fake.kubeconfig(tmp.path());
    crate::kube_escapes::run(&kubeconfig, fake.client(), "fake").await;
}
