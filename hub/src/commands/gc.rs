//! `cairn gc`: mark what kept generations reach, sweep the rest once it is old enough.

use std::collections::HashSet;
use std::time::Duration;

use cairn_state_format::{Digest, base_of_map, layout};
use cairn_store::Store;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::args::{Output, StoreArgs};
use super::common::{bytes, open_store, print_json};
use crate::channel::proposal::{self, Proposal};
use crate::channel::{Channel, names_under};
use crate::clock::now;
use crate::error::Result;
use crate::objects::nodes::RemoteNodes;

/// What a collection found and did.
#[derive(Serialize, Debug, Default, PartialEq, Eq)]
pub struct Collected {
    /// Snapshots kept.
    pub kept_snapshots: usize,
    /// Objects reachable from kept generations.
    pub reachable: usize,
    /// Keys deleted (or that would be, in a dry run).
    pub deleted: Vec<String>,
    /// Bytes they held.
    pub deleted_bytes: u64,
    /// Unreachable objects spared because they are younger than the grace period.
    pub spared_young: usize,
}

/// Flags of `cairn gc`.
#[derive(clap::Args, Debug)]
pub struct GcArgs {
    /// Store options.
    #[command(flatten)]
    pub store: StoreArgs,
    /// Generations to keep per channel (the newest ones).
    #[arg(long, default_value_t = 10)]
    pub keep: usize,
    /// Never delete objects younger than this, nor what a generation that was the head within it
    /// reaches, so in-flight publishes are never broken.
    #[arg(long, default_value = "24h", value_parser = humantime::parse_duration)]
    pub grace: Duration,
    /// Only report what would be deleted.
    #[arg(long)]
    pub dry_run: bool,
}

/// Runs a collection.
pub async fn run(args: &GcArgs) -> Result<()> {
    let (store_args, dry_run) = (&args.store, args.dry_run);
    let store = open_store(store_args)?;
    let (keep, grace) = (args.keep, args.grace);
    let collected = collect(&store, keep, grace, dry_run).await?;
    if store_args.output == Output::Json {
        return print_json(&collected);
    }
    let verb = if dry_run { "would delete" } else { "deleted" };
    for key in &collected.deleted {
        println!("{verb} {key}");
    }
    println!(
        "{verb} {} objects ({}); kept {} snapshots reaching {} objects; spared {} unreachable objects younger than the grace period",
        collected.deleted.len(),
        bytes(collected.deleted_bytes),
        collected.kept_snapshots,
        collected.reachable,
        collected.spared_young
    );
    Ok(())
}

/// [`collect_at`] now.
pub async fn collect(
    store: &Store,
    keep: usize,
    grace: Duration,
    dry_run: bool,
) -> Result<Collected> {
    collect_at(store, keep, grace, dry_run, now()).await
}

/// Marks from every channel's kept generations and deletes unreachable objects older than `grace`.
///
/// A generation is kept if it is among the newest `keep`, or if it was the head within `grace`
/// (its successor is younger than `grace`): a publish that started from it may still be uploading
/// and relies on its blobs being there. The packs a kept generation's head names (delta packs
/// into its snapshot, its snapshot pack) are kept with it: agents starting from it need them.
/// So is its source map, with the full map a patch applies to: the next publish without a
/// publish cache reads them.
///
/// The clock is given, so tests can look at a store as it will be later.
pub async fn collect_at(
    store: &Store,
    keep: usize,
    grace: Duration,
    dry_run: bool,
    now: DateTime<Utc>,
) -> Result<Collected> {
    let cutoff = now - chrono::Duration::from_std(grace).unwrap_or(chrono::Duration::MAX);
    let mut kept: HashSet<Digest> = HashSet::new();
    let mut reachable: HashSet<String> = HashSet::new();
    let mut maps: HashSet<(String, Digest)> = HashSet::new();
    for name in names_under(store, "channels/").await? {
        let channel = Channel::new(store, &name);
        let generations = channel.log_generations().await?;
        let mut successor_published = None;
        for (i, &generation) in generations.iter().rev().enumerate() {
            let head = channel.require_generation(generation).await?.head;
            let recent =
                successor_published.is_none_or(|t| t > cutoff) || head.published_at > cutoff;
            if i < keep.max(1) || recent {
                kept.insert(head.snapshot);
                reachable.extend(head.packs.objects().map(|p| layout::pack_key(&p.digest)));
                maps.insert((name.clone(), head.snapshot));
            }
            successor_published = Some(head.published_at);
        }
    }
    let open_proposals = open_proposals(store).await?;
    for proposal in &open_proposals {
        kept.insert(proposal.signed.head.snapshot);
        let packs = proposal.signed.head.packs.objects();
        reachable.extend(packs.map(|p| layout::pack_key(&p.digest)));
    }
    let mut nodes = RemoteNodes::new(store);
    for snapshot in &kept {
        reachable.insert(layout::snapshot_key(snapshot));
        let Ok(root) = nodes.snapshot(snapshot).await else {
            tracing::warn!(%snapshot, "a kept generation's snapshot is missing; nothing of it to keep");
            continue;
        };
        let mut digests = Vec::new();
        collect_tree(&mut nodes, &root.index, &mut digests, &mut reachable).await?;
        reachable.extend(digests.iter().map(layout::blob_key));
    }
    keep_source_maps(store, maps, &mut reachable).await?;
    let mut collected = Collected {
        kept_snapshots: kept.len(),
        reachable: reachable.len(),
        ..Default::default()
    };
    let keep = |key: &str| {
        reachable.contains(key)
            || delta_to_kept(key, &kept)
            || open_proposals.iter().any(|p| key.starts_with(&p.folder))
    };
    sweep(store, keep, cutoff, dry_run, &mut collected).await?;
    Ok(collected)
}

