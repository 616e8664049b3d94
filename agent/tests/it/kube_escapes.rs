//! The escapes of issue 23, written once against any API server reachable through a kubeconfig:
//! the in-process fake (always, `kube_target.rs`) and a real cluster (`kube_cluster.rs`, when
//! `CAIRN_TEST_KUBECONFIG` names one). A team channel whose scope is its own namespace, without
//! RBAC or cluster-scoped kinds, publishes (with its own key, straight into the bucket) heads that
//! also hold a ConfigMap in another team's namespace, a ClusterRoleBinding to the agent's role,
//! a webhook on every Pod, a privileged DaemonSet in kube-system, and a ConfigMap naming no
//! namespace (it would land in `default`): each is refused before anything of it is written.
//! An object the channel applied under a wider scope is not pruned under the narrower one, and
//! the legitimate content lands whole.

use std::path::Path;

use cairn_agent::targets::kube::KubeOptions;
use cairn_agent::{Agent, Config, Outcome, TargetSpec, TrustSpec};
use cairn_state_format::{ChannelPattern, Phase, Scope};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, DeleteParams, PostParams};

use crate::support::*;

fn team_scope() -> Scope {
    serde_json::from_str(
        r#"{"cluster_scoped": false, "deny_kinds": ["*.rbac.authorization.k8s.io"],
            "kinds": ["*.*"], "namespaces": ["$channel"]}"#,
    )
    .unwrap()
}

fn configmap(name: &str, namespace: Option<&str>, value: &str) -> String {
    let namespace = namespace.map_or(String::new(), |ns| format!(", namespace: {ns}"));
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}{namespace}}}\ndata: {{v: '{value}'}}\n"
    )
}

/// Each escape: a name for messages, the document, the object as the refusal names it, and a
/// piece of the rule it breaks.
fn escapes(team_b: &str, suffix: &str) -> Vec<(&'static str, String, String, &'static str)> {
    vec![
        (
            "a ConfigMap in team B's namespace",
            configmap("theirs", Some(team_b), "x"),
            format!("ConfigMap {team_b}/theirs"),
            "is outside the scope's namespaces",
        ),
        (
            "a ClusterRoleBinding to the agent's own role",
            format!(
                "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {{name: grab-{suffix}}}\nroleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cairn-agent}}\nsubjects: [{{kind: ServiceAccount, name: default, namespace: {team_b}}}]\n"
            ),
            format!("ClusterRoleBinding.rbac.authorization.k8s.io grab-{suffix}"),
            "is denied by the scope's deny_kinds",
        ),
        (
            "a webhook on every Pod CREATE",
            format!(
                "apiVersion: admissionregistration.k8s.io/v1\nkind: MutatingWebhookConfiguration\nmetadata: {{name: every-pod-{suffix}}}\nwebhooks: []\n"
            ),
            format!("MutatingWebhookConfiguration.admissionregistration.k8s.io every-pod-{suffix}"),
            "cluster-scoped objects are not allowed",
        ),
        (
            "a privileged hostPID DaemonSet in kube-system",
            format!(
                "apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {{name: root-{suffix}, namespace: kube-system}}\nspec:\n  selector: {{matchLabels: {{app: root}}}}\n  template:\n    metadata: {{labels: {{app: root}}}}\n    spec:\n      hostPID: true\n      containers:\n      - name: c\n        image: registry.k8s.io/pause:3.10\n        securityContext: {{privileged: true}}\n"
            ),
            format!("DaemonSet.apps kube-system/root-{suffix}"),
            "namespace kube-system is outside",
        ),
        (
            "a ConfigMap naming no namespace (it lands in default)",
            configmap(&format!("nowhere-{suffix}"), None, "x"),
            format!("ConfigMap default/nowhere-{suffix}"),
            "namespace default is outside",
        ),
    ]
}

async fn create_namespace(client: &kube::Client, name: &str) {
    let ns: Namespace =
        serde_json::from_value(serde_json::json!({"metadata": {"name": name}})).unwrap();
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
}

async fn live(client: &kube::Client, ns: &str, name: &str) -> Option<ConfigMap> {
    Api::<ConfigMap>::namespaced(client.clone(), ns)
        .get_opt(name)
        .await
        .unwrap()
}

