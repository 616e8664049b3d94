//! The commands: the [`Command`] enum names each with its help text and dispatches to its
//! module, which holds its flags (an `*Args` struct, or a subcommand enum) next to its code and a
//! `run` that resolves the flags into settings, does the work through the parts below
//! (`publish`, `trust`, `status`, …), and prints text or JSON as asked. The flag groups several
//! commands share are in [`args`], the helpers in [`common`]; a command uses no other command
//! (`env up` excepted: it publishes manifests as `publish` does).
//!
//! A new command is a new module here, one `mod` line, one variant and one dispatch arm below.

pub mod args;
pub mod common;
pub mod completion;
pub mod diff;
pub mod env;
pub mod export;
pub mod flag;
pub mod gc;
pub mod history;
pub mod import;
pub mod keygen;
pub mod promote;
pub mod publish;
pub mod revert;
pub mod rollout;
pub mod show;
pub mod sign;
pub mod status;
pub mod trust;
pub mod ui;

use clap::Subcommand;

use crate::error::Result;

/// The commands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create an ed25519 key pair: PATH (secret, mode 0600) and PATH.pub (give it to agents).
    Keygen(keygen::KeygenArgs),
    /// Publish manifests as the channel's next generation (nothing happens if they are unchanged).
    #[command(
        after_help = "Examples:\n  cairn publish --channel prod --key hub.key deploy/\n  kustomize build overlays/prod | cairn publish --channel prod --key hub.key -f -"
    )]
    Publish(publish::PublishArgs),
    /// List a channel's generations, newest first.
    History(history::HistoryArgs),
    /// Show a generation (default: the newest) or a snapshot: head, source and entries.
    Show(show::ShowArgs),
    /// Compare two generations or snapshots: entries added, changed, removed, and a unified diff.
    Diff(diff::DiffArgs),
    /// Publish a new generation with the content of an older one (never a move backwards).
    Revert(revert::RevertArgs),
    /// Re-sign the newest generation's content as a new generation with a fresh expiry.
    Refresh(revert::RefreshArgs),
    /// Summarize the agents' status records: clusters per generation and phase, stale agents, failures.
    Status(status::StatusArgs),
    /// Progressive rollouts: status, advance, pause, resume, abort, watch.
    #[command(subcommand)]
    Rollout(rollout::RolloutAction),
    /// Publish another channel's snapshot (the identical digest) as this channel's next generation.
    Promote(promote::PromoteArgs),
    /// Ephemeral environments: up, down, list.
    #[command(subcommand)]
    Env(env::EnvAction),
    /// Feature flags: set, list, stale.
    #[command(subcommand)]
    Flag(flag::FlagAction),
    /// The trust root: which keys sign which channels, rotated and revoked over the wire.
    Trust(trust::TrustArgs),
    /// Add signatures to a proposed head (`--propose`); publish it once enough keys signed.
    Sign(sign::SignHeadArgs),
    /// Write a channel's signed generations and newest content to one portable file, for a
    /// store that cannot be reached from here (an air-gapped site): see `cairn import`.
    #[command(
        after_help = "Example:\n  cairn export --channel prod --out prod.cairn\n  # carry prod.cairn across, then:\n  cairn import prod.cairn --store /srv/cairn --trust hub.key.pub"
    )]
    Export(export::ExportArgs),
    /// Write a file from `cairn export` into a store, with the same signatures, so that agents
    /// there verify exactly as at the origin. The whole file is checked first and refused whole
    /// if damaged or foreign; importing twice or out of order never moves a channel back.
    Import(import::ImportArgs),
    /// Delete objects no kept generation of any channel reaches.
    Gc(gc::GcArgs),
    /// Serve a read-only web view of the store's fleet on 127.0.0.1 (channels, rollouts, clusters).
    Ui(ui::UiArgs),
    /// Print a shell completion script for cairn.
    Completion(completion::CompletionArgs),
}

impl Command {
    /// Runs the command. `cli` builds the whole command line, for completion scripts.
    pub(crate) async fn run(self, cli: fn() -> clap::Command) -> Result<()> {
        match self {
            Command::Keygen(args) => keygen::run(&args),
            Command::Publish(args) => publish::run(&args).await,
            Command::History(args) => history::run(&args).await,
            Command::Show(args) => show::run(&args).await,
            Command::Diff(args) => diff::run(&args).await,
            Command::Revert(args) => revert::revert(&args).await,
            Command::Refresh(args) => revert::refresh(&args).await,
            Command::Status(args) => status::run(&args).await,
            Command::Rollout(action) => rollout::run(&action).await,
            Command::Promote(args) => promote::run(&args).await,
            Command::Env(action) => env::run(&action).await,
            Command::Flag(action) => flag::run(&action).await,
            Command::Trust(args) => trust::run(args).await,
            Command::Sign(args) => sign::run(args).await,
            Command::Export(args) => export::run(&args).await,
            Command::Import(args) => import::run(&args).await,
            Command::Gc(args) => gc::run(&args).await,
            Command::Ui(args) => ui::run(args).await,
            Command::Completion(args) => completion::run(&args, cli()),
        }
    }
}
