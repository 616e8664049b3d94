//! Delta packs: everything needed to go from one snapshot to another, in one object.
//!
//! A pack is one zstd frame (with checksum) of newline-separated canonical JSON lines:
//!
//! ```text
//! {"format":1,"from":"sha256:…","puts":P,"removes":R,"to":"sha256:…"}   header
//! {"put":{<entry>}}                                                    P times, each followed by
//! <the blob's canonical bytes>                                         its blob on one line
//! {"remove":{<identity>}}                                              R times
//! {"end":{"puts":P,"removes":R}}                                       trailer
//! ```
//!
//! Canonical JSON never contains a raw newline, so blobs need no escaping or length prefix, and a
//! reader can apply the pack as it streams in with memory bounded by the largest blob.
//! [`apply_delta`] rebuilds the target snapshot and checks its digest, so a pack that decodes but
//! describes anything other than `to` is refused. [`apply_delta_to_index`] makes the same check
//! from the base snapshot's index nodes, rewriting only the changed paths: O(changes × depth)
//! instead of O(M).

use std::collections::BTreeSet;
use std::io::Read;

use serde::{Deserialize, Serialize};

use crate::canonical::canonical_bytes_of;
use crate::digest::Digest;
use crate::error::{Error, Result, malformed};
use crate::index::{Change, Entry, EntrySet, NodeSource};
use crate::lines::{
    LineWriter, Lines, MAX_RECORD_BYTES, PACK_ZSTD_LEVEL, at_end, open_with_header, read_blob_of,
    read_line,
};
use crate::resource::ResourceId;
use crate::snapshot::Snapshot;
use crate::update::{Updated, update_index};
use crate::{CONTENT_FORMAT, MAX_ENTRIES};

/// The first line of a pack.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeltaHeader {
    /// Wire format version.
    pub format: u64,
    /// Snapshot the pack applies to.
    pub from: Digest,
    /// Snapshot the pack produces.
    pub to: Digest,
    /// Number of put records.
    pub puts: u64,
    /// Number of remove records.
    pub removes: u64,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "lowercase")]
enum Record {
    Put(Entry),
    Remove(ResourceId),
    End { puts: u64, removes: u64 },
}

/// One decoded change of a pack.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeltaItem {
    /// Create or replace an entry; `blob` is its verified canonical bytes.
    Put {
        /// The new entry.
        entry: Entry,
        /// The resource's canonical bytes (digest already checked).
        blob: Vec<u8>,
    },
    /// Remove the entry with this identity.
    Remove(ResourceId),
}

/// Encodes the pack from snapshot `from` to `to` for `changes`; `blob` returns the canonical bytes
/// of each added or changed entry's blob.
pub fn encode_delta(
    from: &Digest,
    to: &Digest,
    changes: &[Change],
    blob: impl Fn(&Digest) -> Option<Vec<u8>>,
) -> Result<Vec<u8>> {
    let puts: Vec<&Entry> = changes
        .iter()
        .filter_map(|c| match c {
            Change::Added(e) | Change::Changed { new: e, .. } => Some(e),
            Change::Removed(_) => None,
        })
        .collect();
    let removes: Vec<&ResourceId> = changes
        .iter()
        .filter_map(|c| {
            if let Change::Removed(e) = c {
                Some(&e.id)
            } else {
                None
            }
        })
        .collect();
    let header = DeltaHeader {
        format: CONTENT_FORMAT.into(),
        from: *from,
        to: *to,
        puts: puts.len() as u64,
        removes: removes.len() as u64,
    };

    let what = format!("delta pack {from} → {to}");
    let mut lines = LineWriter::new(PACK_ZSTD_LEVEL, &what);
    lines.line(&canonical_bytes_of(&header));
    for entry in &puts {
        let bytes = blob(&entry.blob).ok_or_else(|| Error::Truncated {
            what: what.clone(),
            detail: format!("blob {} of {} is not available", entry.blob, entry.id),
        })?;
        entry
            .blob
            .verify(&format!("blob of {}", entry.id), &bytes)?;
        lines.line(&canonical_bytes_of(&Record::Put((*entry).clone())));
        lines.line(&bytes);
    }
    for id in &removes {
        lines.line(&canonical_bytes_of(&Record::Remove((*id).clone())));
    }
    lines.line(&canonical_bytes_of(&Record::End {
        puts: header.puts,
        removes: header.removes,
    }));
    lines.finish()
}

