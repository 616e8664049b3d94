//! `cairn rollout`: status, advance, pause, resume, abort and watch. Every action that changes
//! anything publishes a new signed generation; nothing is ever moved backwards.

use std::time::Duration;

use cairn_state_format::{Digest, POSITIONS, Rollout, SecretKey};
use cairn_store::Store;

use super::args::{
    ChannelArgs, ChannelWriteArgs, Output, StatusReadArgs, StoreArgs, parse_percent,
};
use super::common::{channel_name, load_keys, open_store, print_json, proposal_notice, settings};
use crate::channel::{Channel, Logged};
use crate::clock::now;
use crate::error::{Error, Result};
use crate::publish::publish;
use crate::publish::request::{Content, Publication};
use crate::publish::rollout::RolloutPlan;
use crate::status::read::StatusReader;
use crate::status::rollout::{Progress, progress};

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
pub type RolloutControl = ChannelWriteArgs;

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
    let logged = channel.require_latest().await?;
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
    keys: &[SecretKey],
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
        let all_open = rollout.open_positions(now()) == POSITIONS;
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
