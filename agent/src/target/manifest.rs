//! The directory target's bookkeeping: which files each channel wrote, one manifest per channel
//! in the state dir (`<state dir>/dir-target/<channel>.json`).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use cairn_state_format::{Digest, ResourceId};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::fsutil::write_atomic;

const MANIFEST_FORMAT: u64 = 1;

/// One file a channel wrote.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Owned {
    /// The object.
    pub id: ResourceId,
    /// Path relative to the target root.
    pub path: String,
    /// Blob last written; `None` while a write is in flight or after it failed.
    pub blob: Option<Digest>,
    /// sha256 of the file's bytes as written, to detect drift.
    pub file: Option<Digest>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestFile {
    format: u64,
    channel: String,
    objects: Vec<Owned>,
}

/// Every channel's manifest, and which channel owns each path.
#[derive(Debug, Default)]
pub struct Manifests {
    dir: PathBuf,
    channels: BTreeMap<String, BTreeMap<ResourceId, Owned>>,
    paths: HashMap<String, (String, ResourceId)>,
}

impl Manifests {
    /// Loads every manifest under `dir`.
    pub fn load(dir: &Path) -> Result<Manifests> {
        let mut manifests = Manifests {
            dir: dir.to_owned(),
            ..Manifests::default()
        };
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(manifests),
            Err(e) => return Err(Error::state(dir, format!("cannot list: {e}"))),
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|x| x != "json") {
                continue;
            }
            let bytes = std::fs::read(&path)
                .map_err(|e| Error::state(&path, format!("cannot read: {e}")))?;
            let file: ManifestFile = serde_json::from_slice(&bytes)
                .map_err(|e| Error::state(&path, format!("damaged manifest: {e}")))?;
            if file.format != MANIFEST_FORMAT {
                return Err(Error::state(
                    &path,
                    format!("manifest format {} is not {MANIFEST_FORMAT}", file.format),
                ));
            }
            for owned in file.objects {
                manifests.set(&file.channel, owned);
            }
        }
        Ok(manifests)
    }

    /// What `channel` owns.
    pub fn channel(&self, channel: &str) -> impl Iterator<Item = &Owned> {
        self.channels
            .get(channel)
            .into_iter()
            .flat_map(|m| m.values())
    }

    /// The entry of one object of `channel`.
    pub fn get(&self, channel: &str, id: &ResourceId) -> Option<&Owned> {
        self.channels.get(channel)?.get(id)
    }

    /// The channel and object that own `path`, if any.
    pub fn owner_of(&self, path: &str) -> Option<(&str, &ResourceId)> {
        self.paths.get(path).map(|(c, id)| (c.as_str(), id))
    }

    /// Records (or replaces) an owned object.
    pub fn set(&mut self, channel: &str, owned: Owned) {
        self.paths
            .insert(owned.path.clone(), (channel.to_owned(), owned.id.clone()));
        self.channels
            .entry(channel.to_owned())
            .or_default()
            .insert(owned.id.clone(), owned);
    }

    /// Forgets an object.
    pub fn remove(&mut self, channel: &str, id: &ResourceId) {
        if let Some(owned) = self.channels.get_mut(channel).and_then(|m| m.remove(id)) {
            self.paths.remove(&owned.path);
        }
    }

    /// A copy of one channel's entries, to restore after a failed save.
    pub fn snapshot(&self, channel: &str) -> Vec<Owned> {
        self.channel(channel).cloned().collect()
    }

    /// Puts back a copy taken by [`Manifests::snapshot`].
    pub fn restore(&mut self, channel: &str, objects: Vec<Owned>) {
        let ids: Vec<ResourceId> = self.channel(channel).map(|o| o.id.clone()).collect();
        for id in ids {
            self.remove(channel, &id);
        }
        for owned in objects {
            self.set(channel, owned);
        }
    }

    fn file(&self, channel: &str) -> PathBuf {
        self.dir.join(format!("{channel}.json"))
    }

    /// Writes `channel`'s manifest atomically (removes it when the channel owns nothing).
    pub fn save(&self, channel: &str) -> Result<()> {
        let path = self.file(channel);
        let objects: Vec<Owned> = self.channel(channel).cloned().collect();
        if objects.is_empty() {
            return match std::fs::remove_file(&path) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(Error::state(&path, format!("cannot remove: {e}"))),
            };
        }
        let file = ManifestFile {
            format: MANIFEST_FORMAT,
            channel: channel.to_owned(),
            objects,
        };
        let bytes = serde_json::to_vec(&file)
            .map_err(|e| Error::state(&path, format!("cannot encode: {e}")))?;
        write_atomic(&path, &bytes).map_err(|e| Error::state(&path, format!("cannot write: {e}")))
    }
}
