//! Publishing a generation: read the manifests, check them, upload what the store lacks, write
//! delta packs, then commit.
//!
//! The pipeline, in the order it runs (each step a module):
//!
//! | step | module | what |
//! |---|---|---|
//! | list | [`inputs`] | the input files, each file and directory once |
//! | scan | [`scan`], [`scan_cache`], [`source_map`], [`records`] | records of unchanged files from the publish cache (by stat data or by content) or from the head's source map in the store, the rest parsed on every core |
//! | parse | [`manifests`], [`object_meta`], [`placement`], [`kinds`] | a file into records; what one object can be checked for alone; `--namespace` |
//! | check | [`validate`] | the checks across files, before any upload |
//! | prepare | [`prepare`] | the new snapshot and what the store lacks of it, incrementally when the cache describes the channel's head |
//! | upload | [`upload`] | blobs, index nodes, the snapshot root |
//! | packs | [`packs`] | delta packs from recent snapshots, the snapshot pack and the way from it |
//! | commit | [`commit`] | sign the head and write the log entry create-only, or propose it |
//! | map | [`source_map`] | the new snapshot's source map, for the next publish that has no publish cache |
//!
//! [`request`] says what to publish and how ([`rollout`] a head's rollout), [`published`] what a
//! publish did, [`progress`] what a long one shows on a terminal.
//!
//! Order matters for crash safety: blobs, index nodes, the snapshot root and delta packs are
//! immutable and content-addressed, so a crash before the commit leaves only unreferenced objects
//! (collected later by `cairn gc`) and the channel exactly as it was. The commit is the
//! create-only write of the log entry (see [`crate::channel`]). The source map comes after it:
//! a crash before it is written costs the next publish without a publish cache a full parse.

mod commit;
pub mod inputs;
pub mod kinds;
pub mod manifests;
pub mod object_meta;
pub mod packs;
pub mod placement;
pub mod prepare;
mod progress;
pub mod published;
pub mod records;
pub mod request;
pub mod rollout;
pub mod scan;
pub mod scan_cache;
pub mod source_map;
mod upload;
pub mod validate;

use cairn_state_format::Digest;
use cairn_store::Store;

use self::commit::{Committer, channel_epoch};
use self::packs::PackWriter;
use self::prepare::Prepared;
use self::published::Published;
use self::request::{Content, Publication, Settings};
use crate::channel::Channel;
use crate::clock::now;
use crate::error::{Error, Result, TrustError};
use crate::failpoint;
use crate::objects::nodes::RemoteNodes;
use crate::safe_writes::safe_abilities;
use crate::trust::{self, Signing};

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
    let latest = channel.latest().await?;
    if let Some(l) = &latest {
        channel.catch_up_head(l, abilities).await?;
    }
    let mut nodes = RemoteNodes::new(store);
    let previous = latest.as_ref().map(|l| l.head.snapshot);
    let prepared = prepare_content(&mut nodes, &mut publication.content, previous).await?;
    let snapshot = snapshot_of(prepared.as_ref(), &publication.content);
    let mut published = Published::start(
        &publication.channel,
        latest.as_ref(),
        snapshot,
        prepared.as_ref(),
    );
    if !publication.allow_unchanged && previous == Some(snapshot) {
        published.unchanged = true;
        return Ok(published);
    }
    let mut packs = PackWriter::new(store, snapshot, prepared.as_ref(), previous);
    match &prepared {
        Some(prepared) => upload::upload_content(store, prepared, settings, &mut published).await?,
        None => published.entries = nodes.snapshot(&snapshot).await?.entries,
    }
    let content_bytes = published.bytes_uploaded;
    let blobs = publication.content.pack_blobs();
    let offered = packs
        .offer_after(
            &mut nodes,
            &channel,
            latest.as_ref(),
            settings.delta_depth,
            blobs,
        )
        .await?;
    published.note_packs(&packs.written, content_bytes);
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
    let published = committer
        .finish(signing, latest, snapshot, published)
        .await?;
    Ok(map_sources(store, &mut publication, snapshot, settings, published).await)
}

/// Writes the source map of scanned content once its generation is committed. Failing to write
/// it costs the next publish without a publish cache a full parse, no more: it is a warning.
async fn map_sources(
    store: &Store,
    publication: &mut Publication<'_>,
    snapshot: Digest,
    settings: &Settings<'_>,
    mut published: Published,
) -> Published {
    let Content::Scanned(scan) = &mut publication.content else {
        return published;
    };
    if published.unchanged || published.proposal.is_some() || !scan.mappable() {
        return published;
    }
    let channel = &publication.channel;
    match source_map::write(store, channel, snapshot, scan, settings.keys).await {
        Ok(bytes) => published.source_map_bytes = bytes,
        Err(error) => tracing::warn!(
            %error,
            channel,
            "could not write the source map; the next publish without a publish cache parses every file"
        ),
    }
    published
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
        } if !settings.propose => Err(TrustError::BelowThreshold {
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
