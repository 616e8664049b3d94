//! Publishing a generation: upload what the store lacks, write delta packs, then commit.
//!
//! Order matters for crash safety: blobs, index nodes, the snapshot root and delta packs are
//! immutable and content-addressed, so a crash before the commit leaves only unreferenced objects
//! (collected later by `cairn gc`) and the channel exactly as it was. The commit is the
//! create-only write of the log entry (see [`crate::channel`]).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use bytes::Bytes;
use cairn_state_format::{
    Change, Digest, EntrySet, Head, Rollout, SecretKey, SignedHead, encode_delta, layout,
};
use cairn_store::{Abilities, Store};
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use indicatif::{ProgressBar, ProgressStyle};

use crate::channel::{Channel, Commit, Logged};
use crate::error::{Error, Result};
use crate::failpoint;
use crate::prepare::{self, Prepared};
use crate::remote::{CONCURRENCY, RemoteNodes, fetch_blobs};
use crate::scan::Scan;
use crate::trust::{self, Signing};

/// The content of a new generation.
pub enum Content<'a> {
    /// Entries built from local manifests, with every blob's bytes.
    Local {
        /// The entries.
        entries: EntrySet,
        /// Canonical bytes of every entry's blob.
        blobs: HashMap<Digest, Bytes>,
    },
    /// Manifest files, scanned with the publish cache.
    Scanned(&'a mut Scan),
    /// A snapshot already in the store (revert, refresh, promote).
    Existing(Digest),
}

/// What to publish.
pub struct Publication<'a> {
    /// Channel name (validated).
    pub channel: String,
    /// The content.
    pub content: Content<'a>,
    /// Provenance for the head.
    pub source: BTreeMap<String, String>,
    /// How long the head stays valid.
    pub expires_in: Duration,
    /// Rollout steps as (percent, delay after publishing).
    pub rollout: Option<RolloutPlan>,
    /// For ephemeral channels: when agents retire the channel.
    pub retire_at: Option<DateTime<Utc>>,
    /// Publish even if the newest generation has the same snapshot.
    pub allow_unchanged: bool,
}

/// How to publish.
pub struct Settings<'a> {
    /// Keys that sign the head.
    pub keys: &'a [SecretKey],
    /// Write delta packs from this many of the channel's latest snapshots.
    pub delta_depth: usize,
    /// The caller promises no other publisher runs (needed on stores without conditional writes).
    pub single_publisher: bool,
    /// Show a progress bar on stderr for long uploads.
    pub progress: bool,
    /// When the keys are fewer than the channel's delegation asks for, propose the head (for
    /// `cairn sign`) instead of refusing.
    pub propose: bool,
}

/// What a publish did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Published {
    /// The channel.
    pub channel: String,
    /// The new generation, or the newest one if nothing changed.
    pub generation: u64,
    /// Its snapshot.
    pub snapshot: Digest,
    /// Whether nothing was published because the content is unchanged.
    pub unchanged: bool,
    /// Entries in the snapshot.
    pub entries: u64,
    /// Changes against the previous generation.
    pub changes: usize,
    /// Whether the new index was computed from the changed files alone (the publish cache
    /// described the previous generation), rather than built from every entry.
    pub incremental: bool,
    /// Blobs uploaded.
    pub blobs_uploaded: usize,
    /// Index nodes uploaded.
    pub nodes_uploaded: usize,
    /// Delta packs uploaded.
    pub deltas_uploaded: usize,
    /// Bytes uploaded.
    pub bytes_uploaded: u64,
    /// Set when the head was proposed rather than published: the channel's delegation needs more
    /// signatures (`cairn sign`). `generation` is then the generation it is proposed for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proposal: Option<Proposed>,
}

/// A head left for others to sign.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Proposed {
    /// Where it waits in the store.
    pub folder: String,
    /// The delegation that decides for the channel.
    pub delegation: String,
    /// Signatures it needs.
    pub threshold: u32,
    /// The keys that signed it so far.
    pub signers: Vec<String>,
    /// The keys that may sign it.
    pub allowed: Vec<String>,
}

