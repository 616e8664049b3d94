//! `cairn publish` (and the manifest-publishing part of `cairn env up`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::{DateTime, Utc};

use super::common::{
    bytes, channel_name, load_keys, open_store, print_json, proposal_notice, settings,
};
use crate::cli::{Output, SignArgs, StoreArgs};
use crate::error::Result;
use crate::manifests::{Policy, validate};
use crate::publish::{Content, Publication, Published, RolloutPlan, publish as publish_to};
use crate::scan::Scan;
use crate::scan_cache::CacheFile;

/// What to publish from the command line.
pub struct Request<'a> {
    /// Store options.
    pub store: &'a StoreArgs,
    /// Channel.
    pub channel: &'a str,
    /// Signing options.
    pub sign: &'a SignArgs,
    /// Manifest paths (`-` for stdin).
    pub inputs: &'a [PathBuf],
    /// Provenance.
    pub source: BTreeMap<String, String>,
    /// Let plain Secrets through.
    pub allow_secrets: bool,
    /// The publish cache directory (`None`: no cache).
    pub cache_dir: Option<PathBuf>,
    /// A progressive rollout.
    pub rollout: Option<RolloutPlan>,
    /// When an ephemeral channel retires.
    pub retire_at: Option<DateTime<Utc>>,
}

/// Reads, validates and publishes manifests, then reports what happened.
pub async fn publish(request: Request<'_>) -> Result<Published> {
    let channel = channel_name(request.channel)?;
    let keys = load_keys(request.sign)?;
    let settings = settings(request.sign, &keys);
    let cache = request
        .cache_dir
        .as_deref()
        .map(|dir| CacheFile::new(dir, &request.store.store, channel, request.inputs));
    let mut scan = Scan::run(request.inputs, cache, settings.progress)?;
    validate(
        scan.files(),
        Policy {
            allow_secrets: request.allow_secrets,
        },
    )?;
    let (parsed, reused) = scan.parsed_and_reused();
    tracing::debug!(parsed, reused, "manifest files read");
    let store = open_store(request.store)?;
    let publication = Publication {
        channel: channel.to_owned(),
        content: Content::Scanned(&mut scan),
        source: request.source,
        expires_in: request.sign.expires_in,
        rollout: request.rollout,
        retire_at: request.retire_at,
        allow_unchanged: false,
    };
    let published = publish_to(&store, publication, &settings).await?;
    // Only after the generation is committed (or found unchanged): the cache must describe a
    // snapshot the channel really has. Failing to write it costs the next publish time, no more.
    if published.proposal.is_none()
        && let Err(e) = scan.save_cache(published.snapshot)
    {
        tracing::warn!(error = %e, "could not write the publish cache");
    }
    if request.store.output == Output::Json {
        print_json(&published)?;
    } else if let Some(notice) = proposal_notice(&published) {
        println!("{notice}");
    } else if published.unchanged {
        println!(
            "channel {channel}: content unchanged since generation {} ({}); nothing published",
            published.generation, published.snapshot
        );
    } else {
        println!(
            "channel {channel}: published generation {} ({}): {} objects, {} changed; uploaded {} blobs, {} index nodes, {} delta packs ({})",
            published.generation,
            published.snapshot,
            published.entries,
            published.changes,
            published.blobs_uploaded,
            published.nodes_uploaded,
            published.deltas_uploaded,
            bytes(published.bytes_uploaded)
        );
    }
    Ok(published)
}
