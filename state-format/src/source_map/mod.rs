//! Source maps: which manifest file of a publish's inputs held which entries of its snapshot,
//! so that the next publish on a runner without a publish cache (a fresh CI checkout) reads and
//! hashes every file but parses only those whose bytes changed.
//!
//! Hubs write and read them; agents never do. Stored at `sources/<channel>/<snapshot hex>`
//! (`layout::source_map_key`) as:
//!
//! ```text
//! "cairnsm\0"                       8 bytes
//! postcard(Header)                  {format, base}: signed as received
//! postcard(Vec<MapSignature>)       ed25519 over "cairn-source-map-v1" NUL, the header's bytes
//!                                   and the sha256 of the body
//! body                              one zstd frame of:
//!   postcard(MapHead)               channel, snapshot, reader, file count, removed paths
//!   a FileRecord per file           postcard(FileHead {path, content, defines_kinds, length}),
//!                                   then `length` bytes of postcard(Vec<SourceObject>); the
//!                                   content is the bytes' sha256, length and Git blob id
//! ```
//!
//! A map is **full** (every input file) or a **patch** of a full one (`base`): the files added or
//! changed since it and the paths gone, so a publish of a few changes writes a few records. The
//! signature is checked before the body is decompressed; a map signed by no key the reader
//! trusts, of another format, or damaged, is refused, and the reader parses every file instead.
//! Each record says its length, so a reader finds a file without decoding the others' objects,
//! and copies records it keeps into the next map or cache as they are.
//!
//! ```
//! use cairn_state_format::{
//!     Digest, FileContent, FileRecord, MapHead, OpenedMap, SecretKey, SourceMapWriter,
//! };
//!
//! let key = SecretKey::from_seed([7; 32]);
//! let head = MapHead::new("prod", Digest::of(b"snapshot"), Digest::of(b"how files were read"));
//! let mut map = SourceMapWriter::new(head);
//! let mut record = Vec::new();
//! let content = FileContent { sha256: Digest::of(b"a"), size: 1, git: None };
//! FileRecord::encode::<String>("a.yaml", &content, &[], &mut record);
//! map.push(&record);
//! let stored = map.seal(None, &[&key]);
//! let opened = OpenedMap::open(&stored, &[key.public()])?;
//! let files: Vec<&str> = opened.records().map(|r| r.path).collect();
//! assert_eq!(files, ["a.yaml"]);
//! # Ok::<(), cairn_state_format::SourceMapRefusal>(())
//! ```

mod record;

use std::io::Read;

use serde::{Deserialize, Serialize};

pub use self::record::{DefinedKind, FileContent, FileRecord, GitBlobId, Placed, SourceObject};

use crate::MAX_ENTRIES;
use crate::digest::Digest;
use crate::keys::{PublicKey, SecretKey};

/// The format of source maps this build writes and reads (2: file records hold the length and
/// Git blob id of their bytes; maps of format 1 are refused, costing one full parse).
pub const SOURCE_MAP_FORMAT: u32 = 2;
/// Largest stored source map.
pub const MAX_SOURCE_MAP_BYTES: u64 = 128 * 1024 * 1024;
/// Largest decompressed source map body.
pub const MAX_SOURCE_MAP_BODY_BYTES: u64 = 512 * 1024 * 1024;

const MAGIC: &[u8; 8] = b"cairnsm\0";
const SIGNING_CONTEXT: &[u8] = b"cairn-source-map-v1\0";
/// Compression level of the body: its bulk is digests, which no level compresses.
const ZSTD_LEVEL: i32 = 3;

/// The full map a patch applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaseMap {
    /// Its snapshot (it is stored at that snapshot's key).
    #[serde(with = "raw_digest")]
    pub snapshot: Digest,
    /// The sha256 of its stored bytes.
    #[serde(with = "raw_digest")]
    pub digest: Digest,
}

/// A signature of a source map.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MapSignature {
    /// The key's id.
    pub key: String,
    /// The base64 ed25519 signature.
    pub signature: String,
}

