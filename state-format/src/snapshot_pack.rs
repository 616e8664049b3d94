//! Snapshot packs: one snapshot whole (every entry and its blob), so that a new agent starts
//! from a head and one pack instead of walking the index object by object.
//!
//! A pack is one or more shards read in order; each shard is one zstd frame (with checksum) of
//! newline-terminated canonical JSON lines, framed like a delta pack:
//!
//! ```text
//! {"format":2,"shard":I,"snapshot":"sha256:…"}   header
//! {"put":{<entry>}}                              for each entry, in identity order,
//! <the blob's canonical bytes>                   followed by its blob on one line
//! {"end":{"puts":P}}                             trailer: the puts of this shard
//! ```
//!
//! Identities rise strictly across the whole pack, so the shards partition the entries in order.
//! Index nodes are not carried: they are a function of the entries, and the reader rebuilds them
//! to check the snapshot digest (the check a walk of the index ends with, too). A reader holds
//! the entries and one blob at a time; blobs go wherever the caller keeps them.

use std::io::Read;

use serde::{Deserialize, Serialize};

use crate::canonical::canonical_bytes_of;
use crate::digest::Digest;
use crate::error::{Error, Result, malformed};
use crate::index::{Entry, EntrySet, Index};
use crate::lines::{
    LineWriter, Lines, MAX_RECORD_BYTES, PACK_ZSTD_LEVEL, at_end, open_with_header, read_blob_of,
    read_line,
};
use crate::resource::ResourceId;
use crate::snapshot::Snapshot;
use crate::{MAX_ENTRIES, SNAPSHOT_PACK_FORMAT};

/// The first line of a shard.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotPackHeader {
    /// Wire format version.
    pub format: u64,
    /// The snapshot the pack holds.
    pub snapshot: Digest,
    /// This shard's place, from 0.
    pub shard: u64,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "lowercase")]
enum Record {
    Put(Entry),
    End { puts: u64 },
}

/// Writes a snapshot pack from its entries in identity order, cutting a new shard once the
/// current one holds `shard_bytes` of uncompressed lines.
pub struct SnapshotPackWriter {
    snapshot: Digest,
    shard_bytes: u64,
    shard: u64,
    current: Option<(LineWriter, u64)>,
    last: Option<ResourceId>,
}

impl SnapshotPackWriter {
    /// A writer for snapshot `snapshot`.
    pub fn new(snapshot: Digest, shard_bytes: u64) -> SnapshotPackWriter {
        SnapshotPackWriter {
            snapshot,
            shard_bytes: shard_bytes.max(1),
            shard: 0,
            current: None,
            last: None,
        }
    }

    fn what(&self) -> String {
        format!("snapshot pack {} shard {}", self.snapshot, self.shard)
    }

    fn start(&mut self) -> (LineWriter, u64) {
        let mut lines = LineWriter::new(PACK_ZSTD_LEVEL, &self.what());
        lines.line(&canonical_bytes_of(&SnapshotPackHeader {
            format: SNAPSHOT_PACK_FORMAT.into(),
            snapshot: self.snapshot,
            shard: self.shard,
        }));
        (lines, 0)
    }

    /// Adds an entry and its blob (checked against the entry); returns a shard that is complete.
    pub fn push(&mut self, entry: &Entry, blob: &[u8]) -> Result<Option<Vec<u8>>> {
        if self.last.as_ref().is_some_and(|last| *last >= entry.id) {
            return Err(malformed(
                &self.what(),
                format!("{} does not follow the entry before it", entry.id),
            ));
        }
        entry.blob.verify(&format!("blob of {}", entry.id), blob)?;
        let (mut lines, mut puts) = match self.current.take() {
            Some(current) => current,
            None => self.start(),
        };
        lines.line(&canonical_bytes_of(&Record::Put(entry.clone())));
        lines.line(blob);
        puts += 1;
        self.last = Some(entry.id.clone());
        if lines.written < self.shard_bytes {
            self.current = Some((lines, puts));
            return Ok(None);
        }
        self.shard += 1;
        finish(lines, puts).map(Some)
    }

    /// The last shard (the only one, holding no entry, for an empty snapshot; `None` when the
    /// entries ended exactly at a shard's end).
    pub fn finish(mut self) -> Result<Option<Vec<u8>>> {
        match self.current.take() {
            Some((lines, puts)) => finish(lines, puts).map(Some),
            None if self.shard == 0 => {
                let (lines, puts) = self.start();
                finish(lines, puts).map(Some)
            }
            None => Ok(None),
        }
    }
}

fn finish(mut lines: LineWriter, puts: u64) -> Result<Vec<u8>> {
    lines.line(&canonical_bytes_of(&Record::End { puts }));
    lines.finish()
}

