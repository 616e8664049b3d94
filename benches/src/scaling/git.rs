//! The Git baseline: a work tree holding the same manifests, commits of the same changes, and
//! pushes to a bare repository on the local disk over the `file://` protocol.
//!
//! Git runs with system and global configuration ignored (so a developer's hooks, signing or
//! aliases never leak into the figures) and with automatic garbage collection off, so a measured
//! commit never starts background work. The initial history is packed, as a real repository's
//! would be.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Error, Result};
use crate::measure::{Usage, describe, run};

/// A work tree and the bare repository it pushes to.
#[derive(Clone, Debug)]
pub struct Git {
    /// The work tree (with `.git` inside).
    pub work: PathBuf,
    /// The bare remote.
    pub remote: PathBuf,
}

impl Git {
    /// Initializes a repository in `work` (which may already hold files) and a bare `remote`.
    pub fn init(work: &Path, remote: &Path) -> Result<Git> {
        let git = Git {
            work: work.to_path_buf(),
            remote: remote.to_path_buf(),
        };
        run(git
            .command(None)
            .args(["init", "-q", "-b", "main"])
            .arg(work))?;
        run(git
            .command(None)
            .args(["init", "-q", "--bare", "-b", "main"])
            .arg(remote))?;
        Ok(git)
    }

    /// The installed Git's version line.
    pub fn version() -> Result<String> {
        let (_, out) = run(Command::new("git").arg("--version"))?;
        Ok(String::from_utf8_lossy(&out).trim().to_owned())
    }

    /// `git add -A && git commit`, measured as one.
    pub fn commit(&self, message: &str) -> Result<Usage> {
        let (add, _) = run(self.command(Some(&self.work)).args(["add", "-A"]))?;
        let (commit, _) = run(self.command(Some(&self.work)).args([
            "commit",
            "-q",
            "--no-verify",
            "-m",
            message,
        ]))?;
        Ok(add.then(commit))
    }

    /// Packs the repository's objects (unmeasured set-up).
    pub fn pack(&self) -> Result<()> {
        run(self.command(Some(&self.work)).args(["gc", "-q"]))?;
        Ok(())
    }

    /// `git push` of `main` to the bare remote over `file://`, measured.
    pub fn push(&self) -> Result<Usage> {
        let url = format!("file://{}", self.remote.display());
        let (usage, _) = run(self
            .command(Some(&self.work))
            .args(["push", "-q", &url, "main"]))?;
        Ok(usage)
    }

    /// Replaces the work tree with a fresh clone of the remote (unmeasured set-up), as a CI
    /// runner checks out: every file written anew, the index fresh.
    pub fn clone_fresh(&self) -> Result<()> {
        std::fs::remove_dir_all(&self.work).map_err(Error::io("removing", &self.work))?;
        let url = format!("file://{}", self.remote.display());
        run(self
            .command(None)
            .args(["clone", "-q", "-b", "main", &url])
            .arg(&self.work))?;
        Ok(())
    }

    /// `git add -A && git commit` then `git push`, measured as one.
    pub fn commit_and_push(&self, message: &str) -> Result<Usage> {
        Ok(self.commit(message)?.then(self.push()?))
    }

    /// Number of files the last commit changed.
    pub fn files_in_last_commit(&self) -> Result<usize> {
        let mut command = self.command(Some(&self.work));
        command.args(["diff-tree", "--no-commit-id", "--name-only", "-r", "HEAD"]);
        let (_, out) = run(&mut command)?;
        let text = String::from_utf8(out).map_err(|e| Error::Unexpected {
            command: describe(&command),
            message: format!("its output is not UTF-8: {e}"),
        })?;
        Ok(text.lines().filter(|l| !l.is_empty()).count())
    }

    /// The object directory of the work tree's repository.
    pub fn objects_dir(&self) -> PathBuf {
        self.work.join(".git").join("objects")
    }

    fn command(&self, dir: Option<&Path>) -> Command {
        crate::git_command::git(dir)
    }
}
