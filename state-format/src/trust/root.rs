//! The trust root document: which keys sign the next version of it, which keys may sign which
//! channels, and until when it holds.
//!
//! Stored at `trust/root/<version>` as a canonical JSON envelope
//! `{"signatures":[{"key":…,"signature":…}],"trust":{…}}`. Signatures are ed25519 over
//! `cairn-trust-root-v1` NUL followed by the canonical bytes of the `trust` value; its digest (the
//! sha256 of those canonical bytes, without signatures) names a version, and the next version
//! carries it as `previous`, which binds a chain to its first version.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::canonical::{canonical_bytes_of, to_canonical_bytes};
use crate::digest::Digest;
use crate::error::{Error, Result, malformed};
use crate::head::HeadSignature;
use crate::keys::{PublicKey, SecretKey};
use crate::pattern::ChannelPattern;
use crate::scope::Scope;
use crate::{MAX_ROOT_BYTES, TRUST_ROOT_FORMAT, check_format};

const SIGNING_CONTEXT: &[u8] = b"cairn-trust-root-v1\0";

/// The root format that introduced delegation scopes.
pub const SCOPE_ROOT_FORMAT: u64 = 2;

/// Longest key label, in characters.
pub const MAX_LABEL_CHARS: usize = 64;

/// One version of the trust root.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustRoot {
    /// Wire format version.
    pub format: u64,
    /// 1 for the first version, then each version exactly one more than the one it replaces.
    pub version: u64,
    /// Digest of the version before ([`SignedRoot::digest`]); `null` for version 1.
    pub previous: Option<Digest>,
    /// When it was signed.
    pub published_at: DateTime<Utc>,
    /// From this instant agents refuse every head until a newer version is published (freeze).
    pub expires_at: DateTime<Utc>,
    /// Every key the roles below name, by key id ([`PublicKey::id`]).
    pub keys: BTreeMap<String, KeyEntry>,
    /// The keys that sign the next version, and how many of them must.
    pub root: Role,
    /// Who may sign which channels; for a channel the first delegation with a matching pattern
    /// decides, and no other.
    pub delegations: Vec<Delegation>,
}

/// A public key and what people call it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyEntry {
    /// The key.
    pub public: PublicKey,
    /// A name for people (`alice`, `team-a ci`); shown by `cairn trust show`, never used to decide.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// A set of keys and how many of them must sign.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Role {
    /// Key ids, ascending.
    pub keys: Vec<String>,
    /// Distinct keys whose signatures are needed, at least 1.
    pub threshold: u32,
}

/// Channels some keys may sign.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Delegation {
    /// Unique name (the channel name rule), used by `cairn trust delegate|undelegate`.
    pub name: String,
    /// Channel names and patterns (`team-a-*`).
    pub channels: Vec<ChannelPattern>,
    /// Key ids, ascending; may be fewer than `threshold` (nobody can sign until keys are added).
    pub keys: Vec<String>,
    /// Distinct keys whose signatures a head needs, at least 1.
    pub threshold: u32,
    /// What the channels' content may do on a cluster; `None`: anything (format 1's meaning).
    /// Root format 2 and later.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Scope>,
}

impl Delegation {
    /// Whether this delegation names `channel`.
    pub fn matches(&self, channel: &str) -> bool {
        self.channels.iter().any(|p| p.matches(channel))
    }
}

impl TrustRoot {
    /// The delegation that decides who signs `channel`: the first whose patterns match.
    pub fn delegation_for(&self, channel: &str) -> Option<&Delegation> {
        self.delegations.iter().find(|d| d.matches(channel))
    }

    /// The public key with id `id`, if this root lists it.
    pub fn public_key(&self, id: &str) -> Option<&PublicKey> {
        self.keys.get(id).map(|k| &k.public)
    }

    /// The lowest format that can carry this document: 2 once a delegation has a scope (so
    /// that agents too old to enforce a scope refuse the version instead of ignoring it), else 1.
    /// Writers store this format.
    pub fn required_format(&self) -> u64 {
        if self.delegations.iter().any(|d| d.scope.is_some()) {
            SCOPE_ROOT_FORMAT
        } else {
            1
        }
    }
}

/// A trust root as stored: the document and its signatures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedRoot {
    /// The document.
    pub root: TrustRoot,
    /// Signatures over it, in the order stored.
    pub signatures: Vec<HeadSignature>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope {
    trust: Value,
    signatures: Vec<HeadSignature>,
}

