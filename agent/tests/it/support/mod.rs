//! Test support: a small publisher written with the format and store crates (what the hub
//! writes, nothing more), and helpers to run agents against it.

pub mod http;

pub use cairn_test_support::{counting_memory, eventually};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cairn_agent::{ChannelSpec, Config, StoreLocation, TargetSpec, Timing};
use cairn_state_format::{
    Digest, EntrySet, Head, Node, Rollout, SecretKey, SignedHead, Snapshot, diff_entries,
    encode_delta, layout, parse_documents,
};
use cairn_store::{RequestCounts, Store};
use chrono::{DateTime, Utc};

/// What the hub writes for one channel.
pub struct Publisher {
    pub store: Store,
    pub key: SecretKey,
    pub channel: String,
    pub generation: u64,
    /// Write delta packs from the last 8 snapshots (as the hub does).
    pub deltas: bool,
    history: Vec<(Digest, EntrySet)>,
    blobs: HashMap<Digest, Vec<u8>>,
}

/// Options of one publish.
#[derive(Clone, Default)]
pub struct Options {
    pub rollout: Option<Rollout>,
    pub expires_at: Option<DateTime<Utc>>,
    pub retire_at: Option<DateTime<Utc>>,
}

pub fn key() -> SecretKey {
    SecretKey::from_seed([7; 32])
}

impl Publisher {
    pub fn new(store: &Store, channel: &str) -> Publisher {
        Publisher {
            store: store.clone(),
            key: key(),
            channel: channel.to_owned(),
            generation: 0,
            deltas: true,
            history: Vec::new(),
            blobs: HashMap::new(),
        }
    }

    pub async fn publish(&mut self, yaml: &str) -> Head {
        self.publish_with(yaml, Options::default()).await
    }

    /// Uploads blobs, index nodes, the snapshot, delta packs, then signs and writes the head.
    pub async fn publish_with(&mut self, yaml: &str, options: Options) -> Head {
        let resources = parse_documents("test.yaml", yaml).unwrap();
        let entries: EntrySet = resources
            .iter()
            .map(|r| (r.id.clone(), r.entry()))
            .collect();
        for r in &resources {
            self.blobs.insert(r.digest, r.canonical.clone());
            self.store
                .put(&layout::blob_key(&r.digest), r.canonical.clone())
                .await
                .unwrap();
        }
        let (snapshot, index) = Snapshot::build(&entries);
        for digest in index.digests() {
            let (_, canonical) = index.node(digest).unwrap();
            self.store
                .put(&layout::index_key(digest), Node::encode(canonical))
                .await
                .unwrap();
        }
        let digest = snapshot.digest();
        self.store
            .put(&layout::snapshot_key(&digest), snapshot.encode())
            .await
            .unwrap();
        if self.deltas {
            for (old_digest, old) in self.history.iter().rev().take(8) {
                if *old_digest == digest {
                    continue;
                }
                let pack = encode_delta(old_digest, &digest, &diff_entries(old, &entries), |d| {
                    self.blobs.get(d).cloned()
                })
                .unwrap();
                self.store
                    .put(&layout::delta_key(old_digest, &digest), pack)
                    .await
                    .unwrap();
            }
        }
        self.generation += 1;
        let now = Utc::now();
        let mut head = Head::new(
            &self.channel,
            self.generation,
            digest,
            now - chrono::Duration::seconds(1),
            options
                .expires_at
                .unwrap_or(now + chrono::Duration::hours(1)),
        );
        head.previous_snapshot = self.history.last().map(|(d, _)| *d);
        head.rollout = options.rollout;
        head.retire_at = options.retire_at;
        self.put_head(&head).await;
        self.history.push((digest, entries));
        head
    }

    /// Signs `head` with the publisher's key and writes it as the head and into the log.
    pub async fn put_head(&self, head: &Head) {
        let bytes = SignedHead::sign(head, &[&self.key]);
        self.put_raw_head(bytes.clone()).await;
        self.store
            .put(&layout::log_key(&head.channel, head.generation), bytes)
            .await
            .unwrap();
    }

    /// Writes arbitrary bytes as the head.
    pub async fn put_raw_head(&self, bytes: Vec<u8>) {
        self.store
            .put(&layout::head_key(&self.channel), bytes)
            .await
            .unwrap();
    }

    pub async fn delete_head(&self) {
        self.store
            .delete(&layout::head_key(&self.channel))
            .await
            .unwrap();
    }

    /// The snapshot digest of the last publish.
    pub fn snapshot(&self) -> Digest {
        self.history.last().unwrap().0
    }

    /// The snapshot before the last publish.
    pub fn previous(&self) -> Digest {
        self.history[self.history.len() - 2].0
    }
}

/// Timing for tests: short intervals, no random first offset, bounded backoff.
pub fn fast_timing() -> Timing {
    Timing {
        interval: Duration::from_millis(20),
        jitter: 0.1,
        resync: Duration::from_secs(3600),
        heartbeat: Duration::from_secs(3600),
        backoff_base: Duration::from_millis(5),
        backoff_cap: Duration::from_millis(50),
        drain: Duration::from_secs(5),
        request_timeout: Duration::from_secs(2),
        first_poll_offset: false,
    }
}

/// The layout of one test: where the target and the state dir are.
pub struct Dirs {
    pub _tmp: tempfile::TempDir,
    pub out: PathBuf,
    pub state: PathBuf,
}

pub fn dirs() -> Dirs {
    let tmp = tempfile::tempdir().unwrap();
    Dirs {
        out: tmp.path().join("out"),
        state: tmp.path().join("state"),
        _tmp: tmp,
    }
}

/// An agent config following `channels` of `store`.
pub fn config(store: StoreLocation, channels: &[&str], dirs: &Dirs) -> Config {
    let mut config = Config::new(
        store,
        channels
            .iter()
            .map(|c| ChannelSpec::parse(c).unwrap())
            .collect(),
        vec![key().public()],
        "cluster-1",
        TargetSpec::Dir(dirs.out.clone()),
        dirs.state.clone(),
    );
    config.timing = fast_timing();
    config
}

pub fn opened(store: &Store) -> StoreLocation {
    StoreLocation::Opened(store.clone())
}

/// Requests made between two counts.
pub fn since(before: RequestCounts, after: RequestCounts) -> RequestCounts {
    RequestCounts {
        puts: after.puts - before.puts,
        gets: after.gets - before.gets,
        deletes: after.deletes - before.deletes,
        lists: after.lists - before.lists,
        copies: after.copies - before.copies,
    }
}

pub fn read(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

pub fn cm(name: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, namespace: app}}\ndata: {{v: '{value}'}}\n---\n"
    )
}

pub fn cm_path(dirs: &Dirs, name: &str) -> PathBuf {
    dirs.out.join(format!("app/ConfigMap/{name}.yaml"))
}

pub const NAMESPACE: &str = "apiVersion: v1\nkind: Namespace\nmetadata: {name: app}\n---\n";

/// Whether `status` records a delta pack refused at fetch (before the agent walked the index).
pub fn refused_a_delta_pack(status: &cairn_state_format::StatusRecord) -> bool {
    status
        .errors
        .iter()
        .any(|e| e.class == "fetch" && e.message.contains("delta pack"))
}
