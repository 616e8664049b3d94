//! Looking every listed file up in what is known, on every core: known by its stat data, else
//! by Git's index (a fresh checkout), else read and hashed and known by its bytes, else parsed.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use cairn_state_format::{Digest, FileContent, SourceObject};
use indicatif::ProgressBar;
use rayon::prelude::*;

use super::super::manifests::{Parsed, ReadOptions, parse_bytes};
use super::super::progress;
use super::super::records;
use super::super::scan_cache::{Known, KnownFile, Stamp};
use super::git::{Index, WorkTrees};
use super::{KnownBy, Records, ScannedFile};

/// Files scanned before a progress bar is worth showing.
const PROGRESS_FROM: usize = 500;
/// Git's index is loaded when at least 1/`INDEX_SHARE` of the files could be spared a read by
/// it: loading and checking it costs about 0.5 µs per file, reading a small file 10 to 20 µs.
const INDEX_SHARE: usize = 32;

/// What looking the files up gives: each file, and for those parsed, the parse (for its blobs
/// and problems).
pub(super) type Looked = (Vec<ScannedFile>, Vec<Option<Box<Parsed>>>);

/// A file after the first look: known by its stamp, or to be looked at further.
#[expect(
    clippy::large_enum_variant,
    reason = "most files are known by their stamp: boxing them would cost an allocation each"
)]
enum First {
    Known(ScannedFile),
    Missed(String),
}

/// Looks every file of `inputs` up: known by its stamp; else, in a Git work tree, by the blob
/// id Git's index holds for it; else read and hashed and known by its bytes; else parsed.
pub(super) fn look_up(
    paths: &[(PathBuf, Stamp)],
    inputs: &[PathBuf],
    known: &Known,
    show_progress: bool,
    options: &ReadOptions,
) -> Looked {
    let bar = progress::bar(
        show_progress,
        paths.len(),
        PROGRESS_FROM,
        "{spinner} scanning manifests {pos}/{len}, {msg} [{bar:30}] eta {eta}",
    );
    bar.set_message("0 parsed");
    let first: Vec<First> = paths
        .par_iter()
        .map(|(path, stamp)| by_stamp(path, *stamp, known, &bar))
        .collect();
    let missed: Vec<(usize, &str)> = first.iter().enumerate().filter_map(missed).collect();
    if missed.is_empty() {
        bar.finish_and_clear();
        let files = first.into_iter().filter_map(known_file).collect();
        return (
            files,
            std::iter::repeat_with(|| None).take(paths.len()).collect(),
        );
    }
    // Discovered only now: a publish that finds every file by its stamp runs no `git`.
    let trees = WorkTrees::discover(inputs);
    let in_index = unchanged_in_index(&trees, paths, &missed, known);
    let parsed = AtomicUsize::new(0);
    let mut looked: Vec<(ScannedFile, Option<Box<Parsed>>)> = missed
        .par_iter()
        .zip(in_index)
        .map(|(&(i, source), in_index)| {
            let (path, stamp) = &paths[i];
            let known_file = known.get(source);
            let looked = match known_file.filter(|_| in_index) {
                Some(file) => (
                    known_one(source, *stamp, file, KnownBy::GitIndex, known),
                    None,
                ),
                None => read_one(path, source, *stamp, known_file, &trees, known, options),
            };
            if looked.1.is_some() && !bar.is_hidden() {
                let count = parsed.fetch_add(1, Ordering::Relaxed) + 1;
                bar.set_message(format!("{count} parsed"));
            }
            bar.inc(1);
            looked
        })
        .collect();
    bar.finish_and_clear();
    // Put the files looked at further back in their places.
    let mut files = Vec::with_capacity(paths.len());
    let mut parses = Vec::with_capacity(paths.len());
    let mut further = looked.drain(..);
    for entry in first {
        let (file, parse) = match entry {
            First::Known(file) => (file, None),
            // Invariant: `looked` has one item per missed file, in the same order.
            First::Missed(_) => further.next().expect("one look per missed file"),
        };
        files.push(file);
        parses.push(parse);
    }
    (files, parses)
}

fn missed((i, first): (usize, &First)) -> Option<(usize, &str)> {
    match first {
        First::Missed(source) => Some((i, source.as_str())),
        First::Known(_) => None,
    }
}

fn known_file(first: First) -> Option<ScannedFile> {
    match first {
        First::Known(file) => Some(file),
        First::Missed(_) => None,
    }
}

fn by_stamp(path: &Path, stamp: Stamp, known: &Known, bar: &ProgressBar) -> First {
    let source = path
        .to_str()
        .map_or_else(|| path.display().to_string(), str::to_owned);
    match known.get(&source).filter(|k| k.fresh(&stamp)) {
        Some(file) => {
            bar.inc(1);
            First::Known(known_one(&source, stamp, file, KnownBy::Stamp, known))
        }
        None => First::Missed(source),
    }
}

