//! What a channel has applied, persisted in the state directory so a restarted agent resumes
//! without refetching, re-applying, or moving to an older generation.
//!
//! One file per channel, `<state dir>/channels/<channel>/state.json`, replaced atomically. It
//! holds the signed head that was applied (re-verified on load) and the snapshot's full entry
//! set, which must rebuild to the snapshot digest, so a damaged file is detected.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use cairn_state_format::{Digest, Entry, EntrySet, Snapshot};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::fsutil::write_atomic;

const STATE_FORMAT: u64 = 1;

/// What a channel applied: a verified generation and its snapshot's entries.
#[derive(Clone, Debug, PartialEq)]
pub struct Applied {
    /// The generation applied.
    pub generation: u64,
    /// Its snapshot.
    pub snapshot: Digest,
    /// The signed head, as fetched.
    pub head: Bytes,
    /// The head's ETag when it was fetched, for the first conditional poll after a restart.
    pub head_etag: Option<String>,
    /// Every entry of the snapshot (before cluster selectors are applied).
    pub entries: EntrySet,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateFile {
    format: u64,
    channel: String,
    generation: u64,
    snapshot: Digest,
    head: String,
    #[serde(default)]
    head_etag: Option<String>,
    entries: Vec<Entry>,
}

/// The state directory.
#[derive(Clone, Debug)]
pub struct StateDir {
    root: PathBuf,
}

impl StateDir {
    /// The state directory at `root` (created on first write).
    pub fn new(root: &Path) -> StateDir {
        StateDir {
            root: root.to_owned(),
        }
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn file(&self, channel: &str) -> PathBuf {
        self.root.join("channels").join(channel).join("state.json")
    }

    /// Channels with persisted state.
    pub fn channels(&self) -> Vec<String> {
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

    /// Loads what `channel` applied, checking that the entries rebuild to the snapshot.
    pub fn load(&self, channel: &str) -> Result<Option<Applied>> {
        let path = self.file(channel);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::state(&path, format!("cannot read: {e}"))),
        };
        let damaged = |message: String| {
            Error::state(
                &path,
                format!("{message}; the file is damaged: remove it to start this channel over"),
            )
        };
        let file: StateFile = serde_json::from_slice(&bytes).map_err(|e| damaged(e.to_string()))?;
        if file.format != STATE_FORMAT || file.channel != channel {
            return Err(damaged(format!(
                "format {} for channel {:?}, expected format {STATE_FORMAT} for {channel:?}",
                file.format, file.channel
            )));
        }
        let entries: EntrySet = file
            .entries
            .into_iter()
            .map(|e| (e.id.clone(), e))
            .collect();
        let rebuilt = Snapshot::build(&entries).0.digest();
        if rebuilt != file.snapshot {
            return Err(damaged(format!(
                "its entries rebuild to {rebuilt}, not to the recorded snapshot {}",
                file.snapshot
            )));
        }
        Ok(Some(Applied {
            generation: file.generation,
            snapshot: file.snapshot,
            head: Bytes::from(file.head.into_bytes()),
            head_etag: file.head_etag,
            entries,
        }))
    }

    /// Records what `channel` applied, atomically.
    pub fn save(&self, channel: &str, applied: &Applied) -> Result<()> {
        let path = self.file(channel);
        let head = String::from_utf8(applied.head.to_vec())
            .map_err(|_| Error::state(&path, "the signed head is not UTF-8"))?;
        let file = StateFile {
            format: STATE_FORMAT,
            channel: channel.to_owned(),
            generation: applied.generation,
            snapshot: applied.snapshot,
            head,
            head_etag: applied.head_etag.clone(),
            entries: applied.entries.values().cloned().collect(),
        };
        let bytes = serde_json::to_vec(&file)
            .map_err(|e| Error::state(&path, format!("cannot encode: {e}")))?;
        write_atomic(&path, &bytes).map_err(|e| Error::state(&path, format!("cannot write: {e}")))
    }

    /// Forgets `channel` (after it was torn down).
    pub fn remove(&self, channel: &str) -> Result<()> {
        let dir = self.root.join("channels").join(channel);
        match std::fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::state(&dir, format!("cannot remove: {e}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_state_format::parse_documents;

    fn applied() -> Applied {
        let rs = parse_documents(
            "a.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: x}\n",
        )
        .unwrap();
        let entries: EntrySet = rs.iter().map(|r| (r.id.clone(), r.entry())).collect();
        Applied {
            generation: 3,
            snapshot: Snapshot::build(&entries).0.digest(),
            head: Bytes::from_static(b"{\"head\":1}"),
            head_etag: Some("\"e\"".into()),
            entries,
        }
    }

    #[test]
    fn round_trips_and_detects_damage() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path());
        assert_eq!(state.load("prod").unwrap(), None);
        state.save("prod", &applied()).unwrap();
        assert_eq!(state.load("prod").unwrap(), Some(applied()));
        assert_eq!(state.channels(), ["prod"]);

        let path = dir.path().join("channels/prod/state.json");
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replace("\"generation\":3", "\"generation\":3,\"x\":1");
        std::fs::write(&path, text).unwrap();
        let err = state.load("prod").unwrap_err().to_string();
        assert!(err.contains("damaged"), "{err}");
        state.remove("prod").unwrap();
        assert!(state.channels().is_empty());
    }
}
