//! The agent's passes against the fake API server, counted by request: a first apply, a pass
//! with nothing changed, an object edited by hand, a small change; a crash in the middle of an
//! apply; a missing state namespace; missing permissions; a state that cannot be recorded.

use cairn_agent::targets::kube::KubeOptions;
use cairn_agent::{Agent, Config, OnceReport, TargetSpec};
use cairn_state_format::{PassOutcome, Phase, StatusRecord};
use serde_json::json;

use crate::kube_fake::{FakeApi, Grant};
use crate::support::*;

/// A publisher, a fake API server and an agent applying to it.
pub struct Rig {
    pub fake: FakeApi,
    pub hub: Publisher,
    pub config: Config,
    pub agent: Agent,
    pub _dirs: Dirs,
}

impl Rig {
    /// A rig whose agent namespace (`cairn-system`) exists when `with_namespace`.
    pub async fn new(with_namespace: bool) -> Rig {
        let fake = FakeApi::start().await;
        if with_namespace {
            namespace(&fake, "cairn-system");
        }
        let (store, _) = counting_memory();
        let hub = Publisher::new(&store, "prod");
        let dirs = dirs();
        let mut config = config(opened(&store), &["prod"], &dirs);
        config.target = TargetSpec::Kube;
        config.kube = KubeOptions {
            kubeconfig: Some(fake.kubeconfig(dirs._tmp.path())),
            ..KubeOptions::default()
        };
        let agent = Agent::new(config.clone()).unwrap();
        Rig {
            fake,
            hub,
            config,
            agent,
            _dirs: dirs,
        }
    }

    /// The same agent started again (a new process: nothing kept in memory).
    pub fn restart(&mut self) {
        self.agent = Agent::new(self.config.clone()).unwrap();
    }

    /// One pass; `resync` checks for drift (as `run --once` always does).
    pub async fn pass(&self, resync: bool) -> StatusRecord {
        let report: OnceReport = self.agent.run_pass(resync).await;
        report.channels.into_iter().next().unwrap()
    }

    /// Requests of `verb` since the last `clear_seen`.
    pub fn count(&self, verb: &str) -> u64 {
        self.fake.counts().get(verb).copied().unwrap_or(0)
    }

    /// Every request since the last `clear_seen`.
    pub fn total(&self) -> u64 {
        self.fake.counts().values().sum()
    }
}

/// Stores namespace `name` as an administrator would have made it.
pub fn namespace(fake: &FakeApi, name: &str) {
    fake.put_as(
        "kubectl-create",
        "",
        "namespaces",
        "",
        name,
        Some(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})),
    );
}

const CRD: &str = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: widgets.example.com}\nspec:\n  group: example.com\n  scope: Namespaced\n  names: {plural: widgets, singular: widget, kind: Widget}\n  versions: [{name: v1, served: true, storage: true}]\n---\n";

/// A snapshot of 6 kinds in one namespace: a Namespace, a CRD and `n` each of Widgets,
/// ConfigMaps, Deployments and Services; `edit` changes the first `changed` ConfigMaps.
pub fn objects(n: usize, changed: usize, edit: &str) -> String {
    let mut yaml = format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: app}}\n---\n{CRD}");
    for i in 0..n {
        let value = if i < changed { edit } else { "1" };
        yaml.push_str(&cm(&format!("c{i}"), value));
        yaml.push_str(&format!(
            "apiVersion: example.com/v1\nkind: Widget\nmetadata: {{name: w{i}, namespace: app}}\nspec: {{size: {i}}}\n---\n\
             apiVersion: v1\nkind: Service\nmetadata: {{name: s{i}, namespace: app}}\nspec: {{ports: [{{port: 80}}]}}\n---\n\
             apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: d{i}, namespace: app}}\n\
             spec: {{replicas: 1, selector: {{matchLabels: {{app: d{i}}}}}, template: {{metadata: {{labels: {{app: d{i}}}}}, spec: {{containers: [{{name: c, image: 'x:1'}}]}}}}}}\n---\n"
        ));
    }
    yaml
}