/// Streams the items of a pack, checking limits, digests, counts and the trailer as it goes.
pub struct DeltaReader<R: Read> {
    lines: Lines<R>,
    header: DeltaHeader,
    what: String,
    puts: u64,
    removes: u64,
    finished: bool,
    /// Record bytes (not blobs) this reader may still read, when bounded.
    record_budget: Option<u64>,
}

impl<R: Read> DeltaReader<R> {
    /// Opens a pack and reads its header.
    pub fn new(reader: R) -> Result<Self> {
        let what = "delta pack".to_owned();
        let (lines, header): (_, DeltaHeader) = open_with_header(reader, &what, CONTENT_FORMAT)?;
        // Saturating: both counts come from the wire, and their sum must not overflow.
        let records = header.puts.saturating_add(header.removes);
        if records > MAX_ENTRIES {
            return Err(Error::TooLarge {
                what,
                size: records,
                limit: MAX_ENTRIES,
            });
        }
        let what = format!("delta pack {} → {}", header.from, header.to);
        Ok(DeltaReader {
            lines,
            header,
            what,
            puts: 0,
            removes: 0,
            finished: false,
            record_budget: None,
        })
    }

    /// Bounds the record lines (headers of puts and removes, not blobs) still to be read to
    /// `bytes` in all: for a pack whose length and digest no signature vouches for, so that what
    /// a reader keeps of it (the entries) cannot follow what a store serves.
    pub fn with_record_budget(mut self, bytes: u64) -> Self {
        self.record_budget = Some(bytes);
        self
    }

    fn record_line(&mut self) -> Result<Option<Vec<u8>>> {
        let line = read_line(&mut self.lines, MAX_RECORD_BYTES, &self.what)?;
        if let (Some(budget), Some(line)) = (&mut self.record_budget, &line) {
            let size = line.len() as u64 + 1;
            if size > *budget {
                return Err(Error::TooLarge {
                    what: format!("the records of {}", self.what),
                    size,
                    limit: *budget,
                });
            }
            *budget -= size;
        }
        Ok(line)
    }

    /// The pack's header.
    pub fn header(&self) -> &DeltaHeader {
        &self.header
    }

    /// The next item, `None` after a valid trailer.
    pub fn next_item(&mut self) -> Result<Option<DeltaItem>> {
        if self.finished {
            return Ok(None);
        }
        let line = self.record_line()?.ok_or_else(|| Error::Truncated {
            what: self.what.clone(),
            detail: "the end record is missing".to_owned(),
        })?;
        match serde_json::from_slice::<Record>(&line).map_err(|e| malformed(&self.what, e))? {
            Record::Put(entry) => {
                self.puts += 1;
                if self.puts > self.header.puts || self.removes > 0 {
                    return Err(malformed(&self.what, "unexpected put record"));
                }
                let blob = read_blob_of(&mut self.lines, &entry, &self.what)?;
                Ok(Some(DeltaItem::Put { entry, blob }))
            }
            Record::Remove(id) => {
                self.removes += 1;
                if self.removes > self.header.removes {
                    return Err(malformed(
                        &self.what,
                        "more remove records than the header declares",
                    ));
                }
                Ok(Some(DeltaItem::Remove(id)))
            }
            Record::End { puts, removes } => {
                if (puts, removes) != (self.header.puts, self.header.removes)
                    || (self.puts, self.removes) != (puts, removes)
                {
                    return Err(Error::Truncated {
                        what: self.what.clone(),
                        detail: format!(
                            "read {} puts and {} removes, header declares {} and {}",
                            self.puts, self.removes, self.header.puts, self.header.removes
                        ),
                    });
                }
                // Any byte left, a whole line or not, is data after the end.
                if !at_end(&mut self.lines, &self.what)? {
                    return Err(malformed(&self.what, "data after the end record"));
                }
                self.finished = true;
                Ok(None)
            }
        }
    }
}

