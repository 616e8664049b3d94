//! What a channel has applied, persisted so a restarted agent resumes without refetching,
//! re-applying, or moving to an older generation.
//!
//! In the state directory, per channel: a base file `<state dir>/channels/<channel>/state.json`
//! (the signed head that was applied and the snapshot's full entry set, replaced atomically) and
//! beside it a journal `state.json.journal` with one line per generation applied since (its head
//! and the entries that changed), appended and synced; the base is rewritten, and the journal
//! removed, once the journal outgrows it (see [`journal`]). So applying a change costs
//! O(changes) on disk, not a rewrite of every entry. On load the base and journal must chain
//! (each line starts from the snapshot the one before reached) and the result must rebuild to
//! the recorded snapshot digest, so damage is detected; a last line cut short by a crash is
//! dropped, which leaves the state of the generation before it.
//!
//! Beside them, `head.json` holds the applied head alone, rewritten after every save: a restart
//! reads it first ([`StateDir::load_head`]), polls with it, and loads and checks the entries
//! after the first poll ([`StateDir::load`], on a blocking thread, a few at a time per process),
//! so a fleet restart does not queue its polls behind the loading of every state.
//!
//! With `--target kube` the state lives in the cluster instead ([`ConfigMapState`], a
//! [`StateBackend`]), which gets the whole base file on every save.

mod configmap;
mod error;
mod file;
pub(crate) mod journal;
mod memory;
mod trust_chain;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use cairn_state_format::{Change, Digest, EntrySet, Epoch, SignedHead};
use futures::StreamExt;
use futures::stream::BoxStream;

pub use configmap::{ConfigMapState, configmap_name};
pub use error::StateError;
pub use memory::MemoryState;

use crate::error::{Error, Result};
use crate::fetch::Shared;
use crate::fetch::tree::Tree;
use crate::fsutil::write_atomic;
use file::{decode, decode_head, encode, encode_head, record, replay};

/// What a channel applied: a verified generation and its snapshot.
#[derive(Clone, Debug)]
pub struct Applied {
    /// The generation applied.
    pub generation: u64,
    /// Its snapshot.
    pub snapshot: Digest,
    /// The signed head, as fetched.
    pub head: Bytes,
    /// The head's ETag when it was fetched, for the first conditional poll after a restart.
    pub head_etag: Option<String>,
    /// The channel's epoch, as the applied head names it (`None` for a format 1 head).
    pub epoch: Option<Epoch>,
    /// The snapshot's entries and index, shared with whoever else holds the same snapshot.
    tree: Arc<Tree>,
}

/// What a channel applied, without its entries: enough to poll with after a restart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppliedHead {
    /// The generation applied.
    pub generation: u64,
    /// Its snapshot.
    pub snapshot: Digest,
    /// The signed head, as fetched.
    pub head: Bytes,
    /// The head's ETag when it was fetched.
    pub head_etag: Option<String>,
    /// The channel's epoch, as the applied head names it.
    pub epoch: Option<Epoch>,
}

/// The epoch a stored head names (heads are checked when fetched; one that no longer decodes
/// names none).
fn epoch_of(head: &[u8]) -> Option<Epoch> {
    SignedHead::decode(head).ok().and_then(|s| s.head.epoch)
}

impl PartialEq for Applied {
    fn eq(&self, other: &Applied) -> bool {
        // The snapshot digest names the entries.
        (self.generation, &self.snapshot, &self.head, &self.head_etag)
            == (
                other.generation,
                &other.snapshot,
                &other.head,
                &other.head_etag,
            )
    }
}

impl Applied {
    /// What applying `head` (generation `generation`) with these entries amounts to; the
    /// snapshot digest is computed from the entries.
    pub fn new(
        generation: u64,
        head: Bytes,
        head_etag: Option<String>,
        entries: EntrySet,
    ) -> Applied {
        let tree = Arc::new(Tree::build(entries).0);
        Applied::of(generation, head, head_etag, tree)
    }

