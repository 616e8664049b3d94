//! Scanning a publish's inputs: list the manifest files, keep the stored records of files known
//! unchanged ([`super::scan_cache`]: by stat data, by the blob id Git's index holds for them
//! ([`git`]), or by the sha256 of their bytes), and parse the rest, on every core. Stored records stay as stored: the checks read them in place
//! ([`Scan::objects`]), the caches copy them as they are, and only a full build of the index
//! decodes them all.

mod git;
mod look_up;

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use bytes::Bytes;
use cairn_state_format::{Digest, Entry, EntrySet, FileContent, ResourceId, SourceObject};
use rayon::prelude::*;

use self::look_up::{Looked, look_up};
use super::inputs::list_files;
use super::kinds::{CustomKind, Kinds};
use super::manifests::{Manifest, Parsed, ReadOptions, problems_error, read_file, read_stdin};
use super::progress;
use super::records::{self, FileObjects, ObjectView};
use super::scan_cache::{CacheFile, Known, MapState, RecordAt, Scanned, Stamp};
use crate::error::{Error, Result};
use crate::objects::local_blobs;

/// The manifests of a publish's inputs.
pub struct Scan {
    /// Every input file, in input order (directories sorted).
    files: Vec<ScannedFile>,
    /// Canonical bytes of every resource parsed this time.
    blobs: HashMap<Digest, Bytes>,
    /// What is wrong with the files parsed this time (their other objects are in `files`).
    problems: Vec<String>,
    /// Where the publish cache is written, unless caching is off.
    cache: Option<CacheFile>,
    /// What was known before: the stored records of the files found unchanged, those of files
    /// changed or gone (left in it), and the snapshot and source map it describes.
    known: Known,
    /// The source map written to the store for the scanned content, once it is.
    map: Option<MapState>,
    /// How files were read (a file read again must be read the same way).
    options: ReadOptions,
    /// The kinds the files' CustomResourceDefinitions define, with the built-in ones.
    kinds: Kinds,
    started: SystemTime,
}

/// One input file.
struct ScannedFile {
    /// The path as given or found (or `<stdin>`).
    source: String,
    /// Its stat data (`None` for standard input).
    stamp: Option<Stamp>,
    /// What its bytes are.
    content: FileContent,
    /// `content` holds an id its known record lacks (learnt reading it in a Git work tree).
    learnt: bool,
    records: Records,
    /// The kinds its CustomResourceDefinitions define.
    defines: Vec<CustomKind>,
    /// Its known record, flagged as defining kinds, did not decode.
    damaged: bool,
}

/// A file's records.
enum Records {
    /// Parsed this time.
    Parsed(Vec<Manifest>),
    /// Known unchanged: its stored record, found as `by` says.
    Known { at: RecordAt, by: KnownBy },
}

/// How a file was known unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KnownBy {
    /// Its stat data is what the publish cache recorded: not read.
    Stamp,
    /// Git's index holds its known record's blob id, with its stat data now: not read.
    GitIndex,
    /// Read, and its bytes hash to its known record's sha256.
    Content,
}

/// Changes that turn the snapshot the known records describe into the scanned content.
pub struct CachedChanges {
    /// The snapshot the known records add up to.
    pub base: Digest,
    /// Entries of files parsed this time (many may be unchanged).
    pub upserts: Vec<Entry>,
    /// Identities of the old contents of files parsed this time or gone.
    pub removals: Vec<ResourceId>,
}

/// How many files a scan found each way (in `cairn publish --output json`, as `files`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ScanCounts {
    /// Known unchanged by their stat data, not read.
    #[serde(rename = "unchanged_by_stamp")]
    pub by_stamp: usize,
    /// Known unchanged by the blob id Git's index holds for them, not read.
    #[serde(rename = "unchanged_by_git_index")]
    pub by_git_index: usize,
    /// Read, and known unchanged by their bytes.
    #[serde(rename = "unchanged_by_content")]
    pub by_content: usize,
    /// Read and parsed.
    pub parsed: usize,
}

impl Scan {
    /// Reads `inputs` (files, directories, `-` for standard input) as `options` say, keeping
    /// the records of files `known` holds unchanged (it must be for the same options); writes
    /// the publish cache to `cache` later, if given. Standard input among the inputs turns both
    /// off (its content has no path, and what is known must describe all of a snapshot).
    pub fn run(
        inputs: &[PathBuf],
        cache: Option<CacheFile>,
        known: Known,
        show_progress: bool,
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
        let (cache, known) = match stdin {
            true => (None, Known::default()),
            false => (cache, known),
        };
        let listing = progress::spinner(show_progress, "listing manifest files");
        let paths = list_files(inputs)?;
        listing.finish_and_clear();

        let looked = look_up(&paths, inputs, &known, show_progress, &options);
        drop(paths);
        let (files, parsed): Looked = looked;
        let mut scan = Scan {
            files,
            blobs: HashMap::new(),
            problems: Vec::new(),
            cache,
            known,
            map: None,
            options,
            kinds: Kinds::default(),
            started,
        };
        for parsed in parsed.into_iter().flatten() {
            scan.blobs.extend(parsed.blobs);
            scan.problems.extend(parsed.problems);
        }
        if stdin {
            let (parsed, content) = read_stdin(&scan.options)?;
            let Parsed {
                file,
                blobs,
                problems,
            } = parsed;
            let file = ScannedFile::parsed(file.source, None, content, file.manifests);
            scan.files.push(file);
            scan.blobs.extend(blobs);
            scan.problems.extend(problems);
        }
        if let Some(file) = scan.files.iter().find(|f| f.damaged) {
            return Err(damaged(&file.source));
        }
        scan.kinds = Kinds::with_custom(scan.defined()).0;
        Ok(scan)
    }

