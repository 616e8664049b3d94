//! Counting signatures against a role: which of its keys signed validly, which signed badly, and
//! who else signed. Shared by trust roots and heads, so both count thresholds the same way.

use std::collections::BTreeSet;

use crate::head::HeadSignature;
use crate::trust::root::TrustRoot;

/// The signatures of one message, sorted against one role's keys.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Tally {
    /// Distinct role keys with a signature that verifies, in signature order.
    pub valid: Vec<String>,
    /// Role keys whose every signature fails (the message or the signature was altered).
    pub invalid: Vec<String>,
    /// Signers the role does not name, in signature order.
    pub others: Vec<String>,
}

impl Tally {
    /// Sorts `signatures` of `message` against `role_keys` (ids looked up in `root`). A key that
    /// signed twice counts once; a bad signature next to a good one by the same key is ignored.
    pub fn of(
        message: &[u8],
        signatures: &[HeadSignature],
        role_keys: &[String],
        root: &TrustRoot,
    ) -> Tally {
        let mut tally = Tally::default();
        let mut failed = BTreeSet::new();
        for sig in signatures {
            let key = role_keys
                .iter()
                .find(|k| **k == sig.key)
                .and_then(|id| root.public_key(id));
            let list = match key {
                None => &mut tally.others,
                Some(key) if key.verifies(message, &sig.signature) => &mut tally.valid,
                Some(_) => {
                    failed.insert(sig.key.clone());
                    continue;
                }
            };
            if !list.contains(&sig.key) {
                list.push(sig.key.clone());
            }
        }
        tally.invalid = failed
            .into_iter()
            .filter(|k| !tally.valid.contains(k))
            .collect();
        tally
    }

    /// Whether at least `threshold` distinct keys signed validly.
    pub fn meets(&self, threshold: u32) -> bool {
        self.valid.len() >= threshold as usize
    }
}