/// For each missed file, whether Git's index holds, for the file as it is now, the blob id of
/// its known record (so it is unchanged, and not read): only for inputs in a work tree, and
/// only when enough files could be spared a read to pay for loading the index.
fn unchanged_in_index(
    trees: &WorkTrees,
    paths: &[(PathBuf, Stamp)],
    missed: &[(usize, &str)],
    known: &Known,
) -> Vec<bool> {
    let mut unchanged = vec![false; missed.len()];
    if !trees.any() {
        return unchanged;
    }
    // Files whose known record has a blob id, and bytes of the size the file has now.
    let candidates: Vec<(usize, usize, Vec<u8>)> = missed
        .iter()
        .enumerate()
        .filter_map(|(m, &(i, source))| {
            let (path, stamp) = &paths[i];
            let content = known.get(source)?.content;
            content.git.filter(|_| content.size == stamp.size)?;
            let (repository, in_tree) = trees.place(path)?;
            Some((m, repository, in_tree))
        })
        .collect();
    if candidates.is_empty() || candidates.len() * INDEX_SHARE < paths.len() {
        return unchanged;
    }
    for (at, repository) in trees.repositories().iter().enumerate() {
        let Some(index) = repository.load_index() else {
            continue;
        };
        let matching = matching_ids(&index, at, &candidates, paths, missed, known);
        let in_tree: Vec<&[u8]> = matching.iter().map(|c| c.2.as_slice()).collect();
        // Files Git may store as other bytes of the same size are read.
        let Some(converted) = repository.converted(&index, &in_tree) else {
            continue;
        };
        for ((m, _, _), converted) in matching.into_iter().zip(converted) {
            unchanged[*m] = !converted;
        }
    }
    unchanged
}

/// The candidates in repository `at` whose index entry holds their known record's blob id.
fn matching_ids<'c>(
    index: &Index,
    at: usize,
    candidates: &'c [(usize, usize, Vec<u8>)],
    paths: &[(PathBuf, Stamp)],
    missed: &[(usize, &str)],
    known: &Known,
) -> Vec<&'c (usize, usize, Vec<u8>)> {
    candidates
        .par_iter()
        .filter(|(m, repository, in_tree)| {
            let (i, source) = missed[*m];
            let recorded = known.get(source).and_then(|k| k.content.git);
            *repository == at && recorded.is_some() && index.blob(in_tree, &paths[i].1) == recorded
        })
        .collect()
}

/// Reads a file that was not known unchanged without reading: known by its bytes (and the
/// content ids learnt from them), else parsed.
fn read_one(
    path: &Path,
    source: &str,
    stamp: Stamp,
    known_file: Option<&KnownFile>,
    trees: &WorkTrees,
    known: &Known,
    options: &ReadOptions,
) -> (ScannedFile, Option<Box<Parsed>>) {
    let source = source.to_owned();
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) => {
            let failed = Parsed::failed(&source, vec![format!("{source}: {e}")]);
            let content = FileContent {
                sha256: Digest::of(b""),
                size: 0,
                git: None,
            };
            return parsed_file(source, stamp, content, failed);
        }
    };
    let read = FileContent {
        sha256: Digest::of(&bytes),
        size: bytes.len() as u64,
        git: trees.blob_id(path, &bytes),
    };
    match known_file.filter(|k| k.content.sha256 == read.sha256) {
        Some(file) => {
            let mut scanned = known_one(&source, stamp, file, KnownBy::Content, known);
            // An id learnt now (the first read in a work tree) is kept with the record.
            if read.git.is_some() && read.git != file.content.git {
                scanned.content = read;
                scanned.learnt = true;
            }
            (scanned, None)
        }
        None => {
            let parsed = parse_bytes(&source, bytes, options);
            parsed_file(source, stamp, read, parsed)
        }
    }
}

/// A file known unchanged, with its known record.
fn known_one(
    source: &str,
    stamp: Stamp,
    file: &KnownFile,
    by: KnownBy,
    known: &Known,
) -> ScannedFile {
    file.found();
    // Only the few records with CustomResourceDefinitions are decoded, for the kinds.
    let defines = match file.defines_kinds {
        false => Some(Vec::new()),
        true => known.record(file.record).and_then(|r| {
            let objects: Vec<SourceObject<&str>> = r.objects().ok()?;
            let defined = objects.iter().filter_map(|o| o.defines.as_ref());
            Some(defined.map(records::custom_kind).collect())
        }),
    };
    ScannedFile {
        source: source.to_owned(),
        stamp: Some(stamp),
        content: file.content,
        learnt: false,
        records: Records::Known {
            at: file.record,
            by,
        },
        damaged: defines.is_none(),
        defines: defines.unwrap_or_default(),
    }
}

fn parsed_file(
    source: String,
    stamp: Stamp,
    content: FileContent,
    mut parsed: Parsed,
) -> (ScannedFile, Option<Box<Parsed>>) {
    let manifests = std::mem::take(&mut parsed.file.manifests);
    let file = ScannedFile::parsed(source, Some(stamp), content, manifests);
    (file, Some(Box::new(parsed)))
}
