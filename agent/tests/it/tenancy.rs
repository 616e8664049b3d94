//! Tenancy at the agent, with the directory target: a head whose content reaches beyond its
//! channel's scope is refused whoever signed it (scopes from a trust root's delegation, or from
//! `--scopes` in the simple mode), nothing of it is written, the status names each offender and
//! its rule, the metric counts it, and the refused head is not fetched again until it changes.
//! The Kubernetes escapes are `kube_escapes.rs`.

use cairn_agent::{Agent, Outcome, TrustSpec};
use cairn_state_format::{
    ChannelPattern, Delegation, KeyEntry, Phase, Scope, SecretKey, SignedRoot, StatusRecord,
    TRUST_ROOT_FORMAT, TrustRoot, TrustedRoot, layout,
};
use cairn_store::Store;
use chrono::{Duration, Utc};

use crate::support::*;

const CHANNEL: &str = "team-a-web";

/// Team A's scope: its channel's namespace, no RBAC, nothing cluster-scoped.
pub fn team_scope() -> Scope {
    serde_json::from_str(
        r#"{"cluster_scoped": false, "deny_kinds": ["*.rbac.authorization.k8s.io"],
            "kinds": ["*.*"], "namespaces": ["$channel"]}"#,
    )
    .unwrap()
}

fn team_patterns() -> Vec<ChannelPattern> {
    vec!["team-a-*".parse().unwrap()]
}

fn in_ns(kind_doc: &str, ns: &str) -> String {
    kind_doc.replace("NS", ns)
}

const LEGIT: &str =
    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: NS}\ndata: {v: 'VALUE'}\n";

fn legit(value: &str) -> String {
    in_ns(LEGIT, CHANNEL).replace("VALUE", value)
}

fn agent(store: &Store, trust: TrustSpec, dirs: &Dirs) -> Agent {
    let mut config = config(opened(store), &[CHANNEL], dirs);
    config.trust = trust;
    Agent::new(config).unwrap()
}

fn applied_value(dirs: &Dirs) -> Option<String> {
    read(&dirs.out.join(CHANNEL).join("ConfigMap/a.yaml"))
}

/// The status errors that name an object: the scope refusals.
fn refusals(status: &StatusRecord) -> Vec<(String, String)> {
    status
        .errors
        .iter()
        .filter(|e| e.class == "verify" && e.object.is_some())
        .map(|e| (e.object.clone().unwrap(), e.message.clone()))
        .collect()
}

#[tokio::test]
async fn scopes_from_the_agents_configuration_refuse_a_head_beyond_them() {
    let (store, counting) = counting_memory();
    let mut hub = Publisher::new(&store, CHANNEL);
    hub.publish(&legit("1")).await;
    let dirs = dirs();
    let trust = TrustSpec::ScopedKeys {
        keys: vec![hub.key.public()],
        scopes: vec![(team_patterns(), team_scope())],
    };
    let agent = agent(&store, trust, &dirs);
    let report = agent.run_pass(false).await;
    assert_eq!(report.outcome, Outcome::Converged, "{report:?}");
    assert!(applied_value(&dirs).unwrap().contains("'1'"));

    // Generation 2 changes a, and writes into team B's namespace and outside any namespace.
    let escapes = format!(
        "{}---\n{}---\n{}",
        legit("2"),
        in_ns(LEGIT, "team-b").replace("VALUE", "x"),
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: grab}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cairn-agent}\nsubjects: [{kind: ServiceAccount, name: a, namespace: team-a-web}]\n",
    );
    hub.publish(&escapes).await;
    let report = agent.run_pass(false).await;
    let status = &report.channels[0];
    assert_eq!(status.phase, Phase::Frozen, "{report:?}");
    assert_eq!(status.applied.as_ref().unwrap().generation, 1);
    assert!(
        applied_value(&dirs).unwrap().contains("'1'"),
        "nothing of generation 2 is written"
    );
    assert!(!dirs.out.join("team-b").exists());
    let found = refusals(status);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found.iter().any(|(object, message)| object
        == "ClusterRoleBinding.rbac.authorization.k8s.io grab"
        && message.starts_with(
            "generation 2: kind ClusterRoleBinding.rbac.authorization.k8s.io is denied"
        )));
    assert!(found.iter().any(|(object, message)| object == "ConfigMap team-b/a"
        && message == "generation 2: namespace team-b is outside the scope's namespaces (team-a-web)"));
    let reason = status.reason.as_deref().unwrap();
    assert!(
        reason.contains("2 objects outside the channel's scope"),
        "{reason}"
    );
    assert_eq!(agent.metrics().scope_refusals(CHANNEL), 1);
    assert_eq!(
        agent.metrics().last_error(CHANNEL).as_deref(),
        Some("verify")
    );

    // Not retried in a loop: the unchanged head costs one conditional GET, and is not refused
    // (nor counted) again.
    let before = counting.counts();
    let report = agent.run_pass(false).await;
    assert_eq!(report.channels[0].phase, Phase::Frozen);
    assert_eq!(since(before, counting.counts()).gets, 1);
    assert_eq!(agent.metrics().scope_refusals(CHANNEL), 1);

    // The team fixes its content: it lands whole.
    hub.publish(&legit("3")).await;
    let report = agent.run_pass(false).await;
    assert_eq!(report.outcome, Outcome::Converged, "{report:?}");
    assert!(applied_value(&dirs).unwrap().contains("'3'"));
}

