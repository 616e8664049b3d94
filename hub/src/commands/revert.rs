//! `cairn revert` and `cairn refresh`: new generations of existing content.

use std::collections::BTreeMap;

use super::args::{ChannelArgs, ChannelWriteArgs, SignArgs, StoreArgs};
use super::common::{channel_name, load_keys, open_store, report_published, settings};
use crate::channel::Channel;
use crate::error::Result;
use crate::publish::publish;
use crate::publish::published::Published;
use crate::publish::request::{Content, Publication};

/// Flags of `cairn revert`.
#[derive(clap::Args, Debug)]
pub struct RevertArgs {
    /// Store options.
    #[command(flatten)]
    pub store: StoreArgs,
    /// The channel.
    #[command(flatten)]
    pub channel: ChannelArgs,
    /// The generation whose content to restore.
    #[arg(long)]
    pub to: u64,
    /// Signing options.
    #[command(flatten)]
    pub sign: SignArgs,
}

/// Flags of `cairn refresh`.
pub type RefreshArgs = ChannelWriteArgs;

/// Publishes generation `to`'s snapshot as the channel's next generation.
pub async fn revert(args: &RevertArgs) -> Result<()> {
    let (store_args, sign, to) = (&args.store, &args.sign, args.to);
    let name = channel_name(&args.channel.channel)?;
    let keys = load_keys(sign)?;
    let store = open_store(store_args)?;
    let target = Channel::new(&store, name).require_generation(to).await?;
    let mut source = BTreeMap::from([("reverted_to".to_owned(), to.to_string())]);
    source.extend(
        target
            .head
            .source
            .iter()
            .map(|(k, v)| (format!("reverted.{k}"), v.clone())),
    );
    let publication = republish(name, target.head.snapshot, source, sign);
    let published = publish(&store, publication, &settings(sign, &keys)).await?;
    report(
        store_args,
        &published,
        &format!("reverted to the content of generation {to}"),
    )
}

/// Re-signs the newest generation's content with a fresh expiry, as a new generation.
pub async fn refresh(args: &RefreshArgs) -> Result<()> {
    let (store_args, sign) = (&args.store, &args.sign);
    let name = channel_name(&args.channel.channel)?;
    let keys = load_keys(sign)?;
    let store = open_store(store_args)?;
    let latest = Channel::new(&store, name).require_latest().await?;
    let mut source = latest.head.source.clone();
    source.insert(
        "refreshed_from".to_owned(),
        latest.head.generation.to_string(),
    );
    let mut publication = republish(name, latest.head.snapshot, source, sign);
    publication.rollout = None;
    publication.retire_at = latest.head.retire_at;
    let published = publish(&store, publication, &settings(sign, &keys)).await?;
    report(
        store_args,
        &published,
        &format!("refreshed generation {}", latest.head.generation),
    )
}

fn republish(
    channel: &str,
    snapshot: cairn_state_format::Digest,
    source: BTreeMap<String, String>,
    sign: &SignArgs,
) -> Publication<'static> {
    Publication {
        channel: channel.to_owned(),
        content: Content::Existing(snapshot),
        source,
        expires_in: sign.expires_in,
        rollout: None,
        retire_at: None,
        allow_unchanged: true,
    }
}

fn report(store_args: &StoreArgs, published: &Published, what: &str) -> Result<()> {
    report_published(store_args.output, published, |p| {
        format!(
            "channel {}: published generation {} ({}): {what}",
            p.channel, p.generation, p.snapshot
        )
    })
}
