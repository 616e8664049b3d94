//! What to publish and how: the content of a new generation, its head's fields, and the
//! publisher's settings.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use bytes::Bytes;
use cairn_state_format::{Digest, EntrySet, SecretKey};
use chrono::{DateTime, Utc};

use super::packs::Blobs;
use super::rollout::RolloutPlan;
use super::scan::Scan;

/// The content of a new generation.
pub enum Content<'a> {
    /// Entries built from local manifests, with every blob's bytes.
    Local {
        /// The entries.
        entries: EntrySet,
        /// Canonical bytes of every entry's blob.
        blobs: HashMap<Digest, Bytes>,
    },
    /// Manifest files, scanned with the publish cache.
    Scanned(&'a mut Scan),
    /// A snapshot already in the store (revert, refresh, promote).
    Existing(Digest),
}

/// What to publish.
pub struct Publication<'a> {
    /// Channel name (validated).
    pub channel: String,
    /// The content.
    pub content: Content<'a>,
    /// Provenance for the head.
    pub source: BTreeMap<String, String>,
    /// How long the head stays valid.
    pub expires_in: Duration,
    /// Rollout steps as (percent, delay after publishing).
    pub rollout: Option<RolloutPlan>,
    /// For ephemeral channels: when agents retire the channel.
    pub retire_at: Option<DateTime<Utc>>,
    /// Publish even if the newest generation has the same snapshot.
    pub allow_unchanged: bool,
}

/// How to publish.
pub struct Settings<'a> {
    /// Keys that sign the head.
    pub keys: &'a [SecretKey],
    /// Write delta packs from this many of the channel's latest snapshots.
    pub delta_depth: usize,
    /// The caller promises no other publisher runs (needed on stores without conditional writes).
    pub single_publisher: bool,
    /// Show a progress bar on stderr for long uploads.
    pub progress: bool,
    /// When the keys are fewer than the channel's delegation asks for, propose the head (for
    /// `cairn sign`) instead of refusing.
    pub propose: bool,
}

impl Content<'_> {
    /// Where the blobs of a snapshot pack written from scratch come from.
    pub fn pack_blobs(&mut self) -> Blobs<'_> {
        match self {
            Content::Local { blobs, .. } => Blobs::Local(blobs),
            Content::Scanned(scan) => Blobs::Scan(scan),
            Content::Existing(_) => Blobs::Store,
        }
    }
}
