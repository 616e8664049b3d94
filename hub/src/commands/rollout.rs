//! `cairn rollout`: status, advance, pause, resume, abort and watch. Every action that changes
//! anything publishes a new signed generation; nothing is ever moved backwards.

use std::time::Duration;

use cairn_state_format::{Digest, Head, Phase, Rollout, StatusRecord, cohort_position};
use cairn_store::Store;
use serde::Serialize;

use super::common::{channel_name, load_keys, open_store, print_json, proposal_notice, settings};
use super::status::StatusReadArgs;
use crate::channel::{Channel, Logged};
use crate::cli::{ChannelArgs, Output, StoreArgs, parse_percent};
use crate::error::{Error, Result};
use crate::publish::{Content, Publication, RolloutPlan, now, publish};
use crate::status_read::StatusReader;

/// Progressive rollout controls. Every action is a new signed generation; nothing moves back.
#[derive(clap::Subcommand, Debug)]
pub enum RolloutAction {
    /// Show the newest generation's rollout: steps, and clusters on the new content.
    Status(StatusArgs),
    /// Open the next closed step now.
    Advance(RolloutControl),
    /// Freeze the steps: closed steps stay closed until `resume`.
    Pause(RolloutControl),
    /// Unfreeze the steps, shifting the closed ones by the time spent paused.
    Resume(RolloutControl),
    /// Roll forward to a new generation with the content from before the rollout, for everyone.
    Abort(RolloutControl),
    /// Follow the rollout: advance steps early while healthy, abort when too many fail.
    Watch(WatchArgs),
}

/// Flags of `cairn rollout status`.
#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    /// Store options.
    #[command(flatten)]
    pub store: StoreArgs,
    /// The channel.
    #[command(flatten)]
    pub channel: ChannelArgs,
    /// Status cache options.
    #[command(flatten)]
    pub reads: StatusReadArgs,
}

/// Flags of the rollout actions that publish.
pub type RolloutControl = crate::cli::ChannelWriteArgs;

/// Flags of `cairn rollout watch`.
#[derive(clap::Args, Debug)]
pub struct WatchArgs {
    /// The channel and signing options.
    #[command(flatten)]
    pub control: RolloutControl,
    /// Abort when more than this share of the clusters on the new content fail.
    #[arg(long, default_value = "2%", value_parser = parse_percent)]
    pub max_failed: f64,
    /// Advance early once this share of the open cohort reports the new content healthy.
    #[arg(long, default_value = "90%", value_parser = parse_percent)]
    pub min_reporting: f64,
    /// How often to read the status records.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub every: Duration,
    /// Give up watching (leaving the rollout as it is) after this long.
    #[arg(long, default_value = "2h", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
    /// Status cache options.
    #[command(flatten)]
    pub reads: StatusReadArgs,
}

