//! The store as the publish cache of runners that have none: with each snapshot it publishes
//! from files, the hub writes a source map (`sources/<channel>/<snapshot hex>`, see
//! [`cairn_state_format::SourceMap`]): each file's path, the sha256 of its bytes and its records.
//! A publish whose local cache does not describe the channel's head (a fresh CI runner) fetches
//! the head's map instead, and so reads and hashes every file but parses only the changed ones.
//!
//! A map is signed by the publishing keys and used only when one of the keys publishing now
//! signed it; a map that is missing, damaged, foreign (another channel, snapshot or way of
//! reading) or signed by others is ignored with a warning, and every file is parsed. Most
//! publishes write a patch (the files changed since a full map); a full map is written when
//! there is none to patch or the patch would exceed [`PATCH_SHARE`] of it.

use std::borrow::Cow;
use std::collections::HashMap;

use cairn_state_format::{
    BaseMap, Digest, FileRecord, MapHead, OpenedMap, PublicKey, SecretKey, SourceMapRefusal,
    SourceMapWriter, layout,
};
use cairn_store::Store;

use super::manifests::ReadOptions;
use super::progress;
use super::records::reader;
use super::scan::Scan;
use super::scan_cache::{Known, MapState};
use crate::channel::Channel;
use crate::error::Result;

/// A full map is written instead of a patch once the patch would list more than this share of
/// the full map's files (1/64: at 100,000 files and 10 changes per publish, a full map every
/// 156 publishes and patches of 780 files on average), and at least [`PATCH_FLOOR`].
pub const PATCH_SHARE: u64 = 64;
/// Patches of at most this many paths are always fine.
pub const PATCH_FLOOR: u64 = 256;

/// What is known of the files before a publish to `channel`: `local` (the publish cache) when
/// it describes the channel's head, else the head's source map from the store when one of
/// `keys` signed it, else `local` (its records still spare parsing files it knows).
pub async fn known_before(
    store: &Store,
    channel: &str,
    local: Known,
    keys: &[SecretKey],
    options: &ReadOptions,
    show_progress: bool,
) -> Result<Known> {
    let Some(latest) = Channel::new(store, channel).latest().await? else {
        return Ok(local);
    };
    let head = latest.head.snapshot;
    if local.snapshot == Some(head) {
        return Ok(local);
    }
    let spinner = progress::spinner(show_progress, "fetching the source map");
    let trusted: Vec<PublicKey> = keys.iter().map(SecretKey::public).collect();
    let fetched = fetch(store, channel, head, &trusted, options).await;
    spinner.finish_and_clear();
    match fetched? {
        Ok(known) => Ok(known),
        Err(Unusable::Missing) => Ok(local),
        Err(why) => {
            let key = layout::source_map_key(channel, &head);
            tracing::warn!(key, "source map not used ({why}); reading every file");
            Ok(local)
        }
    }
}

