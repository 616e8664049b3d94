//! The edits of the keys: adding one to the root keys or a delegation, removing one from every
//! role (revocation, optionally with a replacement), and replacing the root keys.

use cairn_state_format::TrustRoot;

use super::delegations::{patterns, position};
use super::{KeyTarget, Outcome, add_sorted, describe, insert_key};
use crate::error::{Error, Result};
use crate::files::keys::NamedKey;

pub(super) fn add_key(
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

pub(super) fn remove_key(
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

pub(super) fn rotate(
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