impl<R: Read> Iterator for DeltaReader<R> {
    type Item = Result<DeltaItem>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_item().transpose()
    }
}

/// The result of applying a pack: the target entry set and the blobs the pack carried.
#[derive(Debug)]
pub struct Applied {
    /// Entries of the target snapshot.
    pub entries: EntrySet,
    /// Blobs carried by the pack, digest-checked.
    pub blobs: Vec<(Digest, Vec<u8>)>,
    /// The target snapshot, whose digest was checked against the pack's `to`.
    pub snapshot: Snapshot,
}

/// What a pack says, read whole: its puts (entries and their digest-checked blobs) and removals.
struct PackItems {
    blobs: Vec<(Digest, Vec<u8>)>,
    upserts: Vec<Entry>,
    removals: Vec<ResourceId>,
}

/// Where the blobs of a pack go as they are read: into memory, or to a caller that keeps them
/// elsewhere (a cache on disk), so that a large pack is never held whole.
type BlobSink<'a> = &'a mut dyn FnMut(Digest, Vec<u8>) -> Result<()>;

/// Reads a pack that must apply to `base_digest`, refusing an identity named twice; returns its
/// header, its name for errors, and its items. Blobs go to `sink` when one is given, else into
/// the items; `budget` bounds the record bytes (see [`DeltaReader::with_record_budget`]).
fn read_pack(
    pack: impl Read,
    base_digest: &Digest,
    budget: Option<u64>,
    mut sink: Option<BlobSink<'_>>,
) -> Result<(DeltaHeader, String, PackItems)> {
    let mut reader = DeltaReader::new(pack)?;
    if let Some(budget) = budget {
        reader = reader.with_record_budget(budget);
    }
    let header = reader.header().clone();
    let what = format!("delta pack {} → {}", header.from, header.to);
    if header.from != *base_digest {
        return Err(malformed(
            &what,
            format!("it applies to {}, not to {base_digest}", header.from),
        ));
    }
    let mut items = PackItems {
        blobs: Vec::new(),
        upserts: Vec::new(),
        removals: Vec::new(),
    };
    let mut touched = BTreeSet::new();
    while let Some(item) = reader.next_item()? {
        let id = match &item {
            DeltaItem::Put { entry, .. } => &entry.id,
            DeltaItem::Remove(id) => id,
        };
        if !touched.insert(id.clone()) {
            return Err(malformed(&what, format!("{id} appears twice")));
        }
        match item {
            DeltaItem::Put { entry, blob } => {
                match sink.as_mut() {
                    Some(sink) => sink(entry.blob, blob)?,
                    None => items.blobs.push((entry.blob, blob)),
                }
                items.upserts.push(entry);
            }
            DeltaItem::Remove(id) => items.removals.push(id),
        }
    }
    Ok((header, what, items))
}

/// Applies a pack to `base` (the entries of snapshot `base_digest`) and checks that the result is
/// exactly the snapshot the pack names as `to`.
pub fn apply_delta(base: &EntrySet, base_digest: &Digest, pack: impl Read) -> Result<Applied> {
    let (header, what, items) = read_pack(pack, base_digest, None, None)?;
    let mut entries = base.clone();
    for id in items.removals {
        if entries.remove(&id).is_none() {
            return Err(malformed(
                &what,
                format!("it removes {id}, which the base snapshot does not have"),
            ));
        }
    }
    entries.extend(items.upserts.into_iter().map(|e| (e.id.clone(), e)));
    let blobs = items.blobs;
    let (snapshot, _) = Snapshot::build(&entries);
    let actual = snapshot.digest();
    if actual != header.to {
        return Err(Error::DigestMismatch {
            what: format!("snapshot produced by {what}"),
            expected: header.to,
            actual,
        });
    }
    Ok(Applied {
        entries,
        blobs,
        snapshot,
    })
}

