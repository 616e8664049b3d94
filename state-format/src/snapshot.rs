//! Snapshot roots: the immutable description of one desired state.

use serde::{Deserialize, Serialize};

use crate::canonical::canonical_bytes_of;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::index::{EntrySet, Index};
use crate::{CONTENT_FORMAT, MAX_SNAPSHOT_BYTES, check_format};

/// The root object of a snapshot, stored as canonical JSON at `snapshots/sha256/…`.
///
/// It holds content only (no time, no source), so the same entries always give the same snapshot
/// digest: publishing identical content is recognised by digest alone, and delta packs between two
/// snapshots serve every channel that ever pointed at them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Snapshot {
    /// Wire format version.
    pub format: u64,
    /// Root node of the index.
    pub index: Digest,
    /// Number of entries.
    pub entries: u64,
    /// Sum of the entries' blob sizes.
    pub bytes: u64,
}

impl Snapshot {
    /// The snapshot of `entries` and its index.
    pub fn build(entries: &EntrySet) -> (Snapshot, Index) {
        let index = Index::build(entries);
        let snapshot = Snapshot {
            format: CONTENT_FORMAT.into(),
            index: index.root(),
            entries: entries.len() as u64,
            bytes: entries.values().map(|e| e.size).sum(),
        };
        (snapshot, index)
    }

    /// Canonical bytes, as stored.
    pub fn encode(&self) -> Vec<u8> {
        canonical_bytes_of(self)
    }

    /// The snapshot's digest (its name in the store).
    pub fn digest(&self) -> Digest {
        Digest::of(&self.encode())
    }

    /// Decodes stored bytes, checking size, digest and format.
    pub fn decode(bytes: &[u8], expected: &Digest) -> Result<Snapshot> {
        let what = format!("snapshot {expected}");
        if bytes.len() > MAX_SNAPSHOT_BYTES {
            return Err(Error::TooLarge {
                what,
                size: bytes.len() as u64,
                limit: MAX_SNAPSHOT_BYTES as u64,
            });
        }
        expected.verify(&what, bytes)?;
        let value: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| Error::Malformed {
                what: what.clone(),
                message: e.to_string(),
            })?;
        check_format(&value, &what, CONTENT_FORMAT, CONTENT_FORMAT)?;
        serde_json::from_value(value).map_err(|e| Error::Malformed {
            what,
            message: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_other_digests() {
        let (snapshot, _) = Snapshot::build(&EntrySet::new());
        let bytes = snapshot.encode();
        assert_eq!(
            Snapshot::decode(&bytes, &snapshot.digest()).unwrap(),
            snapshot
        );
        assert!(Snapshot::decode(&bytes, &Digest::of(b"other")).is_err());
    }
}
