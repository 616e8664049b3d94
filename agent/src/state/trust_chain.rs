//! The trust root versions an agent accepted after the one it was installed with, persisted so
//! that a restart (or a new leader) never goes back to an older root: an older root may still
//! trust a key that was revoked since.
//!
//! One small JSON file, `<state dir>/trust-chain.json` (or what a backend keeps instead):
//! `{"versions": ["<version n+1 as stored>", …]}`, the stored bytes of each version in order.
//! It is not trusted on load: the agent walks it forward from its install version like the
//! store's own versions, so a damaged or foreign file is refused, never believed.

use serde::{Deserialize, Serialize};

use super::StateDir;
use crate::error::{Error, Result, StateError};
use crate::fsutil::write_atomic;

/// The file's name in the state directory.
const FILE: &str = "trust-chain.json";

#[derive(Serialize, Deserialize)]
struct Recorded {
    versions: Vec<String>,
}

/// `versions` as the file holds them.
pub(crate) fn encode(versions: &[String]) -> Vec<u8> {
    let recorded = Recorded {
        versions: versions.to_vec(),
    };
    // Serializing strings cannot fail.
    serde_json::to_vec(&recorded).unwrap_or_default()
}

/// The versions in `bytes`.
pub(crate) fn decode(bytes: &[u8]) -> serde_json::Result<Vec<String>> {
    serde_json::from_slice::<Recorded>(bytes).map(|r| r.versions)
}

impl StateDir {
    /// The trust root versions recorded as accepted (none when nothing was recorded; a record
    /// that cannot be read is reported and ignored: the walk from the store starts over).
    pub(crate) async fn load_trust_chain(&self) -> Vec<String> {
        let (bytes, location) = match &self.backend {
            Some(backend) => (backend.read_trust().await, backend.locate_trust()),
            None => {
                let path = self.root.join(FILE);
                let bytes = match tokio::fs::read(&path).await {
                    Ok(bytes) => Ok(Some(bytes)),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(Error::state(&path, StateError::io("read")(e))),
                };
                (bytes, path)
            }
        };
        match bytes.map(|b| b.map(|b| decode(&b))) {
            Ok(None) => Vec::new(),
            Ok(Some(Ok(versions))) => versions,
            Ok(Some(Err(reason))) => {
                tracing::warn!(location = %location.display(), %reason, "ignoring the recorded trust chain");
                Vec::new()
            }
            Err(error) => {
                tracing::warn!(%error, "cannot read the recorded trust chain");
                Vec::new()
            }
        }
    }

    /// Records `versions` as the accepted trust root versions (atomically).
    pub(crate) async fn save_trust_chain(&self, versions: &[String]) -> Result<()> {
        let bytes = encode(versions);
        match &self.backend {
            Some(backend) => backend.write_trust(bytes).await,
            None => {
                let path = self.root.join(FILE);
                let root = self.root.clone();
                tokio::task::spawn_blocking(move || {
                    std::fs::create_dir_all(&root)
                        .and_then(|()| write_atomic(&path, &bytes))
                        .map_err(|e| Error::state(&path, StateError::io("write")(e)))
                })
                .await
                .map_err(|e| Error::Task {
                    task: "saving the trust chain",
                    why: e.to_string(),
                })?
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_chain_survives_a_restart_and_a_damaged_record_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path());
        assert!(state.load_trust_chain().await.is_empty());
        let versions = vec!["{\"v\":2}".to_owned(), "{\"v\":3}".to_owned()];
        state.save_trust_chain(&versions).await.unwrap();
        assert_eq!(StateDir::new(dir.path()).load_trust_chain().await, versions);
        std::fs::write(dir.path().join(FILE), b"{\"versions\": 7}").unwrap();
        assert!(state.load_trust_chain().await.is_empty());
    }
}