impl Published {
    fn start(channel: &str, latest: Option<&Logged>, snapshot: Digest) -> Published {
        Published {
            channel: channel.to_owned(),
            generation: latest.map_or(0, |l| l.head.generation),
            snapshot,
            unchanged: false,
            entries: 0,
            changes: 0,
            incremental: false,
            blobs_uploaded: 0,
            nodes_uploaded: 0,
            deltas_uploaded: 0,
            bytes_uploaded: 0,
            proposal: None,
        }
    }
}

/// Most attempts at committing when other publishers keep winning.
const MAX_ATTEMPTS: usize = 16;

/// Publishes `publication` to `store`.
///
/// Before anything is uploaded, the keys are checked against the store's trust root (if it has
/// one): a head agents would refuse is never published. Keys that are delegated the channel but
/// fewer than its threshold publish a proposal instead, when `settings.propose` allows it.
pub async fn publish(
    store: &Store,
    mut publication: Publication<'_>,
    settings: &Settings<'_>,
) -> Result<Published> {
    let abilities = safe_abilities(store, settings.single_publisher).await?;
    let signing = check_trust(store, &publication.channel, settings).await?;
    let channel = Channel::new(store, &publication.channel);
    let mut nodes = RemoteNodes::new(store);
    let latest = channel.latest().await?;
    if let Some(l) = &latest {
        channel.catch_up_head(l, abilities).await?;
    }
    let previous = latest.as_ref().map(|l| l.head.snapshot);
    let prepared = prepare_content(&mut nodes, &mut publication.content, previous).await?;
    let snapshot = snapshot_of(prepared.as_ref(), &publication.content);
    let mut published = Published::start(&publication.channel, latest.as_ref(), snapshot);
    published.incremental = prepared.as_ref().is_some_and(|p| p.incremental);
    if !publication.allow_unchanged && previous == Some(snapshot) {
        published.unchanged = true;
        published.entries = prepared.as_ref().map_or(0, |p| p.snapshot.entries);
        return Ok(published);
    }

    let empty = HashMap::new();
    let mut deltas = DeltaWriter::new(store, snapshot, prepared.as_ref(), &empty);
    published.entries = match &prepared {
        Some(prepared) => {
            if let Some(previous) = previous {
                deltas.remember(previous, prepared.changes.clone());
            }
            upload_content(store, prepared, settings, &mut published).await?;
            prepared.snapshot.entries
        }
        None => nodes.snapshot(&snapshot).await?.entries,
    };
    let recent = recent_snapshots(&channel, latest.as_ref(), settings.delta_depth).await?;
    write_deltas(&mut deltas, &mut nodes, recent, &mut published).await?;
    failpoint::hit("after-deltas");

    let committer = Committer {
        channel,
        abilities,
        publication: &publication,
        settings,
        nodes,
        deltas,
        now: now(),
    };
    match signing {
        Signing::Partial { .. } => {
            committer
                .propose(signing, latest, snapshot, published)
                .await
        }
        Signing::Unchecked | Signing::Complete => {
            committer.commit(latest, snapshot, published).await
        }
    }
}

/// Checks the signing keys against the store's trust root, before anything is uploaded.
async fn check_trust(store: &Store, channel: &str, settings: &Settings<'_>) -> Result<Signing> {
    let chain = trust::load(store).await?;
    let signing = trust::gate(chain.as_ref(), channel, settings.keys, now())?;
    match signing {
        Signing::Partial {
            delegation,
            threshold,
            allowed,
        } if !settings.propose => Err(trust::TrustError::BelowThreshold {
            channel: channel.to_owned(),
            delegation,
            threshold,
            signers: settings.keys.iter().map(|k| k.public().id()).collect(),
            allowed,
        }
        .into()),
        Signing::Unchecked if settings.propose => Err(Error::Usage(format!(
            "--propose leaves a head for others to sign, but {} has no trust root that asks for more \
             than one signature (`cairn trust init`, `cairn trust delegate --threshold`)",
            store.url()
        ))),
        other => Ok(other),
    }
}

/// Builds the new snapshot, unless the content is one the store already has.
async fn prepare_content(
    nodes: &mut RemoteNodes<'_>,
    content: &mut Content<'_>,
    previous: Option<Digest>,
) -> Result<Option<Prepared>> {
    Ok(match content {
        Content::Local { entries, blobs } => {
            Some(prepare::from_entries(nodes, entries, blobs, previous.as_ref()).await?)
        }
        Content::Scanned(scan) => Some(prepare::from_scan(nodes, scan, previous.as_ref()).await?),
        Content::Existing(_) => None,
    })
}

