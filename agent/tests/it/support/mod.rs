//! Test support: a small publisher written with the format and store crates (what the hub
//! writes, nothing more), and helpers to run agents against it.

pub mod http;

pub use cairn_test_support::{counting_memory, eventually};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cairn_agent::{ChannelSpec, Config, StoreLocation, TargetSpec, Timing};
use cairn_state_format::{
    DeltaRef, Digest, EntrySet, Epoch, Head, Node, PackRef, Packs, Rollout, SecretKey, SignedHead,
    Snapshot, SnapshotPackRef, SnapshotPackWriter, diff_entries, encode_delta, layout,
    parse_documents,
};
use cairn_store::{RequestCounts, Store};
use chrono::{DateTime, Utc};

/// What the hub writes for one channel.
pub struct Publisher {
    pub store: Store,
    pub key: SecretKey,
    pub channel: String,
    pub generation: u64,
    /// The channel's epoch (format 2 heads).
    pub epoch: Epoch,
    /// Write format 1 heads, as hubs before format 2 did: no epoch, no packs named, delta
    /// packs at `deltas/<from>/<to>`.
    pub format_1: bool,
    /// Write delta packs from the last 8 snapshots (as the hub does).
    pub deltas: bool,
    /// Write a snapshot pack at the next publish (the first one writes one).
    pub repack: bool,
    /// The newest snapshot pack.
    pub snapshot_pack: Option<SnapshotPackRef>,
    /// The packs the last format 2 head named.
    pub last_packs: Option<Packs>,
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
            epoch: Epoch::from_bytes([0xe1; 16]),
            format_1: false,
            deltas: true,
            repack: true,
            snapshot_pack: None,
            last_packs: None,
            history: Vec::new(),
            blobs: HashMap::new(),
        }
    }

    /// A new channel of the same name (as after deleting it): a new epoch, generations from 1.
    pub fn recreate(&mut self) {
        self.epoch = Epoch::from_bytes([0xe2; 16]);
        self.generation = 0;
        self.history.clear();
        self.snapshot_pack = None;
        self.repack = true;
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
        let packs = self.write_packs(&digest, &entries).await;
        self.generation += 1;
        let now = Utc::now();
        let (published, expires) = (
            now - chrono::Duration::seconds(1),
            options
                .expires_at
                .unwrap_or(now + chrono::Duration::hours(1)),
        );
        let mut head = if self.format_1 {
            Head::format_1(&self.channel, self.generation, digest, published, expires)
        } else {
            Head::new(
                &self.channel,
                self.epoch,
                self.generation,
                digest,
                published,
                expires,
            )
        };
        self.last_packs = (!self.format_1).then(|| packs.clone());
        head.packs = packs;
        head.previous_snapshot = self.history.last().map(|(d, _)| *d);
        head.rollout = options.rollout;
        head.retire_at = options.retire_at;
        self.put_head(&head).await;
        self.history.push((digest, entries));
        head
    }

    /// Writes the packs a head of snapshot `to` offers, as the hub does: delta packs from the
    /// last 8 snapshots and from the snapshot pack's, and a snapshot pack when asked (always at
    /// the first publish). Format 1: delta packs at their old keys, none named.
    async fn write_packs(&mut self, to: &Digest, entries: &EntrySet) -> Packs {
        let mut packs = Packs::default();
        if !self.format_1 && (self.repack || self.snapshot_pack.is_none()) {
            self.snapshot_pack = Some(self.write_snapshot_pack(to, entries).await);
            self.repack = false;
        }
        if !self.deltas {
            packs.snapshot = self.snapshot_pack.clone().filter(|_| !self.format_1);
            return packs;
        }
        let mut sources: Vec<(Digest, EntrySet)> = Vec::new();
        for (old_digest, old) in self.history.iter().rev().take(8) {
            if old_digest != to && !sources.iter().any(|(d, _)| d == old_digest) {
                sources.push((*old_digest, old.clone()));
            }
        }
        if let Some(sp) = self.snapshot_pack.as_ref().filter(|sp| sp.snapshot != *to)
            && !sources.iter().any(|(d, _)| *d == sp.snapshot)
            && let Some((_, old)) = self.history.iter().find(|(d, _)| *d == sp.snapshot)
        {
            sources.push((sp.snapshot, old.clone()));
        }
        for (from, old) in sources {
            let pack = encode_delta(&from, to, &diff_entries(&old, entries), |d| {
                self.blobs.get(d).cloned()
            })
            .unwrap();
            if self.format_1 {
                self.put(&layout::delta_key(&from, to), pack).await;
                continue;
            }
            let stored = self.put_pack(pack).await;
            packs.deltas.push(DeltaRef {
                from,
                bytes: stored.bytes,
                digest: stored.digest,
            });
        }
        packs.snapshot = self.snapshot_pack.clone().filter(|_| !self.format_1);
        packs
    }

    async fn write_snapshot_pack(&mut self, to: &Digest, entries: &EntrySet) -> SnapshotPackRef {
        let mut writer = SnapshotPackWriter::new(*to, 32 * 1024 * 1024);
        let mut shards = Vec::new();
        for entry in entries.values() {
            if let Some(shard) = writer.push(entry, &self.blobs[&entry.blob]).unwrap() {
                shards.push(self.put_pack(shard).await);
            }
        }
        if let Some(shard) = writer.finish().unwrap() {
            shards.push(self.put_pack(shard).await);
        }
        SnapshotPackRef {
            snapshot: *to,
            shards,
        }
    }

    /// Stores a pack under the digest of its bytes.
    pub async fn put_pack(&self, pack: Vec<u8>) -> PackRef {
        let stored = PackRef {
            bytes: pack.len() as u64,
            digest: Digest::of(&pack),
        };
        self.put(&layout::pack_key(&stored.digest), pack).await;
        stored
    }

    async fn put(&self, key: &str, bytes: Vec<u8>) {
        self.store.put(key, bytes).await.unwrap();
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

    /// The key of the delta pack from the snapshot before the last publish to the last one: the
    /// pack the last head names (format 2), or its old key (format 1).
    pub fn last_delta_key(&self) -> String {
        let (from, to) = (self.previous(), self.snapshot());
        match &self.last_packs {
            Some(packs) => layout::pack_key(&packs.delta_from(&from).unwrap().digest),
            None => layout::delta_key(&from, &to),
        }
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
