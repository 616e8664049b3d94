//! Byte sizes of cairn's wire objects for realistic snapshots, printed as the Markdown that
//! `docs/FORMAT.md` quotes.
//!
//! ```text
//! cargo run --release -p cairn-state-format --example format_figures
//! ```
//!
//! It builds synthetic platform repositories of M = 1,000, 20,000 and 200,000 objects (per team
//! namespace: a Namespace, then 16 apps of a ConfigMap, a Deployment and a Service), changes 1, 10
//! and M/10 Deployments (an image bump, as most real changes are), and measures what a hub writes
//! and an agent reads for that change. Everything is derived from the object's position, so the
//! output is the same on every run.

use std::collections::{BTreeMap, HashMap, HashSet};

use cairn_state_format::{
    DeltaRef, Digest, EntrySet, Epoch, FANOUT, FORMAT_VERSION, HEAD_FORMAT, Head, Index,
    LEAF_CAPACITY, Node, Origin, PackRef, Resource, SecretKey, SignedHead, Snapshot,
    SnapshotPackRef, SnapshotPackWriter, diff_entries, encode_delta,
};
use chrono::{TimeZone, Utc};
use serde_json::{Value, json};

/// Objects per team namespace: the Namespace and 16 apps of three objects each.
const BLOCK: usize = 1 + 16 * 3;
const SIZES: [usize; 3] = [1_000, 20_000, 200_000];
const WORDS: [&str; 12] = [
    "api", "web", "worker", "billing", "search", "auth", "cart", "ingest", "notify", "report",
    "gateway", "catalog",
];
/// The level `Node::encode` uses (private in the crate; kept in step with `index.rs`).
const NODE_LEVEL: i32 = 19;
/// The level `encode_delta` uses (private in the crate; kept in step with `delta.rs`).
const DELTA_LEVEL: i32 = 9;
/// Delta packs a hub's head names: from its last 8 snapshots (`--delta-depth`), and from its
/// snapshot pack's snapshot.
const NAMED_DELTAS: usize = 9;
/// A shard of a snapshot pack is cut at this many uncompressed bytes (the hub's `SHARD_BYTES`).
const SHARD_BYTES: u64 = 32 * 1024 * 1024;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!(
        "Format {FORMAT_VERSION} (heads of format {HEAD_FORMAT}, naming {NAMED_DELTAS} delta packs \
         and a snapshot pack), index leaf capacity {LEAF_CAPACITY}, fanout {FANOUT}; index nodes \
         stored at zstd level {NODE_LEVEL}, delta and snapshot packs at zstd level {DELTA_LEVEL}.\n"
    );
    println!(
        "| objects M | changed | snapshot root B | index nodes | changed nodes | changed nodes \
         stored B | changed nodes canonical B | delta pack B | signed head B | changed blobs B |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let mut levels = Vec::new();
    let mut packs = Vec::new();
    for m in SIZES {
        let repo = Repo::generate(m)?;
        packs.push((m, repo.snapshot_pack()?));
        for k in [1, 10, m / 10] {
            let figures = repo.change(k)?;
            println!("{}", figures.row());
            if k == m / 10 && m <= 20_000 {
                levels.push((m, k, figures));
            }
        }
    }
    print_levels(&levels)?;
    print_packs(&packs);
    Ok(())
}

/// The snapshot pack of each repository: what a new agent fetches after the head.
fn print_packs(packs: &[(usize, (usize, usize, usize))]) {
    println!("\nSnapshot packs (every entry and its blob, one shard per 32 MiB of lines):\n");
    println!("| objects M | shards | snapshot pack B | uncompressed B | B per object |");
    println!("|---:|---:|---:|---:|---:|");
    for (m, (shards, stored, lines)) in packs {
        println!(
            "| {} | {shards} | {} | {} | {:.0} |",
            group(*m),
            group(*stored),
            group(*lines),
            *stored as f64 / *m as f64
        );
    }
}

/// The kinds of a team's objects, by position in its block.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Namespace,
    ConfigMap,
    Deployment,
    Service,
}

