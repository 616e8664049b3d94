//! Object keys of the bucket layout, relative to the store's prefix. The one place that spells
//! them, so hub and agent cannot disagree.
//!
//! ```text
//! blobs/sha256/ab/<64 hex>          a resource's canonical bytes
//! index/sha256/ab/<64 hex>          an index node (zstd of canonical JSON)
//! snapshots/sha256/ab/<64 hex>      a snapshot root (canonical JSON)
//! deltas/<from hex>/<to hex>        a delta pack named by its snapshots (format 1 heads)
//! packs/sha256/ab/<64 hex>          a pack named by the digest of its stored bytes (format 2)
//! channels/<name>/head              the signed head (mutable)
//! channels/<name>/log/<generation>  every signed head ever published (immutable, zero-padded)
//! status/<channel>/<cluster id>     an agent's status record (mutable)
//! trust/root/<version>              every version of the trust root (immutable, zero-padded)
//! proposals/<channel>/<generation>-<head hex>/…   a head collecting signatures (hub only)
//! sources/<channel>/<snapshot hex>  the source map of a snapshot published there (hub only)
//! ```

use crate::digest::Digest;
use crate::{
    MAX_BLOB_BYTES, MAX_HEAD_BYTES, MAX_PACK_BYTES, MAX_ROOT_BYTES, MAX_SNAPSHOT_BYTES,
    MAX_SOURCE_MAP_BYTES, MAX_STATUS_BYTES, MAX_STORED_NODE_BYTES, MAX_UNNAMED_DELTA_BYTES,
};

/// The limit of a read of a key no kind of this format names (a store probe, an unknown object).
const MAX_OTHER_BYTES: u64 = 64 * 1024;

fn sharded(kind: &str, digest: &Digest) -> String {
    let hex = digest.hex();
    format!("{kind}/sha256/{}/{hex}", &hex[..2])
}

/// Key of a blob.
pub fn blob_key(digest: &Digest) -> String {
    sharded("blobs", digest)
}

/// Key of an index node.
pub fn index_key(digest: &Digest) -> String {
    sharded("index", digest)
}

/// Key of a snapshot root.
pub fn snapshot_key(digest: &Digest) -> String {
    sharded("snapshots", digest)
}

/// Key of the delta pack from one snapshot to another.
pub fn delta_key(from: &Digest, to: &Digest) -> String {
    format!("deltas/{}/{}", from.hex(), to.hex())
}

/// Key of a pack (a delta pack or a snapshot pack's shard) named in a format 2 head: the digest
/// of its stored bytes.
pub fn pack_key(digest: &Digest) -> String {
    sharded("packs", digest)
}

/// Key of a channel's head.
pub fn head_key(channel: &str) -> String {
    format!("channels/{channel}/head")
}

/// Prefix under which a channel's log lives.
pub fn log_prefix(channel: &str) -> String {
    format!("channels/{channel}/log/")
}

/// Key of one generation in a channel's log. Zero-padded to 20 digits so that lexical order (what
/// object stores list in) is generation order.
pub fn log_key(channel: &str, generation: u64) -> String {
    format!("channels/{channel}/log/{generation:020}")
}

/// Parses the generation out of a log key's last segment.
pub fn generation_of_log_key(key: &str) -> Option<u64> {
    let last = key.rsplit('/').next()?;
    (last.len() == 20).then(|| last.parse().ok()).flatten()
}

/// Prefix under which a channel's status records live.
pub fn status_prefix(channel: &str) -> String {
    format!("status/{channel}/")
}

/// Key of one agent's status record.
pub fn status_key(channel: &str, cluster_id: &str) -> String {
    format!("status/{channel}/{cluster_id}")
}

/// Prefix under which a channel's source maps live.
pub fn source_map_prefix(channel: &str) -> String {
    format!("sources/{channel}/")
}

/// Key of the source map of `snapshot` as published to `channel`: which input file held which
/// entries (read and written by hubs only). Rewritten when the channel publishes the snapshot
/// again.
pub fn source_map_key(channel: &str, snapshot: &Digest) -> String {
    format!("sources/{channel}/{}", snapshot.hex())
}

/// The most bytes a read of `key` may return: the limit of the object's kind (docs/FORMAT.md,
/// "Limits"). Readers ask for at most this many and stop reading there, so a store that serves
/// a larger object (or an endless one) costs a bounded amount of memory. Packs named in a head
/// are read with the exact length the head gives instead.
pub fn read_limit(key: &str) -> u64 {
    let mut parts = key.split('/');
    let limit = match (parts.next(), parts.next(), parts.next()) {
        (Some("blobs"), ..) => MAX_BLOB_BYTES,
        (Some("index"), ..) => MAX_STORED_NODE_BYTES,
        (Some("snapshots"), ..) => MAX_SNAPSHOT_BYTES,
        (Some("deltas"), ..) => return MAX_UNNAMED_DELTA_BYTES,
        (Some("packs"), ..) => return MAX_PACK_BYTES,
        (Some("sources"), ..) => return MAX_SOURCE_MAP_BYTES,
        (Some("channels"), Some(_), Some("head" | "log")) => MAX_HEAD_BYTES,
        (Some("status"), ..) => MAX_STATUS_BYTES,
        (Some("trust"), Some("root"), _) => MAX_ROOT_BYTES,
        (Some("proposals"), ..) => MAX_HEAD_BYTES,
        _ => return MAX_OTHER_BYTES,
    };
    limit as u64
}

/// Prefix under which the trust root's versions live.
pub const ROOT_PREFIX: &str = "trust/root/";

/// Key of one version of the trust root, zero-padded to 20 digits like log entries.
pub fn root_key(version: u64) -> String {
    format!("{ROOT_PREFIX}{version:020}")
}

