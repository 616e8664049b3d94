//! `cairn promote`: continuous delivery as a button. The target channel gets the source
//! channel's exact snapshot (same digest, no re-render), with a record of where it came from.

use cairn_state_format::Phase;
use cairn_store::Store;

use super::args::{SignArgs, StatusReadArgs, StoreArgs, parse_percent};
use super::common::{channel_name, load_keys, open_store, report_published, settings};
use crate::channel::{Channel, Logged};
use crate::error::{Error, Result};
use crate::publish::publish;
use crate::publish::request::{Content, Publication};
use crate::status::read::StatusReader;

/// Flags of `cairn promote`.
#[derive(clap::Args, Debug)]
pub struct PromoteArgs {
    /// Store options.
    #[command(flatten)]
    pub store: StoreArgs,
    /// The channel to promote from.
    #[arg(long)]
    pub from: String,
    /// The channel to promote to.
    #[arg(long)]
    pub to: String,
    /// The generation of --from to promote (default: its newest).
    #[arg(long)]
    pub generation: Option<u64>,
    /// Refuse unless at least this share of --from's clusters report that content healthy.
    #[arg(long, value_parser = parse_percent)]
    pub require_healthy: Option<f64>,
    /// Status cache options (for --require-healthy).
    #[command(flatten)]
    pub reads: StatusReadArgs,
    /// Signing options.
    #[command(flatten)]
    pub sign: SignArgs,
}

/// Promotes `from`'s generation (default newest) to `to`.
pub async fn run(args: &PromoteArgs) -> Result<()> {
    let (store_args, sign) = (&args.store, &args.sign);
    let (from, to) = (channel_name(&args.from)?, channel_name(&args.to)?);
    let keys = load_keys(sign)?;
    let store = open_store(store_args)?;
    let source_channel = Channel::new(&store, from);
    let source = match args.generation {
        Some(g) => source_channel.require_generation(g).await?,
        None => source_channel.require_latest().await?,
    };
    if let Some(required) = args.require_healthy {
        health_gate(&store, from, &source, required, &args.reads).await?;
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
    report_published(store_args.output, &published, |p| {
        if p.unchanged {
            format!(
                "channel {to}: already at {} (generation {}); nothing published",
                p.snapshot, p.generation
            )
        } else {
            format!(
                "channel {to}: published generation {} with {from}'s generation {} ({})",
                p.generation, source.head.generation, p.snapshot
            )
        }
    })
}

/// Refuses unless at least `required` of `from`'s reporting clusters run `source`'s content
/// converged.
async fn health_gate(
    store: &Store,
    from: &str,
    source: &Logged,
    required: f64,
    reads: &StatusReadArgs,
) -> Result<()> {
    let mut reader = StatusReader::new(store, from, reads.dir().as_deref());
    reader.refresh().await?;
    if reader.is_empty() {
        return Err(Error::Unhealthy(format!(
            "no cluster reports on channel {from:?}: cannot tell whether generation {} is healthy; nothing published",
            source.head.generation
        )));
    }
    let healthy = reader
        .records()
        .filter(|r| {
            r.phase == Phase::Converged
                && r.applied
                    .as_ref()
                    .is_some_and(|a| a.snapshot == source.head.snapshot)
        })
        .count();
    let share = healthy as f64 / reader.len() as f64;
    if share < required {
        return Err(Error::Unhealthy(format!(
            "only {healthy} of {} clusters of channel {from:?} ({:.1}%) run generation {}'s content healthy; \
             --require-healthy asks for {:.1}%; nothing published",
            reader.len(),
            share * 100.0,
            source.head.generation,
            required * 100.0
        )));
    }
    Ok(())
}
