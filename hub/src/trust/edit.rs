//! The changes `cairn trust` commands make to the next version of the trust root, and signing it.
//!
//! Each edit refuses, with the reason, what would leave a root agents could not use (a root
//! threshold above its keys, an unknown delegation, a key the root does not hold); the result is
//! then checked as agents will check it before anything is written.

use cairn_state_format::{
    ChannelPattern, Delegation, KeyEntry, SecretKey, SignedRoot, TrustRoot, validate_channel_name,
};

use super::Chain;
use crate::error::{Error, Result, TrustError};
use crate::files::keys::NamedKey;

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

fn add_sorted(keys: &mut Vec<String>, id: String) -> bool {
    if keys.contains(&id) {
        return false;
    }
    keys.push(id);
    keys.sort_unstable();
    true
}

fn position(root: &TrustRoot, name: &str) -> Result<usize> {
    root.delegations
        .iter()
        .position(|d| d.name == name)
        .ok_or_else(|| {
            let names: Vec<&str> = root.delegations.iter().map(|d| d.name.as_str()).collect();
            Error::Usage(format!(
                "trust root version {} has no delegation {name:?} (delegations: {names:?})",
                root.version - 1
            ))
        })
}

fn add_key(
    root: &mut TrustRoot,
    key: &NamedKey,
    target: &KeyTarget,
    threshold: Option<u32>,
    outcome: &mut Outcome,
) -> Result<()> {
    let id = insert_key(root, key)?;
    let at = match target {
        KeyTarget::Root => None,
        KeyTarget::Delegation(name) => Some(position(root, name)?),
    };
    let (keys, role_threshold, role) = match at {
        None => (
            &mut root.root.keys,
            &mut root.root.threshold,
            "root keys".to_owned(),
        ),
        Some(at) => {
            let d = &mut root.delegations[at];
            (
                &mut d.keys,
                &mut d.threshold,
                format!("delegation {:?}", d.name),
            )
        }
    };
    if !add_sorted(keys, id.clone()) {
        return Err(Error::Usage(format!("key {id} is already in the {role}")));
    }
    if let Some(t) = threshold {
        *role_threshold = t;
    }
    let summary = format!("{} of {} keys sign", role_threshold, keys.len());
    outcome.changes.push(format!(
        "key {} added to the {role} ({summary})",
        describe(root, &id)
    ));
    Ok(())
}

fn remove_key(
    root: &mut TrustRoot,
    id: &str,
    replace: Option<&NamedKey>,
    root_threshold: Option<u32>,
    outcome: &mut Outcome,
) -> Result<()> {
    if !root.keys.contains_key(id) {
        let known: Vec<&String> = root.keys.keys().collect();
        return Err(Error::Usage(format!(
            "key {id} is not in trust root version {} (its keys: {known:?})",
            root.version - 1
        )));
    }
    let label = describe(root, id);
    let new_id = replace.map(|k| insert_key(root, k)).transpose()?;
    let swap = |keys: &mut Vec<String>| -> bool {
        let had = keys.iter().any(|k| k == id);
        keys.retain(|k| k != id);
        if let (true, Some(new)) = (had, &new_id) {
            add_sorted(keys, new.clone());
        }
        had
    };
    if swap(&mut root.root.keys) {
        check_root_after_removal(root, &label, root_threshold)?;
        outcome.changes.push(format!("root key {label} removed"));
    }
    for d in &mut root.delegations {
        if !swap(&mut d.keys) {
            continue;
        }
        outcome
            .changes
            .push(format!("key {label} removed from delegation {:?}", d.name));
        if d.keys.len() < d.threshold as usize {
            outcome.warnings.push(format!(
                "delegation {:?} now names {} keys but needs {}: nobody can sign {} until a key is added \
                 (`cairn trust add-key KEY.pub --delegation {}`)",
                d.name,
                d.keys.len(),
                d.threshold,
                patterns(d),
                d.name
            ));
        }
    }
    if let Some(new) = new_id {
        outcome
            .changes
            .push(format!("key {} took its place", describe(root, &new)));
    }
    Ok(())
}

fn check_root_after_removal(
    root: &mut TrustRoot,
    label: &str,
    root_threshold: Option<u32>,
) -> Result<()> {
    if let Some(t) = root_threshold {
        root.root.threshold = t;
    }
    if root.root.keys.len() < root.root.threshold as usize {
        return Err(Error::Usage(format!(
            "removing root key {label} leaves {} root keys, fewer than the threshold {}: pass \
             --root-threshold, or --replace NEW.pub",
            root.root.keys.len(),
            root.root.threshold
        )));
    }
    Ok(())
}

fn patterns(d: &Delegation) -> String {
    let list: Vec<&str> = d.channels.iter().map(ChannelPattern::as_str).collect();
    list.join(", ")
}