impl SignedRoot {
    /// Signs `root` with each key.
    pub fn sign(root: &TrustRoot, keys: &[&SecretKey]) -> SignedRoot {
        let mut signed = SignedRoot {
            root: root.clone(),
            signatures: Vec::new(),
        };
        signed.add_signatures(keys);
        signed
    }

    /// Adds a signature by each key that has not signed yet.
    pub fn add_signatures(&mut self, keys: &[&SecretKey]) {
        let message = self.signing_message();
        for key in keys {
            let id = key.public().id();
            if !self.signatures.iter().any(|s| s.key == id) {
                self.signatures.push(HeadSignature {
                    key: id,
                    signature: key.sign(&message),
                });
            }
        }
    }

    /// The bytes to store.
    pub fn encode(&self) -> Vec<u8> {
        canonical_bytes_of(&serde_json::json!({
            "trust": self.root,
            "signatures": self.signatures,
        }))
    }

    /// The version's digest: the sha256 of the document's canonical bytes, without signatures.
    pub fn digest(&self) -> Digest {
        Digest::of(&canonical_bytes_of(&self.root))
    }

    /// What each signature signs.
    pub fn signing_message(&self) -> Vec<u8> {
        [SIGNING_CONTEXT, &canonical_bytes_of(&self.root)].concat()
    }

    /// Decodes stored bytes: size, JSON, `format` (before any other field), fields, canonical
    /// form, then [`TrustRoot::validate`]. Signatures are checked by [`crate::TrustedRoot`].
    pub fn decode(bytes: &[u8]) -> Result<SignedRoot> {
        let what = "trust root";
        if bytes.len() > MAX_ROOT_BYTES {
            return Err(Error::TooLarge {
                what: what.to_owned(),
                size: bytes.len() as u64,
                limit: MAX_ROOT_BYTES as u64,
            });
        }
        let value: Value = serde_json::from_slice(bytes).map_err(|e| malformed(what, e))?;
        if let Some(trust) = value.get("trust") {
            check_format(trust, what, 1, TRUST_ROOT_FORMAT)?;
        }
        let envelope: Envelope = serde_json::from_value(value).map_err(|e| malformed(what, e))?;
        let received = to_canonical_bytes(&envelope.trust);
        let root: TrustRoot =
            serde_json::from_value(envelope.trust).map_err(|e| malformed(what, e))?;
        let what = format!("trust root version {}", root.version);
        // One document, one byte form: the digest of the struct is the digest of what was signed.
        if canonical_bytes_of(&root) != received {
            return Err(malformed(&what, "the document is not in canonical form"));
        }
        root.validate().map_err(|e| malformed(&what, e))?;
        Ok(SignedRoot {
            root,
            signatures: envelope.signatures,
        })
    }
}

impl TrustRoot {
    /// Version 1 of a new chain: `root` signs the next versions, nothing is delegated yet.
    pub fn first(
        root_keys: &[(PublicKey, Option<String>)],
        threshold: u32,
        published_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> TrustRoot {
        let mut ids: Vec<String> = root_keys.iter().map(|(k, _)| k.id()).collect();
        ids.sort_unstable();
        ids.dedup();
        TrustRoot {
            format: 1,
            version: 1,
            previous: None,
            published_at,
            expires_at,
            keys: root_keys
                .iter()
                .map(|(public, label)| {
                    let entry = KeyEntry {
                        public: *public,
                        label: label.clone(),
                    };
                    (public.id(), entry)
                })
                .collect(),
            root: Role {
                keys: ids,
                threshold,
            },
            delegations: Vec::new(),
        }
    }

    /// The next version of `current` (whose digest is `current_digest`), unchanged but for its
    /// version, lineage and times; the caller then edits it.
    pub fn successor(
        &self,
        current_digest: Digest,
        published_at: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> TrustRoot {
        TrustRoot {
            version: self.version + 1,
            previous: Some(current_digest),
            published_at,
            expires_at,
            ..self.clone()
        }
    }

    /// Drops keys no role names any more (a root lists only keys in use).
    pub fn prune_keys(&mut self) {
        let used = |id: &String| {
            self.root.keys.contains(id) || self.delegations.iter().any(|d| d.keys.contains(id))
        };
        let unused: Vec<String> = self.keys.keys().filter(|id| !used(id)).cloned().collect();
        for id in unused {
            self.keys.remove(&id);
        }
    }
}