#[tokio::test]
async fn a_channel_no_scopes_entry_names_is_refused_as_not_delegated() {
    let (store, _) = counting_memory();
    let mut hub = Publisher::new(&store, "platform");
    hub.publish(&cm("a", "1")).await;
    let dirs = dirs();
    let mut config = config(opened(&store), &["platform"], &dirs);
    config.trust = TrustSpec::ScopedKeys {
        keys: vec![hub.key.public()],
        scopes: vec![(team_patterns(), team_scope())],
    };
    let report = Agent::new(config).unwrap().run_pass(false).await;
    let status = &report.channels[0];
    assert_eq!(status.phase, Phase::Frozen, "{report:?}");
    assert!(
        status
            .reason
            .as_deref()
            .unwrap()
            .contains("delegates channel \"platform\" to no key")
    );
}

/// Version 1 of a trust root delegating `team-a-*` to `signer` with `scope`, written to `store`.
async fn scoped_root(
    store: &Store,
    signer: &SecretKey,
    scope: Option<Scope>,
) -> (SecretKey, SignedRoot) {
    let admin = SecretKey::from_seed([0xad; 32]);
    let now = Utc::now();
    let mut root = TrustRoot::first(&[(admin.public(), None)], 1, now, now + Duration::days(1));
    let public = signer.public();
    root.keys.insert(
        public.id(),
        KeyEntry {
            public,
            label: None,
        },
    );
    root.delegations = vec![Delegation {
        name: "team-a".into(),
        channels: team_patterns(),
        keys: vec![public.id()],
        threshold: 1,
        scope,
    }];
    root.format = root.required_format();
    let signed = SignedRoot::sign(&root, &[&admin]);
    store
        .put(&layout::root_key(1), signed.encode())
        .await
        .unwrap();
    (admin, signed)
}

#[tokio::test]
async fn a_delegations_scope_refuses_a_head_its_key_wrote_straight_into_the_bucket() {
    let (store, _) = counting_memory();
    let mut hub = Publisher::new(&store, CHANNEL);
    let (_, first) = scoped_root(&store, &hub.key, Some(team_scope())).await;
    assert_eq!(first.root.format, u64::from(TRUST_ROOT_FORMAT));
    let anchor = TrustedRoot::anchor(&first.encode(), Some(&first.digest())).unwrap();
    // The delegated key signs a head the hub never checked: a webhook on every Pod CREATE.
    let webhook = "apiVersion: admissionregistration.k8s.io/v1\nkind: MutatingWebhookConfiguration\nmetadata: {name: every-pod}\nwebhooks: []\n";
    hub.publish(&format!("{}---\n{webhook}", legit("1"))).await;
    let dirs = dirs();
    let agent = agent(&store, TrustSpec::Root(anchor), &dirs);
    let report = agent.run_pass(false).await;
    let status = &report.channels[0];
    assert_eq!(status.phase, Phase::Frozen, "{report:?}");
    assert!(status.applied.is_none());
    assert!(applied_value(&dirs).is_none(), "nothing applied");
    assert_eq!(
        refusals(status),
        vec![(
            "MutatingWebhookConfiguration.admissionregistration.k8s.io every-pod".to_owned(),
            "generation 1: cluster-scoped objects are not allowed by the scope (cluster_scoped: false)".to_owned()
        )]
    );
    assert_eq!(agent.metrics().scope_refusals(CHANNEL), 1);
    hub.publish(&legit("2")).await;
    let report = agent.run_pass(false).await;
    assert_eq!(report.outcome, Outcome::Converged, "{report:?}");
    assert!(applied_value(&dirs).unwrap().contains("'2'"));
}

#[tokio::test]
async fn a_root_version_of_a_newer_format_freezes_new_heads_rather_than_being_ignored() {
    let (store, _) = counting_memory();
    let mut hub = Publisher::new(&store, CHANNEL);
    let (admin, first) = scoped_root(&store, &hub.key, None).await;
    assert_eq!(first.root.format, 1, "no scope: old agents keep reading it");
    let anchor = TrustedRoot::anchor(&first.encode(), Some(&first.digest())).unwrap();
    hub.publish(&legit("1")).await;
    let dirs = dirs();
    let agent = agent(&store, TrustSpec::Root(anchor), &dirs);
    assert_eq!(agent.run_pass(false).await.outcome, Outcome::Converged);

    // Version 2 carries rules this agent cannot know (a format after its own): a new head is
    // not applied under the old rules.
    let now = Utc::now();
    let mut next = first
        .root
        .successor(first.digest(), now, now + Duration::days(1));
    next.format = u64::from(TRUST_ROOT_FORMAT) + 1;
    let signed = SignedRoot::sign(&next, &[&admin]);
    store
        .put(&layout::root_key(2), signed.encode())
        .await
        .unwrap();
    hub.publish(&legit("2")).await;
    let report = agent.run_pass(false).await;
    let status = &report.channels[0];
    assert_eq!(status.phase, Phase::Frozen, "{report:?}");
    let reason = status.reason.as_deref().unwrap();
    assert!(
        reason.contains("trust root version 2 is in the store but was refused"),
        "{reason}"
    );
    assert!(applied_value(&dirs).unwrap().contains("'1'"));
}
