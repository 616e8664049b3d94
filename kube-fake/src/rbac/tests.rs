//! The fake's RBAC through a real kube client, as the agent meets it.

use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
    SelfSubjectRulesReview, SelfSubjectRulesReviewSpec,
};
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::api::rbac::v1::{ClusterRole, Role, RoleBinding};
use kube::api::{Api, PostParams};
use serde_json::{Value, json};

use super::rule::Rule;
use crate::{FakeApi, Grant};

const TEAM_A: &str = "system:serviceaccount:team-a:deployer";

fn rbac(kind: &str, namespace: &str, name: &str, rest: Value) -> Value {
    let mut object = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind,
                            "metadata": {"name": name}});
    if !namespace.is_empty() {
        object["metadata"]["namespace"] = json!(namespace);
    }
    for (k, v) in rest.as_object().into_iter().flatten() {
        object[k] = v.clone();
    }
    object
}

/// A fake with namespaces `team-a`/`team-b` and team A's deployer bound to `rules` in `team-a`.
async fn team_a(rules: Value) -> FakeApi {
    let fake = FakeApi::start().await;
    for ns in ["team-a", "team-b"] {
        let object = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}});
        fake.put("", "namespaces", "", ns, Some(object));
    }
    let role = rbac("Role", "team-a", "deployer", json!({"rules": rules}));
    fake.put(
        "rbac.authorization.k8s.io",
        "roles",
        "team-a",
        "deployer",
        Some(role),
    );
    let binding = rbac(
        "RoleBinding",
        "team-a",
        "deployer",
        json!({"roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "deployer"},
               "subjects": [{"kind": "ServiceAccount", "name": "deployer"}]}),
    );
    fake.put(
        "rbac.authorization.k8s.io",
        "rolebindings",
        "team-a",
        "deployer",
        Some(binding),
    );
    fake
}

fn as_user(fake: &FakeApi, user: &str) -> kube::Client {
    let mut config = fake.config();
    config.auth_info.impersonate = Some(user.to_owned());
    kube::Client::try_from(config).expect("a client for a plain HTTP URL")
}

fn config_map(name: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}, "data": {"k": "v"}}))
        .expect("a ConfigMap")
}

fn forbidden(result: Result<impl std::fmt::Debug, kube::Error>) -> String {
    match result {
        Err(kube::Error::Api(status)) if status.code == 403 => status.message,
        other => panic!("expected a 403, got {other:?}"),
    }
}

#[tokio::test]
async fn an_impersonated_account_writes_only_where_its_bindings_allow() {
    let fake =
        team_a(json!([{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["*"]}])).await;
    let client = as_user(&fake, TEAM_A);
    let pp = PostParams::default();
    Api::<ConfigMap>::namespaced(client.clone(), "team-a")
        .create(&pp, &config_map("web"))
        .await
        .expect("team A's account may write in team-a");
    let refused = Api::<ConfigMap>::namespaced(client, "team-b")
        .create(&pp, &config_map("web"))
        .await;
    assert_eq!(
        forbidden(refused),
        format!(
            "configmaps is forbidden: User \"{TEAM_A}\" cannot create resource \"configmaps\" in API group \"\" in the namespace \"team-b\""
        )
    );
    assert!(fake.get("", "configmaps", "team-b", "web").is_none());
    let seen = fake.seen();
    assert!(
        seen.iter()
            .rev()
            .take(2)
            .all(|s| s.impersonated.as_deref() == Some(TEAM_A))
    );
}

#[tokio::test]
async fn impersonation_needs_the_right_to_impersonate_that_account() {
    let fake =
        team_a(json!([{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["*"]}])).await;
    fake.authorize(Some(vec![
        Grant::namespaced(&["team-a"], &[""], &["serviceaccounts"], &["impersonate"])
            .named(&["other"]),
    ]));
    let refused = Api::<ConfigMap>::namespaced(as_user(&fake, TEAM_A), "team-a")
        .get("web")
        .await;
    assert_eq!(
        forbidden(refused),
        format!(
            "serviceaccounts \"deployer\" is forbidden: User \"{}\" cannot impersonate resource \"serviceaccounts\" in API group \"\" in the namespace \"team-a\"",
            super::CALLER
        )
    );
    fake.authorize(Some(vec![
        Grant::namespaced(&["team-a"], &[""], &["serviceaccounts"], &["impersonate"])
            .named(&["deployer"]),
    ]));
    Api::<ConfigMap>::namespaced(as_user(&fake, TEAM_A), "team-a")
        .create(&PostParams::default(), &config_map("web"))
        .await
        .expect("the caller may impersonate the deployer, who may write config maps");
}

