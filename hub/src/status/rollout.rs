//! Where a rollout stands: the clusters whose step is open, on the new content, healthy or
//! failing on it, by the agents' status records.

use cairn_state_format::{Digest, Head, POSITIONS, Phase, Rollout, StatusRecord, cohort_position};
use cairn_store::Store;
use serde::Serialize;

use super::read::StatusReader;
use crate::channel::{Channel, Logged};
use crate::clock::now;
use crate::error::Result;

/// Where a rollout stands, from the newest head and the agents' status records.
#[derive(Serialize, Debug, Clone)]
pub struct Progress {
    /// The channel.
    pub channel: String,
    /// The newest generation.
    pub generation: u64,
    /// The content being rolled out.
    pub snapshot: Digest,
    /// The rollout, if one is in progress.
    pub rollout: Option<Rollout>,
    /// Share of clusters (0 to 1) whose step is open.
    pub open: f64,
    /// Clusters reporting.
    pub clusters: usize,
    /// Clusters whose step is open.
    pub admitted: usize,
    /// Clusters that applied the new content.
    pub on_new: usize,
    /// Of those, how many are healthy (converged).
    pub healthy_on_new: usize,
    /// Of those, how many failed or are degraded.
    pub failed_on_new: usize,
}

/// Where the rollout of `reader`'s channel stands, after reading the records that changed.
pub async fn progress(store: &Store, reader: &mut StatusReader) -> Result<(Logged, Progress)> {
    let channel = reader.channel().to_owned();
    let logged = Channel::new(store, &channel).require_latest().await?;
    reader.refresh().await?;
    let started = rollout_start(&Channel::new(store, &channel), &logged).await?;
    let progress = measure(&channel, &logged.head, started, reader.records());
    Ok((logged, progress))
}

/// Where a rollout of `head` (whose content first appeared in generation `started`) stands by
/// `records`.
pub fn measure<'a>(
    channel: &str,
    head: &Head,
    started: u64,
    records: impl Iterator<Item = &'a StatusRecord>,
) -> Progress {
    let open = head
        .rollout
        .as_ref()
        .map_or(POSITIONS, |r| r.open_positions(now()));
    let mut p = Progress {
        channel: channel.to_owned(),
        generation: head.generation,
        snapshot: head.snapshot,
        rollout: head.rollout.clone(),
        open: f64::from(open) / f64::from(POSITIONS),
        clusters: 0,
        admitted: 0,
        on_new: 0,
        healthy_on_new: 0,
        failed_on_new: 0,
    };
    for r in records {
        p.clusters += 1;
        if cohort_position(&r.cluster, channel) < open {
            p.admitted += 1;
        }
        let (on_new, healthy, failing) = standing(r, head, started);
        p.on_new += usize::from(on_new);
        p.healthy_on_new += usize::from(healthy);
        p.failed_on_new += usize::from(on_new && failing);
    }
    p
}

/// Whether `r` is on `head`'s content, healthy on it, and failing. A cluster is on the new
/// content once it applied it, or once it saw a generation carrying it and failed (the attempt
/// is what the failure rate is about).
pub fn standing(r: &StatusRecord, head: &Head, started: u64) -> (bool, bool, bool) {
    let failing = matches!(r.phase, Phase::Failed | Phase::Degraded);
    let applied_new = r
        .applied
        .as_ref()
        .is_some_and(|a| a.snapshot == head.snapshot);
    let on_new = applied_new || (failing && r.observed_generation.is_some_and(|g| g >= started));
    (on_new, applied_new && r.phase == Phase::Converged, failing)
}

/// The first generation of the run of generations carrying the newest one's content.
pub async fn rollout_start(channel: &Channel<'_>, logged: &Logged) -> Result<u64> {
    let mut first = logged.head.generation;
    while first > 1 {
        match channel.generation(first - 1).await? {
            Some(older) if older.head.snapshot == logged.head.snapshot => first -= 1,
            _ => break,
        }
    }
    Ok(first)
}