/// What a map says besides its files.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MapHead {
    /// The channel it was written for.
    pub channel: String,
    /// The snapshot the files add up to (a patch: once applied to its base).
    #[serde(with = "raw_digest")]
    pub snapshot: Digest,
    /// How the hub read the files (its record rules, built-in kinds and `--namespace`), as a
    /// digest the hub defines: a map read another way is of no use and is ignored.
    #[serde(with = "raw_digest")]
    pub reader: Digest,
    /// How many file records follow, in strictly rising byte order of their paths (a patch:
    /// the files added or changed since its base).
    pub files: u64,
    /// A patch: paths gone since its base, in strictly rising order (a full map: none).
    pub removed: Vec<String>,
}

impl MapHead {
    /// The head of a map of `channel`'s `snapshot` with no files and no removals yet.
    pub fn new(channel: &str, snapshot: Digest, reader: Digest) -> MapHead {
        MapHead {
            channel: channel.to_owned(),
            snapshot,
            reader,
            files: 0,
            removed: Vec::new(),
        }
    }
}

/// A source map being written: file records appended in strictly rising order of their paths.
pub struct SourceMapWriter {
    head: MapHead,
    records: Vec<u8>,
}

impl SourceMapWriter {
    /// A map with `head` (its `files` count is kept by [`SourceMapWriter::push`]).
    pub fn new(head: MapHead) -> SourceMapWriter {
        SourceMapWriter {
            head: MapHead { files: 0, ..head },
            records: Vec::new(),
        }
    }

    /// Appends one whole encoded record ([`FileRecord::encode`], [`FileRecord::as_bytes`]).
    pub fn push(&mut self, record: &[u8]) {
        self.records.extend_from_slice(record);
        self.head.files += 1;
    }

    /// The stored bytes of the map, a patch of `base` if given, signed by `keys`.
    pub fn seal(self, base: Option<&BaseMap>, keys: &[&SecretKey]) -> Vec<u8> {
        let header = Header {
            format: SOURCE_MAP_FORMAT,
            base: base.copied(),
        };
        // Invariant: plain structs of strings, integers and options always serialize.
        let header = postcard::to_stdvec(&header).expect("header serializes");
        let mut plain = postcard::to_stdvec(&self.head).expect("map head serializes");
        plain.extend(self.records);
        let body = zstd::bulk::compress(&plain, ZSTD_LEVEL).expect("in-memory zstd compression");
        let message = signing_message(&header, &body);
        let signatures: Vec<MapSignature> = keys
            .iter()
            .map(|key| MapSignature {
                key: key.public().id(),
                signature: key.sign(&message),
            })
            .collect();
        let signatures = postcard::to_stdvec(&signatures).expect("signatures serialize");
        [MAGIC.as_slice(), &header, &signatures, &body].concat()
    }
}

/// A stored map opened: its signatures checked, its body decompressed and its records listed.
#[derive(Debug)]
pub struct OpenedMap {
    /// For a patch: the full map it applies to.
    pub base: Option<BaseMap>,
    /// What it says besides its files.
    pub head: MapHead,
    /// Ids of the trusted keys that signed it.
    pub signers: Vec<String>,
    body: Vec<u8>,
    records_at: usize,
}

/// Why a stored source map was not used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SourceMapRefusal {
    /// Longer than [`MAX_SOURCE_MAP_BYTES`] (or its body than [`MAX_SOURCE_MAP_BODY_BYTES`]).
    #[error("it is longer than the {limit} bytes a source map may have")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
    /// Not a source map of the format this build reads.
    #[error("it is of format {found}; this build reads format {supported}")]
    UnsupportedFormat {
        /// Its format.
        found: u32,
        /// The format this build reads.
        supported: u32,
    },
    /// No signature by a trusted key verifies (signed by others, or changed since).
    #[error("no signature by a trusted key verifies (keys that signed it: {signers:?})")]
    Untrusted {
        /// Ids of the keys that signed it.
        signers: Vec<String>,
    },
    /// Damaged, or breaking a rule of the format.
    #[error("it is damaged: {0}")]
    Malformed(String),
    /// A patch applied to a map it was not written for.
    #[error("the patch is for the map of {expected}, not for one of {found}")]
    WrongBase {
        /// The base the patch names.
        expected: Digest,
        /// The snapshot of the map it was applied to.
        found: Digest,
    },
}

