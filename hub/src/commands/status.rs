//! `cairn status`: the fleet as its agents report it, read through the status cache so that a
//! look costs a listing plus the records that changed since the last one.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use cairn_env_vars::EnvVars;
use cairn_state_format::{Phase, StatusRecord};
use cairn_store::Store;
use clap::Args;
use serde::Serialize;

use super::common::{channel_name, open_store, print_json};
use crate::channel::Channel;
use crate::cli::{CacheArgs, Output, StoreArgs};
use crate::error::Result;
use crate::publish::now;
use crate::status_read::{StatusReader, list_by_channel};

/// How many stale clusters and problems the text output names before summing up the rest.
const SHOWN: usize = 20;

/// Options of every command that reads status records.
#[derive(Args, Debug, Clone, Default)]
pub struct StatusReadArgs {
    /// Where the status cache lives: the records last read, by their listed version, so a read
    /// fetches only records that changed. Default: $XDG_CACHE_HOME/cairn or ~/.cache/cairn.
    /// Safe to delete at any time.
    #[arg(long = "cache-dir", env = EnvVars::CAIRN_CACHE_DIR, value_name = "DIR")]
    pub status_cache_dir: Option<PathBuf>,

    /// Fetch every status record, ignoring and not writing the status cache.
    #[arg(long = "no-cache", env = EnvVars::CAIRN_NO_CACHE)]
    pub no_status_cache: bool,
}

impl StatusReadArgs {
    /// The cache directory, unless caching is off or no home directory is known.
    pub fn dir(&self) -> Option<PathBuf> {
        CacheArgs {
            cache_dir: self.status_cache_dir.clone(),
            no_cache: self.no_status_cache,
        }
        .dir()
    }
}

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
    /// Clusters whose last resync found drifted objects, with how many.
    pub drifted: Vec<(String, u64)>,
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
                let listed = self
                    .store
                    .list(&cairn_state_format::layout::status_prefix(name))
                    .await?;
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
            status.drifted.push((r.cluster.clone(), r.counts.drifted));
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
    if !s.drifted.is_empty() {
        let objects: u64 = s.drifted.iter().map(|(_, n)| n).sum();
        println!(
            "  drift corrected by the last resync: {objects} objects on {} clusters",
            s.drifted.len()
        );
    }
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
