//! `cairn trust`: the store's trust root. Every command but `show` writes a new version, signed by
//! a threshold of the root keys, which agents follow from their next poll.

mod delegate;
mod init;
mod keys;
mod rotate;
mod scope_args;
mod show;
mod write;

use clap::{Args, Subcommand};

use crate::error::Result;

/// Arguments of `cairn trust`.
#[derive(Args, Debug)]
#[command(
    after_help = "The model: version 1 of the trust root names the root keys (and how many of them \
must sign the next version); each later version must be signed by a threshold of the previous version's \
root keys and of its own. Delegations say which keys may sign which channels (names and patterns such as \
team-a-*, each with its own threshold); for a channel, the first delegation whose pattern matches decides. \
Agents are installed once with version 1 (--trust-root-digest) and follow new versions over the wire."
)]
pub struct TrustArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: TrustAction,
}

/// The `cairn trust` commands.
#[derive(Subcommand, Debug)]
pub enum TrustAction {
    /// Create version 1: the root keys and their threshold (optionally a first delegation of every channel).
    Init(init::InitArgs),
    /// Explain the newest version: root keys, who may sign which channels, the versions so far.
    Show(show::ShowArgs),
    /// Add a key to the root keys or to a delegation (a new version).
    AddKey(keys::AddKeyArgs),
    /// Remove a key from every role it has, e.g. a leaked key (a new version); optionally replace it.
    RemoveKey(keys::RemoveKeyArgs),
    /// Create or replace a delegation: which keys may sign which channels, and how many must (a new version).
    Delegate(delegate::DelegateArgs),
    /// Remove a delegation (a new version).
    Undelegate(delegate::UndelegateArgs),
    /// Replace the root keys or their threshold, or just renew the expiry (a new version).
    Rotate(rotate::RotateArgs),
}

/// Runs one `cairn trust` command.
pub async fn run(args: TrustArgs) -> Result<()> {
    match args.action {
        TrustAction::Init(args) => init::run(args).await,
        TrustAction::Show(args) => show::run(args).await,
        TrustAction::AddKey(args) => keys::add(args).await,
        TrustAction::RemoveKey(args) => keys::remove(args).await,
        TrustAction::Delegate(args) => delegate::delegate(args).await,
        TrustAction::Undelegate(args) => delegate::undelegate(args).await,
        TrustAction::Rotate(args) => rotate::run(args).await,
    }
}
