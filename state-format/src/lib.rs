//! cairn's wire format, version 1: everything hubs and agents exchange through object storage.
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
mod delta;
mod digest;
mod documents;
mod error;
mod head;
mod index;
mod keys;
pub mod layout;
pub mod names;
mod pattern;
mod resource;
mod rollout;
mod selector;
mod snapshot;
mod status;
mod trust;
mod update;

pub use canonical::{canonical_bytes_of, to_canonical_bytes, yaml_to_json};
pub use delta::{
    Applied, DeltaHeader, DeltaItem, DeltaReader, IndexDelta, apply_delta, apply_delta_to_index,
    encode_delta,
};
pub use digest::Digest;
pub use documents::{Document, parse_documents, parse_objects};
pub use error::{Error, Result};
pub use head::{
    Head, HeadSignature, Refusal, SignedHead, Trust, validate_channel_name, verify_head,
};
pub use index::{
    Change, Child, Entry, EntrySet, FANOUT, Index, LEAF_CAPACITY, Node, NodeSource,
    collect_entries, diff_entries, diff_indexes, slot,
};
pub use keys::{PublicKey, SecretKey};
pub use pattern::ChannelPattern;
pub use resource::{Origin, Resource, ResourceId, SELECTOR_ANNOTATION, WAVE_ANNOTATION};
pub use rollout::{POSITIONS, Rollout, RolloutStep, cohort_position};
pub use selector::{ClusterSelector, Operator, Requirement};
pub use snapshot::Snapshot;
pub use status::{
    AppliedRef, Counts, DriftedObject, Incomplete, MAX_DRIFTED, MAX_ERRORS, MAX_MESSAGE_CHARS,
    MAX_PASS_OBJECTS, MAX_REASON_CHARS, MAX_UNHEALTHY, PassObject, PassOutcome, Phase,
    STATUS_FORMAT, StatusError, StatusRecord, truncate,
};
pub use trust::{
    Authorized, Delegation, HeadCheck, KeyEntry, MAX_LABEL_CHARS, Role, RootRefusal,
    SIMPLE_DELEGATION, SignedRoot, TrustRoot, TrustedRoot, Verified, Walked, verify_head_under,
};
pub use update::{MissingNodes, Updated, update_index};

/// The format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// Largest canonical resource (a blob).
pub const MAX_BLOB_BYTES: usize = 1024 * 1024;
/// Largest decompressed index node.
pub const MAX_NODE_BYTES: usize = 1024 * 1024;
/// Largest snapshot root.
pub const MAX_SNAPSHOT_BYTES: usize = 4 * 1024;
/// Largest signed head.
pub const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Largest trust root envelope.
pub const MAX_ROOT_BYTES: usize = 512 * 1024;
/// Largest status record.
pub const MAX_STATUS_BYTES: usize = 64 * 1024;
/// Most entries a snapshot or delta pack may hold.
pub const MAX_ENTRIES: u64 = 1_000_000;

/// Refuses a wire object whose `format` is missing, not a number, or not [`FORMAT_VERSION`]. Run
/// before field-level decoding, so a newer object is reported as "upgrade", not as "unknown field".
fn check_format(value: &serde_json::Value, what: &str) -> Result<()> {
    match value.get("format").and_then(serde_json::Value::as_u64) {
        Some(found) if found == u64::from(FORMAT_VERSION) => Ok(()),
        Some(found) => Err(Error::UnsupportedFormat {
            what: what.to_owned(),
            found,
            supported: FORMAT_VERSION,
        }),
        None => Err(Error::Malformed {
            what: what.to_owned(),
            message: "missing numeric field `format`".to_owned(),
        }),
    }
}
