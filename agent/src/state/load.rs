//! Reading applied state back: the head record first (no entries), then the base file and its
//! journal, checked to chain and to rebuild to the recorded snapshot.

use std::path::Path;
use std::sync::Arc;

use cairn_state_format::{Digest, EntrySet};
use futures::StreamExt;
use futures::stream::BoxStream;

use super::file::{decode, decode_head, replay};
use super::{Applied, AppliedHead, StateDir};
use crate::error::{Damage, Error, Result, StateError};
use crate::fetch::tree::Tree;
use crate::fsutil::journal;

impl StateDir {
    /// What `channel` applied, from the small record of its head, without loading the entries;
    /// `None` when there is no such record (nothing applied, a state kept by a backend, or one
    /// written before the record existed): then [`StateDir::load`] tells.
    pub async fn load_head(&self, channel: &str) -> Option<AppliedHead> {
        if self.backend.is_some() {
            return None;
        }
        let path = self.head_file(channel);
        let bytes = tokio::fs::read(&path).await.ok()?;
        match decode_head(channel, &bytes) {
            Ok(head) => Some(head),
            Err(error) => {
                // The full load finds and reports damage; this record only saves time.
                tracing::warn!(channel, path = %path.display(), %error, "ignoring the head record");
                None
            }
        }
    }

    /// Loads what `channel` applied, checking that the entries rebuild to the snapshot. The
    /// work runs on a blocking thread, at most a few loads at a time in the process.
    pub async fn load(&self, channel: &str) -> Result<Option<Applied>> {
        let _permit = self.shared.loads.acquire().await;
        let bytes = match &self.backend {
            Some(backend) => match backend.read(channel).await? {
                Some(bytes) => Some(bytes),
                None => return Ok(None),
            },
            None => None,
        };
        let (state, channel) = (self.clone(), channel.to_owned());
        tokio::task::spawn_blocking(move || state.load_now(&channel, bytes))
            .await
            .map_err(|e| Error::Task {
                task: "loading the state",
                why: e.to_string(),
            })?
    }

    /// [`StateDir::load`] on this thread; `bytes` is the base a backend gave, if any.
    fn load_now(&self, channel: &str, bytes: Option<Vec<u8>>) -> Result<Option<Applied>> {
        let path = self.locate(channel);
        let (bytes, lines) = match bytes {
            Some(bytes) => (bytes, Vec::new()),
            None => match std::fs::read(&path) {
                Ok(bytes) => (bytes, read_journal(channel, &path)?),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(Error::state(&path, StateError::io("read")(e))),
            },
        };
        self.decode(channel, &bytes, &lines)
            .map(Some)
            .map_err(|damage| Error::state(&path, StateError::Damaged(damage)))
    }

    /// What `channel`'s state file `bytes` (as a backend keeps it) holds, checked as on load.
    pub(crate) fn decode_recorded(&self, channel: &str, bytes: &[u8]) -> Result<Applied> {
        self.decode(channel, bytes, &[])
            .map_err(|damage| Error::state(self.locate(channel), StateError::Damaged(damage)))
    }

    /// The state file `bytes` followed by journal `lines`, checked to rebuild to the recorded
    /// snapshot.
    fn decode(
        &self,
        channel: &str,
        bytes: &[u8],
        lines: &[Vec<u8>],
    ) -> std::result::Result<Applied, Damage> {
        let mut state = decode(channel, bytes)?;
        for (i, line) in lines.iter().enumerate() {
            replay(&mut state, line).map_err(|source| Damage::JournalLine {
                line: i + 1,
                source: Box::new(source),
            })?;
        }
        let tree = self.verified(state.entries, &state.head.snapshot)?;
        Ok(Applied::of(state.head, tree))
    }

    /// The shared tree of `entries`, checked to be snapshot `snapshot`.
    fn verified(
        &self,
        entries: EntrySet,
        snapshot: &Digest,
    ) -> std::result::Result<Arc<Tree>, Damage> {
        let trees = &self.shared.trees;
        if let Some(tree) = trees.get(snapshot) {
            // Another channel holds this snapshot, verified: comparing is enough.
            if *tree.entries() == entries {
                return Ok(tree);
            }
            return Err(Damage::NotShared(*snapshot));
        }
        let tree = Tree::build(entries).0;
        if tree.digest() != snapshot {
            return Err(Damage::Rebuilt {
                rebuilt: *tree.digest(),
                recorded: *snapshot,
            });
        }
        Ok(trees.share(tree))
    }

    /// `channel`'s state as the backend reports it, now and after every change (never, without
    /// a backend that can tell).
    pub(crate) fn follow(&self, channel: &str) -> BoxStream<'static, Result<Option<Vec<u8>>>> {
        match &self.backend {
            Some(backend) => backend.follow(channel),
            None => futures::stream::pending().boxed(),
        }
    }
}

/// The complete lines of the journal beside the base file `path` (a line cut short by a crash
/// is dropped, with a warning).
fn read_journal(channel: &str, path: &Path) -> Result<Vec<Vec<u8>>> {
    let journal = journal::path_of(path);
    let (lines, torn) = journal::read(&journal)
        .map_err(|e| Error::state(&journal, StateError::io("read the journal")(e)))?;
    if torn {
        tracing::warn!(
            channel,
            path = %journal.display(),
            "the last journal line was cut short (a crash while saving); dropped it"
        );
    }
    Ok(lines)
}
