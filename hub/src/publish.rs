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
    Digest, EntrySet, Epoch, Head, Packs, Rollout, SecretKey, SignedHead, layout,
};
use cairn_store::{Abilities, Created, Store};
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use indicatif::{ProgressBar, ProgressStyle};

use crate::channel::{Channel, Commit, Logged};
use crate::error::{Error, Result};
use crate::failpoint;
use crate::packs::{Blobs, Latest, PackWriter};
use crate::prepare::{self, Prepared};
use crate::remote::{CONCURRENCY, RemoteNodes};
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
    /// Snapshot pack shards uploaded (a new snapshot pack; 0 when the newest one still serves).
    pub snapshot_pack_shards_uploaded: usize,
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
            snapshot_pack_shards_uploaded: 0,
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
    let mut packs = PackWriter::new(
        store,
        snapshot,
        prepared.as_ref().map(|p| p.snapshot.index),
        prepared.as_ref().map_or(&empty, |p| &p.blobs),
    );
    published.entries = match &prepared {
        Some(prepared) => {
            published.changes = prepared.changes.len();
            if let Some(previous) = previous {
                packs.remember(previous, prepared.changes.clone());
            }
            upload_content(store, prepared, settings, &mut published).await?;
            prepared.snapshot.entries
        }
        None => nodes.snapshot(&snapshot).await?.entries,
    };
    let content_bytes = published.bytes_uploaded;
    let blobs = blobs_of(&mut publication.content);
    let offered = offer(
        &mut packs,
        &mut nodes,
        &channel,
        latest.as_ref(),
        settings,
        blobs,
    )
    .await?;
    note_packs(&mut published, &packs, content_bytes);
    failpoint::hit("after-deltas");

    let committer = Committer {
        channel,
        abilities,
        epoch: channel_epoch(latest.as_ref())?,
        publication: &publication,
        settings,
        nodes,
        packs,
        offered,
        content_bytes,
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

/// Signs and commits the new head, retrying on the next generation when others win.
struct Committer<'s, 'p> {
    channel: Channel<'s>,
    abilities: Abilities,
    publication: &'p Publication<'p>,
    settings: &'p Settings<'p>,
    nodes: RemoteNodes<'s>,
    /// The channel's epoch: the newest head's, or a fresh one for a new channel.
    epoch: Epoch,
    packs: PackWriter<'s, 'p>,
    /// The packs the head offers.
    offered: Packs,
    /// Bytes of the content uploaded before the packs.
    content_bytes: u64,
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
            self.epoch,
            generation,
            snapshot,
            self.now,
            expires_at,
        );
        head.previous_snapshot = latest.map(|l| l.head.snapshot);
        head.source = publication.source.clone();
        head.retire_at = publication.retire_at;
        head.rollout = publication.rollout.as_ref().map(|plan| plan.at(self.now));
        head.set_packs(self.offered.clone());
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
                // The packs now lead from the new newest generation too; the content is in the
                // store by now, so a snapshot pack is written from there.
                self.offered = offer(
                    &mut self.packs,
                    &mut self.nodes,
                    &self.channel,
                    latest.as_ref(),
                    self.settings,
                    Blobs::Store,
                )
                .await?;
                note_packs(&mut published, &self.packs, self.content_bytes);
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

/// Writes `bytes` at `key` unless an object is there already, and says whether it did: a
/// create-only write where the store honours one, else a check and a write (sound only with a
/// single publisher, which [`safe_abilities`] made the caller promise).
pub async fn create_once(
    store: &Store,
    key: &str,
    bytes: Vec<u8>,
    abilities: Abilities,
) -> Result<bool> {
    if abilities.create_only {
        return Ok(store.put_if_absent(key, bytes).await? == Created::Created);
    }
    if store.exists(key).await? {
        return Ok(false);
    }
    store.put(key, bytes).await?;
    Ok(true)
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

/// The epoch of the channel's next head: the newest head's, or a fresh one for a new channel (or
/// one whose heads are of format 1, which carry none).
fn channel_epoch(latest: Option<&Logged>) -> Result<Epoch> {
    if let Some(epoch) = latest.and_then(|l| l.head.epoch) {
        return Ok(epoch);
    }
    let mut bytes = [0; 16];
    getrandom::getrandom(&mut bytes)
        .map_err(|e| Error::Usage(format!("no randomness for a new channel epoch: {e}")))?;
    Ok(Epoch::from_bytes(bytes))
}

/// Writes the packs a head of `packs`'s target offers after `latest`: delta packs from the
/// channel's recent snapshots, a snapshot pack and the way from it (a bridge or a delta pack).
async fn offer(
    packs: &mut PackWriter<'_, '_>,
    nodes: &mut RemoteNodes<'_>,
    channel: &Channel<'_>,
    latest: Option<&Logged>,
    settings: &Settings<'_>,
    blobs: Blobs<'_>,
) -> Result<Packs> {
    let recent = recent_snapshots(channel, latest, settings.delta_depth).await?;
    let latest = latest.map(|l| Latest {
        snapshot: l.head.snapshot,
        packs: &l.head.packs,
    });
    packs.offer(nodes, &recent, latest, blobs).await
}

/// Where the blobs of a snapshot pack written from scratch come from.
fn blobs_of<'a>(content: &'a mut Content<'_>) -> Blobs<'a> {
    match content {
        Content::Local { blobs, .. } => Blobs::Local(blobs),
        Content::Scanned(scan) => Blobs::Scan(scan),
        Content::Existing(_) => Blobs::Store,
    }
}

fn note_packs(published: &mut Published, packs: &PackWriter<'_, '_>, content_bytes: u64) {
    published.deltas_uploaded = packs.written.deltas;
    published.snapshot_pack_shards_uploaded = packs.written.shards;
    published.bytes_uploaded = content_bytes + packs.written.bytes;
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
