//! The changes `cairn trust` commands make to the next version of the trust root, and signing it.
//!
//! Each edit refuses, with the reason, what would leave a root agents could not use (a root
//! threshold above its keys, an unknown delegation, a key the root does not hold); the result is
//! then checked as agents will check it before anything is written.

mod delegations;
mod keys;

use cairn_state_format::{ChannelPattern, KeyEntry, TrustRoot};

use self::delegations::{delegate, position};
use self::keys::{add_key, remove_key, rotate};
use crate::error::{Error, Result};
use crate::files::keys::NamedKey;

pub use self::delegations::shadowed;

/// Where `cairn trust add-key` puts a key.
#[derive(Clone, Debug)]
pub enum KeyTarget {
    /// Among the root keys (they sign the next versions).
    Root,
    /// Into the named delegation.
    Delegation(String),
}

/// One change to the trust root.
#[derive(Clone, Debug)]
pub enum RootEdit {
    /// Add a key to the root keys or to a delegation, optionally setting that role's threshold.
    AddKey {
        /// The key.
        key: NamedKey,
        /// Where.
        target: KeyTarget,
        /// The role's new threshold.
        threshold: Option<u32>,
    },
    /// Remove a key from every role (revocation), optionally putting another in its place.
    RemoveKey {
        /// The key's id.
        id: String,
        /// A key that takes its place in every role it had.
        replace: Option<NamedKey>,
        /// A new root threshold, when the key was a root key.
        root_threshold: Option<u32>,
    },
    /// Create or replace a delegation.
    Delegate {
        /// Its name.
        name: String,
        /// Its channels and patterns.
        channels: Vec<ChannelPattern>,
        /// Its keys.
        keys: Vec<NamedKey>,
        /// Signatures a head needs.
        threshold: u32,
    },
    /// Remove a delegation.
    Undelegate {
        /// Its name.
        name: String,
    },
    /// Replace the root keys and/or their threshold; with neither, only renew the expiry.
    Rotate {
        /// The new root keys (empty: keep them).
        root_keys: Vec<NamedKey>,
        /// The new threshold.
        threshold: Option<u32>,
    },
}

/// What an edit did, in words.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Outcome {
    /// The changes.
    pub changes: Vec<String>,
    /// What the user should know (a delegation left without enough keys, a shadowed pattern).
    pub warnings: Vec<String>,
}

impl RootEdit {
    /// Applies the edit to `root`, the next version's draft, and checks the result.
    pub fn apply(self, root: &mut TrustRoot) -> Result<Outcome> {
        let mut outcome = Outcome::default();
        match self {
            RootEdit::AddKey {
                key,
                target,
                threshold,
            } => add_key(root, &key, &target, threshold, &mut outcome)?,
            RootEdit::RemoveKey {
                id,
                replace,
                root_threshold,
            } => remove_key(root, &id, replace.as_ref(), root_threshold, &mut outcome)?,
            RootEdit::Delegate {
                name,
                channels,
                keys,
                threshold,
            } => delegate(root, &name, channels, &keys, threshold, &mut outcome)?,
            RootEdit::Undelegate { name } => {
                let at = position(root, &name)?;
                root.delegations.remove(at);
                outcome.changes.push(format!("delegation {name:?} removed"));
            }
            RootEdit::Rotate {
                root_keys,
                threshold,
            } => rotate(root, &root_keys, threshold, &mut outcome)?,
        }
        root.prune_keys();
        root.validate()
            .map_err(|e| Error::Usage(format!("the new trust root would be invalid: {e}")))?;
        outcome.warnings.extend(shadowed(root));
        Ok(outcome)
    }
}

/// A key's id, with its label when it has one.
fn describe(root: &TrustRoot, id: &str) -> String {
    match root.keys.get(id).and_then(|k| k.label.as_deref()) {
        Some(label) => format!("{id} ({label})"),
        None => id.to_owned(),
    }
}

