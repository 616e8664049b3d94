//! The edits of the delegations (which keys may sign which channels): creating or replacing one,
//! finding one by name, and the patterns an earlier delegation shadows.

use cairn_state_format::{ChannelPattern, Delegation, Scope, TrustRoot, validate_channel_name};

use super::{Outcome, add_sorted, insert_key};
use crate::error::{Error, Result};
use crate::files::keys::NamedKey;
use crate::trust::scope_text;

/// Where the delegation `name` is in the root, or why it is not there.
pub(super) fn position(root: &TrustRoot, name: &str) -> Result<usize> {
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

/// A delegation's channel patterns, for messages.
pub(super) fn patterns(d: &Delegation) -> String {
    let list: Vec<&str> = d.channels.iter().map(ChannelPattern::as_str).collect();
    list.join(", ")
}

/// Creates the delegation `name`, or replaces the one of that name where it stands.
pub(super) fn delegate(
    root: &mut TrustRoot,
    name: &str,
    channels: Vec<ChannelPattern>,
    keys: &[NamedKey],
    threshold: u32,
    scope: Option<Scope>,
    outcome: &mut Outcome,
) -> Result<()> {
    let mut delegation = new_delegation(root, name, channels, keys, threshold)?;
    let summary = format!(
        "channels {}: {} of {} keys; scope: {}",
        patterns(&delegation),
        threshold,
        delegation.keys.len(),
        scope_text(scope.as_ref())
    );
    delegation.scope = scope;
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

/// The delegation `name` of `channels` to `keys` (listed in the root), checked: a valid name,
/// at least one channel and key, a threshold the keys can meet.
fn new_delegation(
    root: &mut TrustRoot,
    name: &str,
    mut channels: Vec<ChannelPattern>,
    keys: &[NamedKey],
    threshold: u32,
) -> Result<Delegation> {
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
    Ok(Delegation {
        name: name.to_owned(),
        channels,
        keys: ids,
        threshold,
        scope: None,
    })
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