/// The whole scenario. `suffix` keeps runs apart on a shared cluster.
pub async fn run(kubeconfig: &Path, client: kube::Client, suffix: &str) {
    let (channel, team_b, agent_ns) = (
        format!("team-a-{suffix}"),
        format!("team-b-{suffix}"),
        format!("cairn-escapes-{suffix}"),
    );
    for ns in [&channel, &team_b, &agent_ns] {
        create_namespace(&client, ns).await;
    }
    let (store, _) = counting_memory();
    let mut hub = Publisher::new(&store, &channel);
    let dirs = dirs();
    let mut config: Config = config(opened(&store), &[&channel], &dirs);
    config.target = TargetSpec::Kube;
    config.kube = KubeOptions {
        kubeconfig: Some(kubeconfig.to_owned()),
        namespace: agent_ns.clone(),
        ..KubeOptions::default()
    };
    let unrestricted = config.clone();
    let patterns: Vec<ChannelPattern> = vec!["team-a-*".parse().unwrap()];
    config.trust = TrustSpec::ScopedKeys {
        keys: vec![hub.key.public()],
        scopes: vec![(patterns, team_scope())],
    };

    // 1. Before the scope: an agent trusting the key for anything applies a ConfigMap in team
    //    B's namespace for the channel.
    let own = configmap("a", Some(&channel), "1");
    hub.publish(&format!(
        "{own}---\n{}",
        configmap("old", Some(&team_b), "1")
    ))
    .await;
    let report = Agent::new(unrestricted).unwrap().run_pass(false).await;
    assert_eq!(report.outcome, Outcome::Converged, "{report:#?}");
    assert!(live(&client, &team_b, "old").await.is_some());

    // 2. Under the scope, the next generation drops it: the channel does not prune what lies
    //    outside its scope now, and says so; what is inside lands.
    let agent = Agent::new(config).unwrap();
    hub.publish(&configmap("a", Some(&channel), "2")).await;
    let report = agent.run_pass(false).await;
    assert_eq!(report.outcome, Outcome::Converged, "{report:#?}");
    assert!(
        live(&client, &team_b, "old").await.is_some(),
        "not pruned: outside the scope"
    );
    let a = live(&client, &channel, "a").await.unwrap();
    assert_eq!(a.data.unwrap()["v"], "2");
    let status = &report.channels[0];
    assert!(
        status.errors.iter().any(|e| e
            .message
            .contains("outside the channel's scope were neither removed nor written again")
            && e.message.contains(&format!("ConfigMap {team_b}/old"))),
        "{status:#?}"
    );

    // 3. Each escape, with a change to the legitimate ConfigMap beside it: refused whole.
    let mut refusals = 0;
    for (what, doc, object, rule) in escapes(&team_b, suffix) {
        let head = hub
            .publish(&format!(
                "{}---\n{doc}",
                configmap("a", Some(&channel), "escape")
            ))
            .await;
        let report = agent.run_pass(false).await;
        let status = &report.channels[0];
        assert_eq!(status.phase, Phase::Frozen, "{what}: {status:#?}");
        refusals += 1;
        assert_eq!(agent.metrics().scope_refusals(&channel), refusals, "{what}");
        let error = status
            .errors
            .iter()
            .find(|e| e.class == "verify" && e.object.as_deref() == Some(&object))
            .unwrap_or_else(|| panic!("{what}: the status names {object}: {status:#?}"));
        let prefix = format!("generation {}: ", head.generation);
        assert!(
            error.message.starts_with(&prefix) && error.message.contains(rule),
            "{what}: {}",
            error.message
        );
        let a = live(&client, &channel, "a").await.unwrap();
        assert_eq!(
            a.data.unwrap()["v"],
            "2",
            "{what}: nothing of the generation applied"
        );
    }
    assert!(live(&client, &team_b, "theirs").await.is_none());
    assert!(
        live(&client, "default", &format!("nowhere-{suffix}"))
            .await
            .is_none()
    );

    // 4. The team's legitimate content lands whole.
    let fixed = format!(
        "{}---\n{}",
        configmap("a", Some(&channel), "3"),
        configmap("b", Some(&channel), "3")
    );
    hub.publish(&fixed).await;
    let report = agent.run_pass(false).await;
    assert_eq!(report.outcome, Outcome::Converged, "{report:#?}");
    assert_eq!(
        live(&client, &channel, "b").await.unwrap().data.unwrap()["v"],
        "3"
    );

    for ns in [&channel, &team_b, &agent_ns] {
        // Best effort on a real cluster; the fake forgets everything anyway.
        let _ = Api::<Namespace>::all(client.clone())
            .delete(ns, &DeleteParams::default())
            .await;
    }
}
