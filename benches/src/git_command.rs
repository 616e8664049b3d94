//! Git as the benchmarks run it: the developer's and the system's configuration ignored, no
//! automatic gc or maintenance, no hooks or signing, a fixed identity, no prompts.

use std::path::Path;
use std::process::Command;

/// A `git` command, run in `dir` (with `-C`) when given.
pub fn git(dir: Option<&Path>) -> Command {
    let mut command = Command::new("git");
    if let Some(dir) = dir {
        command.arg("-C").arg(dir);
    }
    command
        .args(["-c", "gc.auto=0", "-c", "maintenance.auto=false"])
        .args([
            "-c",
            "commit.gpgSign=false",
            "-c",
            "core.hooksPath=/dev/null",
        ])
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "cairn bench")
        .env("GIT_AUTHOR_EMAIL", "bench@cairn.invalid")
        .env("GIT_COMMITTER_NAME", "cairn bench")
        .env("GIT_COMMITTER_EMAIL", "bench@cairn.invalid")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE");
    command
}
