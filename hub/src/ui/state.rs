//! What the view knows: the newest look at the store, refreshed by one task.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use cairn_state_format::{Head, StatusRecord};
use cairn_store::Store;
use chrono::{DateTime, Utc};

use crate::channel::{Channel, names_under};
use crate::clock::now;
use crate::error::Result;
use crate::status::fleet::{ChannelStatus, Fleet, summarize};
use crate::status::rollout::{Progress, measure, rollout_start};

/// Progress samples kept per channel (at the default 10 s refresh, one hour).
const SAMPLES: usize = 360;

/// The view's shared state.
pub struct View {
    /// The store looked at.
    pub store: Store,
    /// How often the store is read and pages reload.
    pub refresh: Duration,
    /// Silence after which an agent is stale.
    pub stale_after: Duration,
    look: RwLock<Arc<Look>>,
}

/// One look at the store.
#[derive(Default)]
pub struct Look {
    /// When it was taken (`None` before the first one finished).
    pub at: Option<DateTime<Utc>>,
    /// Why the newest attempt failed, if it did (the look shown is then the previous one).
    pub error: Option<String>,
    /// Every channel with a head or status records.
    pub channels: BTreeMap<String, ChannelLook>,
}

/// One channel as last seen.
pub struct ChannelLook {
    /// Summary of its status records.
    pub summary: ChannelStatus,
    /// Its newest head (none once the channel is removed).
    pub head: Option<Head>,
    /// The rollout's progress by the status records, when it has a head.
    pub progress: Option<Progress>,
    /// The first generation carrying the newest content.
    pub started: Option<u64>,
    /// Its status records, by cluster id.
    pub records: Vec<Arc<StatusRecord>>,
    /// Progress over time, oldest first.
    pub samples: Vec<Sample>,
}

/// The rollout's progress at one moment.
#[derive(Clone, Debug)]
pub struct Sample {
    /// When.
    pub at: DateTime<Utc>,
    /// The newest generation then.
    pub generation: u64,
    /// Clusters reporting.
    pub clusters: usize,
    /// Clusters on the new content.
    pub on_new: usize,
    /// Of those, healthy.
    pub healthy: usize,
    /// Of those, failing.
    pub failed: usize,
}

impl View {
    /// A view of `store` that has not looked yet.
    pub fn new(store: Store, refresh: Duration, stale_after: Duration) -> View {
        View {
            store,
            refresh,
            stale_after,
            look: RwLock::new(Arc::new(Look::default())),
        }
    }

    /// The newest look.
    pub fn look(&self) -> Arc<Look> {
        // A poisoned lock only means a panic elsewhere mid-swap of an Arc: the value is whole.
        Arc::clone(&self.look.read().unwrap_or_else(|e| e.into_inner()))
    }

    fn publish(&self, look: Look) {
        *self.look.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(look);
    }
}

/// Looks at the store every `view.refresh`, forever; a failed look keeps the previous one and
/// says why.
pub async fn keep_looking(view: Arc<View>, cache_dir: Option<std::path::PathBuf>) {
    let mut fleet = Fleet::new(&view.store, None, cache_dir);
    loop {
        let previous = view.look();
        match take_look(&view, &mut fleet, &previous).await {
            Ok(look) => view.publish(look),
            Err(error) => {
                tracing::warn!(%error, "looking at the store failed; showing the previous look");
                view.publish(Look {
                    at: previous.at,
                    error: Some(error.to_string()),
                    channels: previous
                        .channels
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone_shallow()))
                        .collect(),
                });
            }
        }
        tokio::time::sleep(view.refresh).await;
    }
}

async fn take_look(view: &View, fleet: &mut Fleet, previous: &Look) -> Result<Look> {
    fleet.refresh().await?;
    let mut names: Vec<String> = names_under(&view.store, "channels/").await?;
    names.extend(fleet.channels().keys().cloned());
    names.sort();
    names.dedup();
    let at = now();
    let mut channels = BTreeMap::new();
    for name in names {
        let records = fleet
            .channels()
            .get(&name)
            .map(|r| r.shared())
            .unwrap_or_default();
        let samples = previous
            .channels
            .get(&name)
            .map(|c| c.samples.clone())
            .unwrap_or_default();
        let look = channel_look(view, &name, records, samples, at).await?;
        channels.insert(name, look);
    }
    Ok(Look {
        at: Some(at),
        error: None,
        channels,
    })
}

/// One channel's look: its newest head, the rollout's progress (appended to `samples`) and the
/// summary of `records`.
async fn channel_look(
    view: &View,
    name: &str,
    records: Vec<Arc<StatusRecord>>,
    mut samples: Vec<Sample>,
    at: DateTime<Utc>,
) -> Result<ChannelLook> {
    let channel = Channel::new(&view.store, name);
    let latest = channel.latest().await?;
    let started = match &latest {
        Some(logged) => Some(rollout_start(&channel, logged).await?),
        None => None,
    };
    let head = latest.map(|l| l.head);
    let iter = || records.iter().map(|r| r.as_ref());
    let progress = head
        .as_ref()
        .zip(started)
        .map(|(h, s)| measure(name, h, s, iter()));
    let summary = summarize(
        name,
        head.as_ref().map(|h| h.generation),
        iter(),
        view.stale_after,
    );
    samples.extend(progress.as_ref().map(|p| Sample {
        at,
        generation: p.generation,
        clusters: p.clusters,
        on_new: p.on_new,
        healthy: p.healthy_on_new,
        failed: p.failed_on_new,
    }));
    if samples.len() > SAMPLES {
        samples.drain(..samples.len() - SAMPLES);
    }
    Ok(ChannelLook {
        summary,
        head,
        progress,
        started,
        records,
        samples,
    })
}

impl ChannelLook {
    /// A copy sharing the records.
    fn clone_shallow(&self) -> ChannelLook {
        ChannelLook {
            summary: self.summary.clone(),
            head: self.head.clone(),
            progress: self.progress.clone(),
            started: self.started,
            records: self.records.clone(),
            samples: self.samples.clone(),
        }
    }
}
