//! `cairn status`: the fleet as its agents report it.

use std::collections::BTreeMap;
use std::time::Duration;

use cairn_env_vars::EnvVars;
use cairn_state_format::{Phase, StatusRecord, layout};
use cairn_store::Store;
use futures::{StreamExt, TryStreamExt};
use serde::Serialize;

use super::common::{channel_name, open_store, print_json};
use crate::channel::Channel;
use crate::cli::{Output, StoreArgs};
use crate::error::{Error, Result};
use crate::publish::now;
use crate::remote::CONCURRENCY;

/// One channel's summary.
#[derive(Serialize, Debug)]
pub struct ChannelStatus {
    /// Channel name.
    pub channel: String,
    /// The channel's newest generation, if it still exists.
    pub latest_generation: Option<u64>,
    /// Clusters reporting.
    pub clusters: usize,
    /// Clusters whose applied generation is the newest.
    pub on_latest: usize,
    /// Clusters per applied generation (`none` for nothing applied).
    pub by_generation: BTreeMap<String, usize>,
    /// Clusters per phase.
    pub by_phase: BTreeMap<String, usize>,
    /// Clusters silent for longer than the stale limit.
    pub stale: Vec<String>,
    /// Clusters failed, degraded or frozen, with their reason and newest error.
    pub problems: Vec<Problem>,
}

/// A cluster that needs attention.
#[derive(Serialize, Debug)]
pub struct Problem {
    /// Cluster id.
    pub cluster: String,
    /// Its phase.
    pub phase: Phase,
    /// Its stated reason.
    pub reason: Option<String>,
    /// Its newest error.
    pub last_error: Option<String>,
}

/// Flags of `cairn status`.
#[derive(clap::Args, Debug)]
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
}

/// Reads every status record of one channel (or all) and summarizes them.
pub async fn run(args: &StatusArgs) -> Result<()> {
    let (store_args, stale_after) = (&args.store, args.stale_after);
    let store = open_store(store_args)?;
    let channels = match args.channel.as_deref() {
        Some(name) => vec![channel_name(name)?.to_owned()],
        None => super::common::names_under(&store, "status/").await?,
    };
    let mut out = Vec::new();
    for name in &channels {
        out.push(summarize(&store, name, stale_after).await?);
    }
    if store_args.output == Output::Json {
        return print_json(&out);
    }
    if out.is_empty() {
        println!("no agent has reported to {} yet", store.url());
    }
    for s in &out {
        print_text(s);
    }
    Ok(())
}

/// Reads the status records of `channel`.
pub async fn read_records(store: &Store, channel: &str) -> Result<Vec<StatusRecord>> {
    let keys: Vec<String> = store
        .list(&layout::status_prefix(channel))
        .await?
        .into_iter()
        .map(|l| l.key)
        .collect();
    futures::stream::iter(keys)
        .map(|key| async move {
            let fetched = store.get(&key).await?;
            Ok::<_, Error>(match fetched {
                Some(f) => Some(StatusRecord::decode(&f.bytes, &key).map_err(|e| {
                    tracing::warn!(%e, key, "unreadable status record");
                    e
                })),
                None => None,
            })
        })
        .buffer_unordered(CONCURRENCY)
        .try_filter_map(|r| async move { Ok(r.and_then(|r| r.ok())) })
        .try_collect()
        .await
}

async fn summarize(store: &Store, channel: &str, stale_after: Duration) -> Result<ChannelStatus> {
    let latest = Channel::new(store, channel)
        .latest()
        .await?
        .map(|l| l.head.generation);
    let records = read_records(store, channel).await?;
    let stale_before =
        now() - chrono::Duration::from_std(stale_after).unwrap_or(chrono::Duration::MAX);
    let mut status = ChannelStatus {
        channel: channel.to_owned(),
        latest_generation: latest,
        clusters: records.len(),
        on_latest: 0,
        by_generation: BTreeMap::new(),
        by_phase: BTreeMap::new(),
        stale: Vec::new(),
        problems: Vec::new(),
    };
    for r in records {
        let applied = r.applied.as_ref().map(|a| a.generation);
        if applied.is_some() && applied == latest {
            status.on_latest += 1;
        }
        *status
            .by_generation
            .entry(applied.map_or("none".to_owned(), |g| g.to_string()))
            .or_default() += 1;
        let phase = serde_json::to_value(r.phase)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        *status.by_phase.entry(phase).or_default() += 1;
        if r.updated_at < stale_before {
            status.stale.push(r.cluster.clone());
        }
        if matches!(r.phase, Phase::Failed | Phase::Degraded | Phase::Frozen) {
            status.problems.push(Problem {
                cluster: r.cluster.clone(),
                phase: r.phase,
                reason: r.reason.clone(),
                last_error: r
                    .errors
                    .last()
                    .map(|e| format!("[{}] {}", e.class, e.message)),
            });
        }
    }
    Ok(status)
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
        println!("  stale ({}): {}", s.stale.len(), s.stale.join(", "));
    }
    for p in &s.problems {
        println!(
            "  {} {:?}: {}{}",
            p.cluster,
            p.phase,
            p.reason.as_deref().unwrap_or("-"),
            p.last_error
                .as_ref()
                .map(|e| format!("; last error: {e}"))
                .unwrap_or_default()
        );
    }
}