/// Lists `key` in the root; refuses a different key with the same id.
fn insert_key(root: &mut TrustRoot, key: &NamedKey) -> Result<String> {
    let id = key.public.id();
    match root.keys.get(&id) {
        Some(existing) if existing.public != key.public => Err(Error::Usage(format!(
            "key id {id} is already used by another key in the trust root; generate a new key"
        ))),
        Some(_) => Ok(id),
        None => {
            let entry = KeyEntry {
                public: key.public,
                label: key.label.clone(),
            };
            root.keys.insert(id.clone(), entry);
            Ok(id)
        }
    }
}

/// Adds `id` to sorted `keys`, unless it is there already; whether it was added.
fn add_sorted(keys: &mut Vec<String>, id: String) -> bool {
    if keys.contains(&id) {
        return false;
    }
    keys.push(id);
    keys.sort_unstable();
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_state_format::SecretKey;
    use chrono::{TimeZone, Utc};

    fn key(seed: u8) -> NamedKey {
        NamedKey {
            public: SecretKey::from_seed([seed; 32]).public(),
            label: None,
        }
    }

    fn delegate_edit(name: &str, pattern: &str, seed: u8) -> RootEdit {
        RootEdit::Delegate {
            name: name.into(),
            channels: vec![pattern.parse().unwrap()],
            keys: vec![key(seed)],
            threshold: 1,
        }
    }

    fn root() -> TrustRoot {
        let at = |s: i64| Utc.timestamp_opt(1_800_000_000 + s, 0).unwrap();
        let first = TrustRoot::first(&[(key(1).public, None)], 1, at(0), at(100));
        first.successor(cairn_state_format::Digest::of(b"v1"), at(1), at(100))
    }

    fn names(root: &TrustRoot) -> Vec<&str> {
        root.delegations.iter().map(|d| d.name.as_str()).collect()
    }

    #[test]
    fn a_new_delegation_goes_before_the_first_that_covers_it() {
        let mut r = root();
        delegate_edit("platform", "*", 2).apply(&mut r).unwrap();
        delegate_edit("team-a", "team-a-*", 3)
            .apply(&mut r)
            .unwrap();
        delegate_edit("teams", "team-*", 4).apply(&mut r).unwrap();
        delegate_edit("team-a-web", "team-a-web", 5)
            .apply(&mut r)
            .unwrap();
        assert_eq!(names(&r), ["team-a-web", "team-a", "teams", "platform"]);
        assert!(shadowed(&r).is_empty());
        // Replacing keeps the place, so a shadowed pattern is possible and said.
        let outcome = delegate_edit("team-a-web", "*", 5).apply(&mut r).unwrap();
        assert_eq!(outcome.warnings.len(), 3, "{:?}", outcome.warnings);
    }

    #[test]
    fn removing_a_key_says_what_it_leaves_and_refuses_to_break_the_root() {
        let mut r = root();
        delegate_edit("team-a", "team-a-*", 3)
            .apply(&mut r)
            .unwrap();
        let id = key(3).public.id();
        let outcome = RootEdit::RemoveKey {
            id: id.clone(),
            replace: None,
            root_threshold: None,
        }
        .apply(&mut r)
        .unwrap();
        assert!(outcome.warnings[0].contains("nobody can sign team-a-*"));
        assert!(!r.keys.contains_key(&id), "unused keys leave the root");
        let last_root_key = RootEdit::RemoveKey {
            id: key(1).public.id(),
            replace: None,
            root_threshold: None,
        };
        let err = last_root_key.apply(&mut r.clone()).unwrap_err().to_string();
        assert!(err.contains("fewer than the threshold"), "{err}");
        let unknown = RootEdit::RemoveKey {
            id: "0123456789abcdef".into(),
            replace: None,
            root_threshold: None,
        };
        let err = unknown.apply(&mut r).unwrap_err().to_string();
        assert!(err.contains("is not in trust root version 1"), "{err}");
    }
}
