//! `cairn promote`: continuous delivery as a button. The target channel gets the source
//! channel's exact snapshot (same digest, no re-render), with a record of where it came from.

use cairn_state_format::Phase;

use super::common::{channel_name, load_keys, open_store, print_json, proposal_notice, settings};
use super::status::read_records;
use crate::channel::Channel;
use crate::cli::{Output, SignArgs, StoreArgs};
use crate::error::{Error, Result};
use crate::publish::{Content, Publication, publish};

/// Promotes `from`'s generation (default newest) to `to`.
pub async fn promote(
    store_args: &StoreArgs,
    from: &str,
    to: &str,
    generation: Option<u64>,
    require_healthy: Option<f64>,
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
    if let Some(required) = require_healthy {
        let records = read_records(&store, from).await?;
        if records.is_empty() {
            return Err(Error::Unhealthy(format!(
                "no cluster reports on channel {from:?}: cannot tell whether generation {} is healthy; nothing published",
                source.head.generation
            )));
        }
        let healthy = records
            .iter()
            .filter(|r| {
                r.phase == Phase::Converged
                    && r.applied
                        .as_ref()
                        .is_some_and(|a| a.snapshot == source.head.snapshot)
            })
            .count();
        let share = healthy as f64 / records.len() as f64;
        if share < required {
            return Err(Error::Unhealthy(format!(
                "only {healthy} of {} clusters of channel {from:?} ({:.1}%) run generation {}'s content healthy; \
                 --require-healthy asks for {:.1}%; nothing published",
                records.len(),
                share * 100.0,
                source.head.generation,
                required * 100.0
            )));
        }
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
    if let Some(notice) = proposal_notice(&published) {
        println!("{notice}");
    } else if published.unchanged {
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