/// Streams the entries of one shard, checking limits, digests, order and the trailer.
pub struct SnapshotPackReader<R: Read> {
    lines: Lines<R>,
    header: SnapshotPackHeader,
    what: String,
    puts: u64,
    last: Option<ResourceId>,
    finished: bool,
}

impl<R: Read> SnapshotPackReader<R> {
    /// Opens a shard and reads its header.
    pub fn new(reader: R) -> Result<Self> {
        let what = "snapshot pack".to_owned();
        let (lines, header): (_, SnapshotPackHeader) =
            open_with_header(reader, &what, SNAPSHOT_PACK_FORMAT)?;
        let what = format!("snapshot pack {} shard {}", header.snapshot, header.shard);
        Ok(SnapshotPackReader {
            lines,
            header,
            what,
            puts: 0,
            last: None,
            finished: false,
        })
    }

    /// The shard's header.
    pub fn header(&self) -> &SnapshotPackHeader {
        &self.header
    }

    /// The next entry and its checked blob; `None` after a valid trailer.
    pub fn next_entry(&mut self) -> Result<Option<(Entry, Vec<u8>)>> {
        if self.finished {
            return Ok(None);
        }
        let line = read_line(&mut self.lines, MAX_RECORD_BYTES, &self.what)?.ok_or_else(|| {
            Error::Truncated {
                what: self.what.clone(),
                detail: "the end record is missing".to_owned(),
            }
        })?;
        match serde_json::from_slice::<Record>(&line).map_err(|e| malformed(&self.what, e))? {
            Record::Put(entry) => self.put(entry).map(Some),
            Record::End { puts } => {
                if puts != self.puts {
                    return Err(Error::Truncated {
                        what: self.what.clone(),
                        detail: format!("read {} puts, the trailer says {puts}", self.puts),
                    });
                }
                if !at_end(&mut self.lines, &self.what)? {
                    return Err(malformed(&self.what, "data after the end record"));
                }
                self.finished = true;
                Ok(None)
            }
        }
    }

    fn put(&mut self, entry: Entry) -> Result<(Entry, Vec<u8>)> {
        self.puts += 1;
        if self.puts > MAX_ENTRIES {
            return Err(Error::TooLarge {
                what: self.what.clone(),
                size: self.puts,
                limit: MAX_ENTRIES,
            });
        }
        if self.last.as_ref().is_some_and(|last| *last >= entry.id) {
            return Err(malformed(
                &self.what,
                format!("{} is out of order or repeated", entry.id),
            ));
        }
        let blob = read_blob_of(&mut self.lines, &entry, &self.what)?;
        self.last = Some(entry.id.clone());
        Ok((entry, blob))
    }
}

/// Reads the shards of one snapshot pack in order and checks that together they are exactly
/// the snapshot named.
#[derive(Debug)]
pub struct SnapshotPackAssembler {
    snapshot: Digest,
    shards: u64,
    entries: EntrySet,
}

impl SnapshotPackAssembler {
    /// An assembler for the pack of `snapshot`.
    pub fn new(snapshot: Digest) -> SnapshotPackAssembler {
        SnapshotPackAssembler {
            snapshot,
            shards: 0,
            entries: EntrySet::new(),
        }
    }

    /// Reads the next shard; each checked blob goes to `sink`.
    pub fn shard(
        &mut self,
        shard: impl Read,
        sink: &mut dyn FnMut(Digest, Vec<u8>) -> Result<()>,
    ) -> Result<()> {
        let mut reader = SnapshotPackReader::new(shard)?;
        let header = reader.header().clone();
        if (header.snapshot, header.shard) != (self.snapshot, self.shards) {
            return Err(malformed(
                &format!("snapshot pack {}", self.snapshot),
                format!(
                    "expected shard {} of it, got shard {} of {}",
                    self.shards, header.shard, header.snapshot
                ),
            ));
        }
        let last = self.entries.keys().next_back().cloned();
        let mut first = true;
        while let Some((entry, blob)) = reader.next_entry()? {
            if first && last.as_ref().is_some_and(|last| *last >= entry.id) {
                return Err(malformed(
                    &reader.what,
                    format!("{} does not follow the shard before it", entry.id),
                ));
            }
            first = false;
            sink(entry.blob, blob)?;
            self.entries.insert(entry.id.clone(), entry);
        }
        self.shards += 1;
        Ok(())
    }

