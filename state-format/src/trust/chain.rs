//! Walking the chain of trust roots forward from one the caller trusts.
//!
//! Version n+1 is accepted only if it is exactly version n+1, names version n's digest as its
//! `previous`, and is signed by a threshold of version n's root keys and by a threshold of its
//! own (TUF's root rotation rule, plus the lineage link). Only the newest version's expiry
//! matters: an expired newest root freezes, it never lets anything older back in.

use chrono::{DateTime, Utc};

use crate::ChannelPattern;
use crate::digest::Digest;
use crate::error::Error;
use crate::keys::PublicKey;
use crate::scope::Scope;
use crate::trust::root::{Delegation, KeyEntry, Role, SignedRoot, TrustRoot};
use crate::trust::tally::Tally;

/// Name of the one delegation of a [`TrustedRoot::simple`] root.
pub const SIMPLE_DELEGATION: &str = "trusted-keys";

/// A trust root the holder trusts: configured at install, or reached by [`TrustedRoot::advance`].
///
/// ```
/// use cairn_state_format::{Delegation, Digest, Epoch, Head, HeadCheck, Lineage, SecretKey, SignedHead, SignedRoot, TrustRoot, TrustedRoot, verify_head_under};
/// use chrono::{TimeZone, Utc};
///
/// let at = |s: i64| Utc.timestamp_opt(1_800_000_000 + s, 0).unwrap();
/// let (admin, team_a) = (SecretKey::from_seed([1; 32]), SecretKey::from_seed([2; 32]));
/// let v1 = TrustRoot::first(&[(admin.public(), None)], 1, at(0), at(86_400));
/// let v1 = SignedRoot::sign(&v1, &[&admin]);
/// let trusted = TrustedRoot::anchor(&v1.encode(), Some(&v1.digest())).unwrap();
///
/// // Version 2 delegates `team-a-*` to team A's key; the admin key signs it.
/// let mut v2 = v1.root.successor(v1.digest(), at(10), at(86_400));
/// v2.keys.insert(team_a.public().id(), cairn_state_format::KeyEntry { public: team_a.public(), label: None });
/// v2.delegations.push(Delegation {
///     name: "team-a".into(),
///     channels: vec!["team-a-*".parse().unwrap()],
///     keys: vec![team_a.public().id()],
///     threshold: 1,
///     scope: None,
/// });
/// let trusted = trusted.advance(&SignedRoot::sign(&v2, &[&admin]).encode()).unwrap();
///
/// let epoch = Epoch::from_bytes([1; 16]);
/// let head = |channel: &str| SignedHead::sign(&Head::new(channel, epoch, 1, Digest::of(b"s"), at(20), at(3_600)), &[&team_a]);
/// let check = |channel| HeadCheck { root: &trusted, channel, applied_generation: None, lineage: Lineage::default(), now: at(30) };
/// assert!(verify_head_under(&head("team-a-web"), &check("team-a-web")).is_ok());
/// assert!(verify_head_under(&head("prod"), &check("prod")).is_err()); // not team A's channel
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustedRoot {
    root: TrustRoot,
    digest: Digest,
}

