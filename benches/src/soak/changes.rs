//! The publisher's side of a soak: which objects each tick changes, the manifest files on disk,
//! and drift made in a target behind its agent's back.

use std::path::{Path, PathBuf};

use super::Pattern;
use crate::error::{Error, Result};
use crate::manifests::{manifest, spread};

/// What one tick publishes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// One object.
    Single(usize),
    /// This many generations back to back, one object each.
    Burst(Vec<usize>),
    /// Many objects in one generation.
    Large(Vec<usize>),
}

impl Pattern {
    /// What tick `tick` (from 1) publishes, with `objects` objects in the channel.
    pub fn change(&self, tick: u64, objects: usize) -> Change {
        let one = |k: u64| (k.wrapping_mul(7919) % objects as u64) as usize;
        if due(tick, self.large_every) {
            let share = (objects * self.large_percent / 100).max(1);
            let offset = one(tick);
            let mut chosen: Vec<usize> = spread(objects, share)
                .into_iter()
                .map(|i| (i + offset) % objects)
                .collect();
            chosen.sort_unstable();
            Change::Large(chosen)
        } else if due(tick, self.burst_every) {
            Change::Burst(
                (0..self.burst_size.max(1))
                    .map(|k| one(tick * 31 + k))
                    .collect(),
            )
        } else {
            Change::Single(one(tick))
        }
    }

    /// Whether tick `tick` also changes a file in an agent's target.
    pub fn drifts(&self, tick: u64) -> bool {
        due(tick, self.drift_every)
    }

    /// Whether tick `tick` also runs `cairn gc`.
    pub fn collects(&self, tick: u64) -> bool {
        due(tick, self.gc_every)
    }
}

fn due(tick: u64, every: u64) -> bool {
    every > 0 && tick.is_multiple_of(every)
}

/// The manifest directory the publisher edits.
pub struct Manifests {
    /// Where the files are.
    pub dir: PathBuf,
    objects: usize,
}

impl Manifests {
    /// Writes every object at revision 0 under `dir`.
    pub fn create(dir: &Path, objects: usize) -> Result<Manifests> {
        let manifests = Manifests {
            dir: dir.to_owned(),
            objects,
        };
        for i in 0..objects {
            manifests.write(i, 0)?;
        }
        Ok(manifests)
    }

    /// Objects in the channel.
    pub fn objects(&self) -> usize {
        self.objects
    }

    /// Writes object `i` at `revision` (any revision but 0 changes its content).
    pub fn write(&self, i: usize, revision: u32) -> Result<()> {
        let file = manifest(i, revision);
        let path = self.dir.join(&file.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(Error::io("create", parent))?;
        }
        std::fs::write(&path, file.yaml).map_err(Error::io("write", &path))
    }
}

/// Changes one file the agent wrote in its `dir` target (the `n`th, in a stable order), as a
/// person editing a live object would; the agent's next resync puts it back. Returns whether a
/// file was found.
pub fn drift(target: &Path, n: u64) -> Result<bool> {
    let mut files = Vec::new();
    collect_yaml(target, &mut files);
    files.sort();
    let Some(path) = files.get((n % files.len().max(1) as u64) as usize) else {
        return Ok(false);
    };
    let mut text = std::fs::read_to_string(path).map_err(Error::io("read", path))?;
    text.push_str("# edited by hand\n");
    std::fs::write(path, text).map_err(Error::io("write", path))?;
    Ok(true)
}

fn collect_yaml(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect_yaml(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml") {
            out.push(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern() -> Pattern {
        Pattern {
            burst_every: 5,
            burst_size: 3,
            large_every: 10,
            large_percent: 10,
            drift_every: 4,
            gc_every: 0,
            gc_grace: std::time::Duration::ZERO,
        }
    }

    #[test]
    fn ticks_follow_the_pattern() {
        let p = pattern();
        assert!(matches!(p.change(1, 100), Change::Single(i) if i < 100));
        assert!(matches!(p.change(5, 100), Change::Burst(v) if v.len() == 3));
        let Change::Large(large) = p.change(10, 100) else {
            panic!("tick 10 is a large change");
        };
        assert_eq!(large.len(), 10);
        assert!(large.iter().all(|&i| i < 100));
        assert!(p.drifts(8) && !p.drifts(9));
        assert!(!p.collects(300), "0 means never");
    }

    #[test]
    fn drift_edits_a_target_file() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!drift(dir.path(), 3).unwrap());
        std::fs::create_dir(dir.path().join("ns")).unwrap();
        std::fs::write(dir.path().join("ns/a.yaml"), "kind: A\n").unwrap();
        assert!(drift(dir.path(), 3).unwrap());
        let text = std::fs::read_to_string(dir.path().join("ns/a.yaml")).unwrap();
        assert!(text.starts_with("kind: A\n") && text.len() > 8);
    }
}
