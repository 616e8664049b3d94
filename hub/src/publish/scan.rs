//! Scanning a publish's inputs: list the manifest files, take the records of unchanged files
//! from the publish cache ([`super::scan_cache`]), and parse the rest on every core.

use std::collections::{HashMap, HashSet};
use std::fs::Metadata;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use bytes::Bytes;
use cairn_state_format::{Digest, Entry, ResourceId};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;

use super::inputs::list_files;
use super::kinds::Kinds;
use super::manifests::{
    FileManifests, Parsed, ReadOptions, kinds_of, problems_error, read_file, read_stdin,
};
use super::scan_cache::{CacheFile, Cached, Stamp};
use crate::error::{Error, Result};
use crate::objects::local_blobs;

/// Files parsed before a progress bar is worth showing.
const PROGRESS_FROM: usize = 500;

/// The manifests of a publish's inputs.
pub struct Scan {
    /// Every input file's records, in input order (directories sorted).
    files: Vec<FileManifests>,
    /// Per file: its stamp (`None` for standard input) and whether it was parsed this time.
    states: Vec<(Option<Stamp>, bool)>,
    /// Canonical bytes of every resource parsed this time.
    blobs: HashMap<Digest, Bytes>,
    /// What is wrong with the files parsed this time (their other objects are in `files`).
    problems: Vec<String>,
    /// The cache, and what it held for files that were read again or are gone (the records
    /// of unchanged files moved into `files`).
    cache: Option<(CacheFile, Cached)>,
    /// How files were read (a file read again must be read the same way).
    options: ReadOptions,
    /// The kinds the files' CustomResourceDefinitions define, with the built-in ones.
    kinds: Kinds,
    started: SystemTime,
}

/// Changes that turn the snapshot the cache describes into the scanned content.
pub struct CachedChanges {
    /// The snapshot the cache's records add up to.
    pub base: Digest,
    /// Entries of files read this time (many may be unchanged).
    pub upserts: Vec<Entry>,
    /// Identities of the old contents of files read this time or gone.
    pub removals: Vec<ResourceId>,
}

impl Scan {
    /// Reads `inputs` (files, directories, `-` for standard input) as `options` say. With a
    /// `cache` (which must be for the same options), files whose stamps match it are not read;
    /// standard input among the inputs turns the cache off (its content cannot be stamped, and
    /// the cache must describe all of a snapshot).
    pub fn run(
        inputs: &[PathBuf],
        cache: Option<CacheFile>,
        progress: bool,
        options: ReadOptions,
    ) -> Result<Scan> {
        if inputs.is_empty() {
            return Err(Error::Usage(
                "no manifests given: name files or directories, or `-f -` for standard input"
                    .into(),
            ));
        }
        let started = SystemTime::now();
        let stdin = inputs.iter().any(|p| p.as_os_str() == "-");
        let mut cache = cache.filter(|_| !stdin).map(|c| {
            let cached = c.load();
            (c, cached)
        });
        let paths = list_files(inputs)?;

        let Split {
            mut files,
            mut states,
            to_parse,
        } = split_by_cache(&paths, cache.as_mut().map(|(_, cached)| cached));
        let parsed = parse_all(&paths, &to_parse, progress, &options);
        let mut blobs = HashMap::new();
        let mut problems = Vec::new();
        for (i, parsed) in to_parse.into_iter().zip(parsed) {
            files[i] = Some(parsed.file);
            blobs.extend(parsed.blobs);
            problems.extend(parsed.problems);
        }
        // Invariant: every slot was filled, from the cache or by parsing.
        let mut files: Vec<FileManifests> =
            files.into_iter().map(|f| f.expect("scanned")).collect();
        if stdin {
            let parsed = read_stdin(&options)?;
            files.push(parsed.file);
            states.push((None, true));
            blobs.extend(parsed.blobs);
            problems.extend(parsed.problems);
        }
        let kinds = kinds_of(&files).0;
        Ok(Scan {
            files,
            states,
            blobs,
            problems,
            cache,
            options,
            kinds,
            started,
        })
    }

    /// Every file's records.
    pub fn files(&self) -> &[FileManifests] {
        &self.files
    }

    /// The problems found while parsing: objects that could not be read, or failed a check
    /// of their own. The checks across files (`validate`) add theirs.
    pub fn problems(&self) -> &[String] {
        &self.problems
    }

    /// The kinds of the scanned snapshot: built-in, and defined by its CRDs.
    pub fn kinds(&self) -> &Kinds {
        &self.kinds
    }

    /// How many files were parsed this time, and how many came from the cache.
    pub fn parsed_and_reused(&self) -> (usize, usize) {
        let parsed = self.states.iter().filter(|(_, p)| *p).count();
        (parsed, self.states.len() - parsed)
    }

    /// The changes since the snapshot the cache describes, if it describes one.
    pub fn changes_since_cached(&self) -> Option<CachedChanges> {
        let (_, cached) = self.cache.as_ref()?;
        let base = cached.snapshot?;
        // Which entry a record publishes may depend on any file's CRDs (`--namespace`): when
        // they changed, unchanged files may publish other entries, and only a full build tells.
        if self.kinds_when_cached(cached) != self.kinds {
            return None;
        }
        let kinds = &self.kinds;
        // What is left in the cache are the old records of files read again or gone. Compared
        // entry by entry, so that one changed document in a file of many is one change.
        let mut old: HashMap<&ResourceId, &Entry> = cached
            .files
            .values()
            .flat_map(|f| &f.manifests)
            .map(|m| m.published(kinds))
            .map(|e| (&e.id, e))
            .collect();
        let mut upserts = Vec::new();
        let read_again = self.files.iter().zip(&self.states).filter(|(_, s)| s.1);
        for (file, _) in read_again {
            for entry in file.manifests.iter().map(|m| m.published(kinds)) {
                if old.remove(&entry.id) != Some(entry) {
                    upserts.push(entry.clone());
                }
            }
        }
        // Whatever was not found again is gone (or moved to an unchanged file: impossible, as
        // that file's records, and so the identity, would have been in the old snapshot twice).
        let removals = old.into_keys().cloned().collect();
        Some(CachedChanges {
            base,
            upserts,
            removals,
        })
    }