fn kind_of(i: usize) -> Kind {
    match i % BLOCK {
        0 => Kind::Namespace,
        pos => [Kind::ConfigMap, Kind::Deployment, Kind::Service][(pos - 1) % 3],
    }
}

/// The facts an object is derived from: its team, its app and that app's version.
struct App {
    team: String,
    name: String,
    version: String,
    seed: usize,
}

impl App {
    /// The app object `i` belongs to; `revision` > 0 bumps its version.
    fn of(i: usize, revision: usize) -> App {
        let app_no = (i % BLOCK).saturating_sub(1) / 3;
        let seed = i / BLOCK * 16 + app_no;
        App {
            team: format!("team-{:04}", i / BLOCK),
            name: format!("{}-{app_no}", WORDS[seed % WORDS.len()]),
            version: format!("1.{}.{}", seed % 7, (seed + revision) % 10 + revision * 10),
            seed,
        }
    }

    /// Namespaced metadata with the usual labels; one app in 11 is limited to some clusters.
    fn metadata(&self, name: &str) -> Value {
        let mut meta = json!({
            "name": name,
            "namespace": self.team,
            "labels": {
                "app.kubernetes.io/name": self.name,
                "app.kubernetes.io/part-of": self.team,
                "app.kubernetes.io/version": self.version,
                "app.kubernetes.io/managed-by": "cairn",
            },
        });
        if self.seed.is_multiple_of(11) {
            meta["annotations"] =
                json!({"cairn.dev/cluster-selector": "env in (prod,staging),!canary"});
        }
        meta
    }

    fn namespace(&self) -> Value {
        json!({
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {
                "name": self.team,
                "labels": {"team": self.team, "cost-center": format!("cc-{}", self.seed % 40)},
                "annotations": {"cairn.dev/wave": "-1"},
            },
        })
    }

    fn config_map(&self) -> Value {
        let (seed, team) = (self.seed, &self.team);
        let upstream = WORDS[(seed + 1) % WORDS.len()];
        json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": self.metadata(&format!("{}-config", self.name)),
            "data": {
                "LOG_LEVEL": if seed.is_multiple_of(5) { "debug" } else { "info" },
                "UPSTREAM_URL": format!("http://{upstream}.{team}.svc.cluster.local:8080"),
                "CACHE_TTL_SECONDS": format!("{}", 30 + seed % 300),
                "application.properties":
                    format!("server.port=8080\nmanagement.port=9090\npool.size={}\n", 4 + seed % 16),
            },
        })
    }

    fn service(&self) -> Value {
        json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": self.metadata(&self.name),
            "spec": {
                "type": "ClusterIP",
                "selector": {"app.kubernetes.io/name": self.name},
                "ports": [
                    {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"},
                    {"name": "metrics", "port": 9090, "targetPort": 9090, "protocol": "TCP"},
                ],
            },
        })
    }

    fn deployment(&self) -> Value {
        let (app, team, version, seed) = (&self.name, &self.team, &self.version, self.seed);
        let resources = json!({
            "requests": {"cpu": format!("{}m", 50 + 50 * (seed % 6)), "memory": format!("{}Mi", 64 << (seed % 4))},
            "limits": {"cpu": format!("{}m", 500 + 250 * (seed % 4)), "memory": format!("{}Mi", 256 << (seed % 3))},
        });
        let container = json!({
            "name": app,
            "image": format!("registry.example.com/{team}/{app}:{version}"),
            "ports": [{"name": "http", "containerPort": 8080}, {"name": "metrics", "containerPort": 9090}],
            "env": [
                {"name": "APP_NAME", "value": app},
                {"name": "REGION", "value": REGIONS[seed % 3]},
                {"name": "DB_HOST", "value": format!("db-{}.{team}.svc", seed % 3)},
                {"name": "GOMAXPROCS", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
            ],
            "envFrom": [{"configMapRef": {"name": format!("{app}-config")}}],
            "resources": resources,
            "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 10},
            "livenessProbe": {"httpGet": {"path": "/livez", "port": "http"}, "initialDelaySeconds": 15},
        });
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": self.metadata(app),
            "spec": {
                "replicas": 2 + seed % 4,
                "revisionHistoryLimit": 5,
                "selector": {"matchLabels": {"app.kubernetes.io/name": app}},
                "template": {
                    "metadata": {"labels": {"app.kubernetes.io/name": app, "app.kubernetes.io/version": version}},
                    "spec": {
                        "serviceAccountName": app,
                        "securityContext": {"runAsNonRoot": true, "runAsUser": 10001},
                        "containers": [container],
                    },
                },
            },
        })
    }
}