#[tokio::test]
async fn requests_follow_what_changed() {
    let mut rig = Rig::new(true).await;
    let n = 10;
    let total_objects = 2 + 4 * n as u64;
    rig.hub.publish(&objects(n, 0, "")).await;
    rig.fake.clear_seen();
    let status = rig.pass(false).await;
    assert_eq!(status.phase, Phase::Converged, "{status:#?}");
    assert_eq!(status.counts.applied, total_objects);
    // One server-side apply per object, plus the ApplySet parent before the first write and
    // the state after the last: nothing is read back, nothing applied twice.
    assert_eq!(
        rig.count("patch"),
        total_objects + 2,
        "{:?}",
        rig.fake.counts()
    );
    assert_eq!(
        rig.fake.writes() as u64,
        total_objects + 2,
        "{:?}",
        rig.fake.counts()
    );
    // Aggregated discovery (two requests) when the pass starts and once more after the CRD is
    // Established; custom objects met before that do not ask again one by one.
    assert_eq!(rig.count("discovery"), 4, "{:?}", rig.fake.counts());
    assert!(
        rig.total() <= total_objects + 60,
        "about one request per object: {:?}",
        rig.fake.counts()
    );

    // Nothing changed, nothing drifted: one list per kind the channel owns, no write.
    rig.fake.clear_seen();
    let status = rig.pass(true).await;
    assert_eq!(status.phase, Phase::Converged, "{status:#?}");
    assert_eq!(
        rig.fake.counts(),
        [("list".to_owned(), 6)].into(),
        "six kinds"
    );

    // One object edited by hand: the lists find it, one apply corrects it, one write records
    // its new fingerprint.
    let mut edited = rig.fake.get("", "configmaps", "app", "c3").unwrap();
    edited["data"]["v"] = json!("by hand");
    rig.fake.put("", "configmaps", "app", "c3", Some(edited));
    rig.fake.clear_seen();
    let status = rig.pass(true).await;
    assert_eq!(rig.total(), 6 + 2, "{:?}", rig.fake.counts());
    assert_eq!(status.counts.drifted, 1);
    assert_eq!(status.drifted[0].object, "ConfigMap app/c3");
    assert!(status.drifted[0].corrected);
    assert_eq!(
        rig.fake.get("", "configmaps", "app", "c3").unwrap()["data"]["v"],
        "1"
    );

    // A change of three objects between resyncs: three applies and the state.
    rig.hub.publish(&objects(n, 3, "2")).await;
    rig.fake.clear_seen();
    let status = rig.pass(false).await;
    assert_eq!(status.counts.applied, 3);
    assert_eq!(rig.total(), 3 + 1, "{:?}", rig.fake.counts());
}

/// A Namespace and `n` ConfigMaps, but for those in `without`.
fn config_maps(n: usize, without: &[usize]) -> String {
    let mut yaml = NAMESPACE.to_owned();
    for i in (0..n).filter(|i| !without.contains(i)) {
        yaml.push_str(&cm(&format!("c{i}"), "1"));
    }
    yaml
}

#[tokio::test]
async fn objects_a_killed_pass_left_behind_are_pruned_after_a_restart() {
    let mut rig = Rig::new(true).await;
    rig.hub.publish(&config_maps(10, &[])).await;
    // The agent is killed while the API server has not answered one of its applies: the
    // other objects are written, nothing is recorded.
    rig.fake.hang("PATCH", "c7");
    let killed = tokio::time::timeout(std::time::Duration::from_secs(2), rig.pass(false)).await;
    assert!(killed.is_err(), "the pass hung");
    assert!(rig.fake.get("", "configmaps", "app", "c2").is_some());
    let parent = rig
        .fake
        .get("", "configmaps", "cairn-system", "cairn-state-prod")
        .unwrap();
    assert!(
        parent["binaryData"].get("state.json.zst").is_none(),
        "nothing recorded"
    );
    assert_eq!(
        parent["metadata"]["annotations"]["applyset.kubernetes.io/contains-group-kinds"],
        "ConfigMap,Namespace",
        "recorded before the first write"
    );

    // Restarted on a generation that dropped c2: no recorded snapshot names c2, its labels do.
    rig.restart();
    rig.hub.publish(&config_maps(10, &[2])).await;
    let status = rig.pass(false).await;
    assert_eq!(status.phase, Phase::Converged, "{status:#?}");
    assert!(
        rig.fake.get("", "configmaps", "app", "c2").is_none(),
        "the orphan is pruned"
    );
    assert!(rig.fake.get("", "configmaps", "app", "c7").is_some());
    assert_eq!(status.counts.pruned, 1);
}