type Refused<T> = std::result::Result<T, SourceMapRefusal>;

/// The part of the envelope the signatures cover, as received.
#[derive(Serialize, Deserialize)]
struct Header {
    format: u32,
    base: Option<BaseMap>,
}

impl OpenedMap {
    /// Opens stored bytes: size, format and a signature by one of `trusted` checked before the
    /// body is decompressed, then the body's rules (as many records as its head says, paths in
    /// strictly rising order, removals only in a patch, at most [`MAX_ENTRIES`] of each). The
    /// objects of each record are decoded when asked for.
    pub fn open(stored: &[u8], trusted: &[PublicKey]) -> Refused<OpenedMap> {
        let (header_bytes, header, signatures, body) = split(stored)?;
        let message = signing_message(header_bytes, body);
        let signers: Vec<String> = signatures
            .iter()
            .filter(|s| {
                trusted
                    .iter()
                    .any(|k| k.id() == s.key && k.verifies(&message, &s.signature))
            })
            .map(|s| s.key.clone())
            .collect();
        if signers.is_empty() {
            return Err(SourceMapRefusal::Untrusted {
                signers: signatures.into_iter().map(|s| s.key).collect(),
            });
        }
        let body = decompress(body)?;
        let (head, records) = postcard::take_from_bytes::<MapHead>(&body)
            .map_err(|e| SourceMapRefusal::Malformed(format!("its head does not decode: {e}")))?;
        let opened = OpenedMap {
            base: header.base,
            records_at: body.len() - records.len(),
            head,
            signers,
            body,
        };
        opened.check()?;
        Ok(opened)
    }

    /// Checks the body's rules.
    fn check(&self) -> Refused<()> {
        let malformed = |what: &str| Err(SourceMapRefusal::Malformed(what.to_owned()));
        let most = MAX_ENTRIES;
        if self.head.files > most || self.head.removed.len() as u64 > most {
            return malformed("it lists more files or removals than a snapshot may hold");
        }
        if self.base.is_none() && !self.head.removed.is_empty() {
            return malformed("a full map removes paths");
        }
        if !self.head.removed.is_sorted_by(|a, b| a < b) {
            return malformed("its removals are not in strictly rising order");
        }
        let mut rest = &self.body[self.records_at..];
        let mut last: Option<&str> = None;
        for _ in 0..self.head.files {
            let (record, after) = FileRecord::take(rest)?;
            if last.is_some_and(|l| l >= record.path) {
                return malformed("its paths are not in strictly rising order");
            }
            (last, rest) = (Some(record.path), after);
        }
        if !rest.is_empty() {
            return malformed("bytes follow its last record");
        }
        Ok(())
    }

    /// Its file records, in path order.
    pub fn records(&self) -> impl Iterator<Item = FileRecord<'_>> {
        let mut rest = &self.body[self.records_at..];
        // Every record was decoded once by `check`: taking them again cannot fail.
        std::iter::from_fn(move || {
            let (record, after) = FileRecord::take(rest).ok()?;
            rest = after;
            Some(record)
        })
    }

    /// The records of this full map with `patch` (a patch of it) applied, in path order: the map
    /// of the patch's snapshot.
    pub fn patched<'a>(&'a self, patch: &'a OpenedMap) -> Refused<Vec<FileRecord<'a>>> {
        let base_matches = patch.base.is_some_and(|b| b.snapshot == self.head.snapshot);
        if self.base.is_some() || !base_matches {
            return Err(SourceMapRefusal::WrongBase {
                expected: patch.base.map_or(patch.head.snapshot, |b| b.snapshot),
                found: self.head.snapshot,
            });
        }
        if patch.head.channel != self.head.channel || patch.head.reader != self.head.reader {
            return Err(SourceMapRefusal::Malformed(
                "the patch is for another channel or way of reading than its base".into(),
            ));
        }
        let mut removed = patch.head.removed.iter().map(String::as_str).peekable();
        let mut changed = patch.records().peekable();
        let mut files = Vec::with_capacity(self.head.files as usize);
        for record in self.records() {
            while let Some(new) = changed.next_if(|f| f.path < record.path) {
                files.push(new);
            }
            while removed.next_if(|r| *r < record.path).is_some() {}
            let gone = removed.next_if(|r| *r == record.path).is_some();
            match changed.next_if(|f| f.path == record.path) {
                Some(new) => files.push(new),
                None if gone => {}
                None => files.push(record),
            }
        }
        files.extend(changed);
        Ok(files)
    }
}

