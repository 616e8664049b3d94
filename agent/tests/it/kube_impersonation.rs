//! A channel whose scope names a ServiceAccount acts as it on the (fake) API server: the
//! server, not only the agent's scope check, holds it to that account's RBAC. A scope wider than
//! the account's rights is refused up front by the preflight, naming the account and what it
//! lacks, with nothing written; the agent's missing `impersonate` right stops the pass the same
//! way; the legitimate content lands with every request of the channel sent as the account and
//! the agent's own (state, Lease) as the agent; and impersonation costs no request of its own.

use cairn_agent::targets::kube::KubeOptions;
use cairn_agent::{Agent, Config, OnceReport, TargetSpec, TrustSpec};
use cairn_state_format::{ChannelPattern, Phase, Scope, StatusRecord};
use serde_json::{Value, json};

use crate::kube_fake::{FakeApi, Grant};
use crate::kube_passes::namespace;
use crate::support::*;

const CHANNEL: &str = "team-a";
const ACCOUNT: &str = "system:serviceaccount:team-a:deployer";
const RBAC: &str = "rbac.authorization.k8s.io";

/// The channel's scope: team A's namespace and team B's (wider than the account's RBAC, which
/// only covers team A), as `service_account` when given.
fn scope(service_account: Option<&str>) -> Scope {
    let mut scope = json!({"cluster_scoped": false, "deny_kinds": [], "kinds": ["*.*"],
                           "namespaces": ["$channel", "team-b"]});
    if let Some(account) = service_account {
        let (namespace, name) = account.split_once('/').unwrap();
        scope["service_account"] = json!({"namespace": namespace, "name": name});
    }
    serde_json::from_value(scope).unwrap()
}

fn object(kind: &str, namespace: &str, name: &str, rest: Value) -> Value {
    let mut object = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind,
                            "metadata": {"name": name, "namespace": namespace}});
    for (k, v) in rest.as_object().into_iter().flatten() {
        object[k] = v.clone();
    }
    object
}

/// Team A's deployer may do anything with ConfigMaps in `team-a`, nothing elsewhere.
fn bind_deployer(fake: &FakeApi) {
    let rules =
        json!({"rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["*"]}]});
    fake.put(
        RBAC,
        "roles",
        CHANNEL,
        "deployer",
        Some(object("Role", CHANNEL, "deployer", rules)),
    );
    let binding = json!({"roleRef": {"apiGroup": RBAC, "kind": "Role", "name": "deployer"},
                         "subjects": [{"kind": "ServiceAccount", "name": "deployer", "namespace": CHANNEL}]});
    let binding = object("RoleBinding", CHANNEL, "deployer", binding);
    fake.put(RBAC, "rolebindings", CHANNEL, "deployer", Some(binding));
}

struct Rig {
    fake: FakeApi,
    hub: Publisher,
    agent: Agent,
    _dirs: Dirs,
}

impl Rig {
    async fn new(service_account: Option<&str>) -> Rig {
        let fake = FakeApi::start().await;
        for ns in ["cairn-system", CHANNEL, "team-b"] {
            namespace(&fake, ns);
        }
        bind_deployer(&fake);
        let (store, _) = counting_memory();
        let hub = Publisher::new(&store, CHANNEL);
        let dirs = dirs();
        let mut config: Config = config(opened(&store), &[CHANNEL], &dirs);
        config.target = TargetSpec::Kube;
        config.kube = KubeOptions {
            kubeconfig: Some(fake.kubeconfig(dirs._tmp.path())),
            ..KubeOptions::default()
        };
        let patterns: Vec<ChannelPattern> = vec![CHANNEL.parse().unwrap()];
        config.trust = TrustSpec::ScopedKeys {
            keys: vec![hub.key.public()],
            scopes: vec![(patterns, scope(service_account))],
        };
        let agent = Agent::new(config).unwrap();
        Rig {
            fake,
            hub,
            agent,
            _dirs: dirs,
        }
    }

    async fn pass(&self) -> StatusRecord {
        let report: OnceReport = self.agent.run_pass(false).await;
        report.channels.into_iter().next().unwrap()
    }

    /// Writes (dry runs aside) into the team namespaces.
    fn team_writes(&self) -> usize {
        (self.fake.seen().iter())
            .filter(|s| s.writes() && !s.path.contains("/namespaces/cairn-system/"))
            .count()
    }
}

fn configmap(name: &str, namespace: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, namespace: {namespace}}}\ndata: {{v: '1'}}\n---\n"
    )
}

