//! What the agent's scope check costs (issue 23): one pass applying a snapshot of N objects
//! under `--trust` keys alone, and under `--scopes` (a team scope every object is within, so
//! every object is checked and the pass applies), in the same run; plus the check alone (the
//! placement and `Scope::check` per object, as the pass runs it for a target without a
//! cluster). The target counts writes and writes nothing, so the ratio is the check against
//! the rest of the agent's pass (fetch, verify, plan, persist), not against a cluster's writes.
//!
//! ```sh
//! cargo run --release -p cairn-benches --bin scope-check -- 1000 100000
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_agent::targets::Landing;
use cairn_agent::{Agent, ChannelSpec, Config, Outcome, StoreLocation, TargetSpec, TrustSpec};
use cairn_benches::fleet::count::CountingTarget;
use cairn_state_format::{
    Entry, EntrySet, Epoch, Head, Node, Placement, ResourceId, Scope, ScopedObject, SecretKey,
    SignedHead, Snapshot, layout,
};
use cairn_store::Store;
use chrono::Utc;

const CHANNEL: &str = "team-a-web";
const ROUNDS: usize = 5;

fn team_scope() -> Scope {
    serde_json::from_str(
        r#"{"cluster_scoped": false, "deny_kinds": ["*.rbac.authorization.k8s.io"],
            "kinds": ["*.*"], "namespaces": ["$channel"]}"#,
    )
    .expect("a valid scope")
}

/// Publishes `n` ConfigMaps in the channel's namespace (blobs, index, snapshot, signed head).
async fn publish(store: &Store, key: &SecretKey, n: usize) -> EntrySet {
    let mut entries = EntrySet::new();
    for i in 0..n {
        let yaml = format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cm-{i:06}, namespace: {CHANNEL}}}\ndata: {{k: '{i}'}}\n"
        );
        let resource = cairn_state_format::parse_documents("bench.yaml", &yaml)
            .expect("a manifest")
            .remove(0);
        store
            .put(
                &layout::blob_key(&resource.digest),
                resource.canonical.clone(),
            )
            .await
            .expect("put blob");
        let entry: Entry = resource.entry();
        entries.insert(resource.id.clone(), entry);
    }
    let (snapshot, index) = Snapshot::build(&entries);
    for digest in index.digests() {
        let (_, canonical) = index.node(digest).expect("a node of the index");
        store
            .put(&layout::index_key(digest), Node::encode(canonical))
            .await
            .expect("put node");
    }
    let digest = snapshot.digest();
    store
        .put(&layout::snapshot_key(&digest), snapshot.encode())
        .await
        .expect("put snapshot");
    let now = Utc::now();
    let head = Head::new(
        CHANNEL,
        Epoch::from_bytes([1; 16]),
        1,
        digest,
        now - chrono::Duration::seconds(1),
        now + chrono::Duration::hours(1),
    );
    store
        .put(&layout::head_key(CHANNEL), SignedHead::sign(&head, &[key]))
        .await
        .expect("put head");
    entries
}

/// One pass of a fresh agent applying the whole snapshot.
async fn pass(store: &Store, trust: TrustSpec) -> Duration {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut config = Config::new(
        StoreLocation::Opened(store.clone()),
        vec![ChannelSpec::parse(CHANNEL).expect("a channel")],
        Vec::new(),
        "bench",
        TargetSpec::Custom,
        dir.path().join("state"),
    );
    config.trust = trust;
    let agent: Agent = Agent::builder(config)
        .target(Arc::new(CountingTarget::default()))
        .build()
        .expect("an agent");
    let started = Instant::now();
    let report = agent.run_pass(false).await;
    let took = started.elapsed();
    assert_eq!(report.outcome, Outcome::Converged, "{report:?}");
    took
}

/// The check alone over `ids`, as the reconcile runs it with a target's default placement.
fn check(scope: &Scope, ids: &[&ResourceId]) -> Duration {
    let started = Instant::now();
    let landings: Vec<Landing> = ids.iter().map(|id| Landing::named(id)).collect();
    let mut refused = 0usize;
    for (id, landing) in ids.iter().zip(&landings) {
        let placement = match landing {
            Landing::Namespace(ns) => Placement::Namespaced(ns),
            Landing::Cluster => Placement::Cluster,
        };
        let object = ScopedObject::new(&id.group, &id.kind, placement, &id.name);
        refused += usize::from(scope.check(CHANNEL, &object).is_err());
    }
    let took = started.elapsed();
    assert_eq!(refused, 0, "every object is within the scope");
    took
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

#[tokio::main]
async fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("object counts"))
        .collect();
    let sizes = if sizes.is_empty() {
        vec![1_000, 100_000]
    } else {
        sizes
    };
    let key = SecretKey::from_seed([7; 32]);
    let scoped = TrustSpec::ScopedKeys {
        keys: vec![key.public()],
        scopes: vec![(vec![CHANNEL.parse().expect("a pattern")], team_scope())],
    };
    println!(
        "| objects | pass, --trust only (ms) | pass, --trust + --scopes (ms) | ratio | check alone (ms) |"
    );
    println!("|---:|---:|---:|---:|---:|");
    for n in sizes {
        let store = Store::open("memory://", &Default::default()).expect("a memory store");
        let entries = publish(&store, &key, n).await;
        let ids: Vec<&ResourceId> = entries.keys().collect();
        let (mut plain, mut with_scope, mut alone) = (Vec::new(), Vec::new(), Vec::new());
        // Alternate, so that drift in the machine's load reaches both alike.
        for _ in 0..ROUNDS {
            plain.push(pass(&store, TrustSpec::Keys(vec![key.public()])).await);
            with_scope.push(pass(&store, scoped.clone()).await);
            alone.push(check(&team_scope(), &ids));
        }
        let (plain, with_scope, alone) = (median(plain), median(with_scope), median(alone));
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        println!(
            "| {n} | {:.1} | {:.1} | {:.3} | {:.2} |",
            ms(plain),
            ms(with_scope),
            ms(with_scope) / ms(plain),
            ms(alone)
        );
    }
}