#[tokio::test]
async fn the_agent_creates_its_namespace_before_the_first_write() {
    let mut rig = Rig::new(false).await;
    rig.hub.publish(&config_maps(2, &[])).await;
    let status = rig.pass(false).await;
    assert_eq!(status.phase, Phase::Converged, "{status:#?}");
    assert!(rig.fake.get("", "namespaces", "", "cairn-system").is_some());
    let seen = rig.fake.seen();
    let first = |what: &dyn Fn(&cairn_kube_fake::Seen) -> bool| seen.iter().position(what).unwrap();
    let created = first(&|s| s.method == "POST" && s.path == "/api/v1/namespaces");
    let written = first(&|s| s.method == "PATCH" && s.path.contains("/namespaces/app/"));
    assert!(
        created < written,
        "the state can be recorded before anything is applied"
    );
}

#[tokio::test]
async fn a_state_namespace_the_agent_may_not_create_stops_the_pass_before_any_write() {
    let mut rig = Rig::new(false).await;
    namespace(&rig.fake, "app");
    rig.fake.authorize(Some(vec![
        Grant::cluster(&[""], &["configmaps"], &["*"]),
        Grant::cluster(&[""], &["namespaces"], &["get", "list"]),
    ]));
    rig.hub
        .publish(&config_maps(2, &[]).replace(NAMESPACE, ""))
        .await;
    rig.fake.clear_seen();
    let status = rig.pass(false).await;
    assert_eq!(status.phase, Phase::Failed);
    let reason = status.reason.unwrap();
    assert!(
        reason.contains("the namespace cairn-system does not exist and the agent cannot create it"),
        "{reason}"
    );
    let applied: Vec<_> = rig
        .fake
        .seen()
        .into_iter()
        .filter(|s| s.writes() && s.path.contains("/namespaces/app/"))
        .collect();
    assert!(applied.is_empty(), "nothing applied: {applied:?}");
    assert!(rig.fake.get("", "configmaps", "app", "c0").is_none());
    assert!(status.incomplete.is_none() && status.applied.is_none());
}

/// What the deploy manifests' default ClusterRole grants, as the fake's grants.
fn default_role() -> Vec<Grant> {
    let verbs = ["get", "list", "watch", "create", "patch", "delete"];
    vec![
        Grant::cluster(&[""], &["namespaces", "configmaps", "services"], &verbs),
        Grant::cluster(&["apps"], &["deployments"], &verbs),
    ]
}

