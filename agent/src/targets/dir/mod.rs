//! The directory target: each object as a YAML file under a root, for hosts that are not
//! Kubernetes and for cheap fleet tests.
//!
//! Files are written atomically at [`layout::relative_path`]. A channel's manifest records each
//! file it wrote *before* writing it, so a crash half-way leaves the file marked for rewriting,
//! never orphaned; files no manifest records are never overwritten or removed.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use cairn_state_format::{Digest, EntrySet, ResourceId};

mod layout;
mod manifest;

use layout::relative_path;
use manifest::{Manifests, Owned};

use super::{BatchReport, Inventory, ObjectFailure, Target, TargetError, Write};
use crate::error::{Error, Result};
use crate::fsutil::write_atomic;

/// Writes objects as files under a directory.
#[derive(Clone, Debug)]
pub struct DirTarget {
    root: PathBuf,
    manifests: Arc<Mutex<Manifests>>,
}

impl DirTarget {
    /// Opens the target at `root`, with its manifests under `manifest_dir`.
    pub fn open(root: &Path, manifest_dir: &Path) -> Result<DirTarget> {
        Ok(DirTarget {
            root: root.to_owned(),
            manifests: Arc::new(Mutex::new(Manifests::load(manifest_dir)?)),
        })
    }

    /// Runs `work` on a blocking thread with the manifests locked.
    async fn locked<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Path, &mut Manifests) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let (root, manifests, target) =
            (self.root.clone(), self.manifests.clone(), self.describe());
        tokio::task::spawn_blocking(move || {
            let mut guard = manifests.lock().map_err(|_| {
                Error::target(
                    target,
                    TargetError::Bookkeeping(
                        "an earlier write panicked while holding the manifests".to_owned(),
                    ),
                )
            })?;
            work(&root, &mut guard)
        })
        .await
        .map_err(|e| Error::target(self.describe(), TargetError::Worker(e)))?
    }
}

#[async_trait]
impl Target for DirTarget {
    fn describe(&self) -> String {
        format!("dir:{}", self.root.display())
    }

    async fn inventory(
        &self,
        channel: &str,
        _desired: &EntrySet,
        _previous: &EntrySet,
        check_drift: bool,
    ) -> Result<Inventory> {
        let channel = channel.to_owned();
        self.locked(move |root, manifests| {
            let mut inventory = Inventory::default();
            for owned in manifests.channel(&channel) {
                inventory.owned.insert(owned.id.clone(), owned.blob);
                if check_drift && owned.blob.is_some() {
                    let live = std::fs::read(root.join(&owned.path)).ok();
                    if live.map(|b| Digest::of(&b)) != owned.file {
                        inventory.drifted.insert(owned.id.clone());
                    }
                }
            }
            Ok(inventory)
        })
        .await
    }

    async fn apply(&self, channel: &str, writes: Vec<Write>) -> Result<BatchReport> {
        let channel = channel.to_owned();
        self.locked(move |root, manifests| apply_files(root, manifests, &channel, writes))
            .await
    }

    async fn delete(&self, channel: &str, ids: Vec<ResourceId>) -> Result<BatchReport> {
        let channel = channel.to_owned();
        self.locked(move |root, manifests| delete_files(root, manifests, &channel, ids))
            .await
    }
}

/// Why `path` may not be written for `id` of `channel`: another channel or object owns it, or
/// cairn did not write what is there.
fn refusal(
    root: &Path,
    manifests: &Manifests,
    channel: &str,
    path: &str,
    id: &ResourceId,
) -> Option<String> {
    match manifests.owner_of(path) {
        Some((owner, owned)) if owner == channel && owned == id => None,
        Some((owner, owned)) => Some(format!(
            "{path} is already written by channel {owner} for {owned}"
        )),
        None if std::fs::symlink_metadata(root.join(path)).is_ok() => Some(format!(
            "refusing to overwrite {path}: cairn did not write it"
        )),
        None => None,
    }
}

fn apply_files(
    root: &Path,
    manifests: &mut Manifests,
    channel: &str,
    writes: Vec<Write>,
) -> Result<BatchReport> {
    let mut report = BatchReport::default();
    let mut accepted = Vec::new();
    for write in writes {
        let path = relative_path(&write.id);
        match refusal(root, manifests, channel, &path, &write.id) {
            Some(message) => report.failed.push(ObjectFailure {
                id: write.id,
                error: TargetError::NotOwned(message),
            }),
            None => accepted.push((path, write)),
        }
    }
    if accepted.is_empty() {
        return Ok(report);
    }

    // Record the intent first: a crash from here on leaves files marked for rewriting.
    let ids: Vec<&ResourceId> = accepted.iter().map(|(_, w)| &w.id).collect();
    let before = manifests.before(channel, &ids);
    for (path, write) in &accepted {
        let file = manifests.get(channel, &write.id).and_then(|o| o.file);
        manifests.set(
            channel,
            Owned {
                id: write.id.clone(),
                path: path.clone(),
                blob: None,
                file,
            },
        );
    }
    if let Err(e) = manifests.save(channel) {
        manifests.restore(channel, before);
        return Err(e);
    }

    for (path, write) in accepted {
        match render(channel, &write).and_then(|bytes| {
            let file = root.join(&path);
            write_atomic(&file, &bytes)
                .map(|()| Digest::of(&bytes))
                .map_err(|source| TargetError::Io { path: file, source })
        }) {
            Ok(file) => {
                manifests.set(
                    channel,
                    Owned {
                        id: write.id.clone(),
                        path,
                        blob: Some(write.blob),
                        file: Some(file),
                    },
                );
                report.done.push(write.id);
            }
            Err(error) => report.failed.push(ObjectFailure {
                id: write.id,
                error,
            }),
        }
    }
    manifests.save(channel)?;
    Ok(report)
}

