//! Why an agent refuses a head.

use chrono::{DateTime, Utc};

use crate::epoch::Epoch;

/// Why an agent refused a head. Every variant means "keep serving what you have".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The bytes are not a head this build can read.
    #[error("{0}")]
    Malformed(String),
    /// The head is of a newer format than this agent reads: upgrade the agent.
    #[error("the head has format {found}, this agent reads format {supported}: upgrade the agent")]
    UnsupportedFormat {
        /// The head's format.
        found: u64,
        /// The format this build reads.
        supported: u32,
    },
    /// The head carries no signature.
    #[error("the head is unsigned")]
    Unsigned,
    /// No signature is by a key the channel's delegation names (a key revoked, never trusted,
    /// or delegated other channels only).
    #[error(
        "the head is signed only by untrusted keys {keys:?}: delegation {delegation:?} does not name them"
    )]
    UnknownKey {
        /// Ids of the keys that signed.
        keys: Vec<String>,
        /// The delegation that decides for the channel.
        delegation: String,
    },
    /// The trust root delegates the channel to no one.
    #[error("trust root version {root_version} delegates channel {channel:?} to no key")]
    NotDelegated {
        /// The channel.
        channel: String,
        /// The root's version.
        root_version: u64,
    },
    /// Fewer of the delegation's keys signed than its threshold asks for.
    #[error(
        "delegation {delegation:?} needs signatures by {threshold} of its keys; only {signers:?} signed"
    )]
    BelowThreshold {
        /// The delegation that decides for the channel.
        delegation: String,
        /// Signatures it needs.
        threshold: u32,
        /// Its keys that signed validly.
        signers: Vec<String>,
    },
    /// The trust root expired: every head is refused until a newer root is published.
    #[error("trust root version {root_version} expired at {expires_at}")]
    RootExpired {
        /// The root's version.
        root_version: u64,
        /// Its expiry.
        expires_at: DateTime<Utc>,
    },
    /// The store holds the trust root version after the trusted one, but it was refused: what it
    /// would change is unknown (it may revoke the head's signer), so no head is accepted until
    /// the store's chain is repaired (or, for a newer format, the agent upgraded). TUF's rule: a
    /// failed root update stops the update.
    #[error(
        "trust root version {version} is in the store but was refused ({reason}): no head is accepted until the store's chain is repaired"
    )]
    NextRootRefused {
        /// The refused version.
        version: u64,
        /// Why it was refused.
        reason: String,
    },
    /// A delegated key's signature does not verify, and none does: the head was tampered with.
    #[error("the signature by trusted key {key} does not verify: the head was altered")]
    BadSignature {
        /// Id of the key.
        key: String,
    },
    /// The head is for a different channel (a copied or misplaced head).
    #[error("the head is for channel {found:?}, not {expected:?}")]
    WrongChannel {
        /// The channel polled.
        expected: String,
        /// The channel in the head.
        found: String,
    },
    /// The head is not newer than what was applied (a replay or rollback).
    #[error("generation {found} is {} the applied generation {applied} (a replay or rollback)", if found < applied { "older than" } else { "not newer than" })]
    NotNewer {
        /// Applied generation.
        applied: u64,
        /// Generation in the head.
        found: u64,
    },
    /// The channel was deleted and published afresh (another epoch) since this cluster applied
    /// from it: not a rollback, but not followed either until the operator says so.
    #[error(
        "channel {channel} was re-created (epoch {} → {}); this cluster applied generation {applied} of the old channel: to follow the new one, run the agent with --accept-new-epoch {}",
        epoch_text(.recorded), epoch_text(.found), epoch_text(.found)
    )]
    NewEpoch {
        /// The channel.
        channel: String,
        /// The epoch of what was applied.
        recorded: Option<Epoch>,
        /// The head's epoch (`None`: a format 1 head, written by an older hub).
        found: Option<Epoch>,
        /// The generation applied from the old channel.
        applied: u64,
    },
    /// The head expired: the hub stopped refreshing it.
    #[error("the head expired at {expires_at}")]
    Expired {
        /// Its expiry.
        expires_at: DateTime<Utc>,
    },
}

fn epoch_text(epoch: &Option<Epoch>) -> String {
    epoch.map_or_else(|| "none (a format 1 head)".to_owned(), |e| e.to_string())
}