    /// The kinds of the snapshot the cache describes: the files not read again, and the old
    /// records of the others.
    fn kinds_when_cached(&self, cached: &Cached) -> Kinds {
        let unchanged = self.files.iter().zip(&self.states).filter(|(_, s)| !s.1);
        let defined = unchanged
            .flat_map(|(f, _)| &f.manifests)
            .chain(cached.files.values().flat_map(|f| &f.manifests))
            .filter_map(|m| m.defines.as_ref());
        Kinds::with_custom(defined).0
    }

    /// The canonical bytes of `digests`, re-reading files whose records came from the cache
    /// where needed (when the channel moved on since the cache was written).
    pub fn blobs(
        &mut self,
        digests: impl IntoIterator<Item = Digest>,
    ) -> Result<HashMap<Digest, Bytes>> {
        let wanted: Vec<Digest> = digests.into_iter().collect();
        let missing: HashSet<Digest> = wanted
            .iter()
            .filter(|d| !self.blobs.contains_key(d))
            .copied()
            .collect();
        if !missing.is_empty() {
            self.reread_files_holding(&missing)?;
        }
        local_blobs(&self.blobs, wanted)
    }

    fn reread_files_holding(&mut self, missing: &HashSet<Digest>) -> Result<()> {
        let holders: Vec<usize> = self
            .files
            .iter()
            .enumerate()
            .filter(|(_, f)| {
                f.manifests.iter().any(|m| {
                    let placed = m.in_namespace.as_ref().map(|e| &e.blob);
                    missing.contains(&m.entry.blob) || placed.is_some_and(|b| missing.contains(b))
                })
            })
            .map(|(i, _)| i)
            .collect();
        for i in holders {
            let path = Path::new(&self.files[i].source).to_path_buf();
            let parsed = read_file(&path, &self.options)
                .ok()
                .map_err(problems_error)?;
            if parsed.file != self.files[i] {
                return Err(Error::Input(format!(
                    "{} changed while it was being published; run the publish again",
                    path.display()
                )));
            }
            self.blobs.extend(parsed.blobs);
        }
        Ok(())
    }

    /// Records what was scanned as the content of `snapshot`, for the next publish.
    pub fn save_cache(&self, snapshot: Digest) -> Result<()> {
        let Some((cache, cached)) = &self.cache else {
            return Ok(());
        };
        let unchanged = cached.snapshot == Some(snapshot)
            && cached.files.is_empty()
            && self.states.iter().all(|(_, parsed)| !parsed);
        if unchanged {
            // Every record came from the cache and describes this very snapshot.
            return Ok(());
        }
        let files: Vec<(&FileManifests, Stamp)> = self
            .files
            .iter()
            .zip(&self.states)
            .filter_map(|(file, (stamp, _))| stamp.map(|s| (file, s)))
            .collect();
        cache.save(snapshot, self.started, &files)
    }
}

/// The files of a scan, from the cache or still to parse.
struct Split {
    /// Per file: its records if the cache has them, `None` if it must be parsed.
    files: Vec<Option<FileManifests>>,
    /// Per file: its stamp and whether it is parsed.
    states: Vec<(Option<Stamp>, bool)>,
    /// The indexes of the files to parse.
    to_parse: Vec<usize>,
}

/// Takes the records of files whose stamps match the cache out of it; the others are to parse.
fn split_by_cache(paths: &[(PathBuf, Metadata)], mut cached: Option<&mut Cached>) -> Split {
    let mut split = Split {
        files: Vec::with_capacity(paths.len()),
        states: Vec::with_capacity(paths.len()),
        to_parse: Vec::new(),
    };
    for (path, meta) in paths {
        let stamp = Stamp::of(meta);
        let source = path.display().to_string();
        let hit = cached.as_deref_mut().and_then(|cached| {
            let fresh = cached
                .files
                .get(&source)
                .is_some_and(|c| c.stamp == stamp && !c.racy);
            fresh.then(|| cached.files.remove(&source)).flatten()
        });
        match hit {
            Some(cached) => {
                let manifests = cached.manifests;
                split.files.push(Some(FileManifests { source, manifests }));
                split.states.push((Some(stamp), false));
            }
            None => {
                split.to_parse.push(split.files.len());
                split.files.push(None);
                split.states.push((Some(stamp), true));
            }
        }
    }
    split
}

/// Parses the files at `indexes` of `paths` on every core.
fn parse_all(
    paths: &[(PathBuf, Metadata)],
    indexes: &[usize],
    progress: bool,
    options: &ReadOptions,
) -> Vec<Parsed> {
    let bar = if progress && indexes.len() >= PROGRESS_FROM {
        let bar = ProgressBar::new(indexes.len() as u64);
        // Invariant: the template is a constant known to parse.
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} reading manifests {pos}/{len} [{bar:30}] eta {eta}",
            )
            .expect("valid template"),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    let parsed = indexes
        .par_iter()
        .map(|&i| {
            let parsed = read_file(&paths[i].0, options);
            bar.inc(1);
            parsed
        })
        .collect();
    bar.finish_and_clear();
    parsed
}
