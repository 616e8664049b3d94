//! What a trust root must satisfy beyond its fields' types: versions and lineage, roles naming
//! listed keys, thresholds, unique names, no unused keys. Each refusal names the offending field.

use std::collections::BTreeMap;

use super::root::{KeyEntry, MAX_LABEL_CHARS, SCOPE_ROOT_FORMAT, TrustRoot};
use crate::channel_name::{InvalidChannelName, validate_channel_name};
use crate::scope::ScopeError;

/// Why a trust root is not valid. Each message starts with the field at fault (`keys.<id>`,
/// `delegations[2].channels`, …).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RootInvalid {
    /// Version 0.
    #[error("version: versions start at 1")]
    VersionZero,
    /// Version 1 naming a version before it.
    #[error("previous: version 1 has no previous version")]
    FirstWithPrevious,
    /// A later version that does not name the one before.
    #[error("previous: version {version} must name the digest of version {}", .version - 1)]
    MissingPrevious {
        /// The root's version.
        version: u64,
    },
    /// Expiring no later than it was published.
    #[error("expires_at: must be after published_at")]
    ExpiresBeforePublished,
    /// A key listed under an id that is not its own.
    #[error("keys.{id}: the key's id is {actual}, not {id}")]
    WrongKeyId {
        /// The id it is listed under.
        id: String,
        /// Its real id.
        actual: String,
    },
    /// A key label too long or with control characters.
    #[error("keys.{id}.label: at most {MAX_LABEL_CHARS} characters, no control characters")]
    BadLabel {
        /// The key's id.
        id: String,
    },
    /// A listed key that no role names.
    #[error("keys.{id}: no role names this key")]
    UnusedKey {
        /// The key's id.
        id: String,
    },
    /// A root threshold no set of root keys can meet.
    #[error(
        "root.threshold: {threshold} is more than the {keys} root keys: nobody could sign the next version"
    )]
    RootThresholdUnreachable {
        /// The threshold.
        threshold: u32,
        /// How many root keys there are.
        keys: usize,
    },
    /// A delegation whose name is not a channel name.
    #[error("delegations[{index}].name: {reason}")]
    DelegationName {
        /// The delegation's position.
        index: usize,
        /// Why.
        #[source]
        reason: InvalidChannelName,
    },
    /// Two delegations of one name.
    #[error("delegations[{index}].name: {name:?} is used twice")]
    DuplicateDelegation {
        /// The second one's position.
        index: usize,
        /// The name.
        name: String,
    },
    /// A scope in a document of a format from before scopes.
    #[error(
        "delegations[{index}].scope: scopes need trust root format {SCOPE_ROOT_FORMAT}, this document is format {format}"
    )]
    ScopeNeedsFormat {
        /// The delegation's position.
        index: usize,
        /// The document's format.
        format: u64,
    },
    /// A scope that breaks the scope rules.
    #[error("delegations[{index}].scope.{reason}")]
    Scope {
        /// The delegation's position.
        index: usize,
        /// Why.
        #[source]
        reason: ScopeError,
    },
    /// A delegation of no channel.
    #[error("delegations[{index}].channels: names no channel")]
    NoChannels {
        /// The delegation's position.
        index: usize,
    },
    /// A delegation's channels out of order or repeated.
    #[error("delegations[{index}].channels: must be ascending and unique")]
    ChannelsOutOfOrder {
        /// The delegation's position.
        index: usize,
    },
    /// A role (`root` or `delegations[i]`) that needs no signature.
    #[error("{role}.threshold: must be at least 1")]
    ZeroThreshold {
        /// The role.
        role: String,
    },
    /// A role's keys out of order or repeated.
    #[error("{role}.keys: must be ascending and unique")]
    KeysOutOfOrder {
        /// The role.
        role: String,
    },
    /// A role naming a key the root does not list.
    #[error("{role}.keys: {key} is not in keys")]
    UnlistedKey {
        /// The role.
        role: String,
        /// The key's id.
        key: String,
    },
}