    /// The kinds every file's CustomResourceDefinitions define, in file order.
    pub fn defined(&self) -> impl Iterator<Item = &CustomKind> {
        self.files.iter().flat_map(|f| &f.defines)
    }

    /// Every file's objects, as the checks across files read them (stored records in place).
    pub fn objects(&self) -> impl Iterator<Item = Result<FileObjects<'_>>> {
        self.files.iter().map(|file| {
            let objects = match &file.records {
                Records::Parsed(manifests) => manifests.iter().map(ObjectView::of).collect(),
                Records::Known { at, .. } => self
                    .known
                    .record(*at)
                    .and_then(|r| ObjectView::stored(&r, &self.options))
                    .ok_or_else(|| damaged(&file.source))?,
            };
            Ok(FileObjects {
                source: &file.source,
                objects,
            })
        })
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

    /// How the files were read.
    pub fn options(&self) -> &ReadOptions {
        &self.options
    }

    /// How many files were found each way.
    pub fn counts(&self) -> ScanCounts {
        let mut counts = ScanCounts::default();
        for file in &self.files {
            let count = match file.records {
                Records::Known { by, .. } => match by {
                    KnownBy::Stamp => &mut counts.by_stamp,
                    KnownBy::GitIndex => &mut counts.by_git_index,
                    KnownBy::Content => &mut counts.by_content,
                },
                Records::Parsed(_) => &mut counts.parsed,
            };
            *count += 1;
        }
        counts
    }

    /// How many files were parsed this time, and how many were known unchanged.
    pub fn parsed_and_reused(&self) -> (usize, usize) {
        let counts = self.counts();
        let reused = counts.by_stamp + counts.by_git_index + counts.by_content;
        (counts.parsed, reused)
    }

