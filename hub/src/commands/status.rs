//! `cairn status`: the fleet as its agents report it, read through the status cache so that a
//! look costs a listing plus the records that changed since the last one.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::Duration;

use cairn_env_vars::EnvVars;
use cairn_store::Store;
use clap::Args;

use super::args::{Output, StatusReadArgs, StoreArgs};
use super::common::{channel_name, open_store, print_json};
use crate::clock::now;
use crate::error::Result;
use crate::status::fleet::{ChannelStatus, ClusterDrift, Fleet, phase_name};

/// How many stale clusters and problems the text output names before summing up the rest.
const SHOWN: usize = 20;

/// Flags of `cairn status`.
#[derive(Args, Debug)]
pub struct StatusArgs {
    /// Store options.
    #[command(flatten)]
    pub store: StoreArgs,
    /// Only this channel (default: every channel with status records).
    #[arg(long, env = EnvVars::CAIRN_CHANNEL)]
    pub channel: Option<String>,
    /// Agents silent for longer than this are reported stale.
    #[arg(long, default_value = "15m", value_parser = humantime::parse_duration)]
    pub stale_after: Duration,
    /// Keep looking: refresh in place (reading only what changed) until interrupted.
    #[arg(long)]
    pub watch: bool,
    /// How often --watch refreshes.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub every: Duration,
    /// Status cache options.
    #[command(flatten)]
    pub reads: StatusReadArgs,
}

/// Reads every status record of one channel (or all) and summarizes them.
pub async fn run(request: &StatusArgs) -> Result<()> {
    let store_args = &request.store;
    let store = open_store(store_args)?;
    let only = request.channel.as_deref().map(channel_name).transpose()?;
    let mut fleet = Fleet::new(&store, only, request.reads.dir());
    let in_place = request.watch && std::io::stdout().is_terminal();
    loop {
        fleet.refresh().await?;
        let out = fleet.summaries(request.stale_after).await?;
        if in_place {
            // Home the cursor and clear the screen, so the new look replaces the old one.
            print!("\x1b[H\x1b[2J");
        }
        print_all(store_args, &store, &out, request.watch)?;
        if !request.watch {
            return Ok(());
        }
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(()),
            () = tokio::time::sleep(request.every) => {}
        }
    }
}

fn print_all(
    store_args: &StoreArgs,
    store: &Store,
    out: &[ChannelStatus],
    watch: bool,
) -> Result<()> {
    if store_args.output == Output::Json {
        if watch {
            // One document per line while watching, so a script can read them as they come.
            println!("{}", serde_json::to_string(out).unwrap_or_default());
            return Ok(());
        }
        return print_json(&out);
    }
    if watch {
        println!(
            "{}  (every refresh reads only what changed; Ctrl-C to stop)",
            now().format("%Y-%m-%d %H:%M:%S UTC")
        );
    }
    if out.is_empty() {
        println!("no agent has reported to {} yet", store.url());
    }
    for s in out {
        print_text(s);
    }
    Ok(())
}

fn print_text(s: &ChannelStatus) {
    let latest = s
        .latest_generation
        .map_or("none (channel removed)".to_owned(), |g| g.to_string());
    println!(
        "channel {}: newest generation {latest}; {} of {} clusters on it",
        s.channel, s.on_latest, s.clusters
    );
    let join = |m: &BTreeMap<String, usize>| {
        m.iter()
            .map(|(k, v)| format!("{k}: {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!("  by generation: {}", join(&s.by_generation));
    println!("  by phase:      {}", join(&s.by_phase));
    if !s.stale.is_empty() {
        let shown: Vec<&str> = s.stale.iter().take(SHOWN).map(String::as_str).collect();
        println!(
            "  stale ({}): {}{}",
            s.stale.len(),
            shown.join(", "),
            more(s.stale.len())
        );
    }
    print_drift(&s.drifted);
    for p in s.problems.iter().take(SHOWN) {
        println!(
            "  {} {}: {}{}",
            p.cluster,
            phase_name(p.phase),
            p.reason.as_deref().unwrap_or("-"),
            p.last_error
                .as_ref()
                .map(|e| format!("; last error: {e}"))
                .unwrap_or_default()
        );
    }
    if s.problems.len() > SHOWN {
        println!("  {} problems{}", s.problems.len(), more(s.problems.len()));
    }
}

fn more(total: usize) -> String {
    if total > SHOWN {
        format!(" … and {} more (--output json lists all)", total - SHOWN)
    } else {
        String::new()
    }
}

/// The drifted objects, per cluster (the first [`SHOWN`] clusters).
fn print_drift(drifted: &[ClusterDrift]) {
    if drifted.is_empty() {
        return;
    }
    let objects: u64 = drifted.iter().map(|d| d.count).sum();
    println!(
        "  drifted at the last resync: {objects} objects on {} clusters{}",
        drifted.len(),
        more(drifted.len())
    );
    for d in drifted.iter().take(SHOWN) {
        let named: Vec<String> = d
            .objects
            .iter()
            .map(|o| {
                let what = if o.corrected { "corrected" } else { "reported" };
                format!("{} ({what})", o.object)
            })
            .collect();
        let more = (d.count as usize)
            .checked_sub(named.len())
            .filter(|n| *n > 0)
            .map(|n| format!(", and {n} more"))
            .unwrap_or_default();
        println!(
            "    {}: {} objects: {}{more}",
            d.cluster,
            d.count,
            named.join(", ")
        );
    }
}
