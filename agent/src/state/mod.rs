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
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use bytes::Bytes;
    use cairn_state_format::{EntrySet, diff_entries, parse_documents};

    use super::*;
    use crate::fetch::Shared;

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
            from: &previous.head.snapshot,
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

    impl StateDir {
        /// The state directory at `root` (created on first write).
        pub(crate) fn new(root: &Path) -> StateDir {
            StateDir::with_backend(root, None, Arc::new(Shared::new()))
        }
    }

    /// A state directory as this format's first agents wrote it (generation 1 in the base file,
    /// generations 2 and 3 in the journal, the head record at 3; heads signed with an epoch). Agents
    /// upgrade in place: these bytes must keep loading.
    const FORMAT_1: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/state-format-1");

    #[tokio::test]
    async fn state_written_by_earlier_agents_loads() {
        let dir = tempfile::tempdir().unwrap();
        let channel = dir.path().join("channels/prod");
        std::fs::create_dir_all(&channel).unwrap();
        for file in ["state.json", "state.json.journal", "head.json"] {
            let from = Path::new(FORMAT_1).join("channels/prod").join(file);
            std::fs::copy(from, channel.join(file)).unwrap();
        }
        let state = StateDir::new(dir.path());
        let snapshot: cairn_state_format::Digest =
            "sha256:c150a5ef8adc7b6cd10591ebf825287b8b765174c9fae29a77bf66bea80eeec0"
                .parse()
                .unwrap();
        let epoch = "0123456789abcdef0123456789abcdef".parse().ok();

        let head = state.load_head("prod").await.unwrap();
        assert_eq!((head.generation, head.snapshot), (3, snapshot));
        assert_eq!(head.etag.as_deref(), Some("\"etag-3\""));
        assert_eq!(head.signed.epoch(), epoch);

        let loaded = state.load("prod").await.unwrap().unwrap();
        assert_eq!(loaded.head, head);
        assert_eq!(loaded.entries().len(), 3);

        // The base file alone (as a backend keeps it) is generation 1, and encodes back to the
        // very bytes it was read from.
        let base = std::fs::read(channel.join("state.json")).unwrap();
        let first = state.decode_recorded("prod", &base).unwrap();
        assert_eq!(first.head.generation, 1);
        assert_eq!(first.head.signed.epoch(), epoch);
        assert_eq!(super::file::encode("prod", &first).unwrap(), base);
        let record = std::fs::read(channel.join("head.json")).unwrap();
        assert_eq!(super::file::encode_head("prod", &head).unwrap(), record);
    }
}
