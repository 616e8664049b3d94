//! `cairn completion`: shell completion scripts, generated from the clap definitions so they
//! never drift from the real flags.

use std::io::Write;

use clap::Args;
use clap_complete::Shell;

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

/// Prints the completion script of `command` (the whole `cairn` command line, which the caller
/// builds: this module sits below it) in the shell asked for.
pub fn run(args: &CompletionArgs, mut command: clap::Command) -> Result<()> {
    let mut out = Vec::new();
    let name = command.get_name().to_owned();
    clap_complete::generate(args.shell, &mut command, name, &mut out);
    std::io::stdout()
        .write_all(&out)
        .map_err(Error::io("standard output"))
}
