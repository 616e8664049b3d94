//! Publishing from a fresh checkout, as an ephemeral CI runner does: the work tree cloned anew
//! (every file's stat data new), then a change published with the publish cache directory
//! restored (as a CI cache action restores it), and another with nothing restored (the publish
//! finds the head's source map in the store). Each is measured against `git add -A && git
//! commit && git push` of the same kind of change in the same fresh clone.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::cairn::{Cairn, Published};
use super::git::Git;
use super::{RACY_WAIT, expect, write_all};
use crate::error::Result;
use crate::manifests::manifest;
use crate::measure::Usage;

/// One repetition of both fresh-checkout publishes, each with Git beside it.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct FreshSample {
    /// `cairn publish` in a fresh checkout with the publish cache directory kept.
    pub restored: Usage,
    /// What it reported.
    pub restored_published: Published,
    /// `git add -A && git commit && git push` of the same kind of change in a fresh clone.
    pub git_restored: Usage,
    /// `cairn publish` in a fresh checkout with no publish cache at all.
    pub nothing: Usage,
    /// What it reported.
    pub nothing_published: Published,
    /// `git add -A && git commit && git push` of the same kind of change in a fresh clone.
    pub git_nothing: Usage,
}

impl FreshSample {
    /// Field by field medians.
    pub fn median(samples: &[FreshSample]) -> FreshSample {
        let usage = |f: fn(&FreshSample) -> Usage| {
            Usage::median(&samples.iter().map(f).collect::<Vec<_>>())
        };
        let last = samples.last().cloned().unwrap_or_default();
        FreshSample {
            restored: usage(|s| s.restored),
            git_restored: usage(|s| s.git_restored),
            nothing: usage(|s| s.nothing),
            git_nothing: usage(|s| s.git_nothing),
            ..last
        }
    }
}

/// Publishes and commits `changed` objects at `revisions.0` from a fresh checkout with the
/// cache restored, then at `revisions.1` from one with nothing restored.
pub fn measure(
    cairn: &Cairn,
    git: &Git,
    manifests: &Path,
    changed: &[usize],
    revisions: (u32, u32),
) -> Result<FreshSample> {
    check_out_and_change(git, manifests, changed, revisions.0)?;
    let (restored, restored_published) = cairn.publish(manifests, true)?;
    expect_changes(&restored_published, changed.len(), "restored cache")?;
    let git_restored = git.commit_and_push("fresh change, cache restored")?;

    check_out_and_change(git, manifests, changed, revisions.1)?;
    cairn.forget_cache()?;
    let (nothing, nothing_published) = cairn.publish(manifests, true)?;
    expect_changes(&nothing_published, changed.len(), "nothing restored")?;
    let git_nothing = git.commit_and_push("fresh change, nothing restored")?;
    Ok(FreshSample {
        restored,
        restored_published,
        git_restored,
        nothing,
        nothing_published,
        git_nothing,
    })
}

/// Clones the work tree anew and writes `changed` at `revision`. The clone is older than
/// cairn's racy window when the change is written, as a checkout is by the time a pipeline
/// publishes, so the publish after this one trusts the clone's files by their stamps.
fn check_out_and_change(
    git: &Git,
    manifests: &Path,
    changed: &[usize],
    revision: u32,
) -> Result<()> {
    git.clone_fresh()?;
    std::thread::sleep(RACY_WAIT);
    write_all(manifests, changed.iter().map(|&i| manifest(i, revision)))
}

fn expect_changes(published: &Published, changes: usize, what: &str) -> Result<()> {
    expect(
        !published.unchanged && published.changes == changes as u64,
        &format!("cairn publish from a fresh checkout, {what}"),
        || format!("expected {changes} changes, got {published:?}"),
    )
}