#[tokio::test]
async fn a_scope_wider_than_the_accounts_rbac_is_refused_up_front_naming_the_account() {
    let mut rig = Rig::new(Some("team-a/deployer")).await;
    rig.hub
        .publish(&format!(
            "{}{}",
            configmap("web", CHANNEL),
            configmap("web", "team-b")
        ))
        .await;
    let status = rig.pass().await;
    assert_eq!(status.phase, Phase::Failed, "{status:#?}");
    let reason = status.reason.clone().unwrap();
    for expected in [
        format!("the channel acts as {ACCOUNT}"),
        "nothing was applied".to_owned(),
        "cannot get, list, create, patch, delete configmaps in namespace team-b".to_owned(),
    ] {
        assert!(reason.contains(&expected), "{expected:?} in {reason}");
    }
    assert!(!reason.contains("in namespace team-a"), "{reason}");
    assert_eq!(rig.team_writes(), 0, "{:?}", rig.fake.seen());
    assert!(rig.fake.get("", "configmaps", CHANNEL, "web").is_none());

    // The channel's legitimate content lands, every request of it sent as the account; the
    // agent's own state is written as the agent.
    rig.hub.publish(&configmap("web", CHANNEL)).await;
    rig.fake.clear_seen();
    let status = rig.pass().await;
    assert_eq!(status.phase, Phase::Converged, "{status:#?}");
    assert!(rig.fake.get("", "configmaps", CHANNEL, "web").is_some());
    let seen = rig.fake.seen();
    let team: Vec<_> = (seen.iter())
        .filter(|s| s.path.contains("/namespaces/team-a/"))
        .collect();
    assert!(!team.is_empty());
    assert!(
        team.iter()
            .all(|s| s.impersonated.as_deref() == Some(ACCOUNT)),
        "{team:?}"
    );
    let state: Vec<_> = (seen.iter())
        .filter(|s| s.writes() && s.path.contains("/namespaces/cairn-system/"))
        .collect();
    assert!(!state.is_empty());
    assert!(state.iter().all(|s| s.impersonated.is_none()), "{state:?}");
}

#[tokio::test]
async fn an_agent_that_may_not_impersonate_the_account_writes_nothing() {
    let mut rig = Rig::new(Some("team-a/deployer")).await;
    let verbs = ["get", "list", "watch", "create", "patch", "delete"];
    let own = vec![
        Grant::cluster(&[""], &["namespaces", "configmaps"], &verbs),
        Grant::namespaced(&[CHANNEL], &[""], &["serviceaccounts"], &["impersonate"])
            .named(&["builder"]),
    ];
    rig.fake.authorize(Some(own));
    rig.hub.publish(&configmap("web", CHANNEL)).await;
    let status = rig.pass().await;
    assert_eq!(status.phase, Phase::Failed, "{status:#?}");
    let reason = status.reason.unwrap();
    let expected = "serviceaccounts \"deployer\" is forbidden: User \"system:serviceaccount:cairn-system:cairn-agent\" cannot impersonate resource \"serviceaccounts\" in API group \"\" in the namespace \"team-a\"";
    assert!(reason.contains(expected), "{reason}");
    assert_eq!(rig.team_writes(), 0, "{:?}", rig.fake.seen());
}

#[tokio::test]
async fn impersonation_costs_no_request_of_its_own() {
    let content = format!("{}{}", configmap("a", CHANNEL), configmap("b", CHANNEL));
    let mut counts = Vec::new();
    for account in [None, Some("team-a/deployer")] {
        let mut rig = Rig::new(account).await;
        rig.hub.publish(&content).await;
        rig.fake.clear_seen();
        assert_eq!(rig.pass().await.phase, Phase::Converged);
        let first = rig.fake.counts();
        rig.fake.clear_seen();
        let report = rig.agent.run_pass(true).await;
        assert_eq!(
            report.channels[0].phase,
            Phase::Converged,
            "{:#?}",
            report.channels[0]
        );
        counts.push((first, rig.fake.counts()));
    }
    println!("without impersonation: {:?}", counts[0]);
    println!("as the ServiceAccount: {:?}", counts[1]);
    assert_eq!(counts[0], counts[1]);
}