    /// The changes since the snapshot the known records describe, if they describe one.
    pub fn changes_since_cached(&self) -> Option<CachedChanges> {
        let base = self.known.snapshot?;
        // What is left of the known records are the old ones of files parsed again or gone.
        let left: Vec<Vec<Manifest>> = self
            .known
            .left()
            .map(|(_, f)| self.decoded(f.record))
            .collect::<Option<_>>()?;
        // Which entry a record publishes may depend on any file's CRDs (`--namespace`): when
        // they changed, unchanged files may publish other entries, and only a full build tells.
        let unchanged = self.files.iter().filter(|f| f.is_known());
        let defined_before = unchanged
            .flat_map(|f| &f.defines)
            .chain(left.iter().flatten().filter_map(|m| m.defines.as_deref()));
        if Kinds::with_custom(defined_before).0 != self.kinds {
            return None;
        }
        let kinds = &self.kinds;
        // Compared entry by entry, so that one changed document in a file of many is one change.
        let mut old: HashMap<&ResourceId, &Entry> = left
            .iter()
            .flatten()
            .map(|m| m.published(kinds))
            .map(|e| (&e.id, e))
            .collect();
        let mut upserts = Vec::new();
        for manifests in self.files.iter().filter_map(ScannedFile::manifests) {
            for entry in manifests.iter().map(|m| m.published(kinds)) {
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

    /// The entry set of all files, as published (identities must be unique: run
    /// `validate::validate` first). Stored records are decoded for it.
    pub fn entry_set(&self) -> Result<EntrySet> {
        let mut set = EntrySet::new();
        for file in &self.files {
            let decoded;
            let manifests = match &file.records {
                Records::Parsed(manifests) => manifests,
                Records::Known { at, .. } => {
                    decoded = self.decoded(*at).ok_or_else(|| damaged(&file.source))?;
                    &decoded
                }
            };
            for entry in manifests.iter().map(|m| m.published(&self.kinds)) {
                set.insert(entry.id.clone(), entry.clone());
            }
        }
        Ok(set)
    }

    fn decoded(&self, at: RecordAt) -> Option<Vec<Manifest>> {
        records::decode(&self.known.record(at)?, &self.options)
    }

    /// The canonical bytes of `digests`, re-reading files whose records were known where
    /// needed (when the channel moved on since, or a snapshot pack needs them all).
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
        let holds = |o: &SourceObject<&str>| {
            missing.contains(&o.blob) || o.placed.is_some_and(|p| missing.contains(&p.blob))
        };
        let mut holders = Vec::new();
        for (i, file) in self.files.iter().enumerate() {
            let held = match &file.records {
                Records::Parsed(_) => false,
                Records::Known { at, .. } => {
                    let record = self
                        .known
                        .record(*at)
                        .ok_or_else(|| damaged(&file.source))?;
                    let objects: Vec<SourceObject<&str>> =
                        record.objects().map_err(|_| damaged(&file.source))?;
                    objects.iter().any(holds)
                }
            };
            if held {
                holders.push(i);
            }
        }
        let options = &self.options;
        let reread: Vec<(usize, Parsed)> = holders
            .into_par_iter()
            .map(|i| (i, read_file(Path::new(&self.files[i].source), options)))
            .collect();
        for (i, parsed) in reread {
            let file = &self.files[i];
            let parsed = parsed.ok().map_err(problems_error)?;
            let Records::Known { at, .. } = file.records else {
                continue;
            };
            if self.decoded(at).as_ref() != Some(&parsed.file.manifests) {
                return Err(Error::Input(format!(
                    "{} changed while it was being published; run the publish again",
                    file.source
                )));
            }
            self.blobs.extend(parsed.blobs);
        }
        Ok(())
    }

    /// Whether the scanned content can be described by a source map: every input is a file
    /// (standard input has no path to find it by).
    pub fn mappable(&self) -> bool {
        self.files.iter().all(|f| f.stamp.is_some())
    }

    /// Every file's path and its record as stored (known records as they were, parsed ones
    /// encoded).
    pub fn records(&self) -> impl Iterator<Item = (&str, Cow<'_, [u8]>)> {
        self.files
            .iter()
            .map(|f| (f.source.as_str(), self.record(f)))
    }

    fn record(&self, file: &ScannedFile) -> Cow<'_, [u8]> {
        match &file.records {
            Records::Known { at, .. } if file.learnt => {
                let mut bytes = Vec::new();
                if let Some(record) = self.known.record(*at) {
                    record.encode_as(&file.content, &mut bytes);
                }
                Cow::Owned(bytes)
            }
            Records::Known { at, .. } => Cow::Borrowed(self.known.record_bytes(*at)),
            Records::Parsed(manifests) => {
                let mut bytes = Vec::new();
                records::encode(&file.source, &file.content, manifests, &mut bytes);
                Cow::Owned(bytes)
            }
        }
    }

    /// What was known before the scan: the snapshot and the source map it describes.
    pub fn known(&self) -> (Option<Digest>, Option<&MapState>) {
        (self.known.snapshot, self.known.map.as_ref())
    }

    /// The paths whose records differ from what was known: files parsed, files whose Git blob
    /// id was learnt, and known files changed or gone.
    pub fn changed_paths(&self) -> BTreeSet<&str> {
        let parsed = self.files.iter().filter(|f| !f.is_known() || f.learnt);
        let parsed = parsed.map(|f| f.source.as_str());
        parsed
            .chain(self.known.left().map(|(path, _)| path))
            .collect()
    }

    /// Records the source map written to the store for the scanned content.
    pub fn note_map(&mut self, map: MapState) {
        self.map = Some(map);
    }

    /// Records what was scanned as the content of `snapshot`, for the next publish.
    pub fn save_cache(&self, snapshot: Digest) -> Result<()> {
        let Some(cache) = &self.cache else {
            return Ok(());
        };
        let known_snapshot = self.known.snapshot == Some(snapshot);
        // The store's source map of `snapshot`: the one just written, or the known one if it
        // is of this very snapshot (nothing was published).
        let map = self
            .map
            .as_ref()
            .or_else(|| self.known.map.as_ref().filter(|_| known_snapshot));
        let all_by_stamp = self.files.iter().all(|f| {
            matches!(
                f.records,
                Records::Known {
                    by: KnownBy::Stamp,
                    ..
                }
            )
        });
        let nothing_left = self.known.left().next().is_none();
        if known_snapshot && nothing_left && self.map.is_none() && all_by_stamp {
            // Every record was known by its stamp and describes this very snapshot.
            return Ok(());
        }
        let files = self.files.iter().filter_map(|f| {
            f.stamp.map(|stamp| Scanned {
                stamp,
                record: self.record(f),
            })
        });
        cache.save(snapshot, map, self.started, &self.options, files)
    }
}

impl ScannedFile {
    fn parsed(
        source: String,
        stamp: Option<Stamp>,
        content: FileContent,
        manifests: Vec<Manifest>,
    ) -> ScannedFile {
        let defines = manifests.iter().filter_map(|m| m.defines.as_deref());
        ScannedFile {
            source,
            stamp,
            content,
            learnt: false,
            defines: defines.cloned().collect(),
            records: Records::Parsed(manifests),
            damaged: false,
        }
    }

    fn is_known(&self) -> bool {
        matches!(self.records, Records::Known { .. })
    }

    fn manifests(&self) -> Option<&[Manifest]> {
        match &self.records {
            Records::Parsed(manifests) => Some(manifests),
            Records::Known { .. } => None,
        }
    }
}

fn damaged(source: &str) -> Error {
    Error::Input(format!(
        "the stored record of {source} no longer decodes; publish again with --no-cache"
    ))
}
