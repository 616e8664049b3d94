//! cairn's wire format, version 3: everything hubs and agents exchange through object storage.
//!
//! A trust root ([`TrustRoot`], walked by [`TrustedRoot`]) decides who may sign which channel;
//! agents check heads with [`verify_head_under`].
//!
//! This crate is pure: no I/O, no clock, no randomness. Callers pass in bytes, times and seeds.
//!
//! ```
//! use cairn_state_format::{parse_documents, EntrySet, Snapshot, diff_entries, encode_delta, apply_delta};
//!
//! let v1 = parse_documents("app.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\ndata: {color: blue}\n")?;
//! let v2 = parse_documents("app.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\ndata: {color: red}\n")?;
//! let set = |rs: &[cairn_state_format::Resource]| rs.iter().map(|r| (r.id.clone(), r.entry())).collect::<EntrySet>();
//! let (a, b) = (set(&v1), set(&v2));
//! let (snap_a, snap_b) = (Snapshot::build(&a).0, Snapshot::build(&b).0);
//!
//! // A delta pack carries the changed entry and its blob; applying it yields exactly snapshot b.
//! let pack = encode_delta(&snap_a.digest(), &snap_b.digest(), &diff_entries(&a, &b), |_| Some(v2[0].canonical.clone()))?;
//! let applied = apply_delta(&a, &snap_a.digest(), pack.as_slice())?;
//! assert_eq!(applied.entries, b);
//! # Ok::<(), cairn_state_format::Error>(())
//! ```

mod canonical;
mod channel_name;
mod delta;
mod digest;
mod documents;
mod epoch;
mod error;
mod head;
mod index;
mod keys;
pub mod layout;
mod lines;
pub mod names;
mod packs;
mod pattern;
mod resource;
mod rollout;
mod scope;
mod selector;
mod snapshot;
mod snapshot_pack;
mod source_map;
mod status;
mod trust;
mod update;

pub use canonical::{canonical_bytes_of, to_canonical_bytes, yaml_to_json};
pub use channel_name::{InvalidChannelName, validate_channel_name};
pub use delta::{
    Applied, DeltaHeader, DeltaItem, DeltaReader, IndexDelta, apply_delta, apply_delta_to_index,
    apply_delta_to_index_streaming, encode_delta,
};
pub use digest::Digest;
pub use documents::{Document, parse_documents, parse_objects};
pub use epoch::Epoch;
pub use error::{Error, NoJsonForm, Result, SelectorError};
pub use head::{Head, HeadSignature, Lineage, Refusal, SignedHead, Trust, verify_head};
pub use index::{
    Change, Child, Entry, EntrySet, FANOUT, Index, LEAF_CAPACITY, Node, NodeSource,
    collect_entries, diff_entries, diff_indexes, slot,
};
pub use keys::{PublicKey, SecretKey};
pub use packs::{
    BridgeRef, DeltaRef, MAX_NAMED_DELTAS, MAX_SHARDS, PackRef, Packs, SnapshotPackRef,
};
pub use pattern::{ChannelPattern, PatternError};
pub use resource::{Origin, Resource, ResourceId, SELECTOR_ANNOTATION, WAVE_ANNOTATION};
pub use rollout::{POSITIONS, Rollout, RolloutStep, cohort_position};
pub use scope::{
    KindPattern, NamespacePattern, Placement, Rule as ScopeRule, Scope, ScopeError, ScopedObject,
    ServiceAccount, Violation as ScopeViolation,
};
pub use selector::{ClusterSelector, Operator, Requirement};
pub use snapshot::Snapshot;
pub use snapshot_pack::{
    SnapshotPackAssembler, SnapshotPackHeader, SnapshotPackReader, SnapshotPackWriter,
};
pub use source_map::{
    BaseMap, DefinedKind, FileContent, FileRecord, GitBlobId, MAX_SOURCE_MAP_BODY_BYTES,
    MAX_SOURCE_MAP_BYTES, MapHead, MapSignature, OpenedMap, Placed, SOURCE_MAP_FORMAT,
    SourceMapRefusal, SourceMapWriter, SourceObject, base_of_map,
};
pub use status::{
    AppliedRef, Counts, DriftedObject, Incomplete, MAX_DRIFTED, MAX_ERRORS, MAX_MESSAGE_CHARS,
    MAX_PASS_OBJECTS, MAX_REASON_CHARS, MAX_UNHEALTHY, PassObject, PassOutcome, Phase,
    STATUS_FORMAT, StatusError, StatusRecord, truncate,
};
pub use trust::{
    Authorized, Delegation, HeadCheck, KeyEntry, MAX_LABEL_CHARS, Role, RootInvalid, RootRefusal,
    SIMPLE_DELEGATION, SignedRoot, TrustRoot, TrustedRoot, Verified, Walked, verify_head_under,
};
pub use update::{MissingNodes, Updated, update_index};

