//! The command line, with clap derive: the top-level [`Cli`], whose [`Command`]s are named and
//! dispatched in `commands/`. The top of the crate: nothing imports it but `lib.rs`. Each flag's
//! doc comment is its help text.

use clap::{CommandFactory, Parser};

pub use crate::commands::Command;
use crate::error::Result;

/// cairn publishes signed, content-addressed snapshots of Kubernetes manifests to object storage,
/// for fleets of agents to pull.
#[derive(Parser, Debug)]
#[command(name = "cairn", version, propagate_version = true, after_help = EXIT_CODES)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

const EXIT_CODES: &str = "Exit codes: 0 success (also when nothing changed), 1 store or I/O failure, 2 bad usage \
or configuration, 3 invalid manifests or input (nothing published), 4 lost to concurrent publishers or unsafe \
store, 5 channel, generation or object not found, 6 a health gate refused a promotion or aborted a watched rollout, \
7 the store's trust root refused (key not delegated the channel, too few signatures, not a root key, root expired).";

impl Cli {
    /// Runs the command.
    pub(crate) async fn run(self) -> Result<()> {
        self.command.run(Cli::command).await
    }
}