#[tokio::test]
async fn a_role_granting_more_than_its_writer_holds_is_refused() {
    let fake = team_a(json!([
        {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "create"]},
        {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["roles"], "verbs": ["create"]},
    ]))
    .await;
    let roles = Api::<Role>::namespaced(as_user(&fake, TEAM_A), "team-a");
    let role = |verbs: Value| -> Role {
        serde_json::from_value(json!({"metadata": {"name": "reader"},
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": verbs}]}))
        .expect("a Role")
    };
    let refused = roles
        .create(&PostParams::default(), &role(json!(["get", "delete"])))
        .await;
    assert_eq!(
        forbidden(refused),
        format!(
            "roles.rbac.authorization.k8s.io \"reader\" is forbidden: user \"{TEAM_A}\" (groups=[\"system:serviceaccounts\" \"system:serviceaccounts:team-a\" \"system:authenticated\"]) is attempting to grant RBAC permissions not currently held:\n{{APIGroups:[\"\"], Resources:[\"configmaps\"], Verbs:[\"delete\"]}}"
        )
    );
    roles
        .create(&PostParams::default(), &role(json!(["get"])))
        .await
        .expect("a Role within its writer's rights");
}

#[tokio::test]
async fn a_binding_to_a_role_its_writer_does_not_hold_needs_bind() {
    let fake = team_a(json!([
        {"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["rolebindings"], "verbs": ["create"]},
    ]))
    .await;
    let admin = rbac(
        "ClusterRole",
        "",
        "admin",
        json!({"rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]}),
    );
    fake.put(
        "rbac.authorization.k8s.io",
        "clusterroles",
        "",
        "admin",
        Some(admin),
    );
    let binding: RoleBinding = serde_json::from_value(json!({"metadata": {"name": "escape"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "admin"},
        "subjects": [{"kind": "ServiceAccount", "name": "deployer", "namespace": "team-a"}]}))
    .expect("a RoleBinding");
    let bindings = Api::<RoleBinding>::namespaced(as_user(&fake, TEAM_A), "team-a");
    let refused = forbidden(bindings.create(&PostParams::default(), &binding).await);
    assert!(
        refused.starts_with("rolebindings.rbac.authorization.k8s.io \"escape\" is forbidden"),
        "{refused}"
    );
    assert!(
        refused.contains("{APIGroups:[\"*\"], Resources:[\"*\"], Verbs:[\"*\"]}"),
        "{refused}"
    );

    let may_bind = rbac(
        "ClusterRole",
        "",
        "bind-admin",
        json!({"rules": [{"apiGroups": ["rbac.authorization.k8s.io"], "resources": ["clusterroles"],
                          "verbs": ["bind"], "resourceNames": ["admin"]}]}),
    );
    fake.put(
        "rbac.authorization.k8s.io",
        "clusterroles",
        "",
        "bind-admin",
        Some(may_bind),
    );
    let grant = rbac(
        "RoleBinding",
        "team-a",
        "bind-admin",
        json!({"roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "bind-admin"},
               "subjects": [{"kind": "User", "name": TEAM_A}]}),
    );
    fake.put(
        "rbac.authorization.k8s.io",
        "rolebindings",
        "team-a",
        "bind-admin",
        Some(grant),
    );
    bindings
        .create(&PostParams::default(), &binding)
        .await
        .expect("bind on the ClusterRole lets its holder bind it");
}

#[tokio::test]
async fn a_cluster_role_needs_cluster_wide_rights() {
    let fake = team_a(json!([{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}])).await;
    let role: ClusterRole = serde_json::from_value(json!({"metadata": {"name": "wide"},
        "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}]}))
    .expect("a ClusterRole");
    let refused = Api::<ClusterRole>::all(as_user(&fake, TEAM_A))
        .create(&PostParams::default(), &role)
        .await;
    assert!(forbidden(refused).contains("cannot create resource \"clusterroles\""));
}

#[tokio::test]
async fn reviews_answer_for_the_impersonated_account() {
    let fake = team_a(
        json!([{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "patch"]}]),
    )
    .await;
    let client = as_user(&fake, TEAM_A);
    let rules = Api::<SelfSubjectRulesReview>::all(client.clone())
        .create(
            &PostParams::default(),
            &SelfSubjectRulesReview {
                spec: SelfSubjectRulesReviewSpec {
                    namespace: Some("team-a".into()),
                },
                ..Default::default()
            },
        )
        .await
        .expect("a rules review");
    let status = rules.status.expect("a status");
    assert_eq!(status.resource_rules.len(), 1);
    assert_eq!(status.resource_rules[0].verbs, ["get", "patch"]);
    for (namespace, allowed) in [("team-a", true), ("team-b", false)] {
        let review = SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    group: Some("apps".into()),
                    resource: Some("deployments".into()),
                    verb: Some("patch".into()),
                    namespace: Some(namespace.into()),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        };
        let answer = Api::<SelfSubjectAccessReview>::all(client.clone())
            .create(&PostParams::default(), &review)
            .await
            .expect("an access review");
        assert_eq!(
            answer.status.expect("a status").allowed,
            allowed,
            "{namespace}"
        );
    }
}

#[test]
fn a_rule_covers_only_what_it_grants() {
    let owner = [
        Rule::from_json(&json!({"apiGroups": [""], "resources": ["configmaps"],
        "verbs": ["get"], "resourceNames": ["a"]})),
        Rule::from_json(&json!({
        "nonResourceURLs": ["/healthz/*"], "verbs": ["get"]})),
    ];
    let asked = |rule: Value| Rule::from_json(&rule).uncovered_by(&owner).len();
    assert_eq!(
        asked(
            json!({"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"], "resourceNames": ["a"]})
        ),
        0
    );
    assert_eq!(
        asked(json!({"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]})),
        1
    );
    assert_eq!(
        asked(
            json!({"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"], "resourceNames": ["a", "b"]})
        ),
        3
    );
    assert_eq!(
        asked(json!({"nonResourceURLs": ["/healthz/ready"], "verbs": ["get"]})),
        0
    );
    assert_eq!(
        asked(json!({"nonResourceURLs": ["/metrics"], "verbs": ["get"]})),
        1
    );
    assert_eq!(
        asked(
            json!({"apiGroups": ["*"], "resources": ["configmaps"], "verbs": ["get"], "resourceNames": ["a"]})
        ),
        1
    );
}