fn delegate(
    root: &mut TrustRoot,
    name: &str,
    mut channels: Vec<ChannelPattern>,
    keys: &[NamedKey],
    threshold: u32,
    outcome: &mut Outcome,
) -> Result<()> {
    validate_channel_name(name).map_err(|e| Error::Usage(format!("delegation name: {e}")))?;
    channels.sort();
    channels.dedup();
    if channels.is_empty() || keys.is_empty() {
        return Err(Error::Usage(
            "a delegation needs at least one --channel and one --signer".into(),
        ));
    }
    let mut ids = Vec::new();
    for key in keys {
        add_sorted(&mut ids, insert_key(root, key)?);
    }
    if threshold == 0 || threshold as usize > ids.len() {
        return Err(Error::Usage(format!(
            "--threshold {threshold}: must be between 1 and the {} keys given",
            ids.len()
        )));
    }
    let delegation = Delegation {
        name: name.to_owned(),
        channels,
        keys: ids,
        threshold,
    };
    let summary = format!(
        "channels {}: {} of {} keys",
        patterns(&delegation),
        threshold,
        delegation.keys.len()
    );
    match root.delegations.iter().position(|d| d.name == name) {
        Some(at) => {
            root.delegations[at] = delegation;
            outcome
                .changes
                .push(format!("delegation {name:?} replaced: {summary}"));
        }
        None => {
            // Before the first delegation that would decide all of one of its channels.
            let at = root
                .delegations
                .iter()
                .position(|d| covers_any(d, &delegation))
                .unwrap_or(root.delegations.len());
            root.delegations.insert(at, delegation);
            outcome
                .changes
                .push(format!("delegation {name:?} added: {summary}"));
        }
    }
    Ok(())
}

fn covers_any(earlier: &Delegation, later: &Delegation) -> bool {
    later
        .channels
        .iter()
        .any(|p| earlier.channels.iter().any(|q| q.covers(p)))
}

/// Warnings for patterns no channel can reach: an earlier delegation decides all they match.
pub fn shadowed(root: &TrustRoot) -> Vec<String> {
    let mut warnings = Vec::new();
    for (i, later) in root.delegations.iter().enumerate() {
        for pattern in &later.channels {
            let earlier = root.delegations[..i]
                .iter()
                .find(|d| d.channels.iter().any(|q| q.covers(pattern)));
            if let Some(earlier) = earlier {
                warnings.push(format!(
                    "channel pattern {pattern} of delegation {:?} never decides: delegation {:?}, listed \
                     before it, matches every channel it matches",
                    later.name, earlier.name
                ));
            }
        }
    }
    warnings
}

fn rotate(
    root: &mut TrustRoot,
    root_keys: &[NamedKey],
    threshold: Option<u32>,
    outcome: &mut Outcome,
) -> Result<()> {
    if !root_keys.is_empty() {
        let old = std::mem::take(&mut root.root.keys);
        for key in root_keys {
            let id = insert_key(root, key)?;
            add_sorted(&mut root.root.keys, id);
        }
        let added: Vec<String> = root
            .root
            .keys
            .iter()
            .filter(|k| !old.contains(k))
            .map(|k| describe(root, k))
            .collect();
        let removed: Vec<String> = old
            .iter()
            .filter(|k| !root.root.keys.contains(k))
            .map(|k| describe(root, k))
            .collect();
        outcome
            .changes
            .push(format!("root keys: added {added:?}, removed {removed:?}"));
    }
    if let Some(t) = threshold {
        root.root.threshold = t;
    }
    if root.root.threshold == 0 || root.root.keys.len() < root.root.threshold as usize {
        return Err(Error::Usage(format!(
            "the root threshold {} must be between 1 and the {} root keys: pass --threshold",
            root.root.threshold,
            root.root.keys.len()
        )));
    }
    outcome.changes.push(format!(
        "{} of {} root keys sign the next version; expires {}",
        root.root.threshold,
        root.root.keys.len(),
        root.expires_at
    ));
    Ok(())
}

/// Signs `next` with `keys` and checks it exactly as agents will walk to it from the chain's
/// newest version: every key must be a root key of one of the two versions, and both thresholds
/// must be met.
pub fn sign_next(chain: &Chain, next: &TrustRoot, keys: &[SecretKey]) -> Result<SignedRoot> {
    let current = chain.trusted.root();
    for key in keys {
        let id = key.public().id();
        if !current.root.keys.contains(&id) && !next.root.keys.contains(&id) {
            return Err(TrustError::NotRootKey {
                key: id,
                version: current.version,
                root_keys: current.root.keys.clone(),
            }
            .into());
        }
    }
    let signed = SignedRoot::sign(next, &keys.iter().collect::<Vec<_>>());
    chain
        .trusted
        .advance(&signed.encode())
        .map_err(|refusal| TrustError::Unaccepted {
            version: next.version,
            refusal,
        })?;
    Ok(signed)
}

#[cfg(test)]
mod tests {
    use super::*;
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
