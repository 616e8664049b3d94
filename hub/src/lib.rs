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

pub mod atomic_file;
pub mod bundle;
pub mod bundle_trust;
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
pub mod proposal;
pub mod publish;
pub mod remote;
pub mod rollout_spec;
pub mod scan;
pub mod scan_cache;
pub mod status_cache;
pub mod status_read;
pub mod trust;
pub mod validate;

pub use error::{Error, Result, exit};

use cli::{Cli, Command};

/// Runs one command.
pub async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Keygen(args) => commands::keygen::run(&args),
        Command::Publish(args) => commands::publish::run(&args).await,
        Command::History(args) => commands::history::run(&args).await,
        Command::Show(args) => commands::show::run(&args).await,
        Command::Diff(args) => commands::diff::run(&args).await,
        Command::Revert(args) => commands::revert::revert(&args).await,
        Command::Refresh(args) => commands::revert::refresh(&args).await,
        Command::Status(args) => commands::status::run(&args).await,
        Command::Rollout(action) => commands::rollout::run(&action).await,
        Command::Promote(args) => commands::promote::run(&args).await,
        Command::Env(action) => commands::env::run(&action).await,
        Command::Flag(action) => commands::flag::run(&action).await,
        Command::Trust(args) => commands::trust::run(args).await,
        Command::Sign(args) => commands::sign::run(args).await,
        Command::Export(args) => commands::export::run(&args).await,
        Command::Import(args) => commands::import::run(&args).await,
        Command::Gc(args) => commands::gc::run(&args).await,
        Command::Ui(args) => commands::ui::run(args).await,
        Command::Completion(args) => commands::completion::run(&args),
    }
}