impl TrustRoot {
    /// Checks everything a field-by-field decoder cannot: versions and lineage, roles naming
    /// listed keys, thresholds, unique names, no unused keys. Names the offending field.
    pub fn validate(&self) -> Result<(), RootInvalid> {
        match (self.version, &self.previous) {
            (0, _) => return Err(RootInvalid::VersionZero),
            (1, Some(_)) => return Err(RootInvalid::FirstWithPrevious),
            (version @ 2.., None) => return Err(RootInvalid::MissingPrevious { version }),
            _ => {}
        }
        if self.expires_at <= self.published_at {
            return Err(RootInvalid::ExpiresBeforePublished);
        }
        self.validate_keys()?;
        validate_role("root", &self.root.keys, self.root.threshold, &self.keys)?;
        if self.root.threshold as usize > self.root.keys.len() {
            return Err(RootInvalid::RootThresholdUnreachable {
                threshold: self.root.threshold,
                keys: self.root.keys.len(),
            });
        }
        self.validate_delegations()
    }

    fn validate_keys(&self) -> Result<(), RootInvalid> {
        for (id, entry) in &self.keys {
            if entry.public.id() != *id {
                return Err(RootInvalid::WrongKeyId {
                    id: id.clone(),
                    actual: entry.public.id(),
                });
            }
            let bad_label = entry.label.as_ref().is_some_and(|label| {
                label.chars().count() > MAX_LABEL_CHARS || label.chars().any(char::is_control)
            });
            if bad_label {
                return Err(RootInvalid::BadLabel { id: id.clone() });
            }
            let used =
                self.root.keys.contains(id) || self.delegations.iter().any(|d| d.keys.contains(id));
            if !used {
                return Err(RootInvalid::UnusedKey { id: id.clone() });
            }
        }
        Ok(())
    }

    fn validate_delegations(&self) -> Result<(), RootInvalid> {
        for (index, d) in self.delegations.iter().enumerate() {
            validate_channel_name(&d.name)
                .map_err(|reason| RootInvalid::DelegationName { index, reason })?;
            if self.delegations[..index].iter().any(|e| e.name == d.name) {
                return Err(RootInvalid::DuplicateDelegation {
                    index,
                    name: d.name.clone(),
                });
            }
            if d.channels.is_empty() {
                return Err(RootInvalid::NoChannels { index });
            }
            if !is_ascending(&d.channels) {
                return Err(RootInvalid::ChannelsOutOfOrder { index });
            }
            validate_role(
                &format!("delegations[{index}]"),
                &d.keys,
                d.threshold,
                &self.keys,
            )?;
            if let Some(scope) = &d.scope {
                if self.format < SCOPE_ROOT_FORMAT {
                    return Err(RootInvalid::ScopeNeedsFormat {
                        index,
                        format: self.format,
                    });
                }
                scope
                    .validate()
                    .map_err(|reason| RootInvalid::Scope { index, reason })?;
            }
        }
        Ok(())
    }
}

fn validate_role(
    role: &str,
    keys: &[String],
    threshold: u32,
    listed: &BTreeMap<String, KeyEntry>,
) -> Result<(), RootInvalid> {
    let role = || role.to_owned();
    if threshold == 0 {
        return Err(RootInvalid::ZeroThreshold { role: role() });
    }
    if !is_ascending(keys) {
        return Err(RootInvalid::KeysOutOfOrder { role: role() });
    }
    match keys.iter().find(|k| !listed.contains_key(*k)) {
        Some(missing) => Err(RootInvalid::UnlistedKey {
            role: role(),
            key: missing.clone(),
        }),
        None => Ok(()),
    }
}

fn is_ascending<T: Ord>(items: &[T]) -> bool {
    items.windows(2).all(|w| w[0] < w[1])
}
