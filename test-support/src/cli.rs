//! Running `cairn` as a process the way every test does: in a directory that holds its keys,
//! manifests and store, with its publish cache inside that directory (never the user's), and
//! with no failpoint inherited from the test's environment.

use std::path::Path;
use std::process::{Command, Output};

use cairn_env_vars::EnvVars;

/// `program` (a `cairn` binary) ready to run in `dir`, its cache at `dir/.cairn-cache`.
pub fn cairn_command(program: &Path, dir: &Path) -> Command {
    let mut command = Command::new(program);
    command
        .current_dir(dir)
        .env(EnvVars::CAIRN_CACHE_DIR, dir.join(".cairn-cache"))
        .env_remove(EnvVars::CAIRN_FAILPOINT);
    command
}

/// Runs `command` to the end; panics with its stderr unless it succeeded.
pub fn succeeded(command: &mut Command) -> Output {
    let out = command.output().expect("cairn runs");
    assert!(
        out.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The arguments of `cairn publish` to `channel` on `store`, signed with the key file `key`,
/// followed by `rest` (more flags, then the manifest directories).
pub fn publish_args<'a>(
    store: &'a str,
    channel: &'a str,
    key: &'a str,
    rest: &[&'a str],
) -> Vec<&'a str> {
    let mut args = vec![
        "publish",
        "--store",
        store,
        "--channel",
        channel,
        "--key",
        key,
    ];
    args.extend_from_slice(rest);
    args
}