/// The full map a stored patch applies to, read without checking signatures (for `cairn gc`,
/// which keeps what maps name and trusts nothing it reads); `None` for a full map.
pub fn base_of_map(stored: &[u8]) -> Refused<Option<BaseMap>> {
    split(stored).map(|(_, header, _, _)| header.base)
}

/// A stored map's parts: the header as received and decoded, the signatures and the body.
type Parts<'a> = (&'a [u8], Header, Vec<MapSignature>, &'a [u8]);

/// The envelope's parts.
fn split(stored: &[u8]) -> Refused<Parts<'_>> {
    if stored.len() as u64 > MAX_SOURCE_MAP_BYTES {
        return Err(SourceMapRefusal::TooLarge {
            limit: MAX_SOURCE_MAP_BYTES,
        });
    }
    let malformed = |what: &str| SourceMapRefusal::Malformed(what.to_owned());
    let after_magic = stored
        .strip_prefix(MAGIC.as_slice())
        .ok_or_else(|| malformed("it does not start with the source map magic"))?;
    let (format, _) = postcard::take_from_bytes::<u32>(after_magic)
        .map_err(|_| malformed("its header does not decode"))?;
    if format != SOURCE_MAP_FORMAT {
        return Err(SourceMapRefusal::UnsupportedFormat {
            found: format,
            supported: SOURCE_MAP_FORMAT,
        });
    }
    let (header, after_header) = postcard::take_from_bytes::<Header>(after_magic)
        .map_err(|_| malformed("its header does not decode"))?;
    let header_bytes = &after_magic[..after_magic.len() - after_header.len()];
    let (signatures, body) = postcard::take_from_bytes::<Vec<MapSignature>>(after_header)
        .map_err(|_| malformed("its signatures do not decode"))?;
    Ok((header_bytes, header, signatures, body))
}

fn signing_message(header: &[u8], body: &[u8]) -> Vec<u8> {
    [SIGNING_CONTEXT, header, Digest::of(body).as_bytes()].concat()
}

/// Decompresses the body, stopping at [`MAX_SOURCE_MAP_BODY_BYTES`].
fn decompress(body: &[u8]) -> Refused<Vec<u8>> {
    let damaged = |e: std::io::Error| SourceMapRefusal::Malformed(format!("its body: {e}"));
    let decoder = zstd::Decoder::with_buffer(body).map_err(damaged)?;
    let mut plain = Vec::new();
    decoder
        .take(MAX_SOURCE_MAP_BODY_BYTES + 1)
        .read_to_end(&mut plain)
        .map_err(damaged)?;
    if plain.len() as u64 > MAX_SOURCE_MAP_BODY_BYTES {
        return Err(SourceMapRefusal::TooLarge {
            limit: MAX_SOURCE_MAP_BODY_BYTES,
        });
    }
    Ok(plain)
}

/// Digests as their 32 bytes (postcard writes an array without a length).
pub(crate) mod raw_digest {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use crate::digest::Digest;

