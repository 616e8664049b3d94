//! Agents with several replicas in one cluster (a DaemonSet), against the in-process fake API
//! server, each replica through its own entry point so that one can be cut off: only the
//! leader reads the store (followers' store requests are counted: zero), a killed leader is
//! replaced and a change published at that moment lands, a partitioned leader stops writing
//! before another replica takes over, a new leader starts from the recorded state without
//! re-applying, and flapping leadership neither re-applies nor loses an update.

use cairn_env_vars::EnvVars;
use std::sync::Arc;
use std::time::Duration;

use cairn_agent::targets::kube::KubeOptions;
use cairn_agent::{Agent, Metrics, TargetSpec};
use cairn_store::{CountingStore, Provider, Store};
use object_store::ObjectStore;
use object_store::memory::InMemory;
use serde_json::json;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::election::{AGENT_NAMESPACE, agent_namespace, election, holder, took_lease_at};
use crate::kube_fake::{FakeApi, Seen};
use crate::support::*;

/// One replica: its own entry point to the API server, its own count of store requests, its
/// own status store.
struct Replica {
    name: String,
    reads: CountingStore,
    status: Store,
    metrics: Arc<Metrics>,
    task: JoinHandle<cairn_agent::Result<()>>,
    _stop: watch::Sender<bool>,
    _dirs: Dirs,
}

impl Replica {
    fn applied(&self) -> u64 {
        self.metrics.applied_generation("prod")
    }

    /// Store requests so far (reads and writes of the store it polls).
    fn store_requests(&self) -> u64 {
        let c = self.reads.counts();
        c.gets + c.puts + c.lists + c.deletes + c.copies
    }

    async fn status_records(&self) -> usize {
        self.status.list("").await.unwrap().len()
    }
}

async fn replica(fake: &FakeApi, objects: &Arc<dyn ObjectStore>, name: &str) -> Replica {
    let door = fake.door(name).await;
    let dirs = dirs();
    let kubeconfig = door.kubeconfig(dirs._tmp.path());
    replica_of(&kubeconfig, AGENT_NAMESPACE, objects, name, dirs)
}

/// A replica reaching its cluster through `kubeconfig`, its state and Lease in `namespace`.
fn replica_of(
    kubeconfig: &std::path::Path,
    namespace: &str,
    objects: &Arc<dyn ObjectStore>,
    name: &str,
    dirs: Dirs,
) -> Replica {
    let reads = CountingStore::new(objects.clone());
    let store = Store::from_object_store(
        Arc::new(reads.clone()),
        Provider::Memory,
        "memory://replicas",
    );
    let status = Store::open("memory://", &Default::default()).unwrap();
    let mut config = config(opened(&store), &["prod"], &dirs);
    config.status_store = Some(opened(&status));
    config.target = TargetSpec::Kube;
    config.kube = KubeOptions {
        kubeconfig: Some(kubeconfig.to_owned()),
        namespace: namespace.to_owned(),
        election: Some(election(name)),
        ..KubeOptions::default()
    };
    let agent = Agent::new(config).unwrap();
    let metrics = agent.metrics().clone();
    let (stop, mut stopped) = watch::channel(false);
    let task = tokio::spawn(agent.run(async move {
        let _ = stopped.wait_for(|s| *s).await;
    }));
    Replica {
        name: name.to_owned(),
        reads,
        status,
        metrics,
        task,
        _stop: stop,
        _dirs: dirs,
    }
}

/// A cluster of `n` replicas and a publisher, with generation 1 (a namespace and ConfigMaps
/// a, b, c) applied and followed by every replica.
async fn cluster(n: usize) -> (FakeApi, Publisher, Vec<Replica>) {
    let fake = FakeApi::start().await;
    agent_namespace(&fake);
    let objects: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let store = Store::from_object_store(objects.clone(), Provider::Memory, "memory://replicas");
    let mut hub = Publisher::new(&store, "prod");
    hub.publish(&content(&["1", "1", "1"])).await;
    let mut replicas = Vec::new();
    for i in 0..n {
        replicas.push(replica(&fake, &objects, &format!("pod-{i}")).await);
    }
    everyone_at(&replicas, 1).await;
    (fake, hub, replicas)
}