/// Why a trust root was not accepted. Every variant means "keep the root you trust": an agent
/// keeps serving what it applied and reports the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RootRefusal {
    /// The bytes are not a trust root this build can read (size, JSON, fields, rules).
    #[error("{0}")]
    Malformed(String),
    /// A newer format than this build reads: upgrade.
    #[error(
        "the trust root has format {found}, this build reads format {supported}: upgrade cairn"
    )]
    UnsupportedFormat {
        /// The root's format.
        found: u64,
        /// The format this build reads.
        supported: u32,
    },
    /// The configured root is not the one pinned by digest.
    #[error("trust root version {version} has digest {found}, not the pinned {expected}")]
    NotPinned {
        /// Its version.
        version: u64,
        /// The pinned digest.
        expected: Digest,
        /// Its digest.
        found: Digest,
    },
    /// The object stored as version `expected` holds another version: skipped or replayed.
    #[error(
        "trust root version {expected} was expected, but the object holds version {found}: versions are never skipped or replayed"
    )]
    NotNext {
        /// The version that follows the trusted one.
        expected: u64,
        /// The version found.
        found: u64,
    },
    /// The root does not continue the trusted chain: it belongs to another chain (another store).
    #[error(
        "trust root version {version} names {found:?} as its previous version, but the trusted version {trusted} is {expected}: it belongs to another chain"
    )]
    WrongLineage {
        /// Its version.
        version: u64,
        /// The trusted version.
        trusted: u64,
        /// The trusted version's digest.
        expected: Digest,
        /// What it names as previous.
        found: Option<Digest>,
    },
    /// Not enough valid signatures by the keys that must sign it.
    #[error(
        "trust root version {version} needs {threshold} signatures by {by}; valid ones by {valid:?}{}",
        invalid_note(invalid)
    )]
    BelowThreshold {
        /// Its version.
        version: u64,
        /// Whose keys: `version 3's root keys` or `its own root keys`.
        by: String,
        /// Signatures needed.
        threshold: u32,
        /// Keys of that role that signed validly.
        valid: Vec<String>,
        /// Keys of that role whose signature does not verify.
        invalid: Vec<String>,
    },
    /// The newest root expired: freeze until a newer version is published.
    #[error(
        "trust root version {version} expired at {expires_at}: every head is refused until a newer version is published (`cairn trust rotate`)"
    )]
    Expired {
        /// Its version.
        version: u64,
        /// Its expiry.
        expires_at: DateTime<Utc>,
    },
}

fn invalid_note(invalid: &[String]) -> String {
    if invalid.is_empty() {
        String::new()
    } else {
        format!(", signatures by {invalid:?} do not verify")
    }
}

/// How far a walk got: the newest root accepted, and why it stopped short, if it did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Walked {
    /// The newest accepted root (the starting one if none was).
    pub root: TrustedRoot,
    /// Why the next candidate was refused.
    pub refused: Option<RootRefusal>,
}

impl TrustedRoot {
    /// The root an agent is installed with: any version, signed by a threshold of its own root
    /// keys, and, when `pinned` is given, with exactly that digest.
    pub fn anchor(bytes: &[u8], pinned: Option<&Digest>) -> Result<TrustedRoot, RootRefusal> {
        let signed = decode(bytes)?;
        let digest = signed.digest();
        if let Some(expected) = pinned.filter(|e| **e != digest) {
            return Err(RootRefusal::NotPinned {
                version: signed.root.version,
                expected: *expected,
                found: digest,
            });
        }
        check_signed_by(&signed, &signed.root, "its own root keys")?;
        Ok(TrustedRoot {
            root: signed.root,
            digest,
        })
    }

    /// The simple mode (`--trust KEY`): a root that delegates every channel to `keys`, any one of
    /// which may sign. It never expires and no stored version can follow it (it has version 0).
    pub fn simple(keys: &[PublicKey]) -> TrustedRoot {
        // Invariant: `*` is a valid pattern.
        let every = vec!["*".parse::<ChannelPattern>().expect("`*` is a pattern")];
        Self::simple_with(keys, vec![(SIMPLE_DELEGATION.to_owned(), every, None)])
    }

    /// The simple mode with scopes from the agent's own configuration: `scoped` channels (the
    /// first entry whose patterns match decides) may do what their scope allows, and every other
    /// channel is refused as not delegated.
    pub fn simple_scoped(
        keys: &[PublicKey],
        scoped: &[(Vec<ChannelPattern>, Scope)],
    ) -> TrustedRoot {
        let delegations = scoped
            .iter()
            .enumerate()
            .map(|(i, (channels, scope))| {
                let mut channels = channels.clone();
                channels.sort();
                channels.dedup();
                (
                    format!("{SIMPLE_DELEGATION}-{i}"),
                    channels,
                    Some(scope.clone()),
                )
            })
            .collect();
        Self::simple_with(keys, delegations)
    }

