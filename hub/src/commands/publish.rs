//! `cairn publish`.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use bytes::Bytes;

use super::common::{bytes, channel_name, load_keys, open_store, print_json, settings};
use crate::cli::{Output, SignArgs, StoreArgs};
use crate::error::Result;
use crate::manifests::{Policy, read_inputs, validate};
use crate::publish::{Content, Publication, publish as publish_to};

/// Reads, validates and publishes manifests.
pub async fn publish(
    store_args: &StoreArgs,
    channel: &str,
    sign: &SignArgs,
    inputs: &[PathBuf],
    source: Vec<(String, String)>,
    allow_secrets: bool,
) -> Result<()> {
    let channel = channel_name(channel)?;
    let keys = load_keys(sign)?;
    let resources = read_inputs(inputs)?;
    let entries = validate(&resources, Policy { allow_secrets })?;
    let blobs: HashMap<_, _> = resources
        .into_iter()
        .map(|r| (r.digest, Bytes::from(r.canonical)))
        .collect();
    let store = open_store(store_args)?;
    let publication = Publication {
        channel: channel.to_owned(),
        content: Content::Local { entries, blobs },
        source: source.into_iter().collect::<BTreeMap<_, _>>(),
        expires_in: sign.expires_in,
        rollout: None,
        retire_at: None,
        allow_unchanged: false,
    };
    let published = publish_to(&store, publication, &settings(sign, &keys)).await?;
    if store_args.output == Output::Json {
        return print_json(&published);
    }
    if published.unchanged {
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
    Ok(())
}