fn content(values: &[&str]) -> String {
    content_in("app", values)
}

/// Namespace `ns` and ConfigMaps a, b, c in it with `values`.
fn content_in(ns: &str, values: &[&str]) -> String {
    let mut yaml = NAMESPACE.replace("name: app", &format!("name: {ns}"));
    for (name, value) in ["a", "b", "c"].iter().zip(values) {
        yaml.push_str(&cm(name, value).replace("namespace: app", &format!("namespace: {ns}")));
    }
    yaml
}

async fn everyone_at(replicas: &[Replica], generation: u64) {
    eventually(&format!("every replica at generation {generation}"), || {
        replicas.iter().all(|r| r.applied() >= generation)
    })
    .await;
}

fn leader<'a>(fake: &FakeApi, replicas: &'a [Replica]) -> &'a Replica {
    let name = holder(fake).expect("a leader");
    replicas.iter().find(|r| r.name == name).unwrap()
}

/// Writes through `door` to anything but the Lease: the target and the recorded state.
fn writes_by(fake: &FakeApi, door: &str) -> Vec<(usize, Seen)> {
    fake.seen()
        .into_iter()
        .enumerate()
        .filter(|(_, s)| s.door == door && s.method != "GET" && !s.path.contains("/leases"))
        .collect()
}

/// Applies (PATCHes) of objects in the app's namespace, by object name.
fn applied_objects(writes: &[(usize, Seen)]) -> Vec<String> {
    writes
        .iter()
        .filter(|(_, s)| s.method == "PATCH" && s.path.contains("/namespaces/app/"))
        .map(|(_, s)| s.path.rsplit('/').next().unwrap().to_owned())
        .collect()
}

fn live(fake: &FakeApi, name: &str) -> serde_json::Value {
    fake.get("", "configmaps", "app", name).unwrap()["data"]["v"].clone()
}

#[tokio::test]
async fn only_the_leader_reads_the_store_and_followers_follow_its_state() {
    let (fake, mut hub, replicas) = cluster(3).await;
    hub.publish(&content(&["2", "1", "1"])).await;
    everyone_at(&replicas, 2).await;
    let leader = leader(&fake, &replicas);
    assert!(leader.store_requests() > 0);
    assert_eq!(leader.status_records().await, 1);
    for follower in replicas.iter().filter(|r| r.name != leader.name) {
        assert_eq!(
            follower.store_requests(),
            0,
            "{} is a follower and read the store",
            follower.name
        );
        assert_eq!(follower.status_records().await, 0);
        assert!(writes_by(&fake, &follower.name).is_empty());
    }
    assert_eq!(live(&fake, "a"), json!("2"));
}

#[tokio::test]
async fn a_killed_leader_is_replaced_and_a_change_published_then_lands_without_reapplying() {
    let (fake, mut hub, replicas) = cluster(3).await;
    let old = leader(&fake, &replicas).name.clone();
    let old_replica = replicas.iter().find(|r| r.name == old).unwrap();
    fake.clear_seen();
    old_replica.task.abort();
    hub.publish(&content(&["1", "2", "1"])).await;
    let others: Vec<&Replica> = replicas.iter().filter(|r| r.name != old).collect();
    eventually("another replica applies generation 2", || {
        others.iter().any(|r| r.applied() >= 2)
    })
    .await;
    let new = leader(&fake, &replicas);
    assert_ne!(new.name, old);
    // From the recorded state: only the changed object is written, nothing re-applied...
    assert_eq!(applied_objects(&writes_by(&fake, &new.name)), ["b"]);
    // ... and what the state names is not fetched again: a head poll and one delta pack.
    assert_eq!(new.metrics.requests(cairn_agent::RequestKind::Node), 0);
    assert_eq!(new.metrics.requests(cairn_agent::RequestKind::Blob), 0);
    assert_eq!(new.metrics.requests(cairn_agent::RequestKind::Delta), 1);
    for follower in others.iter().filter(|r| r.name != new.name) {
        assert_eq!(follower.store_requests(), 0);
    }
    assert_eq!(live(&fake, "b"), json!("2"));
}

