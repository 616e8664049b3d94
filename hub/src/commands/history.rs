//! `cairn history`.

use serde::Serialize;

use super::args::{ChannelArgs, Output, StoreArgs};
use super::common::{channel_name, open_store, print_json};
use crate::channel::Channel;
use crate::error::{Error, Result};

/// Flags of `cairn history`.
#[derive(clap::Args, Debug)]
pub struct HistoryArgs {
    /// Store options.
    #[command(flatten)]
    pub store: StoreArgs,
    /// The channel.
    #[command(flatten)]
    pub channel: ChannelArgs,
    /// Show at most this many generations.
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
}

#[derive(Serialize)]
struct Row {
    generation: u64,
    snapshot: String,
    published_at: String,
    expires_at: String,
    current: bool,
    source: std::collections::BTreeMap<String, String>,
}

/// Lists the newest `limit` generations of a channel.
pub async fn run(args: &HistoryArgs) -> Result<()> {
    let (store_args, channel, limit) = (&args.store, args.channel.channel.as_str(), args.limit);
    let store = open_store(store_args)?;
    let channel = Channel::new(&store, channel_name(channel)?);
    let generations = channel.log_generations().await?;
    if generations.is_empty() {
        return Err(Error::NoChannel {
            channel: channel.name().into(),
            store: store.url().into(),
        });
    }
    let current = channel.head().await?.map(|h| h.head.generation);
    let mut rows = Vec::new();
    for &generation in generations.iter().rev().take(limit) {
        let head = channel.require_generation(generation).await?.head;
        rows.push(Row {
            generation,
            snapshot: head.snapshot.to_string(),
            published_at: head.published_at.to_rfc3339(),
            expires_at: head.expires_at.to_rfc3339(),
            current: Some(generation) == current,
            source: head.source,
        });
    }
    if store_args.output == Output::Json {
        return print_json(&rows);
    }
    println!(
        "{:>6}  {:<20}  {:<25}  SOURCE",
        "GEN", "SNAPSHOT", "PUBLISHED"
    );
    for row in &rows {
        let source: Vec<String> = row.source.iter().map(|(k, v)| format!("{k}={v}")).collect();
        println!(
            "{:>6}{} {:<20}  {:<25}  {}",
            row.generation,
            if row.current { "*" } else { " " },
            &row.snapshot[..row.snapshot.len().min(19)],
            row.published_at,
            source.join(" ")
        );
    }
    if generations.len() > rows.len() {
        println!(
            "({} older generations; --limit to see more)",
            generations.len() - rows.len()
        );
    }
    Ok(())
}
