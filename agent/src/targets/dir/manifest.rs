//! The directory target's bookkeeping: which files each channel wrote, one manifest per channel
//! in the state dir (`<state dir>/dir-target/<channel>.json`), with a journal beside it
//! (`<channel>.json.journal`, see [`crate::fsutil::journal`]): a save appends the objects that changed
//! since the last one and rewrites the manifest only once the journal outgrows it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use cairn_state_format::{Digest, ResourceId};
use serde::{Deserialize, Serialize};

use crate::error::{Damage, Error, Result, StateError};
use crate::fsutil::{journal, write_atomic};

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

/// One journal line: an object recorded or forgotten.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "lowercase")]
enum Line {
    Set(Owned),
    Remove(ResourceId),
}

/// Every channel's manifest, and which channel owns each path.
#[derive(Debug, Default)]
pub struct Manifests {
    dir: PathBuf,
    channels: BTreeMap<String, BTreeMap<ResourceId, Owned>>,
    paths: HashMap<String, (String, ResourceId)>,
    /// Objects changed since the channel's last save.
    dirty: BTreeMap<String, BTreeSet<ResourceId>>,
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
            Err(e) => return Err(Error::state(dir, StateError::io("list")(e))),
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|x| x != "json") {
                continue;
            }
            let bytes =
                std::fs::read(&path).map_err(|e| Error::state(&path, StateError::io("read")(e)))?;
            let damaged = |damage| Error::state(&path, StateError::Bookkeeping(damage));
            let file: ManifestFile =
                serde_json::from_slice(&bytes).map_err(|e| damaged(Damage::Manifest(e)))?;
            if file.format != MANIFEST_FORMAT {
                return Err(damaged(Damage::ManifestFormat {
                    found: file.format,
                    expected: MANIFEST_FORMAT,
                }));
            }
            for owned in file.objects {
                manifests.set(&file.channel, owned);
            }
            let journal = journal::path_of(&path);
            let (lines, _) = journal::read(&journal)
                .map_err(|e| Error::state(&journal, StateError::io("read")(e)))?;
            for (i, line) in lines.iter().enumerate() {
                match serde_json::from_slice(line) {
                    Ok(Line::Set(owned)) => manifests.set(&file.channel, owned),
                    Ok(Line::Remove(id)) => manifests.remove(&file.channel, &id),
                    Err(source) => {
                        let damage = Damage::ManifestJournal {
                            line: i + 1,
                            source,
                        };
                        return Err(Error::state(&journal, StateError::Bookkeeping(damage)));
                    }
                }
            }
            manifests.dirty.clear();
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
        self.touch(channel, &owned.id);
        self.paths
            .insert(owned.path.clone(), (channel.to_owned(), owned.id.clone()));
        self.channels
            .entry(channel.to_owned())
            .or_default()
            .insert(owned.id.clone(), owned);
    }

    /// Forgets an object.
    pub fn remove(&mut self, channel: &str, id: &ResourceId) {
        self.touch(channel, id);
        if let Some(owned) = self.channels.get_mut(channel).and_then(|m| m.remove(id)) {
            self.paths.remove(&owned.path);
        }
    }

    /// What `ids` are recorded as now, to put back after a failed save.
    pub fn before(&self, channel: &str, ids: &[&ResourceId]) -> Vec<(ResourceId, Option<Owned>)> {
        ids.iter()
            .map(|id| ((*id).clone(), self.get(channel, id).cloned()))
            .collect()
    }

    /// Puts back what [`Manifests::before`] took.
    pub fn restore(&mut self, channel: &str, before: Vec<(ResourceId, Option<Owned>)>) {
        for (id, owned) in before {
            match owned {
                Some(owned) => self.set(channel, owned),
                None => self.remove(channel, &id),
            }
        }
    }

    fn touch(&mut self, channel: &str, id: &ResourceId) {
        self.dirty
            .entry(channel.to_owned())
            .or_default()
            .insert(id.clone());
    }

    fn file(&self, channel: &str) -> PathBuf {
        self.dir.join(format!("{channel}.json"))
    }

    /// Records `channel`'s changes since its last save: appended to its journal, or (when the
    /// journal is due) by rewriting the manifest atomically; removes both when the channel owns
    /// nothing.
    pub fn save(&mut self, channel: &str) -> Result<()> {
        let path = self.file(channel);
        let journal = journal::path_of(&path);
        let dirty = self.dirty.remove(channel).unwrap_or_default();
        let owns = self.channels.get(channel).is_some_and(|m| !m.is_empty());
        if !owns {
            journal::remove(&journal)
                .map_err(|e| Error::state(&journal, StateError::io("remove")(e)))?;
            return match std::fs::remove_file(&path) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(Error::state(&path, StateError::io("remove")(e))),
            };
        }
        if let Ok(base) = std::fs::metadata(&path) {
            let mut lines = Vec::with_capacity(dirty.len());
            for id in &dirty {
                let line = match self.get(channel, id) {
                    Some(owned) => Line::Set(owned.clone()),
                    None => Line::Remove(id.clone()),
                };
                lines.push(
                    serde_json::to_vec(&line)
                        .map_err(|e| Error::state(&journal, StateError::Encode(e)))?,
                );
            }
            let appended = journal::append(&journal, &lines);
            match appended {
                Ok(length) if !journal::due(length, base.len()) => return Ok(()),
                Ok(_) => {}
                Err(e) => {
                    // Saved next time, with whatever changes then.
                    self.dirty
                        .entry(channel.to_owned())
                        .or_default()
                        .extend(dirty);
                    return Err(Error::state(&journal, StateError::io("append")(e)));
                }
            }
        }
        let objects: Vec<Owned> = self.channel(channel).cloned().collect();
        let file = ManifestFile {
            format: MANIFEST_FORMAT,
            channel: channel.to_owned(),
            objects,
        };
        let bytes =
            serde_json::to_vec(&file).map_err(|e| Error::state(&path, StateError::Encode(e)))?;
        write_atomic(&path, &bytes).map_err(|e| Error::state(&path, StateError::io("write")(e)))?;
        journal::remove(&journal).map_err(|e| Error::state(&journal, StateError::io("remove")(e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned(name: &str, blob: &[u8]) -> Owned {
        let id = ResourceId {
            group: String::new(),
            kind: "ConfigMap".into(),
            namespace: "app".into(),
            name: name.into(),
        };
        Owned {
            path: format!("app/ConfigMap/{name}.yaml"),
            id,
            blob: Some(Digest::of(blob)),
            file: Some(Digest::of(blob)),
        }
    }

    #[test]
    fn changes_go_to_the_journal_and_come_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut manifests = Manifests::load(dir.path()).unwrap();
        for i in 0..50 {
            manifests.set("prod", owned(&format!("cm-{i}"), b"1"));
        }
        manifests.save("prod").unwrap();
        let base = std::fs::read(dir.path().join("prod.json")).unwrap();
        // One change and one removal: appended, the manifest itself untouched.
        manifests.set("prod", owned("cm-1", b"2"));
        manifests.remove("prod", &owned("cm-2", b"1").id);
        manifests.save("prod").unwrap();
        assert_eq!(std::fs::read(dir.path().join("prod.json")).unwrap(), base);
        let journal = dir.path().join("prod.json.journal");
        assert_eq!(journal::read(&journal).unwrap().0.len(), 2);

        let reloaded = Manifests::load(dir.path()).unwrap();
        assert_eq!(reloaded.channel("prod").count(), 49);
        assert_eq!(
            reloaded.get("prod", &owned("cm-1", b"").id),
            Some(&owned("cm-1", b"2"))
        );
        assert_eq!(reloaded.owner_of("app/ConfigMap/cm-2.yaml"), None);

        // A complete line that does not decode is damage, and is reported.
        std::fs::write(&journal, "{\"set\":{}}\n").unwrap();
        let err = Manifests::load(dir.path()).unwrap_err().to_string();
        assert!(err.contains("damaged journal"), "{err}");
    }
}