/// Cuts the leader off (`hang`: its requests hang, else they fail; `only`: just its Lease
/// calls) while changes keep coming: it stops writing before the other replica takes the
/// lease, and after the partition heals it never writes again; every change lands.
async fn a_partitioned_leader_stops_writing_first(hang: bool, only: Option<&str>) {
    let (fake, mut hub, replicas) = cluster(2).await;
    let old = leader(&fake, &replicas).name.clone();
    let new = replicas.iter().find(|r| r.name != old).unwrap();
    fake.partition(&old, hang, only);
    let mut generation = 1;
    for round in 0..200 {
        if holder(&fake).as_deref() == Some(new.name.as_str()) && new.applied() == generation {
            break;
        }
        assert!(round < 199, "the follower never took over");
        if round % 5 == 0 {
            generation += 1;
            let value = generation.to_string();
            hub.publish(&content(&[&value, "1", "1"])).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Changes keep coming after the takeover: a leader that did not stop would apply them too.
    for _ in 0..3 {
        generation += 1;
        let value = generation.to_string();
        hub.publish(&content(&[&value, "1", "1"])).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    fake.heal(&old);
    hub.publish(&content(&["final", "1", "1"])).await;
    eventually("the new leader applies the last change", || {
        new.applied() == generation + 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (taken, taken_at) = took_lease_at(&fake, &new.name).unwrap();
    let late: Vec<_> = writes_by(&fake, &old)
        .into_iter()
        .filter(|(i, _)| *i > taken)
        .collect();
    assert!(
        late.is_empty(),
        "the old leader wrote after the new one led: {late:?}"
    );
    let old_replica = replicas.iter().find(|r| r.name == old).unwrap();
    let last_status = old_replica
        .status
        .list("")
        .await
        .unwrap()
        .into_iter()
        .map(|listed| listed.last_modified)
        .max();
    assert!(
        last_status.is_none_or(|at| at < taken_at),
        "the old leader reported at {last_status:?}, after the new one led at {taken_at}"
    );
    assert_eq!(live(&fake, "a"), json!("final"));
}

#[tokio::test]
async fn a_leader_cut_off_entirely_stops_writing_before_another_takes_over() {
    a_partitioned_leader_stops_writing_first(true, None).await;
}

#[tokio::test]
async fn a_leader_whose_lease_calls_hang_stops_writing_before_another_takes_over() {
    a_partitioned_leader_stops_writing_first(true, Some("leases")).await;
}

#[tokio::test]
async fn a_leader_whose_lease_calls_fail_stops_writing_before_another_takes_over() {
    a_partitioned_leader_stops_writing_first(false, Some("leases")).await;
}

#[tokio::test]
async fn flapping_leadership_neither_reapplies_nor_loses_an_update() {
    let (fake, mut hub, replicas) = cluster(2).await;
    fake.clear_seen();
    let names = ["a", "b", "c"];
    let mut values = ["1", "1", "1"].map(String::from);
    for round in 0..4u64 {
        let generation = round + 2;
        values[(round % 3) as usize] = format!("r{round}");
        let refs: Vec<&str> = values.iter().map(String::as_str).collect();
        hub.publish(&content(&refs)).await;
        let current = leader(&fake, &replicas).name.clone();
        everyone_at(&replicas, generation).await;
        // Leadership moves: the leader's Lease calls fail until the other replica leads.
        fake.partition(&current, false, Some("leases"));
        eventually("leadership moves", || {
            holder(&fake).is_some_and(|h| h != current)
        })
        .await;
        fake.heal(&current);
    }
    let written: Vec<String> = replicas
        .iter()
        .flat_map(|r| applied_objects(&writes_by(&fake, &r.name)))
        .collect();
    // One write per change: nothing re-applied after a takeover, nothing lost.
    assert_eq!(written.len(), 4, "{written:?}");
    for (name, value) in names.iter().zip(&values) {
        assert_eq!(live(&fake, name), json!(value));
    }
}

/// Three agents of one real cluster (when `CAIRN_TEST_KUBECONFIG` names one): the leader is
/// killed, a change published at that moment lands through another replica, and the replicas
/// that did not lead never read the store.
///
/// ```sh
/// CAIRN_TEST_KUBECONFIG=$HOME/.kube/config cargo test -p cairn-agent --test it real_cluster -- --nocapture
/// ```
#[tokio::test]
async fn three_agents_of_a_real_cluster_survive_a_killed_leader() {
    use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
    use kube::api::{Api, DeleteParams, PostParams};
    let Some(path) = std::env::var_os(EnvVars::CAIRN_TEST_KUBECONFIG) else {
        println!(
            "skipped: set CAIRN_TEST_KUBECONFIG to a kubeconfig to run against a real cluster"
        );
        return;
    };
    let kubeconfig = std::path::PathBuf::from(path);
    let file = kube::config::Kubeconfig::read_from(&kubeconfig).expect("a readable kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(file, &Default::default())
        .await
        .expect("a usable kubeconfig");
    let client = kube::Client::try_from(config).expect("a client");
    let suffix = format!("{:x}", std::process::id());
    let (agent_ns, app_ns) = (
        format!("cairn-ha-agent-{suffix}"),
        format!("cairn-ha-{suffix}"),
    );
    let namespaces = Api::<Namespace>::all(client.clone());
    let agent_namespace: Namespace =
        serde_json::from_value(json!({"metadata": {"name": agent_ns}})).unwrap();
    namespaces
        .create(&PostParams::default(), &agent_namespace)
        .await
        .unwrap();
    let objects: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let store = Store::from_object_store(objects.clone(), Provider::Memory, "memory://replicas");
    let mut hub = Publisher::new(&store, "prod");
    hub.publish(&content_in(&app_ns, &["1", "1", "1"])).await;
    let replicas: Vec<Replica> = (0..3)
        .map(|i| {
            replica_of(
                &kubeconfig,
                &agent_ns,
                &objects,
                &format!("pod-{i}"),
                dirs(),
            )
        })
        .collect();
    everyone_at(&replicas, 1).await;
    let leases =
        Api::<k8s_openapi::api::coordination::v1::Lease>::namespaced(client.clone(), &agent_ns);
    let lease = leases.get("cairn-agent").await.unwrap();
    let old = lease.spec.unwrap().holder_identity.unwrap();
    replicas
        .iter()
        .find(|r| r.name == old)
        .unwrap()
        .task
        .abort();
    hub.publish(&content_in(&app_ns, &["1", "2", "1"])).await;
    eventually("another replica applies generation 2", || {
        replicas.iter().any(|r| r.name != old && r.applied() >= 2)
    })
    .await;
    let b = Api::<ConfigMap>::namespaced(client.clone(), &app_ns)
        .get("b")
        .await
        .unwrap();
    assert_eq!(b.data.unwrap()["v"], "2");
    let readers = replicas.iter().filter(|r| r.store_requests() > 0).count();
    assert!(
        readers <= 2,
        "only the old and the new leader read the store"
    );
    let _ = namespaces.delete(&app_ns, &DeleteParams::default()).await;
    let _ = namespaces.delete(&agent_ns, &DeleteParams::default()).await;
}
