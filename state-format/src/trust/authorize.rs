//! Heads under a trust root: a head is accepted only if a threshold of the keys the root delegates
//! its channel to signed it, and only while the root has not expired.

use chrono::{DateTime, Utc};

use crate::error::Error;
use crate::head::{Head, HeadSignature, Lineage, Refusal, SignedHead, check_lineage};
use crate::scope::Scope;
use crate::trust::chain::TrustedRoot;
use crate::trust::tally::Tally;

/// What an agent knows when it checks a head under a root.
#[derive(Clone, Debug)]
pub struct HeadCheck<'a> {
    /// The root the agent trusts (its newest accepted version).
    pub root: &'a TrustedRoot,
    /// The channel the agent asked for.
    pub channel: &'a str,
    /// The generation the agent has applied, if any; the head must be newer.
    pub applied_generation: Option<u64>,
    /// What else the agent knows of the channel it applied from (its epoch).
    pub lineage: Lineage<'a>,
    /// The agent's clock.
    pub now: DateTime<Utc>,
}

/// A head that passed every check, and who vouched for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// The head.
    pub head: Head,
    /// The delegation that decided.
    pub delegation: String,
    /// Keys of that delegation that signed validly, in signature order.
    pub signers: Vec<String>,
    /// What the head's content may do on a cluster (the delegation's scope); `None`: anything.
    pub scope: Option<Scope>,
}

/// Who may sign a channel, as the root says: the delegation's name, keys and threshold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authorized {
    /// The delegation that decided.
    pub delegation: String,
    /// Its keys that signed validly.
    pub signers: Vec<String>,
    /// The delegation's scope; `None`: anything.
    pub scope: Option<Scope>,
}

impl TrustedRoot {
    /// Checks `signatures` of `message` for `channel`: the first delegation matching the channel
    /// decides, and a threshold of its keys must have signed validly. Also used by the hub to
    /// refuse, before uploading anything, a head agents would refuse.
    pub fn authorize(
        &self,
        channel: &str,
        message: &[u8],
        signatures: &[HeadSignature],
    ) -> Result<Authorized, Refusal> {
        if signatures.is_empty() {
            return Err(Refusal::Unsigned);
        }
        let root = self.root();
        let delegation = root
            .delegation_for(channel)
            .ok_or_else(|| Refusal::NotDelegated {
                channel: channel.to_owned(),
                root_version: root.version,
            })?;
        let tally = Tally::of(message, signatures, &delegation.keys, root);
        if tally.meets(delegation.threshold) {
            return Ok(Authorized {
                delegation: delegation.name.clone(),
                signers: tally.valid,
                scope: delegation.scope.clone(),
            });
        }
        Err(match (tally.valid.is_empty(), tally.invalid.first()) {
            (true, Some(key)) => Refusal::BadSignature { key: key.clone() },
            (true, None) => Refusal::UnknownKey {
                keys: tally.others,
                delegation: delegation.name.clone(),
            },
            (false, _) => Refusal::BelowThreshold {
                delegation: delegation.name.clone(),
                threshold: delegation.threshold,
                signers: tally.valid,
            },
        })
    }
}

/// Decodes and checks a head under `check.root`: the root not expired, then signatures by a
/// threshold of the channel's delegated keys, channel, epoch and generation against what was
/// applied ([`check_lineage`]), head not expired, in that order, each refusal typed.
pub fn verify_head_under(bytes: &[u8], check: &HeadCheck<'_>) -> Result<Verified, Refusal> {
    let root = check.root;
    let signed = SignedHead::decode(bytes).map_err(|e| match e {
        Error::UnsupportedFormat {
            found, supported, ..
        } => Refusal::UnsupportedFormat { found, supported },
        other => Refusal::Malformed(other.to_string()),
    })?;
    root.check_fresh(check.now)
        .map_err(|_| Refusal::RootExpired {
            root_version: root.version(),
            expires_at: root.root().expires_at,
        })?;
    let authorized = root.authorize(check.channel, signed.signing_message(), &signed.signatures)?;
    let head = signed.head;
    if head.channel != check.channel {
        return Err(Refusal::WrongChannel {
            expected: check.channel.to_owned(),
            found: head.channel,
        });
    }
    check_lineage(&head, check.applied_generation, &check.lineage)?;
    if check.now >= head.expires_at {
        return Err(Refusal::Expired {
            expires_at: head.expires_at,
        });
    }
    Ok(Verified {
        head,
        delegation: authorized.delegation,
        signers: authorized.signers,
        scope: authorized.scope,
    })
}