/// The result of [`apply_delta_to_index`]: the target snapshot's root, its new index nodes and
/// the changes that took effect, and the blobs the pack carried.
#[derive(Debug)]
pub struct IndexDelta {
    /// The target snapshot, whose digest was checked against the pack's `to`.
    pub snapshot: Snapshot,
    /// The target index: its root, the nodes the base lacked (with canonical bytes) and the
    /// effective changes, in identity order.
    pub updated: Updated,
    /// Blobs carried by the pack, digest-checked.
    pub blobs: Vec<(Digest, Vec<u8>)>,
}

/// Applies a pack to the index of `base` (snapshot `base_digest`, whose nodes `nodes` holds) and
/// checks that the result is exactly the snapshot the pack names as `to`, like [`apply_delta`],
/// but reading and rewriting only the index nodes on the changed entries' paths. The result is
/// the one a full rebuild gives; the entries themselves are the caller's to update (from
/// `updated.changes`).
pub fn apply_delta_to_index(
    nodes: &dyn NodeSource,
    base: &Snapshot,
    base_digest: &Digest,
    pack: impl Read,
) -> Result<IndexDelta> {
    let items = read_pack(pack, base_digest, None, None)?;
    index_delta(nodes, base, base_digest, items)
}

/// [`apply_delta_to_index`] for a pack read as it streams in: each blob goes to `sink` as soon
/// as it is checked (the result's `blobs` stay empty), and when `record_budget` is given the
/// record lines may add up to at most that many bytes. What is kept in memory is then the
/// changed entries alone, whatever the size of the pack.
pub fn apply_delta_to_index_streaming(
    nodes: &dyn NodeSource,
    base: &Snapshot,
    base_digest: &Digest,
    pack: impl Read,
    record_budget: Option<u64>,
    sink: &mut dyn FnMut(Digest, Vec<u8>) -> Result<()>,
) -> Result<IndexDelta> {
    let items = read_pack(pack, base_digest, record_budget, Some(sink))?;
    index_delta(nodes, base, base_digest, items)
}

fn index_delta(
    nodes: &dyn NodeSource,
    base: &Snapshot,
    base_digest: &Digest,
    (header, what, items): (DeltaHeader, String, PackItems),
) -> Result<IndexDelta> {
    if base.digest() != *base_digest {
        return Err(malformed(
            &what,
            format!("the base given is not snapshot {base_digest}"),
        ));
    }
    let PackItems {
        blobs,
        upserts,
        removals,
    } = items;
    let wanted_removals = removals.len();
    let updated = update_index(nodes, &base.index, upserts, removals).map_err(|missing| {
        Error::Truncated {
            what: format!("index of snapshot {base_digest}"),
            detail: format!("{missing}: {:?}", missing.0.first()),
        }
    })?;
    // Saturating: the counts of a wrong base are caught by the digest check below.
    let (mut entries, mut bytes) = (base.entries, base.bytes);
    let mut removed = 0;
    for change in &updated.changes {
        match change {
            Change::Added(e) => {
                entries = entries.saturating_add(1);
                bytes = bytes.saturating_add(e.size);
            }
            Change::Changed { old, new } => {
                bytes = bytes.saturating_sub(old.size).saturating_add(new.size);
            }
            Change::Removed(e) => {
                removed += 1;
                entries = entries.saturating_sub(1);
                bytes = bytes.saturating_sub(e.size);
            }
        }
    }
    if removed != wanted_removals {
        return Err(malformed(
            &what,
            "it removes an entry the base snapshot does not have",
        ));
    }
    let snapshot = Snapshot {
        format: CONTENT_FORMAT.into(),
        index: updated.root,
        entries,
        bytes,
    };
    let actual = snapshot.digest();
    if actual != header.to {
        return Err(Error::DigestMismatch {
            what: format!("snapshot produced by {what}"),
            expected: header.to,
            actual,
        });
    }
    Ok(IndexDelta {
        snapshot,
        updated,
        blobs,
    })
}