const REGIONS: [&str; 3] = ["eu-west-1", "us-east-1", "ap-south-1"];

/// Object `i` of the synthetic repository; `revision` > 0 bumps a Deployment's image.
fn object(i: usize, revision: usize) -> Value {
    let app = App::of(i, revision);
    match kind_of(i) {
        Kind::Namespace => app.namespace(),
        Kind::ConfigMap => app.config_map(),
        Kind::Deployment => app.deployment(),
        Kind::Service => app.service(),
    }
}

fn resource(i: usize, revision: usize) -> Result<Resource, cairn_state_format::Error> {
    let origin = Origin::new(
        &format!("teams/{:04}/objects.yaml", i / BLOCK),
        i % BLOCK + 1,
    );
    Resource::from_value(object(i, revision), origin)
}

/// One synthetic repository and its published snapshot.
struct Repo {
    m: usize,
    entries: EntrySet,
    snapshot: Snapshot,
    index: Index,
}

/// What one change costs.
struct Figures {
    m: usize,
    changed: usize,
    root_bytes: usize,
    nodes: usize,
    changed_nodes: Vec<Vec<u8>>,
    delta: Vec<u8>,
    head_bytes: usize,
    blob_bytes: usize,
}

impl Repo {
    fn generate(m: usize) -> Result<Repo, cairn_state_format::Error> {
        let mut entries = EntrySet::new();
        for i in 0..m {
            let r = resource(i, 0)?;
            entries.insert(r.id.clone(), r.entry());
        }
        let (snapshot, index) = Snapshot::build(&entries);
        Ok(Repo {
            m,
            entries,
            snapshot,
            index,
        })
    }

    /// Shards, stored bytes and uncompressed bytes of the repository's snapshot pack.
    fn snapshot_pack(&self) -> Result<(usize, usize, usize), cairn_state_format::Error> {
        let mut blobs = HashMap::new();
        for i in 0..self.m {
            let r = resource(i, 0)?;
            blobs.insert(r.digest, r.canonical);
        }
        let mut writer = SnapshotPackWriter::new(self.snapshot.digest(), SHARD_BYTES);
        let mut shards = Vec::new();
        let mut lines = 0;
        for entry in self.entries.values() {
            let blob = &blobs[&entry.blob];
            lines += blob.len() + 1;
            shards.extend(writer.push(entry, blob)?);
        }
        shards.extend(writer.finish()?);
        let stored = shards.iter().map(Vec::len).sum();
        Ok((shards.len(), stored, lines))
    }

    /// Bumps the image of `k` Deployments spread evenly over the repository.
    fn change(&self, k: usize) -> Result<Figures, Box<dyn std::error::Error>> {
        let deployments: Vec<usize> = (0..self.m)
            .filter(|&i| kind_of(i) == Kind::Deployment)
            .collect();
        let stride = deployments.len() / k;
        let mut entries = self.entries.clone();
        let mut blobs = HashMap::new();
        for j in 0..k {
            let r = resource(deployments[j * stride + stride / 2], 1)?;
            entries.insert(r.id.clone(), r.entry());
            blobs.insert(r.digest, r.canonical);
        }
        let (snapshot, index) = Snapshot::build(&entries);
        let old: HashSet<&Digest> = self.index.digests().collect();
        let changed_nodes = index
            .digests()
            .filter(|d| !old.contains(d))
            .filter_map(|d| index.node(d).map(|(_, canonical)| canonical.to_vec()))
            .collect();
        let changes = diff_entries(&self.entries, &entries);
        let delta = encode_delta(&self.snapshot.digest(), &snapshot.digest(), &changes, |d| {
            blobs.get(d).cloned()
        })?;
        Ok(Figures {
            m: self.m,
            changed: k,
            root_bytes: snapshot.encode().len(),
            nodes: index.len(),
            changed_nodes,
            delta,
            head_bytes: signed_head(&snapshot, &self.snapshot).len(),
            blob_bytes: blobs.values().map(Vec::len).sum(),
        })
    }
}

