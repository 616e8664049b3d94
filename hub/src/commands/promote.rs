//! `cairn promote`: continuous delivery as a button. The target channel gets the source
//! channel's exact snapshot (same digest, no re-render), with a record of where it came from.

use std::path::PathBuf;

use cairn_state_format::Phase;

use super::common::{channel_name, load_keys, open_store, print_json, settings};
use crate::channel::Channel;
use crate::cli::{Output, SignArgs, StoreArgs};
use crate::error::{Error, Result};
use crate::publish::{Content, Publication, publish};
use crate::status_read::StatusReader;

/// The health gate of a promotion.
#[derive(Debug, Clone, Default)]
pub struct Gate {
    /// Refuse unless at least this share of the source's clusters run its content healthy.
    pub require_healthy: Option<f64>,
    /// Where the status cache lives, if it is used.
    pub status_cache: Option<PathBuf>,
}

/// Promotes `from`'s generation (default newest) to `to`.
pub async fn promote(
    store_args: &StoreArgs,
    from: &str,
    to: &str,
    generation: Option<u64>,
    gate: &Gate,
    sign: &SignArgs,
) -> Result<()> {
    let (from, to) = (channel_name(from)?, channel_name(to)?);
    let keys = load_keys(sign)?;
    let store = open_store(store_args)?;
    let source_channel = Channel::new(&store, from);
    let source = match generation {
        Some(g) => source_channel.require_generation(g).await?,
        None => source_channel.require_latest().await?,
    };
    if let Some(required) = gate.require_healthy {
        check_healthy(&store, from, &source.head, required, gate).await?;
    }
    let mut provenance = source.head.source.clone();
    provenance.insert("promoted_from".to_owned(), from.to_owned());
    provenance.insert(
        "promoted_generation".to_owned(),
        source.head.generation.to_string(),
    );
    let publication = Publication {
        channel: to.to_owned(),
        content: Content::Existing(source.head.snapshot),
        source: provenance,
        expires_in: sign.expires_in,
        rollout: None,
        retire_at: None,
        allow_unchanged: false,
    };
    let published = publish(&store, publication, &settings(sign, &keys)).await?;
    if store_args.output == Output::Json {
        return print_json(&published);
    }
    if published.unchanged {
        println!(
            "channel {to}: already at {} (generation {}); nothing published",
            published.snapshot, published.generation
        );
    } else {
        println!(
            "channel {to}: published generation {} with {from}'s generation {} ({})",
            published.generation, source.head.generation, published.snapshot
        );
    }
    Ok(())
}

/// Refuses unless at least `required` of `from`'s reporting clusters run `head`'s content healthy.
async fn check_healthy(
    store: &cairn_store::Store,
    from: &str,
    head: &cairn_state_format::Head,
    required: f64,
    gate: &Gate,
) -> Result<()> {
    let mut reader = StatusReader::new(store, from, gate.status_cache.as_deref());
    reader.refresh().await?;
    if reader.is_empty() {
        return Err(Error::Unhealthy(format!(
            "no cluster reports on channel {from:?}: cannot tell whether generation {} is healthy; nothing published",
            head.generation
        )));
    }
    let healthy = reader
        .records()
        .filter(|r| {
            r.phase == Phase::Converged
                && r.applied
                    .as_ref()
                    .is_some_and(|a| a.snapshot == head.snapshot)
        })
        .count();
    let share = healthy as f64 / reader.len() as f64;
    if share < required {
        return Err(Error::Unhealthy(format!(
            "only {healthy} of {} clusters of channel {from:?} ({:.1}%) run generation {}'s content healthy; \
             --require-healthy asks for {:.1}%; nothing published",
            reader.len(),
            share * 100.0,
            head.generation,
            required * 100.0
        )));
    }
    Ok(())
}