    pub(crate) fn of(
        generation: u64,
        head: Bytes,
        head_etag: Option<String>,
        tree: Arc<Tree>,
    ) -> Applied {
        Applied {
            generation,
            snapshot: *tree.digest(),
            epoch: epoch_of(&head),
            head,
            head_etag,
            tree,
        }
    }

    /// What was applied, without the entries.
    pub fn head(&self) -> AppliedHead {
        AppliedHead {
            generation: self.generation,
            snapshot: self.snapshot,
            head: self.head.clone(),
            head_etag: self.head_etag.clone(),
            epoch: self.epoch,
        }
    }

    /// Every entry of the snapshot (before cluster selectors are applied).
    pub fn entries(&self) -> &EntrySet {
        self.tree.entries()
    }

    /// The snapshot's entries and index nodes.
    pub(crate) fn tree(&self) -> &Arc<Tree> {
        &self.tree
    }
}

/// How the saved generation differs from the one saved before.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Step<'a> {
    /// Unknown (first apply, or a rebuilt state): save in full.
    Full,
    /// These changes lead from `from`.
    From {
        /// The snapshot saved before.
        from: &'a Digest,
        /// The changes from it.
        changes: &'a [Change],
    },
}

/// Somewhere other than the state directory that keeps each channel's state file.
#[async_trait]
pub trait StateBackend: Send + Sync + std::fmt::Debug {
    /// Where `channel`'s state lives, for messages.
    fn locate(&self, channel: &str) -> PathBuf;
    /// The state file of `channel`, if any.
    async fn read(&self, channel: &str) -> Result<Option<Vec<u8>>>;
    /// Replaces the state file of `channel` (`applied` is what it encodes).
    async fn write(&self, channel: &str, bytes: Vec<u8>, applied: &Applied) -> Result<()>;
    /// Forgets `channel`.
    async fn delete(&self, channel: &str) -> Result<()>;
    /// Channels with state.
    async fn list(&self) -> Result<Vec<String>>;
    /// Where the accepted trust root versions are kept, for messages.
    fn locate_trust(&self) -> PathBuf;
    /// The record of accepted trust root versions, if any (see `trust_chain`).
    async fn read_trust(&self) -> Result<Option<Vec<u8>>>;
    /// Replaces the record of accepted trust root versions.
    async fn write_trust(&self, bytes: Vec<u8>) -> Result<()>;
    /// The state file of `channel` now and after every change (`None`: none), for replicas
    /// that follow a leader; errors are reported and the stream goes on. By default nothing is
    /// ever reported (such a backend's followers take the state when they lead).
    fn follow(&self, _channel: &str) -> BoxStream<'static, Result<Option<Vec<u8>>>> {
        futures::stream::pending().boxed()
    }
}

/// Where applied state persists: the state directory, or a [`StateBackend`].
#[derive(Clone, Debug)]
pub struct StateDir {
    root: PathBuf,
    backend: Option<Arc<dyn StateBackend>>,
    shared: Arc<Shared>,
}

impl StateDir {
    /// The state directory at `root` (created on first write).
    #[cfg(test)]
    pub fn new(root: &Path) -> StateDir {
        StateDir::with_backend(root, None, Arc::new(Shared::new()))
    }

    /// State kept by `backend` instead of files under `root`; loaded snapshots are shared
    /// through `shared`.
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

    fn file(&self, channel: &str) -> PathBuf {
        self.root.join("channels").join(channel).join("state.json")
    }

