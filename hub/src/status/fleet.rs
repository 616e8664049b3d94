//! The fleet as its agents report it: every channel's status records (one reader per channel,
//! each reading what changed since its last look) and their summary per channel (clusters per
//! generation and phase, stale clusters, problems, drift).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use cairn_state_format::{DriftedObject, Incomplete, Phase, StatusRecord, layout};
use cairn_store::Store;
use serde::Serialize;

use super::read::{StatusReader, list_by_channel};
use crate::channel::Channel;
use crate::clock::now;
use crate::error::Result;

/// One channel's summary.
#[derive(Serialize, Debug, Clone)]
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
#[derive(Serialize, Debug, Clone)]
pub struct ClusterDrift {
    /// Cluster id.
    pub cluster: String,
    /// How many objects drifted (the record names at most 20).
    pub count: u64,
    /// The objects named, each corrected or only reported.
    pub objects: Vec<DriftedObject>,
}

/// A cluster that needs attention.
#[derive(Serialize, Debug, Clone)]
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

impl Problem {
    /// The problem `record` reports, if its phase is one.
    pub fn of(record: &StatusRecord) -> Option<Problem> {
        matches!(
            record.phase,
            Phase::Failed | Phase::Degraded | Phase::Frozen
        )
        .then(|| Problem {
            cluster: record.cluster.clone(),
            phase: record.phase,
            reason: record.reason.clone(),
            last_error: record
                .errors
                .last()
                .map(|e| format!("[{}] {}", e.class, e.message)),
            incomplete: record.incomplete.clone(),
        })
    }
}

/// The status records of one channel or of all, kept between looks.
pub struct Fleet {
    store: Store,
    only: Option<String>,
    cache_dir: Option<PathBuf>,
    readers: BTreeMap<String, StatusReader>,
    fetched: usize,
}

impl Fleet {
    /// The fleet of `store`, or of one channel of it.
    pub fn new(store: &Store, only: Option<&str>, cache_dir: Option<PathBuf>) -> Fleet {
        Fleet {
            store: store.clone(),
            only: only.map(str::to_owned),
            cache_dir,
            readers: BTreeMap::new(),
            fetched: 0,
        }
    }

    /// Reads what changed: one listing (of the channel, or of every channel's records at once),
    /// then the new and changed records.
    pub async fn refresh(&mut self) -> Result<()> {
        let listings = match &self.only {
            Some(name) => {
                let listed = self.store.list(&layout::status_prefix(name)).await?;
                BTreeMap::from([(name.clone(), listed)])
            }
            None => list_by_channel(&self.store).await?,
        };
        self.readers.retain(|name, _| listings.contains_key(name));
        self.fetched = 0;
        for (name, listed) in listings {
            let (store, dir) = (&self.store, self.cache_dir.as_deref());
            let reader = self
                .readers
                .entry(name.clone())
                .or_insert_with(|| StatusReader::new(store, &name, dir));
            let stats = reader.refresh_from(listed).await?;
            self.fetched += stats.fetched;
            tracing::debug!(channel = name, ?stats, "status records read");
        }
        Ok(())
    }

    /// Records fetched by the last refresh (new or changed since the one before).
    pub fn last_fetched(&self) -> usize {
        self.fetched
    }

    /// The readers, by channel.
    pub fn channels(&self) -> &BTreeMap<String, StatusReader> {
        &self.readers
    }

    /// Every channel's summary, with its newest generation read from the store.
    pub async fn summaries(&self, stale_after: Duration) -> Result<Vec<ChannelStatus>> {
        let mut out = Vec::new();
        for (name, reader) in &self.readers {
            let latest = Channel::new(&self.store, name)
                .latest()
                .await?
                .map(|l| l.head.generation);
            out.push(summarize(name, latest, reader.records(), stale_after));
        }
        Ok(out)
    }
}

/// Summarizes one channel's records.
pub fn summarize<'a>(
    channel: &str,
    latest: Option<u64>,
    records: impl Iterator<Item = &'a StatusRecord>,
    stale_after: Duration,
) -> ChannelStatus {
    let stale_before =
        now() - chrono::Duration::from_std(stale_after).unwrap_or(chrono::Duration::MAX);
    let mut status = ChannelStatus {
        channel: channel.to_owned(),
        latest_generation: latest,
        clusters: 0,
        on_latest: 0,
        by_generation: BTreeMap::new(),
        by_phase: BTreeMap::new(),
        stale: Vec::new(),
        problems: Vec::new(),
        drifted: Vec::new(),
    };
    for r in records {
        status.clusters += 1;
        let applied = r.applied.as_ref().map(|a| a.generation);
        if applied.is_some() && applied == latest {
            status.on_latest += 1;
        }
        *status
            .by_generation
            .entry(applied.map_or("none".to_owned(), |g| g.to_string()))
            .or_default() += 1;
        *status.by_phase.entry(phase_name(r.phase)).or_default() += 1;
        if r.updated_at < stale_before {
            status.stale.push(r.cluster.clone());
        }
        status.problems.extend(Problem::of(r));
        if r.counts.drifted > 0 {
            status.drifted.push(ClusterDrift {
                cluster: r.cluster.clone(),
                count: r.counts.drifted,
                objects: r.drifted.clone(),
            });
        }
    }
    status
}

/// A phase as the wire writes it (`converged`, `frozen`, …).
pub fn phase_name(phase: Phase) -> String {
    serde_json::to_value(phase)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}
