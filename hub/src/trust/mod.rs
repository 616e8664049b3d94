//! The trust root in the store: reading its chain of versions, writing the next one, and the
//! checks commands make against it before they upload anything.
//!
//! The hub verifies the whole chain from version 1 every time it reads it (a LIST and one GET per
//! version; versions change rarely), so it never builds on, or checks against, a version agents
//! would refuse.
//!
//! Here: reading the chain ([`load`], [`require`]), signing and appending the next version
//! ([`sign_next`], [`append`]). The edits `cairn trust` commands make to the next version are in
//! `edit/` (keys and delegations and their scopes), the check a head's keys must pass before a
//! publish uploads anything, and the scope its content must keep to, in `gate`.

mod edit;
mod gate;

use cairn_state_format::{
    Digest, RootRefusal, Scope, SecretKey, SignedRoot, TrustRoot, TrustedRoot, layout,
};
use cairn_store::Store;
use chrono::{DateTime, Utc};
use serde::Serialize;

pub(crate) use edit::{KeyTarget, RootEdit, shadowed};
pub(crate) use gate::{ChannelScope, Signing, gate, scope_for};

use crate::error::{Error, Result, TrustError};
use crate::safe_writes::{create_once, safe_abilities};

/// A delegation's scope as `cairn trust show` and `cairn ui` print it: the rules, or
/// `unrestricted` for none.
pub(crate) fn scope_text(scope: Option<&Scope>) -> String {
    scope.map_or_else(|| "unrestricted".to_owned(), Scope::to_string)
}

/// Key ids with their labels, as `cairn trust show` and `cairn ui` print them.
pub(crate) fn key_list(root: &TrustRoot, ids: &[String]) -> String {
    let named: Vec<String> = ids
        .iter()
        .map(
            |id| match root.keys.get(id).and_then(|k| k.label.as_deref()) {
                Some(label) => format!("{id} ({label})"),
                None => id.clone(),
            },
        )
        .collect();
    if named.is_empty() {
        "no keys".to_owned()
    } else {
        named.join(", ")
    }
}

/// The store's trust root: every version, verified from version 1 to the newest.
#[derive(Clone, Debug)]
pub struct Chain {
    /// Every version, oldest first.
    pub versions: Vec<VersionInfo>,
    /// The newest version.
    pub trusted: TrustedRoot,
    /// The newest version as stored.
    pub latest: SignedRoot,
    /// Every version's stored bytes, oldest first (what `cairn export` carries).
    pub stored: Vec<Vec<u8>>,
}

/// One version of the chain, as `cairn trust show` lists it.
#[derive(Clone, Debug, Serialize)]
pub struct VersionInfo {
    /// Its version.
    pub version: u64,
    /// Its digest (version 1's is what agents are installed with).
    pub digest: Digest,
    /// When it was signed.
    pub published_at: DateTime<Utc>,
    /// When it expires.
    pub expires_at: DateTime<Utc>,
    /// The keys that signed it.
    pub signed_by: Vec<String>,
}

impl Chain {
    /// Version 1's digest: what agents are installed with.
    pub fn first_digest(&self) -> Digest {
        self.versions[0].digest
    }
}

/// Reads and verifies the chain; `None` when the store has no trust root (the simple mode: agents
/// trust the keys they are given).
pub async fn load(store: &Store) -> Result<Option<Chain>> {
    let mut listed: Vec<u64> = store
        .list(layout::ROOT_PREFIX)
        .await?
        .iter()
        .filter_map(|l| layout::version_of_root_key(&l.key))
        .collect();
    listed.sort_unstable();
    let mut chain: Option<Chain> = None;
    for (i, &version) in listed.iter().enumerate() {
        let broken = |refusal| {
            Error::Trust(TrustError::Chain {
                store: store.url().to_owned(),
                version,
                refusal,
            })
        };
        // A gap: the version after the last one read is missing, a later one is there.
        let expected = i as u64 + 1;
        if version != expected {
            return Err(broken(RootRefusal::NotNext {
                expected,
                found: version,
            }));
        }
        let Some(fetched) = store.get(&layout::root_key(version)).await? else {
            return Err(Error::Conflict(format!(
                "{}: {} was listed but is gone; run the command again",
                store.url(),
                layout::root_key(version)
            )));
        };
        chain = Some(extend(chain, version, &fetched.bytes).map_err(broken)?);
    }
    Ok(chain)
}

/// The chain of `versions` (the stored bytes of versions 1, 2, … in order), verified as [`load`]
/// verifies the store's; `None` when there are none. A refusal names its version.
pub(crate) fn verify_versions<'a>(
    versions: impl IntoIterator<Item = &'a [u8]>,
) -> std::result::Result<Option<Chain>, (u64, RootRefusal)> {
    let mut chain = None;
    for (i, bytes) in versions.into_iter().enumerate() {
        let version = i as u64 + 1;
        chain = Some(extend(chain, version, bytes).map_err(|r| (version, r))?);
    }
    Ok(chain)
}

/// The chain with the version stored under `version`'s key accepted, or why not.
fn extend(chain: Option<Chain>, version: u64, bytes: &[u8]) -> Result<Chain, RootRefusal> {
    let trusted = match &chain {
        None => TrustedRoot::anchor(bytes, None),
        Some(chain) => chain.trusted.advance(bytes),
    }?;
    if trusted.version() != version {
        let found = trusted.version();
        return Err(RootRefusal::NotNext {
            expected: version,
            found,
        });
    }
    // Accepted bytes decode; the error is only for form's sake.
    let latest = SignedRoot::decode(bytes).map_err(|e| RootRefusal::Malformed(e.to_string()))?;
    let (mut versions, mut stored) = chain.map(|c| (c.versions, c.stored)).unwrap_or_default();
    stored.push(bytes.to_vec());
    versions.push(VersionInfo {
        version,
        digest: trusted.digest(),
        published_at: latest.root.published_at,
        expires_at: latest.root.expires_at,
        signed_by: latest.signatures.iter().map(|s| s.key.clone()).collect(),
    });
    Ok(Chain {
        versions,
        trusted,
        latest,
        stored,
    })
}

/// Reads the chain, or says how to create one.
pub async fn require(store: &Store) -> Result<Chain> {
    load(store).await?.ok_or_else(|| {
        Error::Usage(format!(
            "{} has no trust root: agents trust the keys they are given (--trust); create one with \
             `cairn trust init --key ROOT_KEY`",
            store.url()
        ))
    })
}

/// Writes `signed` as the next version, create-only: of two commands racing for a version, one
/// writes it and the other is told to build on it.
pub async fn append(store: &Store, signed: &SignedRoot, single_publisher: bool) -> Result<()> {
    let abilities = safe_abilities(store, single_publisher).await?;
    let key = layout::root_key(signed.root.version);
    if !create_once(store, &key, signed.encode(), abilities).await? {
        return Err(Error::Conflict(format!(
            "trust root version {} was written by another command meanwhile; nothing was written: run \
             the command again to build on it",
            signed.root.version
        )));
    }
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