    fn head_file(&self, channel: &str) -> PathBuf {
        self.root.join("channels").join(channel).join("head.json")
    }

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
            Ok((generation, snapshot, head, head_etag)) => Some(AppliedHead {
                generation,
                snapshot,
                epoch: epoch_of(head.as_bytes()),
                head: Bytes::from(head.into_bytes()),
                head_etag,
            }),
            Err(error) => {
                // The full load finds and reports damage; this record only saves time.
                tracing::warn!(channel, path = %path.display(), error, "ignoring the head record");
                None
            }
        }
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
        self.decode(channel, &path, &bytes, &lines).map(Some)
    }

    /// What `channel`'s state file `bytes` (as a backend keeps it) holds, checked as on load.
    pub(crate) fn decode_recorded(&self, channel: &str, bytes: &[u8]) -> Result<Applied> {
        self.decode(channel, &self.locate(channel), bytes, &[])
    }

    /// The state file `bytes` at `path` followed by journal `lines`, checked to rebuild to the
    /// recorded snapshot.
    fn decode(
        &self,
        channel: &str,
        path: &Path,
        bytes: &[u8],
        lines: &[Vec<u8>],
    ) -> Result<Applied> {
        let damaged = |reason: String| {
            Error::state(
                path,
                StateError::Damaged(format!(
                    "{reason}; the state is damaged: remove it to start this channel over"
                )),
            )
        };
        let mut state = decode(channel, bytes).map_err(damaged)?;
        for (i, line) in lines.iter().enumerate() {
            replay(&mut state, line)
                .map_err(|e| damaged(format!("journal line {}: {e}", i + 1)))?;
        }
        let tree = self
            .verified(state.entries, &state.snapshot)
            .map_err(damaged)?;
        Ok(Applied::of(
            state.generation,
            Bytes::from(state.head.into_bytes()),
            state.head_etag,
            tree,
        ))
    }

    /// `channel`'s state as the backend reports it, now and after every change (never, without
    /// a backend that can tell).
    pub(crate) fn follow(&self, channel: &str) -> BoxStream<'static, Result<Option<Vec<u8>>>> {
        match &self.backend {
            Some(backend) => backend.follow(channel),
            None => futures::stream::pending().boxed(),
        }
    }

    /// The shared tree of `entries`, checked to be snapshot `snapshot`.
    fn verified(
        &self,
        entries: EntrySet,
        snapshot: &Digest,
    ) -> std::result::Result<Arc<Tree>, String> {
        let trees = &self.shared.trees;
        if let Some(tree) = trees.get(snapshot) {
            // Another channel holds this snapshot, verified: comparing is enough.
            if *tree.entries() == entries {
                return Ok(tree);
            }
            return Err(format!("its entries are not those of snapshot {snapshot}"));
        }
        let tree = Tree::build(entries).0;
        if tree.digest() != snapshot {
            return Err(format!(
                "its entries rebuild to {}, not to the recorded snapshot {snapshot}",
                tree.digest()
            ));
        }
        Ok(trees.share(tree))
    }

    /// Records what `channel` applied: a journal line for `step`, or (first, or when the journal
    /// is due for compaction) the whole base file, atomically.
    pub(crate) async fn save(
        &self,
        channel: &str,
        applied: &Applied,
        step: Step<'_>,
    ) -> Result<()> {
        let path = self.locate(channel);
        if let Some(backend) = &self.backend {
            let bytes = encode(channel, applied).map_err(|e| Error::state(&path, e))?;
            return backend.write(channel, bytes, applied).await;
        }
        self.save_files(channel, &path, applied, step)?;
        // Written last: a crash before it leaves a record of an older head, which the full load
        // after the first poll corrects.
        let head_file = self.head_file(channel);
        let bytes = encode_head(channel, applied).map_err(|e| Error::state(&head_file, e))?;
        write_atomic(&head_file, &bytes)
            .map_err(|e| Error::state(&head_file, StateError::io("write")(e)))
    }

    fn save_files(
        &self,
        channel: &str,
        path: &Path,
        applied: &Applied,
        step: Step<'_>,
    ) -> Result<()> {
        let journal = journal::path_of(path);
        if let (Step::From { from, changes }, Ok(base)) = (step, std::fs::metadata(path)) {
            let line = record(applied, from, changes).map_err(|e| Error::state(path, e))?;
            let length = journal::append(&journal, &[line])
                .map_err(|e| Error::state(&journal, StateError::io("append to")(e)))?;
            if !journal::due(length, base.len()) {
                return Ok(());
            }
        }
        let bytes = encode(channel, applied).map_err(|e| Error::state(path, e))?;
        write_atomic(path, &bytes).map_err(|e| Error::state(path, StateError::io("write")(e)))?;
        // Lines already in the new base are skipped on load, so a crash before this is harmless.
        journal::remove(&journal).map_err(|e| Error::state(&journal, StateError::io("remove")(e)))
    }

    /// Writes `applied` again where a backend keeps more beside it (the Kubernetes target's
    /// fingerprints of objects it just corrected); the state directory's file has not changed,
    /// so nothing is written there.
    pub(crate) async fn resave(&self, channel: &str, applied: &Applied) -> Result<()> {
        match &self.backend {
            Some(_) => self.save(channel, applied, Step::Full).await,
            None => Ok(()),
        }
    }

    /// Checks, before a pass writes anything to the target, that what it applies can be
    /// recorded: the channel's directory can be created and written (a backend is checked by
    /// the target's own preparation).
    pub(crate) fn check_writable(&self, channel: &str) -> Result<()> {
        if self.backend.is_some() {
            return Ok(());
        }
        let dir = self.root.join("channels").join(channel);
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
        let dir = self.root.join("channels").join(channel);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::state(&dir, StateError::io("remove")(e))),
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

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_state_format::{diff_entries, parse_documents};

    fn entries(names: &[&str], value: &str) -> EntrySet {
        let yaml: String = names
            .iter()
            .map(|n| {
                format!(
                    "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {n}, namespace: x}}\ndata: {{v: '{value}'}}\n"
                )
            })
            .collect();
        parse_documents("a.yaml", &yaml)
            .unwrap()
            .iter()
            .map(|r| (r.id.clone(), r.entry()))
            .collect()
    }

    fn applied(generation: u64, entries: EntrySet) -> Applied {
        Applied::new(
            generation,
            Bytes::from(format!("{{\"head\":{generation}}}")),
            Some("\"e\"".into()),
            entries,
        )
    }

    /// Saves `next` as the step after `previous`.
    async fn step(state: &StateDir, previous: &Applied, next: &Applied) {
        let changes = diff_entries(previous.entries(), next.entries());
        let step = Step::From {
            from: &previous.snapshot,
            changes: &changes,
        };
        state.save("prod", next, step).await.unwrap();
    }

    #[tokio::test]
    async fn round_trips_and_detects_damage() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path());
        assert_eq!(state.load("prod").await.unwrap(), None);
        let first = applied(3, entries(&["a"], "1"));
        state.save("prod", &first, Step::Full).await.unwrap();
        assert_eq!(state.load("prod").await.unwrap(), Some(first.clone()));
        assert_eq!(state.channels().await, ["prod"]);

        let path = dir.path().join("channels/prod/state.json");
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replace("\"generation\":3", "\"generation\":3,\"x\":1");
        std::fs::write(&path, text).unwrap();
        let err = state.load("prod").await.unwrap_err().to_string();
        assert!(err.contains("damaged"), "{err}");
        state.remove("prod").await.unwrap();
        assert!(state.channels().await.is_empty());
    }

    #[tokio::test]
    async fn changes_are_journaled_and_resume_after_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path());
        let names = ["a", "b", "c", "d"];
        let g1 = applied(1, entries(&names, "1"));
        state.save("prod", &g1, Step::Full).await.unwrap();
        let base = std::fs::read(dir.path().join("channels/prod/state.json")).unwrap();
        let mut g2_entries = entries(&names, "1");
        g2_entries.extend(entries(&["b"], "2"));
        g2_entries.remove(&entries(&["d"], "1").into_keys().next().unwrap());
        let g2 = applied(2, g2_entries);
        step(&state, &g1, &g2).await;
        // The base is untouched; the change went to the journal.
        assert_eq!(
            std::fs::read(dir.path().join("channels/prod/state.json")).unwrap(),
            base
        );
        let journal = dir.path().join("channels/prod/state.json.journal");
        assert!(journal.is_file());
        // A restart (a fresh StateDir: nothing shared in memory) resumes at generation 2.
        let loaded = StateDir::new(dir.path())
            .load("prod")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(loaded, g2);
        assert_eq!(loaded.entries(), g2.entries());
    }

    #[tokio::test]
    async fn a_save_cut_short_leaves_the_state_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path());
        let g1 = applied(1, entries(&["a", "b"], "1"));
        state.save("prod", &g1, Step::Full).await.unwrap();
        let g2 = applied(2, entries(&["a", "b"], "2"));
        step(&state, &g1, &g2).await;
        let journal = dir.path().join("channels/prod/state.json.journal");
        let full = std::fs::read(&journal).unwrap();
        // A crash half-way through appending generation 2's line.
        std::fs::write(&journal, &full[..full.len() / 2]).unwrap();
        let loaded = StateDir::new(dir.path())
            .load("prod")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(loaded, g1);
        // The torn line was cut off: the next save appends cleanly.
        step(&state, &g1, &g2).await;
        assert_eq!(
            StateDir::new(dir.path()).load("prod").await.unwrap(),
            Some(g2.clone())
        );

        // A crash while rewriting the base leaves only a temporary file: the old base holds.
        let tmp = crate::fsutil::tmp_path(&dir.path().join("channels/prod/state.json"));
        std::fs::write(&tmp, b"{\"format\":1,\"chan").unwrap();
        assert_eq!(
            StateDir::new(dir.path()).load("prod").await.unwrap(),
            Some(g2)
        );
    }

    #[tokio::test]
    async fn a_damaged_journal_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path());
        let g1 = applied(1, entries(&["a", "b"], "1"));
        state.save("prod", &g1, Step::Full).await.unwrap();
        let g2 = applied(2, entries(&["a", "b"], "2"));
        step(&state, &g1, &g2).await;
        let journal = dir.path().join("channels/prod/state.json.journal");
        // A changed blob digest: the entries no longer rebuild to the recorded snapshot.
        let text = std::fs::read_to_string(&journal).unwrap();
        let blob = g2.entries().values().next().unwrap().blob.to_string();
        let other = g1.entries().values().next().unwrap().blob.to_string();
        std::fs::write(&journal, text.replacen(&blob, &other, 1)).unwrap();
        let err = StateDir::new(dir.path()).load("prod").await.unwrap_err();
        assert!(err.to_string().contains("damaged"), "{err}");
        // A line that does not decode.
        std::fs::write(&journal, "{\"generation\":2}\n").unwrap();
        let err = StateDir::new(dir.path()).load("prod").await.unwrap_err();
        assert!(err.to_string().contains("journal line 1"), "{err}");
    }

    #[tokio::test]
    async fn the_journal_is_folded_into_the_base_once_it_outgrows_it() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path());
        let names: Vec<String> = (0..40).map(|i| format!("cm-{i}")).collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let mut previous = applied(1, entries(&names, "0"));
        state.save("prod", &previous, Step::Full).await.unwrap();
        let journal = dir.path().join("channels/prod/state.json.journal");
        let mut compacted = false;
        for generation in 2..40 {
            let next = applied(generation, entries(&names, &generation.to_string()));
            step(&state, &previous, &next).await;
            compacted |= !journal.exists();
            previous = next;
        }
        assert!(compacted, "the journal was never folded into the base");
        assert_eq!(
            StateDir::new(dir.path()).load("prod").await.unwrap(),
            Some(previous)
        );
    }
}