    /// The snapshot the shards read add up to, checked against the digest named; with its index
    /// and entries.
    pub fn finish(self) -> Result<(Snapshot, Index, EntrySet)> {
        let (snapshot, index) = Snapshot::build(&self.entries);
        let actual = snapshot.digest();
        if actual != self.snapshot {
            return Err(Error::DigestMismatch {
                what: format!("snapshot rebuilt from snapshot pack {}", self.snapshot),
                expected: self.snapshot,
                actual,
            });
        }
        Ok((snapshot, index, self.entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::EntrySet;
    use crate::resource::ResourceId;

    fn set(n: usize) -> (EntrySet, std::collections::HashMap<Digest, Vec<u8>>) {
        let mut entries = EntrySet::new();
        let mut blobs = std::collections::HashMap::new();
        for i in 0..n {
            let blob = format!("{{\"i\":{i},\"pad\":\"{}\"}}", "x".repeat(i % 50)).into_bytes();
            let entry = Entry {
                id: ResourceId {
                    group: String::new(),
                    kind: "ConfigMap".into(),
                    namespace: "ns".into(),
                    name: format!("cm-{i:04}"),
                },
                blob: Digest::of(&blob),
                size: blob.len() as u64,
                selector: None,
                wave: None,
            };
            blobs.insert(entry.blob, blob);
            entries.insert(entry.id.clone(), entry);
        }
        (entries, blobs)
    }

    fn write(
        entries: &EntrySet,
        blobs: &std::collections::HashMap<Digest, Vec<u8>>,
        shard_bytes: u64,
    ) -> (Digest, Vec<Vec<u8>>) {
        let snapshot = Snapshot::build(entries).0.digest();
        let mut writer = SnapshotPackWriter::new(snapshot, shard_bytes);
        let mut shards = Vec::new();
        for entry in entries.values() {
            shards.extend(writer.push(entry, &blobs[&entry.blob]).unwrap());
        }
        shards.extend(writer.finish().unwrap());
        (snapshot, shards)
    }

    fn read(snapshot: Digest, shards: &[Vec<u8>]) -> Result<EntrySet> {
        let mut assembler = SnapshotPackAssembler::new(snapshot);
        for shard in shards {
            assembler.shard(shard.as_slice(), &mut |_, _| Ok(()))?;
        }
        assembler.finish().map(|(_, _, entries)| entries)
    }

    #[test]
    fn shards_partition_the_entries_in_order_and_rebuild_the_snapshot() {
        let (entries, blobs) = set(300);
        let (snapshot, shards) = write(&entries, &blobs, 4 * 1024);
        assert!(shards.len() > 3, "{} shards", shards.len());
        assert_eq!(read(snapshot, &shards).unwrap(), entries);
        // A shard missing, repeated or out of place is refused.
        let err = read(snapshot, &shards[1..]).unwrap_err();
        assert!(err.to_string().contains("expected shard 0"), "{err}");
        let mut swapped = shards.clone();
        swapped.swap(1, 2);
        assert!(read(snapshot, &swapped).is_err());
        let err = read(snapshot, &shards[..shards.len() - 1]).unwrap_err();
        assert!(matches!(err, Error::DigestMismatch { .. }), "{err}");
        // Another snapshot's pack does not pass for this one.
        let err = read(Digest::of(b"other"), &shards).unwrap_err();
        assert!(err.to_string().contains("expected shard 0 of it"), "{err}");
    }

    #[test]
    fn an_empty_snapshot_has_one_empty_shard() {
        let (entries, blobs) = set(0);
        let (snapshot, shards) = write(&entries, &blobs, 1024);
        assert_eq!(shards.len(), 1);
        assert!(read(snapshot, &shards).unwrap().is_empty());
    }

    #[test]
    fn damaged_shards_are_refused() {
        let (entries, blobs) = set(5);
        let (snapshot, shards) = write(&entries, &blobs, 1 << 20);
        let lines = String::from_utf8(zstd::decode_all(shards[0].as_slice()).unwrap()).unwrap();
        let pack = |text: &str| vec![zstd::encode_all(text.as_bytes(), 1).unwrap()];
        let mut cases = vec![
            lines.replacen("cm-0001", "cm-0009", 2),
            lines.replace("{\"end\":{\"puts\":5}}\n", "{\"end\":{\"puts\":4}}\n"),
            lines.replace("{\"end\":{\"puts\":5}}\n", ""),
            format!("{lines}extra\n"),
            lines.replacen("\"format\":2", "\"format\":3", 1),
        ];
        let order: Vec<&str> = lines.lines().collect();
        cases.push([order[0], order[3], order[4], order[1], order[2]].join("\n") + "\n");
        for case in cases {
            assert!(read(snapshot, &pack(&case)).is_err(), "{case}");
        }
        let writer_order = {
            let mut writer = SnapshotPackWriter::new(snapshot, 1 << 20);
            let mut values = entries.values().rev();
            let (a, b) = (values.next().unwrap(), values.next().unwrap());
            writer.push(a, &blobs[&a.blob]).unwrap();
            writer.push(b, &blobs[&b.blob]).map(|_| ())
        };
        assert!(
            writer_order.is_err(),
            "a writer refuses entries out of order"
        );
    }
}