/// The new generation's snapshot: the one prepared, or the existing one named.
fn snapshot_of(prepared: Option<&Prepared>, content: &Content<'_>) -> Digest {
    match (prepared, content) {
        (Some(p), _) => p.snapshot.digest(),
        (None, Content::Existing(digest)) => *digest,
        // Invariant: only `Existing` content has nothing to prepare.
        (None, _) => unreachable!("local content is always prepared"),
    }
}

/// Writes delta packs from the channel's recent snapshots, newest first.
async fn write_deltas(
    deltas: &mut DeltaWriter<'_, '_>,
    nodes: &mut RemoteNodes<'_>,
    recent: Vec<Digest>,
    published: &mut Published,
) -> Result<()> {
    for from in recent {
        match deltas.write(nodes, from).await {
            Ok(Some(uploaded)) => {
                published.deltas_uploaded += 1;
                published.bytes_uploaded += uploaded;
            }
            Ok(None) => {}
            // An older generation's content may have been garbage-collected: agents still on it
            // fall back to walking the index.
            Err(Error::Missing { what, digest }) => {
                tracing::info!(%from, what, %digest, "no delta pack from a collected snapshot");
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Signs and commits the new head, retrying on the next generation when others win.
struct Committer<'s, 'p> {
    channel: Channel<'s>,
    abilities: Abilities,
    publication: &'p Publication<'p>,
    settings: &'p Settings<'p>,
    nodes: RemoteNodes<'s>,
    deltas: DeltaWriter<'s, 'p>,
    now: DateTime<Utc>,
}

impl Committer<'_, '_> {
    /// The head of the generation after `latest`.
    fn head(&self, latest: Option<&Logged>, snapshot: Digest) -> Head {
        let publication = self.publication;
        let generation = latest.map_or(1, |l| l.head.generation + 1);
        let expires_at = self.now + publication.expires_in;
        let mut head = Head::new(
            &publication.channel,
            generation,
            snapshot,
            self.now,
            expires_at,
        );
        head.previous_snapshot = latest.map(|l| l.head.snapshot);
        head.source = publication.source.clone();
        head.retire_at = publication.retire_at;
        head.rollout = publication.rollout.as_ref().map(|plan| plan.at(self.now));
        head
    }

    fn sign(&self, head: &Head) -> Vec<u8> {
        let keys: Vec<&SecretKey> = self.settings.keys.iter().collect();
        SignedHead::sign(head, &keys)
    }

    /// Leaves the head for `cairn sign`: the channel's delegation needs more signatures.
    async fn propose(
        self,
        signing: Signing,
        latest: Option<Logged>,
        snapshot: Digest,
        mut published: Published,
    ) -> Result<Published> {
        let Signing::Partial {
            delegation,
            threshold,
            allowed,
        } = signing
        else {
            return Ok(published);
        };
        let head = self.head(latest.as_ref(), snapshot);
        let signed = self.sign(&head);
        let store = self.channel.store();
        let folder = crate::proposal::create(store, &signed, self.abilities).await?;
        published.generation = head.generation;
        published.proposal = Some(Proposed {
            folder,
            delegation,
            threshold,
            signers: self.settings.keys.iter().map(|k| k.public().id()).collect(),
            allowed,
        });
        Ok(published)
    }

    async fn commit(
        mut self,
        mut latest: Option<Logged>,
        snapshot: Digest,
        mut published: Published,
    ) -> Result<Published> {
        for _attempt in 0..MAX_ATTEMPTS {
            let head = self.head(latest.as_ref(), snapshot);
            let signed = self.sign(&head);
            if self
                .channel
                .commit(head.generation, &signed, self.abilities)
                .await?
                == Commit::Committed
            {
                published.generation = head.generation;
                return Ok(published);
            }
            tracing::info!(
                channel = self.channel.name(),
                generation = head.generation,
                "another publisher logged this generation first; retrying"
            );
            latest = self.channel.latest().await?;
            if let Some(l) = latest.as_ref() {
                if !self.publication.allow_unchanged && l.head.snapshot == snapshot {
                    published.generation = l.head.generation;
                    published.unchanged = true;
                    return Ok(published);
                }
                if self
                    .deltas
                    .write(&mut self.nodes, l.head.snapshot)
                    .await?
                    .is_some()
                {
                    published.deltas_uploaded += 1;
                }
            }
        }
        Err(Error::Conflict(format!(
            "channel {:?}: other publishers logged {MAX_ATTEMPTS} generations in a row before this one could; nothing \
             was published (the uploaded content stays for the next attempt)",
            self.publication.channel
        )))
    }
}

/// Probes the store and refuses to go on where concurrent publishers could lose updates, unless
/// the caller promised there is only one.
pub async fn safe_abilities(store: &Store, single_publisher: bool) -> Result<Abilities> {
    let abilities = store.probe().await?;
    if !abilities.create_only && !single_publisher {
        return Err(Error::Conflict(format!(
            "{} does not honour conditional writes: a second create-only PUT of a probe object succeeded \
             instead of failing (Garage and some other S3-compatible servers ignore If-None-Match). On \
             such a store two publishers racing for one generation would silently overwrite each other. \
             If only one publisher ever runs at a time (for example a CI job with a concurrency limit), \
             pass --single-publisher (or CAIRN_SINGLE_PUBLISHER=1)",
            store.url()
        )));
    }
    Ok(abilities)
}

/// Uploads what the store lacks of a prepared snapshot: the blobs its changes add (blobs the
/// previous snapshot has are in the store already), its new index nodes, then its root.
async fn upload_content(
    store: &Store,
    prepared: &Prepared,
    settings: &Settings<'_>,
    published: &mut Published,
) -> Result<()> {
    let bar = progress_bar(
        settings.progress,
        prepared.blobs.len() + prepared.nodes.len() + 1,
    );
    let blob_items: Vec<(String, Bytes)> = prepared
        .blobs
        .iter()
        .map(|(d, bytes)| (layout::blob_key(d), bytes.clone()))
        .collect();
    published.changes = prepared.changes.len();
    published.blobs_uploaded = blob_items.len();
    published.bytes_uploaded += upload_all(store, blob_items, &bar).await?;
    failpoint::hit("after-blobs");

    let node_items: Vec<(String, Bytes)> = prepared
        .nodes
        .iter()
        .map(|(d, canonical)| {
            (
                layout::index_key(d),
                Bytes::from(cairn_state_format::Node::encode(canonical)),
            )
        })
        .collect();
    published.nodes_uploaded = node_items.len();
    published.bytes_uploaded += upload_all(store, node_items, &bar).await?;
    failpoint::hit("after-index");

    let root = prepared.snapshot.encode();
    published.bytes_uploaded += root.len() as u64;
    store
        .put(&layout::snapshot_key(&prepared.snapshot.digest()), root)
        .await?;
    bar.inc(1);
    bar.finish_and_clear();
    failpoint::hit("after-snapshot");
    Ok(())
}

async fn upload_all(store: &Store, items: Vec<(String, Bytes)>, bar: &ProgressBar) -> Result<u64> {
    futures::stream::iter(items)
        .map(|(key, bytes)| async move {
            let len = bytes.len() as u64;
            store.put(&key, bytes).await?;
            bar.inc(1);
            Ok::<_, Error>(len)
        })
        .buffer_unordered(CONCURRENCY)
        .try_fold(0, |total, len| async move { Ok(total + len) })
        .await
}

fn progress_bar(enabled: bool, total: usize) -> ProgressBar {
    if !enabled || total < 64 {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total as u64);
    // Invariant: the template is a constant known to parse.
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} uploading {pos}/{len} objects [{bar:30}] {per_sec} eta {eta}",
        )
        .expect("valid template"),
    );
    bar
}

/// The distinct snapshots of the channel's newest `depth` generations, newest first.
async fn recent_snapshots(
    channel: &Channel<'_>,
    latest: Option<&Logged>,
    depth: usize,
) -> Result<Vec<Digest>> {
    let mut out: Vec<Digest> = Vec::new();
    let Some(latest) = latest else { return Ok(out) };
    out.push(latest.head.snapshot);
    let mut generation = latest.head.generation;
    while out.len() < depth && generation > 1 {
        generation -= 1;
        match channel.generation(generation).await? {
            Some(logged) if !out.contains(&logged.head.snapshot) => out.push(logged.head.snapshot),
            Some(_) => {}
            None => break,
        }
    }
    Ok(out)
}

/// Writes delta packs to one target snapshot from any number of source snapshots.
struct DeltaWriter<'s, 'l> {
    store: &'s Store,
    to: Digest,
    /// The target's index root: known when this publish built it, else read once.
    to_root: Option<Digest>,
    /// Blobs this publish has in memory (others are fetched from the store).
    local: &'l HashMap<Digest, Bytes>,
    known_changes: HashMap<Digest, Vec<Change>>,
    written: Vec<Digest>,
}

impl<'s, 'l> DeltaWriter<'s, 'l> {
    /// A writer of packs to `to`, using the prepared snapshot's index root and blobs when this
    /// publish built it (`none` is an empty map for when it did not).
    fn new(
        store: &'s Store,
        to: Digest,
        prepared: Option<&'l Prepared>,
        none: &'l HashMap<Digest, Bytes>,
    ) -> Self {
        DeltaWriter {
            store,
            to,
            to_root: prepared.map(|p| p.snapshot.index),
            local: prepared.map_or(none, |p| &p.blobs),
            known_changes: HashMap::new(),
            written: Vec::new(),
        }
    }

    fn remember(&mut self, from: Digest, changes: Vec<Change>) {
        self.known_changes.insert(from, changes);
    }

    /// Writes the pack `from → to`; returns its size, or `None` if there was nothing to write.
    async fn write(&mut self, nodes: &mut RemoteNodes<'_>, from: Digest) -> Result<Option<u64>> {
        if from == self.to || self.written.contains(&from) {
            return Ok(None);
        }
        let changes = match self.known_changes.remove(&from) {
            Some(changes) => changes,
            None => {
                // The new index's nodes are known to `nodes` (prepared or fetched).
                let from_root = nodes.snapshot(&from).await?.index;
                let to_root = match self.to_root {
                    Some(root) => root,
                    None => *self.to_root.insert(nodes.snapshot(&self.to).await?.index),
                };
                nodes.diff(&from_root, &to_root).await?
            }
        };
        let needed = changes.iter().filter_map(|c| match c {
            Change::Added(e) | Change::Changed { new: e, .. } => Some(e.blob),
            Change::Removed(_) => None,
        });
        let mut blobs: HashMap<Digest, Bytes> = HashMap::new();
        let mut missing = Vec::new();
        for digest in needed {
            match self.local.get(&digest) {
                Some(bytes) => {
                    blobs.insert(digest, bytes.clone());
                }
                None => missing.push(digest),
            }
        }
        blobs.extend(fetch_blobs(self.store, missing).await?);
        let pack = encode_delta(&from, &self.to, &changes, |d| {
            blobs.get(d).map(|b| b.to_vec())
        })?;
        let size = pack.len() as u64;
        self.store
            .put(&layout::delta_key(&from, &self.to), pack)
            .await?;
        self.written.push(from);
        Ok(Some(size))
    }
}

/// A rollout for a new head.
#[derive(Clone, Debug)]
pub enum RolloutPlan {
    /// Steps as (percent, delay after publishing): a new rollout.
    Relative(Vec<(u32, Duration)>),
    /// Steps at fixed times: a rollout being advanced, paused or resumed.
    Absolute(Rollout),
}

impl RolloutPlan {
    fn at(&self, published_at: DateTime<Utc>) -> Rollout {
        match self {
            RolloutPlan::Absolute(rollout) => rollout.clone(),
            RolloutPlan::Relative(steps) => Rollout {
                steps: steps
                    .iter()
                    .map(|(percent, delay)| cairn_state_format::RolloutStep {
                        percent: *percent,
                        not_before: chrono::Duration::from_std(*delay)
                            .ok()
                            .and_then(|d| published_at.checked_add_signed(d))
                            .unwrap_or(DateTime::<Utc>::MAX_UTC),
                    })
                    .collect(),
                paused_at: None,
            },
        }
    }
}

/// The current time, to the second (heads carry whole seconds).
pub fn now() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp(now.timestamp(), 0).unwrap_or(now)
}
