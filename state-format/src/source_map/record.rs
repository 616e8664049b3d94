//! A file's record in a source map (and in the hub's publish cache): its path, what its bytes
//! were (sha256, length and, in a Git work tree, Git's blob id) and its objects, encoded.

use serde::{Deserialize, Serialize};

use super::{Refused, SourceMapRefusal, raw_digest};
use crate::digest::Digest;

/// One object of a file, with what publishing needs to know of it without reading it again.
/// Strings are `String` when owned, `&str` when borrowed from the stored bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceObject<S = String> {
    /// API group (empty for the core group).
    pub group: S,
    /// Kind.
    pub kind: S,
    /// Namespace (empty: none).
    pub namespace: S,
    /// Name.
    pub name: S,
    /// Digest of its canonical bytes.
    #[serde(with = "raw_digest")]
    pub blob: Digest,
    /// Length of its canonical bytes.
    pub size: u64,
    /// Its cluster selector, as text.
    pub selector: Option<S>,
    /// Its wave.
    pub wave: Option<i32>,
    /// 1-based document number in the file.
    pub document: u32,
    /// 1-based position in the document's `items`, for an item of a list.
    pub item: Option<u32>,
    /// A `kind: Secret` with data in plain text.
    pub plain_secret: bool,
    /// Its copy in the `--namespace` namespace, when its kind's scope was unknown while reading.
    pub placed: Option<Placed>,
    /// For a CustomResourceDefinition: the kind it defines.
    pub defines: Option<DefinedKind<S>>,
}

/// An object's copy in the `--namespace` namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placed {
    /// Digest of the copy's canonical bytes.
    #[serde(with = "raw_digest")]
    pub blob: Digest,
    /// Their length.
    pub size: u64,
}

/// A kind a CustomResourceDefinition defines.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefinedKind<S = String> {
    /// `spec.group`.
    pub group: S,
    /// `spec.names.kind`.
    pub kind: S,
    /// `spec.scope` is `Namespaced`.
    pub namespaced: bool,
}

/// What a file's bytes were: their sha256, their length and, when the file was read in a Git
/// work tree, the id Git gives them as a blob (`blob <length>` NUL, then the bytes, hashed with
/// the repository's object format). Two files with the same ids hold the same bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileContent {
    /// The sha256 of the bytes.
    #[serde(with = "raw_digest")]
    pub sha256: Digest,
    /// Their length.
    pub size: u64,
    /// Their Git blob id, when the file was read in a Git work tree.
    pub git: Option<GitBlobId>,
}

/// A Git blob id, in the object format of the repository it was computed for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum GitBlobId {
    /// SHA-1 (with Git's collision detection), the default object format.
    Sha1([u8; 20]),
    /// SHA-256, for repositories created with `--object-format=sha256`.
    Sha256([u8; 32]),
}

impl std::fmt::Display for GitBlobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let bytes: &[u8] = match self {
            GitBlobId::Sha1(bytes) => bytes,
            GitBlobId::Sha256(bytes) => bytes,
        };
        bytes.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

/// The head of a file record.
#[derive(Serialize, Deserialize)]
struct FileHead<S> {
    path: S,
    content: FileContent,
    defines_kinds: bool,
    objects: u64,
}

/// One file's record, as stored: its path, what its bytes were and its objects, encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileRecord<'a> {
    /// Its path as the publish was given or found it.
    pub path: &'a str,
    /// What its bytes were.
    pub content: FileContent,
    /// Whether one of its objects defines a kind (is a CustomResourceDefinition): the kinds of
    /// a snapshot are found without decoding the other records.
    pub defines_kinds: bool,
    objects: &'a [u8],
    bytes: &'a [u8],
}

impl<'a> FileRecord<'a> {
    /// Appends the record of the file at `path`, whose bytes were `content`, to `out`.
    pub fn encode<S: Serialize>(
        path: &str,
        content: &FileContent,
        objects: &[SourceObject<S>],
        out: &mut Vec<u8>,
    ) {
        // Invariant: plain structs of strings, integers and options always serialize.
        let defines_kinds = objects.iter().any(|o| o.defines.is_some());
        let objects = postcard::to_stdvec(objects).expect("objects serialize");
        encode_head(path, content, defines_kinds, &objects, out);
        out.extend(objects);
    }

    /// Appends this record to `out` with its content said to be `content` (the same bytes, with
    /// an id learnt since), its objects copied as they are.
    pub fn encode_as(&self, content: &FileContent, out: &mut Vec<u8>) {
        encode_head(self.path, content, self.defines_kinds, self.objects, out);
        out.extend_from_slice(self.objects);
    }

    /// The record at the start of `bytes`, and what follows it.
    pub fn take(bytes: &'a [u8]) -> Refused<(FileRecord<'a>, &'a [u8])> {
        let damaged = || SourceMapRefusal::Malformed("a file record does not decode".into());
        let (head, rest) =
            postcard::take_from_bytes::<FileHead<&'a str>>(bytes).map_err(|_| damaged())?;
        let length = usize::try_from(head.objects).map_err(|_| damaged())?;
        if length > rest.len() {
            return Err(damaged());
        }
        let (objects, rest) = rest.split_at(length);
        let record = FileRecord {
            path: head.path,
            content: head.content,
            defines_kinds: head.defines_kinds,
            objects,
            bytes: &bytes[..bytes.len() - rest.len()],
        };
        Ok((record, rest))
    }

    /// Its objects, with strings borrowed (`&str`) or owned (`String`).
    pub fn objects<S: Deserialize<'a>>(&self) -> Refused<Vec<SourceObject<S>>> {
        postcard::from_bytes(self.objects).map_err(|e| {
            SourceMapRefusal::Malformed(format!("the objects of {} do not decode: {e}", self.path))
        })
    }

    /// The whole record as stored, to copy into another map or cache as it is.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }
}

fn encode_head(
    path: &str,
    content: &FileContent,
    defines_kinds: bool,
    objects: &[u8],
    out: &mut Vec<u8>,
) {
    let head = FileHead {
        path,
        content: *content,
        defines_kinds,
        objects: objects.len() as u64,
    };
    // Invariant: plain structs of strings, integers and options always serialize.
    out.extend(postcard::to_stdvec(&head).expect("file head serializes"));
}
