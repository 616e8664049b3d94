//! `cairn show`.

use serde::Serialize;

use cairn_env_vars::EnvVars;

use super::args::{Output, StoreArgs};
use super::common::{bytes, open_store, print_json, resolve};
use crate::error::Result;
use crate::objects::nodes::RemoteNodes;

/// Flags of `cairn show`.
#[derive(clap::Args, Debug)]
pub struct ShowArgs {
    /// Store options.
    #[command(flatten)]
    pub store: StoreArgs,
    /// The channel (needed for generation numbers).
    #[arg(long, env = EnvVars::CAIRN_CHANNEL)]
    pub channel: Option<String>,
    /// A generation number or a snapshot digest (sha256:…).
    pub what: Option<String>,
}

#[derive(Serialize)]
struct Shown {
    snapshot: String,
    head: Option<cairn_state_format::Head>,
    entries: Vec<cairn_state_format::Entry>,
    bytes: u64,
}

/// Shows a generation or a snapshot with its entries.
pub async fn run(args: &ShowArgs) -> Result<()> {
    let (store_args, channel, what) = (&args.store, args.channel.as_deref(), args.what.as_deref());
    let store = open_store(store_args)?;
    let (digest, logged) = resolve(&store, channel, what).await?;
    let mut nodes = RemoteNodes::new(&store);
    let snapshot = nodes.snapshot(&digest).await?;
    let entries = nodes.entries(&snapshot.index).await?;
    let shown = Shown {
        snapshot: digest.to_string(),
        head: logged.map(|l| l.head),
        entries: entries.into_values().collect(),
        bytes: snapshot.bytes,
    };
    if store_args.output == Output::Json {
        return print_json(&shown);
    }
    if let Some(head) = &shown.head {
        println!("channel:      {}", head.channel);
        println!("generation:   {}", head.generation);
        println!("published at: {}", head.published_at.to_rfc3339());
        println!("expires at:   {}", head.expires_at.to_rfc3339());
        for (k, v) in &head.source {
            println!("source:       {k}={v}");
        }
    }
    println!(
        "snapshot:     {} ({} objects, {})",
        shown.snapshot,
        shown.entries.len(),
        bytes(shown.bytes)
    );
    println!();
    println!("{:<60} {:>9} {:>5}  SELECTOR", "OBJECT", "SIZE", "WAVE");
    for e in &shown.entries {
        let selector = e
            .selector
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default();
        let wave = e.wave.map(|w| w.to_string()).unwrap_or_default();
        println!(
            "{:<60} {:>9} {:>5}  {selector}",
            e.id.to_string(),
            bytes(e.size),
            wave
        );
    }
    Ok(())
}
