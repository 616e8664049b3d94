//! The check every command that signs a head makes before it uploads anything: would agents
//! under the store's trust root accept a head of this channel signed by these keys?

use cairn_state_format::SecretKey;
use chrono::{DateTime, Utc};

use super::Chain;
use crate::error::TrustError;

/// How a head signed by the given keys stands under the store's trust root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Signing {
    /// The store has no trust root: agents decide by the keys they were given.
    Unchecked,
    /// The keys meet the channel's threshold.
    Complete,
    /// The keys are delegated the channel but are fewer than its threshold: the head can only be
    /// proposed, for `cairn sign` to complete.
    Partial {
        /// The delegation that decides.
        delegation: String,
        /// Signatures it needs.
        threshold: u32,
        /// The keys it names.
        allowed: Vec<String>,
    },
}

/// Checks `keys` against the delegation that decides `channel` in the newest root.
pub fn gate(
    chain: Option<&Chain>,
    channel: &str,
    keys: &[SecretKey],
    now: DateTime<Utc>,
) -> Result<Signing, TrustError> {
    let Some(chain) = chain else {
        return Ok(Signing::Unchecked);
    };
    let root = chain.trusted.root();
    if chain.trusted.check_fresh(now).is_err() {
        return Err(TrustError::Expired {
            version: root.version,
            expires_at: root.expires_at,
        });
    }
    let delegation = root
        .delegation_for(channel)
        .ok_or_else(|| TrustError::NotDelegated {
            channel: channel.to_owned(),
            version: root.version,
        })?;
    let mut ids: Vec<String> = keys.iter().map(|k| k.public().id()).collect();
    ids.sort_unstable();
    ids.dedup();
    let strangers: Vec<String> = ids
        .iter()
        .filter(|id| !delegation.keys.contains(id))
        .cloned()
        .collect();
    if !strangers.is_empty() {
        return Err(TrustError::KeyNotDelegated {
            channel: channel.to_owned(),
            version: root.version,
            delegation: delegation.name.clone(),
            keys: strangers,
            allowed: delegation.keys.clone(),
        });
    }
    if delegation.keys.len() < delegation.threshold as usize {
        return Err(TrustError::Suspended {
            channel: channel.to_owned(),
            delegation: delegation.name.clone(),
            threshold: delegation.threshold,
            keys: delegation.keys.len(),
        });
    }
    if ids.len() >= delegation.threshold as usize {
        return Ok(Signing::Complete);
    }
    Ok(Signing::Partial {
        delegation: delegation.name.clone(),
        threshold: delegation.threshold,
        allowed: delegation.keys.clone(),
    })
}