/// Runs one rollout action.
pub async fn run(action: &RolloutAction) -> Result<()> {
    match action {
        RolloutAction::Status(args) => status(args).await,
        RolloutAction::Advance(c) => control(c, Action::Advance).await,
        RolloutAction::Pause(c) => control(c, Action::Pause).await,
        RolloutAction::Resume(c) => control(c, Action::Resume).await,
        RolloutAction::Abort(c) => control(c, Action::Abort).await,
        RolloutAction::Watch(args) => watch(args).await,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    Advance,
    Pause,
    Resume,
    Abort,
}

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

async fn latest(store: &Store, channel: &str) -> Result<Logged> {
    Channel::new(store, channel).require_latest().await
}

/// Where the rollout of `reader`'s channel stands, after reading the records that changed.
pub async fn progress(store: &Store, reader: &mut StatusReader) -> Result<(Logged, Progress)> {
    let channel = reader.channel().to_owned();
    let logged = latest(store, &channel).await?;
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
        .map_or(cairn_state_format::POSITIONS, |r| r.open_positions(now()));
    let mut p = Progress {
        channel: channel.to_owned(),
        generation: head.generation,
        snapshot: head.snapshot,
        rollout: head.rollout.clone(),
        open: f64::from(open) / f64::from(cairn_state_format::POSITIONS),
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

async fn status(args: &StatusArgs) -> Result<()> {
    let store_args = &args.store;
    let store = open_store(store_args)?;
    let name = channel_name(&args.channel.channel)?;
    let mut reader = StatusReader::new(&store, name, args.reads.dir().as_deref());
    let (_, p) = progress(&store, &mut reader).await?;
    if store_args.output == Output::Json {
        return print_json(&p);
    }
    print_progress(&p);
    Ok(())
}

fn print_progress(p: &Progress) {
    println!(
        "channel {} generation {} ({})",
        p.channel, p.generation, p.snapshot
    );
    match &p.rollout {
        None => println!("  no rollout: every cluster may apply"),
        Some(r) => {
            let now = now();
            for step in &r.steps {
                let open = step.not_before <= r.paused_at.map_or(now, |p| p.min(now));
                println!(
                    "  {:>3}% {} at {}",
                    step.percent,
                    if open { "open  " } else { "closed" },
                    step.not_before.to_rfc3339()
                );
            }
            if let Some(paused) = r.paused_at {
                println!("  paused since {}", paused.to_rfc3339());
            }
        }
    }
    println!(
        "  {:.1}% open: {} of {} clusters admitted; {} on the new content ({} healthy, {} failed)",
        p.open * 100.0,
        p.admitted,
        p.clusters,
        p.on_new,
        p.healthy_on_new,
        p.failed_on_new
    );
}

/// The snapshot from before the rollout: the newest generation with other content.
async fn baseline(channel: &Channel<'_>, logged: &Logged) -> Result<Digest> {
    let mut generation = logged.head.generation;
    while generation > 1 {
        generation -= 1;
        let older = channel.require_generation(generation).await?;
        if older.head.snapshot != logged.head.snapshot {
            return Ok(older.head.snapshot);
        }
    }
    Err(Error::Input(format!(
        "channel {:?} has no generation with other content before {}: there is nothing to abort to",
        channel.name(),
        logged.head.generation
    )))
}

fn next_rollout(action: Action, rollout: &Rollout) -> Result<Rollout> {
    let now = now();
    let mut next = rollout.clone();
    match action {
        Action::Advance => {
            let clock = rollout.paused_at.map_or(now, |p| p.min(now));
            let step = next
                .steps
                .iter_mut()
                .find(|s| s.not_before > clock)
                .ok_or_else(|| {
                    Error::Input("every step is open already: nothing to advance".into())
                })?;
            step.not_before = now;
            next.paused_at = None;
        }
        Action::Pause => {
            if rollout.paused_at.is_some() {
                return Err(Error::Input("the rollout is paused already".into()));
            }
            next.paused_at = Some(now);
        }
        Action::Resume => {
            let paused = rollout
                .paused_at
                .ok_or_else(|| Error::Input("the rollout is not paused".into()))?;
            let shift = now - paused;
            for step in next.steps.iter_mut().filter(|s| s.not_before > paused) {
                step.not_before += shift;
            }
            next.paused_at = None;
        }
        Action::Abort => unreachable!("abort publishes other content, not another rollout"),
    }
    next.validate()?;
    Ok(next)
}

async fn control(c: &RolloutControl, action: Action) -> Result<()> {
    let name = channel_name(&c.channel.channel)?;
    let keys = load_keys(&c.sign)?;
    let store = open_store(&c.store)?;
    let channel = Channel::new(&store, name);
    let logged = latest(&store, name).await?;
    let message = apply(&store, &channel, &logged, action, c, &keys).await?;
    if c.store.output == Output::Json {
        return print_json(
            &serde_json::json!({ "channel": name, "action": format!("{action:?}").to_lowercase(), "message": message }),
        );
    }
    println!("channel {name}: {message}");
    Ok(())
}

async fn apply(
    store: &Store,
    channel: &Channel<'_>,
    logged: &Logged,
    action: Action,
    c: &RolloutControl,
    keys: &[cairn_state_format::SecretKey],
) -> Result<String> {
    let mut source = logged.head.source.clone();
    source.insert(
        "rollout_action".to_owned(),
        format!("{action:?}").to_lowercase(),
    );
    let (snapshot, rollout) = if action == Action::Abort {
        source.insert(
            "aborted_generation".to_owned(),
            logged.head.generation.to_string(),
        );
        (baseline(channel, logged).await?, None)
    } else {
        let current = logged.head.rollout.as_ref().ok_or_else(|| {
            Error::Input(format!(
                "generation {} has no rollout",
                logged.head.generation
            ))
        })?;
        (
            logged.head.snapshot,
            Some(RolloutPlan::Absolute(next_rollout(action, current)?)),
        )
    };
    let publication = Publication {
        channel: channel.name().to_owned(),
        content: Content::Existing(snapshot),
        source,
        expires_in: c.sign.expires_in,
        rollout,
        retire_at: logged.head.retire_at,
        allow_unchanged: true,
    };
    let published = publish(store, publication, &settings(&c.sign, keys)).await?;
    if let Some(notice) = proposal_notice(&published) {
        return Ok(notice);
    }
    Ok(match action {
        Action::Abort => format!(
            "aborted generation {}: generation {} rolls everyone forward to the earlier content {}",
            logged.head.generation, published.generation, snapshot
        ),
        other => format!("{other:?} done: generation {}", published.generation).to_lowercase(),
    })
}

async fn watch(args: &WatchArgs) -> Result<()> {
    let c = &args.control;
    let (max_failed, min_reporting) = (args.max_failed, args.min_reporting);
    let (every, timeout) = (args.every, args.timeout);
    let name = channel_name(&c.channel.channel)?;
    let keys = load_keys(&c.sign)?;
    let store = open_store(&c.store)?;
    let channel = Channel::new(&store, name);
    // One reader for the whole watch: each look fetches only the records that changed.
    let mut reader = StatusReader::new(&store, name, args.reads.dir().as_deref());
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let (logged, p) = progress(&store, &mut reader).await?;
        let Some(rollout) = &p.rollout else {
            println!(
                "channel {name}: generation {} has no rollout in progress",
                p.generation
            );
            return Ok(());
        };
        print_progress(&p);
        if p.on_new > 0 && p.failed_on_new as f64 > max_failed * p.on_new as f64 {
            let message = apply(&store, &channel, &logged, Action::Abort, c, &keys).await?;
            return Err(Error::Unhealthy(format!(
                "{} of {} clusters on the new content failed (limit {:.1}%): {message}",
                p.failed_on_new,
                p.on_new,
                max_failed * 100.0
            )));
        }
        let cohort_ready =
            p.admitted > 0 && p.healthy_on_new as f64 >= min_reporting * p.admitted as f64;
        let all_open = rollout.open_positions(now()) == cairn_state_format::POSITIONS;
        if all_open && cohort_ready {
            println!(
                "channel {name}: rollout of generation {} complete",
                p.generation
            );
            return Ok(());
        }
        if cohort_ready && !all_open && rollout.paused_at.is_none() {
            let message = apply(&store, &channel, &logged, Action::Advance, c, &keys).await?;
            println!("channel {name}: the open cohort is healthy; {message}");
        }
        if std::time::Instant::now() >= deadline {
            println!(
                "channel {name}: stopped watching after {}; the rollout goes on by its schedule",
                humantime::format_duration(timeout)
            );
            return Ok(());
        }
        tokio::time::sleep(every).await;
    }
}
