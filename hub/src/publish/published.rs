//! What a publish did: the report commands print, and the proposal left when more signatures
//! are needed.

use cairn_state_format::Digest;

use super::packs::Written;
use super::prepare::Prepared;
use super::scan::ScanCounts;
use crate::channel::Logged;

/// What a publish did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Published {
    /// The channel.
    pub channel: String,
    /// The new generation, or the newest one if nothing changed.
    pub generation: u64,
    /// Its snapshot.
    pub snapshot: Digest,
    /// Whether nothing was published because the content is unchanged.
    pub unchanged: bool,
    /// Entries in the snapshot.
    pub entries: u64,
    /// Changes against the previous generation.
    pub changes: usize,
    /// Whether the new index was computed from the changed files alone (the publish cache
    /// described the previous generation), rather than built from every entry.
    pub incremental: bool,
    /// Blobs uploaded.
    pub blobs_uploaded: usize,
    /// Index nodes uploaded.
    pub nodes_uploaded: usize,
    /// Delta packs uploaded.
    pub deltas_uploaded: usize,
    /// Snapshot pack shards uploaded (a new snapshot pack; 0 when the newest one still serves).
    pub snapshot_pack_shards_uploaded: usize,
    /// Bytes uploaded.
    pub bytes_uploaded: u64,
    /// Bytes of the source map written after the commit (0: none), not in `bytes_uploaded`.
    pub source_map_bytes: u64,
    /// How the input files were found, for content published from files.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files: Option<ScanCounts>,
    /// Set when the head was proposed rather than published: the channel's delegation needs more
    /// signatures (`cairn sign`). `generation` is then the generation it is proposed for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proposal: Option<Proposed>,
}

/// A head left for others to sign.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Proposed {
    /// Where it waits in the store.
    pub folder: String,
    /// The delegation that decides for the channel.
    pub delegation: String,
    /// Signatures it needs.
    pub threshold: u32,
    /// The keys that signed it so far.
    pub signers: Vec<String>,
    /// The keys that may sign it.
    pub allowed: Vec<String>,
}

impl Published {
    /// What a publish of `snapshot` after `latest` did before it uploaded anything: what
    /// `prepared` tells of the new snapshot (nothing for content the store has).
    pub(super) fn start(
        channel: &str,
        latest: Option<&Logged>,
        snapshot: Digest,
        prepared: Option<&Prepared>,
    ) -> Published {
        Published {
            channel: channel.to_owned(),
            generation: latest.map_or(0, |l| l.head.generation),
            snapshot,
            unchanged: false,
            entries: prepared.map_or(0, |p| p.snapshot.entries),
            changes: 0,
            incremental: prepared.is_some_and(|p| p.incremental),
            blobs_uploaded: 0,
            nodes_uploaded: 0,
            deltas_uploaded: 0,
            snapshot_pack_shards_uploaded: 0,
            bytes_uploaded: 0,
            source_map_bytes: 0,
            files: None,
            proposal: None,
        }
    }

    /// Records what writing the packs uploaded, after `content_bytes` of content.
    pub(super) fn note_packs(&mut self, written: &Written, content_bytes: u64) {
        self.deltas_uploaded = written.deltas;
        self.snapshot_pack_shards_uploaded = written.shards;
        self.bytes_uploaded = content_bytes + written.bytes;
    }
}