/// Parses the version out of a trust root key.
pub fn version_of_root_key(key: &str) -> Option<u64> {
    let last = key.strip_prefix(ROOT_PREFIX)?;
    (last.len() == 20).then(|| last.parse().ok()).flatten()
}

/// Prefix under which a channel's proposed heads (heads collecting signatures) live.
pub fn proposal_prefix(channel: &str) -> String {
    format!("proposals/{channel}/")
}

/// Folder of one proposed head: its generation and the digest of its canonical head bytes.
pub fn proposal_folder(channel: &str, generation: u64, head: &Digest) -> String {
    format!("proposals/{channel}/{generation:020}-{}/", head.hex())
}

/// Key of a proposed head's envelope, as its proposer signed it.
pub fn proposal_head_key(folder: &str) -> String {
    format!("{folder}head")
}

/// Key of a signature added to a proposed head by the key `key_id`.
pub fn proposal_signature_key(folder: &str, key_id: &str) -> String {
    format!("{folder}sig/{key_id}")
}

/// The generation and head digest a proposal folder (or a key under it) is named by.
pub fn proposal_of_key(key: &str) -> Option<(u64, Digest)> {
    let name = key.strip_prefix("proposals/")?.split('/').nth(1)?;
    let (generation, hex) = name.split_once('-')?;
    if generation.len() != 20 {
        return None;
    }
    Some((generation.parse().ok()?, Digest::from_hex(hex).ok()?))
}

/// Whether the object at `key` never changes once written: everything named by digest (blobs,
/// index nodes, snapshot roots, packs) and every log entry. A cache in front of the store
/// (a CDN) may keep these forever; the head and status records must be revalidated.
pub fn is_immutable(key: &str) -> bool {
    let mut parts = key.split('/');
    match parts.next() {
        Some("blobs" | "index" | "snapshots" | "deltas" | "packs") => true,
        Some("channels") => parts.nth(1) == Some("log"),
        // Written create-only, never rewritten (proposals are deleted once decided).
        Some("trust") => parts.next() == Some("root"),
        Some("proposals") => true,
        _ => false,
    }
}

/// The `Cache-Control` a cache in front of the store should apply to `key` (see
/// [`is_immutable`]): a year and `immutable` for immutable objects, `no-cache` (store, but ask
/// the origin every time) for the rest.
pub fn cache_control(key: &str) -> &'static str {
    if is_immutable(key) {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_keys_sort_by_generation() {
        assert!(log_key("c", 9) < log_key("c", 10));
        assert_eq!(generation_of_log_key(&log_key("c", 42)), Some(42));
        assert_eq!(generation_of_log_key("channels/c/log/42"), None);
    }

    #[test]
    fn only_content_named_objects_and_log_entries_are_immutable() {
        let d = Digest::of(b"x");
        for key in [
            blob_key(&d),
            index_key(&d),
            snapshot_key(&d),
            delta_key(&d, &d),
            pack_key(&d),
        ] {
            assert!(is_immutable(&key), "{key}");
            assert_eq!(cache_control(&key), "public, max-age=31536000, immutable");
        }
        assert!(is_immutable(&log_key("prod", 7)));
        assert!(is_immutable(&root_key(3)));
        let folder = proposal_folder("prod", 7, &d);
        assert!(is_immutable(&proposal_signature_key(&folder, "ab")));
        assert!(!is_immutable("trust/other"));
        let rewritten = [
            head_key("prod"),
            head_key("log"),
            status_key("prod", "c1"),
            source_map_key("prod", &d),
        ];
        for key in rewritten {
            assert!(!is_immutable(&key), "{key}");
            assert_eq!(cache_control(&key), "no-cache");
        }
    }

    #[test]
    fn every_kind_has_a_read_limit() {
        let d = Digest::of(b"x");
        assert_eq!(read_limit(&head_key("prod")), MAX_HEAD_BYTES as u64);
        assert_eq!(read_limit(&log_key("prod", 3)), MAX_HEAD_BYTES as u64);
        assert_eq!(read_limit(&blob_key(&d)), MAX_BLOB_BYTES as u64);
        assert_eq!(read_limit(&snapshot_key(&d)), MAX_SNAPSHOT_BYTES as u64);
        assert_eq!(read_limit(&pack_key(&d)), MAX_PACK_BYTES);
        assert_eq!(read_limit(&delta_key(&d, &d)), MAX_UNNAMED_DELTA_BYTES);
        assert_eq!(read_limit(&root_key(2)), MAX_ROOT_BYTES as u64);
        assert_eq!(
            read_limit(&source_map_key("prod", &d)),
            MAX_SOURCE_MAP_BYTES
        );
        assert_eq!(read_limit("_cairn/probe/1"), MAX_OTHER_BYTES);
    }

    #[test]
    fn trust_and_proposal_keys_parse_back() {
        assert!(root_key(9) < root_key(10));
        assert_eq!(version_of_root_key(&root_key(42)), Some(42));
        assert_eq!(version_of_root_key("trust/root/42"), None);
        let d = Digest::of(b"h");
        let folder = proposal_folder("prod", 8, &d);
        assert_eq!(proposal_of_key(&proposal_head_key(&folder)), Some((8, d)));
        assert_eq!(
            proposal_of_key(&proposal_signature_key(&folder, "k")),
            Some((8, d))
        );
        assert_eq!(proposal_of_key("proposals/prod/8-abc/head"), None);
    }

    #[test]
    fn digests_are_sharded_by_their_first_byte() {
        let d = Digest::of(b"x");
        assert_eq!(
            blob_key(&d),
            format!("blobs/sha256/{}/{}", &d.hex()[..2], d.hex())
        );
    }
}
