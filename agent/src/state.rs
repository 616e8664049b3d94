//! What a channel has applied, persisted so a restarted agent resumes without refetching,
//! re-applying, or moving to an older generation.
//!
//! One file per channel, `<state dir>/channels/<channel>/state.json`, replaced atomically; or,
//! when the target keeps state itself (the Kubernetes target keeps it in a ConfigMap), the same
//! bytes in a [`StateBackend`]. It holds the signed head that was applied (re-verified on load)
//! and the snapshot's full entry set, which must rebuild to the snapshot digest, so damage is
//! detected.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
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
}

/// Where applied state persists: the state directory, or a [`StateBackend`].
#[derive(Clone, Debug)]
pub struct StateDir {
    root: PathBuf,
    backend: Option<Arc<dyn StateBackend>>,
}

impl StateDir {
    /// The state directory at `root` (created on first write).
    #[cfg(test)]
    pub fn new(root: &Path) -> StateDir {
        StateDir {
            root: root.to_owned(),
            backend: None,
        }
    }

    /// State kept by `backend` instead of files under `root`.
    pub fn with_backend(root: &Path, backend: Option<Arc<dyn StateBackend>>) -> StateDir {
        StateDir {
            root: root.to_owned(),
            backend,
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

    /// Loads what `channel` applied, checking that the entries rebuild to the snapshot.
    pub async fn load(&self, channel: &str) -> Result<Option<Applied>> {
        let path = self.locate(channel);
        let bytes = match &self.backend {
            Some(backend) => match backend.read(channel).await? {
                Some(bytes) => bytes,
                None => return Ok(None),
            },
            None => match std::fs::read(&path) {
                Ok(bytes) => bytes,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(Error::state(&path, format!("cannot read: {e}"))),
            },
        };
        decode(&path, channel, &bytes).map(Some)
    }

    /// Records what `channel` applied, atomically.
    pub async fn save(&self, channel: &str, applied: &Applied) -> Result<()> {
        let path = self.locate(channel);
        let bytes = encode(&path, channel, applied)?;
        match &self.backend {
            Some(backend) => backend.write(channel, bytes, applied).await,
            None => write_atomic(&path, &bytes)
                .map_err(|e| Error::state(&path, format!("cannot write: {e}"))),
        }
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
            Err(e) => Err(Error::state(&dir, format!("cannot remove: {e}"))),
        }
    }
}

/// Decodes and checks a state file.
fn decode(path: &Path, channel: &str, bytes: &[u8]) -> Result<Applied> {
    let damaged = |message: String| {
        Error::state(
            path,
            format!("{message}; the file is damaged: remove it to start this channel over"),
        )
    };
    let file: StateFile = serde_json::from_slice(bytes).map_err(|e| damaged(e.to_string()))?;
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
    Ok(Applied {
        generation: file.generation,
        snapshot: file.snapshot,
        head: Bytes::from(file.head.into_bytes()),
        head_etag: file.head_etag,
        entries,
    })
}

/// Encodes a state file.
fn encode(path: &Path, channel: &str, applied: &Applied) -> Result<Vec<u8>> {
    let head = String::from_utf8(applied.head.to_vec())
        .map_err(|_| Error::state(path, "the signed head is not UTF-8"))?;
    let file = StateFile {
        format: STATE_FORMAT,
        channel: channel.to_owned(),
        generation: applied.generation,
        snapshot: applied.snapshot,
        head,
        head_etag: applied.head_etag.clone(),
        entries: applied.entries.values().cloned().collect(),
    };
    serde_json::to_vec(&file).map_err(|e| Error::state(path, format!("cannot encode: {e}")))
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

    #[tokio::test]
    async fn round_trips_and_detects_damage() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path());
        assert_eq!(state.load("prod").await.unwrap(), None);
        state.save("prod", &applied()).await.unwrap();
        assert_eq!(state.load("prod").await.unwrap(), Some(applied()));
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
}
