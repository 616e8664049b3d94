//! Proposed heads: heads of a channel whose delegation needs more signatures than the publisher
//! had keys, waiting for `cairn sign`.
//!
//! A proposal lives under `proposals/<channel>/<generation>-<head digest>/`: the envelope as the
//! proposer signed it (`head`), and one object per signature added later (`sig/<key id>`), each
//! written create-only, so signers never overwrite one another and need no compare-and-swap.
//! Agents never read `proposals/`: a head reaches `channels/<c>/log/` and `channels/<c>/head`
//! only once a threshold of delegated keys signed it, through the same commit as any publish.
//! A proposal is for exactly one generation (its signatures cover the number); once another
//! head takes that generation it is stale and `cairn sign` says so.

use std::collections::BTreeMap;

use cairn_state_format::{Digest, HeadSignature, SignedHead, canonical_bytes_of, layout};
use cairn_store::{Abilities, Store};

use crate::error::{Error, Result};
use crate::safe_writes::create_once;

/// A proposed head and the signatures added to it.
#[derive(Clone, Debug)]
pub struct Proposal {
    /// Its folder in the store (ends with `/`).
    pub folder: String,
    /// The generation it is for.
    pub generation: u64,
    /// Digest of its canonical head bytes: its name.
    pub head_digest: Digest,
    /// The envelope as proposed.
    pub signed: SignedHead,
    /// Signatures added by `cairn sign`.
    pub added: Vec<HeadSignature>,
}

impl Proposal {
    /// A short name for people: the first 12 hex digits of the head digest.
    pub fn id(&self) -> String {
        self.head_digest.hex()[..12].to_owned()
    }

    /// Every signature, the proposer's first, one per key.
    pub fn signatures(&self) -> Vec<HeadSignature> {
        let mut all: Vec<HeadSignature> = Vec::new();
        for sig in self.signed.signatures.iter().chain(&self.added) {
            if !all.iter().any(|s| s.key == sig.key) {
                all.push(sig.clone());
            }
        }
        all
    }

    /// The head with `signatures`, as it is logged once complete.
    pub fn assemble(&self, signatures: Vec<HeadSignature>) -> Vec<u8> {
        let mut signed = self.signed.clone();
        signed.signatures = signatures;
        signed.encode()
    }
}

/// Writes a proposed head (create-only; proposing the very same head again is harmless).
pub async fn create(store: &Store, bytes: &[u8], abilities: Abilities) -> Result<String> {
    let signed = SignedHead::decode(bytes)?;
    let folder = layout::proposal_folder(
        &signed.head.channel,
        signed.head.generation,
        &signed.head_digest(),
    );
    create_only(
        store,
        &layout::proposal_head_key(&folder),
        bytes.to_vec(),
        abilities,
    )
    .await?;
    Ok(folder)
}

/// Adds one signature to a proposal.
pub async fn add_signature(
    store: &Store,
    proposal: &Proposal,
    signature: &HeadSignature,
    abilities: Abilities,
) -> Result<()> {
    let key = layout::proposal_signature_key(&proposal.folder, &signature.key);
    create_only(store, &key, canonical_bytes_of(signature), abilities).await
}

/// Writes `bytes` at `key` once. An object already there holds the same head (its name is its
/// digest) or a signature by the same key over it: either way, what this write would say is said.
async fn create_only(store: &Store, key: &str, bytes: Vec<u8>, abilities: Abilities) -> Result<()> {
    if !create_once(store, key, bytes, abilities).await? {
        tracing::debug!(key, "already written");
    }
    Ok(())
}

/// Every proposal of `channel`, oldest generation first; unreadable objects are skipped with a
/// warning (anyone who can write the bucket can write there, and signatures are checked anyway).
pub async fn list(store: &Store, channel: &str) -> Result<Vec<Proposal>> {
    let mut folders: BTreeMap<(u64, Digest), Vec<String>> = BTreeMap::new();
    for listed in store.list(&layout::proposal_prefix(channel)).await? {
        if let Some(name) = layout::proposal_of_key(&listed.key) {
            folders.entry(name).or_default().push(listed.key);
        }
    }
    let mut out = Vec::new();
    for ((generation, head_digest), keys) in folders {
        let folder = layout::proposal_folder(channel, generation, &head_digest);
        match read(store, &folder, &keys).await? {
            Some((signed, added)) if signed.head_digest() == head_digest => out.push(Proposal {
                folder,
                generation,
                head_digest,
                signed,
                added,
            }),
            _ => tracing::warn!(folder, "skipping an unreadable proposal"),
        }
    }
    Ok(out)
}

async fn read(
    store: &Store,
    folder: &str,
    keys: &[String],
) -> Result<Option<(SignedHead, Vec<HeadSignature>)>> {
    let Some(head) = store.get(&layout::proposal_head_key(folder)).await? else {
        return Ok(None);
    };
    let Ok(signed) = SignedHead::decode(&head.bytes) else {
        return Ok(None);
    };
    let mut added = Vec::new();
    for key in keys
        .iter()
        .filter(|k| k.starts_with(&format!("{folder}sig/")))
    {
        let Some(fetched) = store.get(key).await? else {
            continue;
        };
        match serde_json::from_slice::<HeadSignature>(&fetched.bytes) {
            Ok(sig) if key.ends_with(&format!("/{}", sig.key)) => added.push(sig),
            _ => tracing::warn!(key, "skipping an unreadable signature"),
        }
    }
    Ok(Some((signed, added)))
}

/// Deletes a proposal's objects (once it is logged, or stale).
pub async fn remove(store: &Store, proposal: &Proposal) -> Result<()> {
    for listed in store.list(&proposal.folder).await? {
        store.delete(&listed.key).await.map_err(Error::Store)?;
    }
    Ok(())
}