/// Why a source map in the store was not used.
#[derive(Debug, thiserror::Error)]
enum Unusable {
    #[error("there is none")]
    Missing,
    #[error("{0}")]
    Refused(#[from] SourceMapRefusal),
    #[error("its base map was rewritten or collected since")]
    BaseGone,
    #[error("it is for {0}")]
    Foreign(&'static str),
}

/// The head's source map, with its base when it is a patch, as what is known.
async fn fetch(
    store: &Store,
    channel: &str,
    snapshot: Digest,
    trusted: &[PublicKey],
    options: &ReadOptions,
) -> Result<std::result::Result<Known, Unusable>> {
    let key = layout::source_map_key(channel, &snapshot);
    let Some(stored) = store.get(&key).await? else {
        return Ok(Err(Unusable::Missing));
    };
    let map = match OpenedMap::open(&stored.bytes, trusted) {
        Ok(map) => map,
        Err(refused) => return Ok(Err(refused.into())),
    };
    if map.head.channel != channel || map.head.snapshot != snapshot {
        return Ok(Err(Unusable::Foreign("another channel or snapshot")));
    }
    if map.head.reader != reader(options) {
        return Ok(Err(Unusable::Foreign(
            "files read another way (another --namespace or cairn version)",
        )));
    }
    let Some(base) = map.base else {
        let state = MapState {
            base: BaseMap {
                snapshot,
                digest: Digest::of(&stored.bytes),
            },
            base_files: map.head.files,
            patch: Vec::new(),
        };
        return Ok(Ok(known_from(snapshot, state, map.records())));
    };
    let base_key = layout::source_map_key(channel, &base.snapshot);
    let full = match store.get(&base_key).await? {
        Some(s) if Digest::of(&s.bytes) == base.digest => OpenedMap::open(&s.bytes, trusted),
        _ => return Ok(Err(Unusable::BaseGone)),
    };
    let full = match full {
        Ok(full) => full,
        Err(refused) => return Ok(Err(refused.into())),
    };
    let records = match full.patched(&map) {
        Ok(records) => records,
        Err(refused) => return Ok(Err(refused.into())),
    };
    let patch = map.records().map(|r| r.path.to_owned());
    let state = MapState {
        base,
        base_files: full.head.files,
        patch: patch.chain(map.head.removed.iter().cloned()).collect(),
    };
    Ok(Ok(known_from(snapshot, state, records)))
}

fn known_from<'a>(
    snapshot: Digest,
    state: MapState,
    records: impl IntoIterator<Item = FileRecord<'a>>,
) -> Known {
    let mut known = Known::new(snapshot, Some(state));
    for record in records {
        known.add(&record, None);
    }
    known
}

/// Writes the source map of `snapshot`, the scanned content just published to `channel`,
/// signed by `keys`: a patch of the map the scan's known records came with when it stays
/// small, else a full map. Remembers it in the scan (for the publish cache) and returns the
/// bytes written.
pub async fn write(
    store: &Store,
    channel: &str,
    snapshot: Digest,
    scan: &mut Scan,
    keys: &[SecretKey],
) -> Result<u64> {
    let mut head = MapHead::new(channel, snapshot, reader(scan.options()));
    let signers: Vec<&SecretKey> = keys.iter().collect();
    let (stored, state) = match patch_paths(scan, snapshot) {
        Some((base, base_files, paths)) => {
            let mut records: HashMap<&str, Cow<'_, [u8]>> = scan
                .records()
                .filter(|(path, _)| paths.binary_search_by(|p| p.as_str().cmp(path)).is_ok())
                .collect();
            let mut files = Vec::with_capacity(records.len());
            for path in &paths {
                match records.remove(path.as_str()) {
                    Some(record) => files.push(record),
                    None => head.removed.push(path.clone()),
                }
            }
            let mut map = SourceMapWriter::new(head);
            files.iter().for_each(|record| map.push(record));
            let stored = map.seal(Some(&base), &signers);
            let state = MapState {
                base,
                base_files,
                patch: paths,
            };
            (stored, state)
        }
        None => {
            let mut records: Vec<(&str, Cow<'_, [u8]>)> = scan.records().collect();
            records.sort_unstable_by(|a, b| a.0.cmp(b.0));
            let base_files = records.len() as u64;
            let mut map = SourceMapWriter::new(head);
            records.iter().for_each(|(_, record)| map.push(record));
            let stored = map.seal(None, &signers);
            let base = BaseMap {
                snapshot,
                digest: Digest::of(&stored),
            };
            let state = MapState {
                base,
                base_files,
                patch: Vec::new(),
            };
            (stored, state)
        }
    };
    let bytes = stored.len() as u64;
    store
        .put(&layout::source_map_key(channel, &snapshot), stored)
        .await?;
    scan.note_map(state);
    Ok(bytes)
}

/// The base and the sorted paths of a patch describing the scan as `snapshot`, or `None` when
/// a full map is due: nothing known to patch, the new map would replace its own base (the same
/// key), or the patch would exceed its share of the base.
fn patch_paths(scan: &Scan, snapshot: Digest) -> Option<(BaseMap, u64, Vec<String>)> {
    let (Some(_), Some(known)) = scan.known() else {
        return None;
    };
    if known.base.snapshot == snapshot {
        return None;
    }
    let mut paths: Vec<String> = known.patch.clone();
    paths.extend(scan.changed_paths().into_iter().map(str::to_owned));
    paths.sort_unstable();
    paths.dedup();
    let most = (known.base_files / PATCH_SHARE).max(PATCH_FLOOR);
    (paths.len() as u64 <= most).then_some((known.base, known.base_files, paths))
}
