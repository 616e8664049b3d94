//! `cairn completion`: shell completion scripts, generated from the clap definitions so they
//! never drift from the real flags.

use std::io::Write;

use clap::{Args, CommandFactory};
use clap_complete::Shell;

use crate::cli::Cli;
use crate::error::{Error, Result};

/// Print a shell completion script.
#[derive(Args, Debug, Clone)]
#[command(after_help = "Install:\n  \
    bash: cairn completion bash > ~/.local/share/bash-completion/completions/cairn\n  \
    zsh:  cairn completion zsh > \"${fpath[1]}/_cairn\"\n  \
    fish: cairn completion fish > ~/.config/fish/completions/cairn.fish")]
pub struct CompletionArgs {
    /// The shell to complete in.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// Prints the completion script for `cairn` in the shell asked for.
pub fn run(args: &CompletionArgs) -> Result<()> {
    let mut out = Vec::new();
    write_completion(Cli::command(), args.shell, &mut out);
    std::io::stdout()
        .write_all(&out)
        .map_err(Error::io("standard output"))
}

/// Writes `shell`'s completion script for any clap command (the agent's CLI uses the same).
pub fn write_completion(mut command: clap::Command, shell: Shell, out: &mut dyn Write) {
    let name = command.get_name().to_owned();
    clap_complete::generate(shell, &mut command, name, out);
}
