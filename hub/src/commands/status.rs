//! `cairn status`: the fleet as its agents report it.

use std::collections::BTreeMap;
use std::time::Duration;

use cairn_state_format::{DriftedObject, Incomplete, Phase, StatusRecord, layout};
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
    /// Clusters whose last drift check found drifted objects.
    pub drifted: Vec<ClusterDrift>,
}

/// The drifted objects of one cluster.
#[derive(Serialize, Debug)]
pub struct ClusterDrift {
    /// Cluster id.
    pub cluster: String,
    /// How many objects drifted (the record names at most 20).
    pub count: u64,
    /// The objects named, each corrected or only reported.
    pub objects: Vec<DriftedObject>,
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
    /// What its last pass wrote before it stopped, when it stopped part way.
    pub incomplete: Option<Incomplete>,
}

/// Reads every status record of one channel (or all) and summarizes them.
pub async fn status(
    store_args: &StoreArgs,
    channel: Option<&str>,
    stale_after: Duration,
) -> Result<()> {
    let store = open_store(store_args)?;
    let channels = match channel {
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
        drifted: Vec::new(),
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
                incomplete: r.incomplete.clone(),
            });
        }
        if r.counts.drifted > 0 {
            status.drifted.push(ClusterDrift {
                cluster: r.cluster.clone(),
                count: r.counts.drifted,
                objects: r.drifted.clone(),
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
    print_drift(&s.drifted);
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

/// The drifted objects, per cluster.
fn print_drift(drifted: &[ClusterDrift]) {
    if drifted.is_empty() {
        return;
    }
    println!("  drifted ({} clusters):", drifted.len());
    for d in drifted {
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