#[tokio::test]
async fn missing_permissions_refuse_the_pass_up_front_with_the_rules_to_add() {
    let mut rig = Rig::new(true).await;
    rig.fake.authorize(Some(default_role()));
    let ingress = "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: web, namespace: app}\nspec: {}\n---\n";
    let policy = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny, namespace: app}\nspec: {podSelector: {}}\n---\n";
    rig.hub
        .publish(&format!("{}{ingress}{policy}", config_maps(2, &[])))
        .await;
    rig.fake.clear_seen();
    let status = rig.pass(false).await;
    assert_eq!(status.phase, Phase::Failed);
    let reason = status.reason.clone().unwrap();
    for expected in [
        "nothing was applied",
        "cannot get, list, create, patch, delete ingresses.networking.k8s.io in namespace app",
        "cannot get, list, create, patch, delete networkpolicies.networking.k8s.io in namespace app",
        "{apiGroups: [\"networking.k8s.io\"], resources: [\"ingresses\"], verbs: [\"get\", \"list\", \"create\", \"patch\", \"delete\"]}",
        "rbac.clusterAdmin=true",
    ] {
        assert!(reason.contains(expected), "{expected:?} in {reason}");
    }
    assert_eq!(
        rig.fake.writes(),
        0,
        "refused before any write: {:?}",
        rig.fake.seen()
    );
    assert!(status.incomplete.is_none());

    // Granted: the same generation goes through.
    let mut role = default_role();
    role.push(Grant::cluster(
        &["networking.k8s.io"],
        &["ingresses", "networkpolicies"],
        &["*"],
    ));
    rig.fake.authorize(Some(role));
    rig.restart();
    let status = rig.pass(false).await;
    assert_eq!(status.phase, Phase::Converged, "{status:#?}");
}

#[tokio::test]
async fn a_pass_that_cannot_record_its_state_says_what_it_applied_and_loses_nothing() {
    let mut rig = Rig::new(true).await;
    rig.hub.publish(&config_maps(3, &[])).await;
    assert_eq!(rig.pass(false).await.phase, Phase::Converged);
    rig.hub.publish(&config_maps(5, &[0])).await;
    rig.fake.fail("PATCH", "cairn-state-prod", 500, None, 1);
    let status = rig.pass(false).await;
    assert_eq!(status.phase, Phase::Failed);
    let incomplete = status.incomplete.clone().unwrap();
    assert_eq!(
        (incomplete.generation, incomplete.written, incomplete.pruned),
        (2, 2, 1)
    );
    assert!(
        incomplete
            .objects
            .iter()
            .any(|o| o.object == "ConfigMap app/c4" && o.outcome == PassOutcome::Written)
    );
    let reason = status.reason.unwrap();
    assert!(
        reason.starts_with("generation 2 partly applied (2 objects written, 1 removed"),
        "{reason}"
    );
    assert_eq!(
        status.applied.unwrap().generation,
        1,
        "generation 2 is not recorded as applied"
    );

    // A new process finds what the failed pass wrote and records it.
    rig.restart();
    let status = rig.pass(false).await;
    assert_eq!(status.phase, Phase::Converged, "{status:#?}");
    assert_eq!(status.applied.unwrap().generation, 2);
    assert!(status.incomplete.is_none());
    assert!(rig.fake.get("", "configmaps", "app", "c0").is_none());
}

#[tokio::test]
async fn a_pass_that_fails_part_way_lists_what_it_wrote_and_what_it_did_not() {
    let mut rig = Rig::new(true).await;
    let quota = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: late, namespace: app, annotations: {cairn.dev/wave: '1'}}\n---\n";
    rig.hub
        .publish(&format!("{}{quota}", config_maps(3, &[])))
        .await;
    rig.fake.fail("PATCH", "c1", 422, None, 1);
    let status = rig.pass(false).await;
    assert_eq!(status.phase, Phase::Failed);
    let incomplete = status.incomplete.clone().unwrap();
    assert_eq!(
        (
            incomplete.written,
            incomplete.failed,
            incomplete.not_started
        ),
        (3, 1, 1),
        "the namespace and two ConfigMaps written, c1 failed, the next wave not started: {incomplete:#?}"
    );
    assert_eq!(incomplete.objects[0].outcome, PassOutcome::Failed);
    assert_eq!(incomplete.objects[0].object, "ConfigMap app/c1");
    assert!(
        incomplete
            .objects
            .iter()
            .any(|o| o.object == "ConfigMap app/late" && o.outcome == PassOutcome::NotStarted)
    );
    assert!(!status.reason.unwrap().contains("nothing applied"));
    let status = rig.pass(false).await;
    assert_eq!(status.phase, Phase::Converged, "{status:#?}");
    assert!(status.incomplete.is_none());
}
