//! Looking every listed file up in what is known, on every core: known by its stat data, else
//! read and hashed and known by its bytes, else parsed.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use cairn_state_format::{Digest, SourceObject};
use rayon::prelude::*;

use super::super::manifests::{Parsed, ReadOptions, parse_bytes};
use super::super::progress;
use super::super::records;
use super::super::scan_cache::{Known, Stamp};
use super::{Records, ScannedFile};

/// Files scanned before a progress bar is worth showing.
const PROGRESS_FROM: usize = 500;

/// What looking the files up gives: each file, and for those parsed, the parse (for its blobs
/// and problems).
pub(super) type Looked = (Vec<ScannedFile>, Vec<Option<Box<Parsed>>>);

/// Looks every file up on every core: known by its stamp, else read and hashed and known by
/// its bytes, else parsed.
pub(super) fn look_up(
    paths: &[(PathBuf, Stamp)],
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
    let parsed = AtomicUsize::new(0);
    let looked = paths
        .par_iter()
        .map(|(path, stamp)| {
            let looked = look_up_one(path, *stamp, known, options);
            if looked.1.is_some() && !bar.is_hidden() {
                let count = parsed.fetch_add(1, Ordering::Relaxed) + 1;
                bar.set_message(format!("{count} parsed"));
            }
            bar.inc(1);
            looked
        })
        .unzip();
    bar.finish_and_clear();
    looked
}

fn look_up_one(
    path: &Path,
    stamp: Stamp,
    known: &Known,
    options: &ReadOptions,
) -> (ScannedFile, Option<Box<Parsed>>) {
    let source = path
        .to_str()
        .map_or_else(|| path.display().to_string(), str::to_owned);
    let known_file = known.get(&source);
    let (file, content, by_stamp) = match known_file.filter(|k| k.fresh(&stamp)) {
        Some(file) => (file, file.content, true),
        None => {
            let bytes = match std::fs::read(path) {
                Ok(bytes) => bytes,
                Err(e) => {
                    let failed = Parsed::failed(&source, vec![format!("{source}: {e}")]);
                    return parsed_file(source, stamp, Digest::of(b""), failed);
                }
            };
            let content = Digest::of(&bytes);
            match known_file.filter(|k| k.content == content) {
                Some(file) => (file, content, false),
                None => {
                    let parsed = parse_bytes(&source, bytes, options);
                    return parsed_file(source, stamp, content, parsed);
                }
            }
        }
    };
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
    let scanned = ScannedFile {
        source,
        stamp: Some(stamp),
        content,
        records: Records::Known {
            at: file.record,
            by_stamp,
        },
        damaged: defines.is_none(),
        defines: defines.unwrap_or_default(),
    };
    (scanned, None)
}

fn parsed_file(
    source: String,
    stamp: Stamp,
    content: Digest,
    mut parsed: Parsed,
) -> (ScannedFile, Option<Box<Parsed>>) {
    let manifests = std::mem::take(&mut parsed.file.manifests);
    let file = ScannedFile::parsed(source, Some(stamp), content, manifests);
    (file, Some(Box::new(parsed)))
}