    fn simple_with(
        keys: &[PublicKey],
        delegations: Vec<(String, Vec<ChannelPattern>, Option<Scope>)>,
    ) -> TrustedRoot {
        let mut ids: Vec<String> = keys.iter().map(PublicKey::id).collect();
        ids.sort_unstable();
        ids.dedup();
        let mut root = TrustRoot {
            format: 1,
            version: 0,
            previous: None,
            published_at: DateTime::<Utc>::UNIX_EPOCH,
            expires_at: DateTime::<Utc>::MAX_UTC,
            keys: keys
                .iter()
                .map(|k| {
                    (
                        k.id(),
                        KeyEntry {
                            public: *k,
                            label: None,
                        },
                    )
                })
                .collect(),
            root: Role {
                keys: ids.clone(),
                threshold: 1,
            },
            delegations: delegations
                .into_iter()
                .map(|(name, channels, scope)| Delegation {
                    name,
                    channels,
                    keys: ids.clone(),
                    threshold: 1,
                    scope,
                })
                .collect(),
        };
        root.format = root.required_format();
        let digest = Digest::of(&crate::canonical_bytes_of(&root));
        TrustedRoot { root, digest }
    }

    /// The document.
    pub fn root(&self) -> &TrustRoot {
        &self.root
    }

    /// Its version (0 for a [`TrustedRoot::simple`] root).
    pub fn version(&self) -> u64 {
        self.root.version
    }

    /// Its digest, what the next version names as `previous`.
    pub fn digest(&self) -> Digest {
        self.digest
    }

    /// Accepts `bytes` as the next version, or says why not.
    pub fn advance(&self, bytes: &[u8]) -> Result<TrustedRoot, RootRefusal> {
        let signed = decode(bytes)?;
        let expected = self.root.version + 1;
        if signed.root.version != expected {
            return Err(RootRefusal::NotNext {
                expected,
                found: signed.root.version,
            });
        }
        if signed.root.previous != Some(self.digest) {
            return Err(RootRefusal::WrongLineage {
                version: signed.root.version,
                trusted: self.root.version,
                expected: self.digest,
                found: signed.root.previous,
            });
        }
        let by = format!("version {}'s root keys", self.root.version);
        check_signed_by(&signed, &self.root, &by)?;
        check_signed_by(&signed, &signed.root, "its own root keys")?;
        Ok(TrustedRoot {
            digest: signed.digest(),
            root: signed.root,
        })
    }

    /// Walks forward through `newer` (versions n+1, n+2, … in order) as far as they are valid.
    pub fn walk<'a>(&self, newer: impl IntoIterator<Item = &'a [u8]>) -> Walked {
        let mut root = self.clone();
        for bytes in newer {
            match root.advance(bytes) {
                Ok(next) => root = next,
                Err(refusal) => {
                    return Walked {
                        root,
                        refused: Some(refusal),
                    };
                }
            }
        }
        Walked {
            root,
            refused: None,
        }
    }

    /// Refuses a root that has expired at `now`.
    pub fn check_fresh(&self, now: DateTime<Utc>) -> Result<(), RootRefusal> {
        if now >= self.root.expires_at {
            return Err(RootRefusal::Expired {
                version: self.root.version,
                expires_at: self.root.expires_at,
            });
        }
        Ok(())
    }
}

fn decode(bytes: &[u8]) -> Result<SignedRoot, RootRefusal> {
    SignedRoot::decode(bytes).map_err(|e| match e {
        Error::UnsupportedFormat {
            found, supported, ..
        } => RootRefusal::UnsupportedFormat { found, supported },
        other => RootRefusal::Malformed(other.to_string()),
    })
}

/// Refuses `signed` unless a threshold of `by`'s root keys signed it validly.
fn check_signed_by(signed: &SignedRoot, by: &TrustRoot, whose: &str) -> Result<(), RootRefusal> {
    let tally = Tally::of(
        &signed.signing_message(),
        &signed.signatures,
        &by.root.keys,
        by,
    );
    if tally.meets(by.root.threshold) {
        return Ok(());
    }
    Err(RootRefusal::BelowThreshold {
        version: signed.root.version,
        by: whose.to_owned(),
        threshold: by.root.threshold,
        valid: tally.valid,
        invalid: tally.invalid,
    })
}
