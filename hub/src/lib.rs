//! The cairn hub: the library behind the `cairn` CLI.
//!
//! `main.rs` parses the command line and calls [`run`]; tests drive the same code.
//!
//! ```no_run
//! # async fn demo() -> cairn_hub::Result<()> {
//! use clap::Parser;
//! let cli = cairn_hub::cli::Cli::parse_from(["cairn", "history", "--channel", "prod", "--store", "/tmp/store"]);
//! cairn_hub::run(cli).await
//! # }
//! ```

pub mod bundle;
pub mod channel;
pub mod cli;
pub mod commands;
pub mod error;
pub mod failpoint;
pub mod flags;
pub mod inputs;
pub mod keys;
pub mod kinds;
pub mod manifests;
pub mod object_meta;
pub mod packs;
pub mod patch;
pub mod placement;
pub mod prepare;
pub mod publish;
pub mod remote;
pub mod rollout_spec;
pub mod scan;
pub mod scan_cache;
pub mod validate;

pub use error::{Error, Result, exit};

use cli::{Cli, Command};

/// Runs one command.
pub async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Keygen { out } => commands::keygen(&out),
        Command::Publish {
            store,
            channel,
            sign,
            paths,
            filename,
            source,
            allow_secrets,
            namespace,
            cache,
            rollout,
            rollout_policies,
        } => {
            let inputs: Vec<_> = paths.into_iter().chain(filename).collect();
            let rollout = rollout
                .map(|spec| rollout_spec::resolve(&spec, rollout_policies.as_deref()))
                .transpose()?
                .map(publish::RolloutPlan::Relative);
            let request = commands::publish::Request {
                store: &store,
                channel: &channel,
                sign: &sign,
                inputs: &inputs,
                source: source.into_iter().collect(),
                allow_secrets,
                namespace: namespace.namespace,
                cache_dir: cache.dir(),
                rollout,
                retire_at: None,
            };
            commands::publish(request).await.map(|_| ())
        }
        Command::History {
            store,
            channel,
            limit,
        } => commands::history(&store, &channel, limit).await,
        Command::Show {
            store,
            channel,
            what,
        } => commands::show(&store, channel.as_deref(), what.as_deref()).await,
        Command::Diff {
            store,
            channel,
            from,
            to,
            summary,
        } => commands::diff(&store, channel.as_deref(), &from, &to, summary).await,
        Command::Revert {
            store,
            channel,
            to,
            sign,
        } => commands::revert(&store, &channel, to, &sign).await,
        Command::Refresh {
            store,
            channel,
            sign,
        } => commands::refresh(&store, &channel, &sign).await,
        Command::Status {
            store,
            channel,
            stale_after,
        } => commands::status(&store, channel.as_deref(), stale_after).await,
        Command::Rollout { action } => commands::rollout(action).await,
        Command::Promote {
            store,
            from,
            to,
            generation,
            require_healthy,
            sign,
        } => commands::promote(&store, &from, &to, generation, require_healthy, &sign).await,
        Command::Env { action } => commands::env(action).await,
        Command::Flag { action } => commands::flag(action).await,
        Command::Export(args) => commands::export(&args).await,
        Command::Import(args) => commands::import(&args).await,
        Command::Gc {
            store,
            keep,
            grace,
            dry_run,
        } => commands::gc(&store, keep, grace, dry_run).await,
    }
}