/// The wire format version of this build: the newest version of any object it writes, and the
/// newest it reads. Objects whose bytes did not change in a version keep their older `format`
/// (see the per-kind constants), so their digests stay the same across versions.
pub const FORMAT_VERSION: u32 = 3;
/// The newest format of signed heads this build writes: 2 adds the channel epoch and the packs a
/// head offers, 3 the bridge among them (written only by heads that name one). Heads of formats 1
/// and 2 are still read.
pub const HEAD_FORMAT: u32 = 3;
/// The format of index nodes, snapshot roots and delta packs: unchanged since version 1.
pub const CONTENT_FORMAT: u32 = 1;
/// The format of snapshot packs (new in version 2).
pub const SNAPSHOT_PACK_FORMAT: u32 = 2;
/// The newest format of trust root versions this build reads (2: delegations may carry a scope).
pub const TRUST_ROOT_FORMAT: u32 = 2;
/// Largest canonical resource (a blob).
pub const MAX_BLOB_BYTES: usize = 1024 * 1024;
/// Largest decompressed index node.
pub const MAX_NODE_BYTES: usize = 1024 * 1024;
/// Largest stored (compressed) index node: a zstd frame of at most [`MAX_NODE_BYTES`], with room
/// for the frame's overhead on incompressible content.
pub const MAX_STORED_NODE_BYTES: usize = MAX_NODE_BYTES + 64 * 1024;
/// Largest snapshot root.
pub const MAX_SNAPSHOT_BYTES: usize = 4 * 1024;
/// Largest signed head (and log entry).
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Largest trust root envelope.
pub const MAX_ROOT_BYTES: usize = 512 * 1024;
/// Largest status record.
pub const MAX_STATUS_BYTES: usize = 64 * 1024;
/// Most entries a snapshot or delta pack may hold.
pub const MAX_ENTRIES: u64 = 1_000_000;
/// Largest stored pack object: a delta pack, or one shard of a snapshot pack. A head names each
/// pack with its exact length, which must not exceed this.
pub const MAX_PACK_BYTES: u64 = 256 * 1024 * 1024;
/// Largest delta pack read without a length signed in a head (heads of format 1 name no packs):
/// a pack this large or larger is refused, and the agent walks the index instead.
pub const MAX_UNNAMED_DELTA_BYTES: u64 = 16 * 1024 * 1024;

/// Refuses a wire object whose `format` is missing, not a number, or outside
/// `oldest..=newest`. Run before field-level decoding, so a newer object is reported as
/// "upgrade", not as "unknown field". Returns the format found.
fn check_format(value: &serde_json::Value, what: &str, oldest: u32, newest: u32) -> Result<u64> {
    match value.get("format").and_then(serde_json::Value::as_u64) {
        Some(found) if found > u64::from(newest) => Err(Error::UnsupportedFormat {
            what: what.to_owned(),
            found,
            supported: newest,
        }),
        Some(found) if found < u64::from(oldest) => Err(Error::Malformed {
            what: what.to_owned(),
            message: format!("format {found} does not exist (the oldest is {oldest})"),
        }),
        Some(found) => Ok(found),
        None => Err(Error::Malformed {
            what: what.to_owned(),
            message: "missing numeric field `format`".to_owned(),
        }),
    }
}
