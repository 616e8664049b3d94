//! The election alone, against the in-process fake API server: one replica leads, another
//! takes over when it dies, a leader releases on shutdown, and a leader whose Lease calls hang
//! or fail stops writing before another replica may take the lease.

use std::sync::Arc;
use std::time::Duration;

use cairn_agent::election::{Campaign, Election, KubeLease, Leadership, Standing};
use chrono::{DateTime, Utc};
use serde_json::json;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::kube_fake::FakeApi;
use crate::support;

pub const AGENT_NAMESPACE: &str = "cairn-system";

/// Short timings for tests: lease 2 s > renew deadline 1 s > retry period 200 ms × 1.2.
pub fn election(identity: &str) -> Election {
    Election {
        lease_duration: Duration::from_secs(2),
        renew_deadline: Duration::from_secs(1),
        retry_period: Duration::from_millis(200),
        ..Election::new(identity)
    }
}

/// The agent's namespace, as an installation creates it.
pub fn agent_namespace(fake: &FakeApi) {
    let ns =
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": AGENT_NAMESPACE}});
    fake.put("", "namespaces", "", AGENT_NAMESPACE, Some(ns));
}

/// The Lease's holder, if any.
pub fn holder(fake: &FakeApi) -> Option<String> {
    let lease = fake.get(
        "coordination.k8s.io",
        "leases",
        AGENT_NAMESPACE,
        "cairn-agent",
    )?;
    lease["spec"]["holderIdentity"].as_str().map(str::to_owned)
}

/// When `door` first took the Lease (its first successful replace or create: later ones are
/// renewals), as the index of that request among all requests and its time.
pub fn took_lease_at(fake: &FakeApi, door: &str) -> Option<(usize, DateTime<Utc>)> {
    fake.seen()
        .iter()
        .enumerate()
        .filter(|(_, s)| {
            s.door == door
                && s.path.contains("/leases")
                && matches!(s.method.as_str(), "PUT" | "POST")
                && s.code < 300
        })
        .map(|(i, s)| (i, s.at))
        .next()
}

struct Candidate {
    task: JoinHandle<()>,
    leadership: Leadership,
    stop: watch::Sender<bool>,
}

async fn candidate(fake: &FakeApi, identity: &str) -> Candidate {
    let door = fake.door(identity).await;
    let campaign = Campaign {
        election: election(identity),
        lock: Arc::new(KubeLease::new(
            door.cluster(),
            AGENT_NAMESPACE,
            "cairn-agent",
        )),
    };
    let (standing, leadership) = watch::channel(Standing::Following);
    let (stop, stopped) = watch::channel(false);
    Candidate {
        task: tokio::spawn(campaign.run(standing, stopped)),
        leadership: Leadership::new(leadership),
        stop,
    }
}

#[tokio::test]
async fn one_replica_leads_and_another_takes_over_within_a_lease_duration() {
    let fake = FakeApi::start().await;
    agent_namespace(&fake);
    let a = candidate(&fake, "pod-a").await;
    support::eventually("pod-a leads", || a.leadership.term().is_some()).await;
    let b = candidate(&fake, "pod-b").await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(b.leadership.term(), None, "one leader at a time");
    // A follower watches the lease: it does not poll it.
    let reads_by_b = fake
        .seen()
        .iter()
        .filter(|s| s.door == "pod-b" && s.method == "GET" && !s.query.contains("watch"))
        .count();
    assert!(
        reads_by_b <= 1,
        "{reads_by_b} reads of the lease by a follower"
    );

    // The leader dies without releasing: the follower waits out the lease, then leads.
    a.task.abort();
    let _ = a.task.await;
    support::eventually("pod-b takes over", || b.leadership.term().is_some()).await;
    assert_eq!(holder(&fake).as_deref(), Some("pod-b"));
    let lease = fake
        .get(
            "coordination.k8s.io",
            "leases",
            AGENT_NAMESPACE,
            "cairn-agent",
        )
        .unwrap();
    assert_eq!(lease["spec"]["leaseTransitions"], 1);

    // A leader that shuts down stops leading, then releases the lease at once.
    b.stop.send(true).unwrap();
    b.task.await.unwrap();
    assert_eq!(b.leadership.term(), None);
    assert_eq!(holder(&fake), None);
}

/// The leader's Lease calls hang (or fail): it steps down before the follower takes the lease.
async fn a_cut_off_leader_steps_down_first(hang: bool, only: Option<&str>) {
    let fake = FakeApi::start().await;
    agent_namespace(&fake);
    let a = candidate(&fake, "pod-a").await;
    support::eventually("pod-a leads", || a.leadership.term().is_some()).await;
    let b = candidate(&fake, "pod-b").await;
    let term = a.leadership.term().unwrap();
    fake.partition("pod-a", hang, only);
    tokio::time::timeout(Duration::from_secs(20), a.leadership.deposed(term))
        .await
        .expect("pod-a steps down");
    let stepped_down = Utc::now();
    support::eventually("pod-b takes over", || b.leadership.term().is_some()).await;
    let (_, taken) = took_lease_at(&fake, "pod-b").unwrap();
    assert!(
        stepped_down < taken,
        "pod-a stepped down at {stepped_down}, after pod-b took the lease at {taken}"
    );
    fake.heal("pod-a");
    // Healed, the old leader sees the new holder and stays a follower.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(a.leadership.term(), None);
    assert_eq!(holder(&fake).as_deref(), Some("pod-b"));
    drop((a.stop, b.stop));
}

#[tokio::test]
async fn a_leader_whose_lease_calls_hang_steps_down_before_another_takes_over() {
    a_cut_off_leader_steps_down_first(true, None).await;
}

#[tokio::test]
async fn a_leader_whose_lease_calls_fail_steps_down_before_another_takes_over() {
    a_cut_off_leader_steps_down_first(false, Some("leases")).await;
}