/// Keeps the source maps of kept generations (`maps`: channel and snapshot, where one exists)
/// and the full maps the patches among them apply to. A map that cannot be read keeps nothing
/// else: it only costs the next publish without a publish cache a full parse.
async fn keep_source_maps(
    store: &Store,
    maps: HashSet<(String, Digest)>,
    reachable: &mut HashSet<String>,
) -> Result<()> {
    for (channel, snapshot) in maps {
        let key = layout::source_map_key(&channel, &snapshot);
        let Some(map) = store.get(&key).await? else {
            continue;
        };
        if let Ok(Some(base)) = base_of_map(&map.bytes) {
            reachable.insert(layout::source_map_key(&channel, &base.snapshot));
        }
        reachable.insert(key);
    }
    Ok(())
}

/// Deletes every object under the collected prefixes that `keep` does not keep and that is older
/// than `cutoff`.
async fn sweep(
    store: &Store,
    keep: impl Fn(&str) -> bool,
    cutoff: DateTime<Utc>,
    dry_run: bool,
    collected: &mut Collected,
) -> Result<()> {
    for prefix in [
        "blobs/",
        "index/",
        "snapshots/",
        "deltas/",
        "packs/",
        "sources/",
        "_cairn/probe/",
        "proposals/",
    ] {
        for listed in store.list(prefix).await? {
            if keep(&listed.key) {
                continue;
            }
            if listed.last_modified > cutoff {
                collected.spared_young += 1;
                continue;
            }
            if !dry_run {
                store.delete(&listed.key).await?;
            }
            collected.deleted_bytes += listed.size;
            collected.deleted.push(listed.key);
        }
    }
    Ok(())
}

/// Proposals still waiting for signatures (for the generation after their channel's newest):
/// their content is kept, their objects too. Stale ones are swept like unreachable objects.
async fn open_proposals(store: &Store) -> Result<Vec<Proposal>> {
    let mut open = Vec::new();
    for name in names_under(store, "proposals/").await? {
        let next = Channel::new(store, &name)
            .latest()
            .await?
            .map_or(1, |l| l.head.generation + 1);
        let proposals = proposal::list(store, &name).await?;
        open.extend(proposals.into_iter().filter(|p| p.generation >= next));
    }
    Ok(open)
}

async fn collect_tree(
    nodes: &mut RemoteNodes<'_>,
    root: &Digest,
    blobs: &mut Vec<Digest>,
    reachable: &mut HashSet<String>,
) -> Result<()> {
    let entries = nodes.entries(root).await?;
    blobs.extend(entries.values().map(|e| e.blob));
    reachable.extend(nodes.tree_digests(root).iter().map(layout::index_key));
    Ok(())
}

/// Delta packs are kept while their target snapshot is kept (agents may come from anywhere).
fn delta_to_kept(key: &str, kept: &HashSet<Digest>) -> bool {
    key.strip_prefix("deltas/")
        .and_then(|rest| rest.split('/').nth(1))
        .and_then(|hex| Digest::from_hex(hex).ok())
        .is_some_and(|to| kept.contains(&to))
}
