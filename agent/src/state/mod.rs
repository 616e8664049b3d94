//! What a channel has applied, persisted so a restarted agent resumes without refetching,
//! re-applying, or moving to an older generation.
//!
//! In the state directory, per channel: a base file `<state dir>/channels/<channel>/state.json`
//! (the signed head that was applied and the snapshot's full entry set, replaced atomically) and
//! beside it a journal `state.json.journal` with one line per generation applied since (its head
//! and the entries that changed), appended and synced; the base is rewritten, and the journal
//! removed, once the journal outgrows it (see [`crate::fsutil::journal`]). So applying a change
//! costs O(changes) on disk, not a rewrite of every entry. On load the base and journal must
//! chain (each line starts from the snapshot the one before reached) and the result must rebuild
//! to the recorded snapshot digest, so damage is detected; a last line cut short by a crash is
//! dropped, which leaves the state of the generation before it.
//!
//! Beside them, `head.json` holds the applied head alone, rewritten after every save: a restart
//! reads it first ([`StateDir::load_head`]), polls with it, and loads and checks the entries
//! after the first poll ([`StateDir::load`], on a blocking thread, a few at a time per process),
//! so a fleet restart does not queue its polls behind the loading of every state.
//!
//! Elsewhere than the state directory, a [`StateBackend`] keeps the whole base file on every
//! save: in memory for replicas of one process ([`MemoryState`]), or in the cluster (the
//! Kubernetes target's state ConfigMaps, which implement [`StateBackend`] above this module).
//!
//! - [`applied`]: the one applied-head record, and what a channel applied in memory.
//! - [`file`]: the bytes on disk; [`load`] and [`save`]: reading and writing them.
//! - [`backend`]: where else state may live; [`trust_chain`]: the accepted trust root versions.

mod applied;
mod backend;
mod file;
mod load;
mod memory;
mod save;
mod trust_chain;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub(crate) use applied::Step;
pub use applied::{Applied, AppliedHead, HeadBytes};
pub use backend::StateBackend;
pub use memory::MemoryState;

use crate::error::{Error, Result, StateError};
use crate::fetch::Shared;

/// Where applied state persists: the state directory, or a [`StateBackend`].
#[derive(Clone, Debug)]
pub struct StateDir {
    root: PathBuf,
    backend: Option<Arc<dyn StateBackend>>,
    shared: Arc<Shared>,
}

impl StateDir {
    /// State kept by `backend` (when given) instead of files under `root`; loaded snapshots are
    /// shared through `shared`.
    pub fn with_backend(
        root: &Path,
        backend: Option<Arc<dyn StateBackend>>,
        shared: Arc<Shared>,
    ) -> StateDir {
        StateDir {
            root: root.to_owned(),
            backend,
            shared,
        }
    }

    /// Where `channel`'s state lives, for messages.
    pub fn locate(&self, channel: &str) -> PathBuf {
        match &self.backend {
            Some(backend) => backend.locate(channel),
            None => self.file(channel),
        }
    }

    fn dir(&self, channel: &str) -> PathBuf {
        self.root.join("channels").join(channel)
    }

    fn file(&self, channel: &str) -> PathBuf {
        self.dir(channel).join("state.json")
    }

    fn head_file(&self, channel: &str) -> PathBuf {
        self.dir(channel).join("head.json")
    }

    /// Channels with persisted state (none when the backend cannot be read: logged).
    pub async fn channels(&self) -> Vec<String> {
        if let Some(backend) = &self.backend {
            return backend.list().await.unwrap_or_else(|error| {
                tracing::warn!(%error, "cannot list channels with state");
                Vec::new()
            });
        }
        let Ok(dir) = std::fs::read_dir(self.root.join("channels")) else {
            return Vec::new();
        };
        let mut names: Vec<String> = dir
            .flatten()
            .filter(|e| e.path().join("state.json").is_file())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        names.sort();
        names
    }

    /// Checks, before a pass writes anything to the target, that what it applies can be
    /// recorded: the channel's directory can be created and written (a backend is checked by
    /// the target's own preparation).
    pub(crate) fn check_writable(&self, channel: &str) -> Result<()> {
        if self.backend.is_some() {
            return Ok(());
        }
        let dir = self.dir(channel);
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::state(&dir, StateError::io("create the state directory")(e)))?;
        let probe = dir.join(".writable");
        std::fs::write(&probe, b"")
            .and_then(|()| std::fs::remove_file(&probe))
            .map_err(|e| Error::state(&dir, StateError::io("write to the state directory")(e)))
    }

    /// Forgets `channel` (after it was torn down).
    pub async fn remove(&self, channel: &str) -> Result<()> {
        if let Some(backend) = &self.backend {
            return backend.delete(channel).await;
        }
        let dir = self.dir(channel);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::state(&dir, StateError::io("remove")(e))),
        }
    }
}

#[cfg(test)]
mod tests;