/// The file content: a comment naming the owner, then the object as YAML.
fn render(channel: &str, write: &Write) -> std::result::Result<Vec<u8>, TargetError> {
    let value: serde_json::Value = serde_json::from_slice(&write.bytes)
        .map_err(|e| TargetError::Malformed(format!("blob {}: {e}", write.blob)))?;
    let yaml = serde_yaml_ng::to_string(&value)
        .map_err(|e| TargetError::Malformed(format!("cannot render as YAML: {e}")))?;
    Ok(format!(
        "# Written by cairn-agent for channel {channel} ({}); changes here are overwritten.\n{yaml}",
        write.blob
    )
    .into_bytes())
}

fn delete_files(
    root: &Path,
    manifests: &mut Manifests,
    channel: &str,
    ids: Vec<ResourceId>,
) -> Result<BatchReport> {
    let mut report = BatchReport::default();
    for id in ids {
        let Some(owned) = manifests.get(channel, &id).cloned() else {
            report.done.push(id);
            continue;
        };
        let file = root.join(&owned.path);
        match std::fs::remove_file(&file) {
            Ok(()) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                ) => {}
            Err(source) => {
                report.failed.push(ObjectFailure {
                    id,
                    error: TargetError::Io { path: file, source },
                });
                continue;
            }
        }
        remove_empty_parents(root, &file);
        manifests.remove(channel, &id);
        report.done.push(id);
    }
    manifests.save(channel)?;
    Ok(report)
}

/// Removes directories left empty by a removal, up to (not including) the root.
fn remove_empty_parents(root: &Path, file: &Path) {
    let mut dir = file.parent();
    while let Some(d) = dir {
        if d == root || !d.starts_with(root) || std::fs::remove_dir(d).is_err() {
            break;
        }
        dir = d.parent();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn write(name: &str, data: &str) -> Write {
        let bytes = Bytes::from(format!(
            r#"{{"apiVersion":"v1","data":{{"k":"{data}"}},"kind":"ConfigMap","metadata":{{"name":"{name}","namespace":"app"}}}}"#
        ));
        Write {
            id: ResourceId {
                group: String::new(),
                kind: "ConfigMap".into(),
                namespace: "app".into(),
                name: name.into(),
            },
            blob: Digest::of(&bytes),
            bytes,
            generation: 1,
        }
    }

    #[tokio::test]
    async fn writes_prunes_and_respects_foreign_files() {
        let dir = tempfile::tempdir().unwrap();
        let (root, state) = (dir.path().join("root"), dir.path().join("state"));
        let target = DirTarget::open(&root, &state).unwrap();

        std::fs::create_dir_all(root.join("app/ConfigMap")).unwrap();
        std::fs::write(root.join("app/ConfigMap/foreign.yaml"), "mine").unwrap();
        let report = target
            .apply("prod", vec![write("a", "1"), write("foreign", "x")])
            .await
            .unwrap();
        assert_eq!(report.done.len(), 1);
        assert!(
            report.failed[0]
                .error
                .to_string()
                .contains("did not write it")
        );
        let text = std::fs::read_to_string(root.join("app/ConfigMap/a.yaml")).unwrap();
        assert!(
            text.contains("k: '1'") || text.contains("k: \"1\""),
            "{text}"
        );

        // Another channel cannot take the file over.
        let other = target
            .apply("staging", vec![write("a", "2")])
            .await
            .unwrap();
        assert!(other.failed[0].error.to_string().contains("channel prod"));

        // Drift is seen, and ownership survives a reopen.
        std::fs::write(root.join("app/ConfigMap/a.yaml"), "edited").unwrap();
        let reopened = DirTarget::open(&root, &state).unwrap();
        let inv = reopened
            .inventory("prod", &EntrySet::new(), &EntrySet::new(), true)
            .await
            .unwrap();
        assert_eq!(inv.owned.len(), 1);
        assert_eq!(inv.drifted.len(), 1);

        let id = write("a", "1").id;
        reopened.delete("prod", vec![id]).await.unwrap();
        assert!(!root.join("app/ConfigMap/a.yaml").exists());
        assert_eq!(
            std::fs::read_to_string(root.join("app/ConfigMap/foreign.yaml")).unwrap(),
            "mine"
        );
        assert!(
            reopened
                .inventory("prod", &EntrySet::new(), &EntrySet::new(), false)
                .await
                .unwrap()
                .owned
                .is_empty()
        );
        assert!(!state.join("prod.json").exists());
    }
}