/// A typical head: a previous snapshot, a week's expiry, provenance, the packs a hub offers
/// (delta packs from its last snapshots and its snapshot pack's, a one-shard snapshot pack),
/// one signature.
fn signed_head(snapshot: &Snapshot, previous: &Snapshot) -> Vec<u8> {
    // Invariant: a fixed, valid UTC date and time has exactly one instant.
    let published = Utc
        .with_ymd_and_hms(2026, 3, 1, 12, 0, 0)
        .single()
        .expect("a valid UTC instant");
    let mut head = Head::new(
        "prod",
        Epoch::from_bytes([0x5e; 16]),
        1042,
        snapshot.digest(),
        published,
        published + chrono::Duration::days(7),
    );
    head.previous_snapshot = Some(previous.digest());
    head.source = BTreeMap::from([
        ("commit".to_owned(), "9f1c2e7a4b8d".repeat(3) + "9f1c"),
        (
            "pipeline".to_owned(),
            "https://ci.example.com/platform/builds/48213".to_owned(),
        ),
        ("publisher".to_owned(), "ci@platform.example.com".to_owned()),
    ]);
    let pack = |i: u8| PackRef {
        bytes: 1_000_000 + u64::from(i),
        digest: Digest::of(&[i]),
    };
    head.packs.deltas = (0..NAMED_DELTAS as u8)
        .map(|i| DeltaRef {
            from: Digest::of(&[i, i]),
            bytes: pack(i).bytes,
            digest: pack(i).digest,
        })
        .collect();
    head.packs.snapshot = Some(SnapshotPackRef {
        snapshot: Digest::of(b"packed"),
        shards: vec![pack(200)],
    });
    SignedHead::sign(&head, &[&SecretKey::from_seed([7; 32])])
}

impl Figures {
    fn stored_nodes(&self, level: i32) -> usize {
        self.changed_nodes
            .iter()
            .map(|c| {
                if level == NODE_LEVEL {
                    Node::encode(c).len()
                } else {
                    zstd::bulk::compress(c, level).map_or(0, |z| z.len())
                }
            })
            .sum()
    }

    fn row(&self) -> String {
        let canonical: usize = self.changed_nodes.iter().map(Vec::len).sum();
        format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            group(self.m),
            group(self.changed),
            self.root_bytes,
            group(self.nodes),
            group(self.changed_nodes.len()),
            group(self.stored_nodes(NODE_LEVEL)),
            group(canonical),
            group(self.delta.len()),
            self.head_bytes,
            group(self.blob_bytes),
        )
    }
}

/// The same pack and nodes recompressed at other zstd levels (what a level change would give).
fn print_levels(levels: &[(usize, usize, Figures)]) -> Result<(), Box<dyn std::error::Error>> {
    println!(
        "\nThe 10 % change recompressed at other zstd levels (same bytes, same frame options):\n"
    );
    println!("| objects M | changed | level | delta pack B | changed nodes stored B |");
    println!("|---:|---:|---:|---:|---:|");
    for (m, k, figures) in levels {
        let lines = zstd::decode_all(figures.delta.as_slice())?;
        for level in [3, 9, 19] {
            let mut encoder = zstd::Encoder::new(Vec::new(), level)?;
            encoder.include_checksum(true)?;
            std::io::Write::write_all(&mut encoder, &lines)?;
            let pack = encoder.finish()?;
            println!(
                "| {} | {} | {level} | {} | {} |",
                group(*m),
                group(*k),
                group(pack.len()),
                group(figures.stored_nodes(level)),
            );
        }
    }
    Ok(())
}

/// `1234567` → `1,234,567`.
fn group(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