    pub fn serialize<S: Serializer>(digest: &Digest, serializer: S) -> Result<S::Ok, S::Error> {
        digest.as_bytes().serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Digest, D::Error> {
        <[u8; 32]>::deserialize(deserializer).map(Digest::from_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(name: &str) -> SourceObject {
        SourceObject {
            group: String::new(),
            kind: "ConfigMap".into(),
            namespace: "shop".into(),
            name: name.into(),
            blob: Digest::of(name.as_bytes()),
            size: 42,
            selector: Some("env=prod".into()),
            wave: Some(2),
            document: 1,
            item: None,
            plain_secret: false,
            placed: Some(Placed {
                blob: Digest::of(b"placed"),
                size: 50,
            }),
            defines: Some(DefinedKind {
                group: "example.com".into(),
                kind: "Widget".into(),
                namespaced: true,
            }),
        }
    }

    /// A map of `files` (path, content), each holding one object named after it.
    fn map(snapshot: &str, files: &[(&str, &str)], removed: &[&str]) -> SourceMapWriter {
        let mut head = MapHead::new("prod", Digest::of(snapshot.as_bytes()), Digest::of(b"r"));
        head.removed = removed.iter().map(|r| r.to_string()).collect();
        let mut writer = SourceMapWriter::new(head);
        for (path, content) in files {
            let mut record = Vec::new();
            let content = FileContent {
                sha256: Digest::of(content.as_bytes()),
                size: content.len() as u64,
                git: Some(GitBlobId::Sha1([path.len() as u8; 20])),
            };
            FileRecord::encode(path, &content, &[object(path)], &mut record);
            writer.push(&record);
        }
        writer
    }

    fn contents(records: impl IntoIterator<Item = FileRecord<'static>>) -> Vec<(String, Digest)> {
        records
            .into_iter()
            .map(|r| (r.path.to_owned(), r.content.sha256))
            .collect()
    }

    #[test]
    fn a_sealed_map_opens_only_with_a_key_that_signed_it() {
        let (key, other) = (SecretKey::from_seed([1; 32]), SecretKey::from_seed([2; 32]));
        let stored = map("s1", &[("a.yaml", "a"), ("b.yaml", "b")], &[]).seal(None, &[&key]);
        let opened = OpenedMap::open(&stored, &[other.public(), key.public()]).unwrap();
        assert_eq!(opened.signers, [key.public().id()]);
        assert_eq!(opened.head.files, 2);
        let records: Vec<FileRecord<'_>> = opened.records().collect();
        assert_eq!(records[1].path, "b.yaml");
        assert!(records[1].defines_kinds);
        assert_eq!(records[1].objects::<String>().unwrap(), [object("b.yaml")]);
        let borrowed: Vec<SourceObject<&str>> = records[0].objects().unwrap();
        assert_eq!(borrowed[0].name, "a.yaml");

        let refused = OpenedMap::open(&stored, &[other.public()]).unwrap_err();
        assert!(
            matches!(refused, SourceMapRefusal::Untrusted { ref signers } if signers == &[key.public().id()]),
            "{refused}"
        );
    }

    #[test]
    fn records_copy_from_one_map_into_another() {
        let key = SecretKey::from_seed([1; 32]);
        let stored = map("s1", &[("a.yaml", "a"), ("b.yaml", "b")], &[]).seal(None, &[&key]);
        let opened = OpenedMap::open(&stored, &[key.public()]).unwrap();
        let mut copy =
            SourceMapWriter::new(MapHead::new("prod", Digest::of(b"s1"), Digest::of(b"r")));
        for record in opened.records() {
            copy.push(record.as_bytes());
        }
        assert_eq!(copy.seal(None, &[&key]), stored);
    }

    #[test]
    fn any_changed_byte_is_refused() {
        let key = SecretKey::from_seed([1; 32]);
        let base = BaseMap {
            snapshot: Digest::of(b"s1"),
            digest: Digest::of(b"stored"),
        };
        let stored = map("s2", &[("a.yaml", "a")], &["b.yaml"]).seal(Some(&base), &[&key]);
        assert_eq!(base_of_map(&stored).unwrap(), Some(base));
        for at in 0..stored.len() {
            let mut bad = stored.clone();
            bad[at] ^= 0x01;
            assert!(
                OpenedMap::open(&bad, &[key.public()]).is_err(),
                "byte {at} changed"
            );
        }
        let cut = &stored[..stored.len() - 1];
        assert!(OpenedMap::open(cut, &[key.public()]).is_err());
    }

    #[test]
    fn unsorted_paths_and_removals_in_a_full_map_are_refused() {
        let key = SecretKey::from_seed([1; 32]);
        let unsorted = map("s", &[("b.yaml", "b"), ("a.yaml", "a")], &[]);
        let refused = OpenedMap::open(&unsorted.seal(None, &[&key]), &[key.public()]);
        assert!(matches!(refused, Err(SourceMapRefusal::Malformed(_))));
        let removing = map("s", &[], &["a.yaml"]);
        let refused = OpenedMap::open(&removing.seal(None, &[&key]), &[key.public()]);
        assert!(matches!(refused, Err(SourceMapRefusal::Malformed(_))));
    }

    #[test]
    fn another_format_is_refused_before_its_signatures_are_read() {
        // Format 1 (records without length and Git blob id) and a later one alike.
        for format in [1u32, SOURCE_MAP_FORMAT + 1] {
            let mut stored = MAGIC.to_vec();
            stored.extend(postcard::to_stdvec(&format).unwrap());
            stored.extend([0xff; 40]);
            let refused = OpenedMap::open(&stored, &[]).unwrap_err();
            assert!(
                matches!(refused, SourceMapRefusal::UnsupportedFormat { found, .. } if found == format),
                "{refused}"
            );
        }
    }

    #[test]
    fn a_record_keeps_its_content_ids_and_takes_new_ones_as_it_is() {
        let content = FileContent {
            sha256: Digest::of(b"bytes"),
            size: 5,
            git: None,
        };
        let mut stored = Vec::new();
        FileRecord::encode("a.yaml", &content, &[object("a")], &mut stored);
        let (record, rest) = FileRecord::take(&stored).unwrap();
        assert!(rest.is_empty());
        assert_eq!(record.content, content);
        let learnt = FileContent {
            git: Some(GitBlobId::Sha256([7; 32])),
            ..content
        };
        let mut again = Vec::new();
        record.encode_as(&learnt, &mut again);
        let (record, _) = FileRecord::take(&again).unwrap();
        assert_eq!(record.content, learnt);
        assert_eq!(record.objects::<String>().unwrap(), [object("a")]);
        assert_eq!(
            GitBlobId::Sha1([0xab; 20]).to_string(),
            "ab".repeat(20),
            "shown as Git shows it"
        );
    }

    #[test]
    fn a_patch_changes_adds_and_removes_files() {
        let key = SecretKey::from_seed([1; 32]);
        let full = map(
            "s1",
            &[("a.yaml", "a"), ("b.yaml", "b"), ("d.yaml", "d")],
            &[],
        );
        let full = OpenedMap::open(&full.seal(None, &[&key]), &[key.public()]).unwrap();
        let base = BaseMap {
            snapshot: full.head.snapshot,
            digest: Digest::of(b"stored"),
        };
        let files = [("b.yaml", "b2"), ("c.yaml", "c"), ("e.yaml", "e")];
        let patch = map("s2", &files, &["a.yaml", "x.yaml"]).seal(Some(&base), &[&key]);
        let patch = OpenedMap::open(&patch, &[key.public()]).unwrap();
        let full: &'static OpenedMap = Box::leak(Box::new(full));
        let patch: &'static OpenedMap = Box::leak(Box::new(patch));
        let content = |c: &str| Digest::of(c.as_bytes());
        assert_eq!(
            contents(full.patched(patch).unwrap()),
            [
                ("b.yaml".to_owned(), content("b2")),
                ("c.yaml".to_owned(), content("c")),
                ("d.yaml".to_owned(), content("d")),
                ("e.yaml".to_owned(), content("e"))
            ]
        );
        let refused = patch.patched(full);
        assert!(matches!(refused, Err(SourceMapRefusal::WrongBase { .. })));
    }
}
