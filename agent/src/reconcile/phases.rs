//! What one followed channel knows, as enums whose variants are the phases the loop really has:
//! what it holds in the target ([`Holding`]), what the last poll found ([`HeadSeen`]), and whether
//! this replica leads ([`Role`]). Combinations that cannot happen (a pending head that was also
//! refused, an ETag for a missing head) cannot be written down.

use std::fmt;

use bytes::Bytes;
use cairn_state_format::{Digest, Epoch, Head, Refusal, Scope};

use crate::error::{Error, OutOfScope};
use crate::state::{Applied, AppliedHead, HeadBytes};

/// What the channel holds in the target.
#[derive(Debug)]
pub(crate) enum Holding {
    /// Nothing applied yet.
    Nothing,
    /// This generation was applied before a restart; its entries are loaded (and checked) after
    /// the first poll.
    Resuming(AppliedHead),
    /// This generation is applied.
    Applied(Applied),
    /// The persisted state could not be read: nothing is applied or pruned until a person
    /// repairs or removes it.
    Broken(Error),
}

impl Holding {
    /// The applied generation and snapshot, with their entries, if any.
    pub fn applied(&self) -> Option<&Applied> {
        match self {
            Holding::Applied(applied) => Some(applied),
            Holding::Nothing | Holding::Resuming(_) | Holding::Broken(_) => None,
        }
    }

    /// The head applied (its entries loaded or not), if any.
    pub fn head(&self) -> Option<&AppliedHead> {
        match self {
            Holding::Applied(applied) => Some(&applied.head),
            Holding::Resuming(head) => Some(head),
            Holding::Nothing | Holding::Broken(_) => None,
        }
    }

    /// What was applied (loaded or not): generation, snapshot and epoch.
    pub fn mark(&self) -> Option<Mark> {
        self.head().map(Mark::of)
    }

    /// The applied generation, if any.
    pub fn generation(&self) -> Option<u64> {
        self.mark().map(|m| m.generation)
    }
}

/// What a head is compared with: the applied generation, its snapshot and its channel's epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Mark {
    /// The applied generation.
    pub generation: u64,
    /// Its snapshot.
    pub snapshot: Digest,
    /// The epoch of the channel it came from (`None`: applied from a format 1 head).
    pub epoch: Option<Epoch>,
}

impl Mark {
    /// The mark of `applied`.
    pub fn of(applied: &AppliedHead) -> Mark {
        Mark {
            generation: applied.generation,
            snapshot: applied.snapshot,
            epoch: applied.signed.epoch(),
        }
    }

    /// Whether `head` is what to apply next: newer, or the first of a re-created channel (whose
    /// head verification accepted, so the operator said to follow it).
    pub fn behind(&self, head: &Head) -> bool {
        head.generation > self.generation || (self.epoch.is_some() && head.epoch != self.epoch)
    }
}

/// A head whose signature, channel and generation were verified.
#[derive(Clone, Debug)]
pub(crate) struct VerifiedHead {
    /// The head.
    pub head: Head,
    /// Its signed bytes, as fetched (persisted when applied).
    pub bytes: Bytes,
    /// Its ETag, for the next conditional poll.
    pub etag: Option<String>,
}

/// What the channel may do on the target: the scope of the delegation that decided for its
/// newest verified head.
#[derive(Clone, Debug, Default)]
pub(crate) enum Allowed {
    /// No head verified since the channel was resumed (its head was not fetched again, and the
    /// applied one could not be verified under the current root).
    #[default]
    Unknown,
    /// The deciding delegation's scope; `None`: anything (a delegation without a scope).
    Known(Option<Scope>),
}

impl Allowed {
    /// The scope to hold the channel's writes and removals to; `None`: anything (also while
    /// unknown, since what was applied was checked when it was applied).
    pub fn scope(&self) -> Option<&Scope> {
        match self {
            Allowed::Known(scope) => scope.as_ref(),
            Allowed::Unknown => None,
        }
    }
}

impl VerifiedHead {
    /// What applying this head records.
    pub fn record(&self) -> AppliedHead {
        AppliedHead {
            generation: self.head.generation,
            snapshot: self.head.snapshot,
            signed: HeadBytes::decoded(self.bytes.clone(), self.head.epoch),
            etag: self.etag.clone(),
        }
    }
}

/// The channel's head as the last poll found it.
#[derive(Debug)]
pub(crate) enum HeadSeen {
    /// No head verified yet: the next poll is unconditional.
    Unknown,
    /// The store has no head for the channel.
    Missing,
    /// The head in the store was refused.
    Refused {
        /// Why.
        refusal: Rejection,
        /// The refused head's ETag (so an unchanged refused head costs a 304).
        etag: Option<String>,
        /// The newest head verified before it, if any.
        last: Option<Head>,
    },
    /// The head in the store verified: the applied one, or a newer one.
    Verified(VerifiedHead),
}

impl HeadSeen {
    /// The ETag the next poll offers.
    pub fn etag(&self) -> Option<&str> {
        match self {
            HeadSeen::Verified(v) => v.etag.as_deref(),
            HeadSeen::Refused { etag, .. } => etag.as_deref(),
            HeadSeen::Unknown | HeadSeen::Missing => None,
        }
    }

    /// The newest verified head.
    pub fn latest(&self) -> Option<&Head> {
        match self {
            HeadSeen::Verified(v) => Some(&v.head),
            HeadSeen::Refused { last, .. } => last.as_ref(),
            HeadSeen::Unknown | HeadSeen::Missing => None,
        }
    }

    /// The verified head when `applied` is behind it: what a pass applies next.
    pub fn pending(&self, applied: Option<Mark>) -> Option<&VerifiedHead> {
        match self {
            HeadSeen::Verified(v) if applied.is_none_or(|m| m.behind(&v.head)) => Some(v),
            _ => None,
        }
    }
}

/// Why a head is not applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// It did not verify under the trust root.
    Head(Refusal),
    /// It verified, but its content reaches beyond the channel's scope.
    Scope(OutOfScope),
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::Head(refusal) => refusal.fmt(f),
            Rejection::Scope(refusal) => refusal.fmt(f),
        }
    }
}

/// Whether this replica writes to the target, and where what the channel holds came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// Just loaded from the recorded state; nothing followed since.
    Loaded,
    /// It leads in this term (0 without an election).
    Leading {
        /// The term.
        term: u64,
    },
    /// Another replica leads: the channel holds what the leader recorded, as followed.
    Standby,
}
