//! Portable bundles for air-gapped sites: one file with a channel's signed heads (log entries),
//! the snapshot pack the newest head offers and the delta packs it names, so that another store
//! can be given the same generations with the same signatures.
//!
//! The file is a tar archive (inspect it with `tar tvf`): first `cairn-bundle.json`, the
//! manifest, then each object under its key in the store, in the manifest's order. Every object
//! is listed with its length and sha256, and checked against them before anything is written
//! anywhere; beyond that, the heads are signed and everything else is named by digest from them,
//! so [`Bundle::verify`] proves the whole file before an import writes one object.

pub mod trust;

use std::collections::{BTreeMap, HashSet};
use std::io::Read;

use cairn_state_format::{
    Digest, Entry, EntrySet, Epoch, Head, Lineage, PackRef, PublicKey, SignedHead,
    SnapshotPackAssembler, apply_delta, layout,
};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The name of the manifest inside the archive.
pub const MANIFEST: &str = "cairn-bundle.json";
/// The bundle format this build writes and reads.
pub const BUNDLE_FORMAT: u64 = 1;
/// The longest manifest read (it lists a key, length and digest per object).
const MAX_MANIFEST_BYTES: u64 = 16 * 1024 * 1024;

/// One object of a bundle, as the manifest lists it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Listed {
    /// Its key in the store.
    pub key: String,
    /// Its length.
    pub bytes: u64,
    /// The sha256 of its bytes.
    pub digest: Digest,
}

/// The manifest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Bundle format version.
    pub format: u64,
    /// The channel.
    pub channel: String,
    /// The channel's epoch.
    pub epoch: Epoch,
    /// The oldest generation carried.
    pub from: u64,
    /// The newest generation carried (whose content the packs hold).
    pub to: u64,
    /// Every object, in the archive's order.
    pub objects: Vec<Listed>,
}

/// A bundle in memory.
#[derive(Debug)]
pub struct Bundle {
    /// The manifest.
    pub manifest: Manifest,
    /// The objects by key.
    pub objects: BTreeMap<String, Vec<u8>>,
}

/// What a verified bundle holds.
#[derive(Debug)]
pub struct Verified {
    /// The log entries, by generation, as signed bytes, with their heads.
    pub log: BTreeMap<u64, (Head, Vec<u8>)>,
    /// The newest generation's snapshot: its entries and every blob.
    pub entries: EntrySet,
    /// The blobs of `entries`.
    pub blobs: BTreeMap<Digest, Vec<u8>>,
}

impl Bundle {
    /// An empty bundle of generations `from..=to` of `channel`.
    pub fn new(channel: &str, epoch: Epoch, from: u64, to: u64) -> Bundle {
        Bundle {
            manifest: Manifest {
                format: BUNDLE_FORMAT,
                channel: channel.to_owned(),
                epoch,
                from,
                to,
                objects: Vec::new(),
            },
            objects: BTreeMap::new(),
        }
    }

    /// Adds the object `key`, listed with its length and digest; an object added before stays.
    pub fn add(&mut self, key: String, bytes: Vec<u8>) {
        if self.objects.contains_key(&key) {
            return;
        }
        self.manifest.objects.push(Listed {
            key: key.clone(),
            bytes: bytes.len() as u64,
            digest: Digest::of(&bytes),
        });
        self.objects.insert(key, bytes);
    }

    /// Writes the bundle as a tar archive.
    pub fn write(&self, out: impl std::io::Write) -> std::io::Result<()> {
        let mut archive = tar::Builder::new(out);
        let manifest = serde_json::to_vec_pretty(&self.manifest).map_err(std::io::Error::other)?;
        append(&mut archive, MANIFEST, &manifest)?;
        for listed in &self.manifest.objects {
            let bytes = self.objects.get(&listed.key).ok_or_else(|| {
                std::io::Error::other(format!("{} is listed but not held", listed.key))
            })?;
            append(&mut archive, &listed.key, bytes)?;
        }
        archive.into_inner()?.flush()
    }

    /// Reads a bundle, checking each object's length and digest against the manifest; `file`
    /// names the input in errors.
    pub fn read(input: impl Read, file: &str) -> Result<Bundle> {
        let damaged =
            |why: String| Error::Input(format!("{file}: not a usable cairn bundle: {why}"));
        let mut archive = tar::Archive::new(input);
        let mut entries = archive.entries().map_err(|e| damaged(e.to_string()))?;
        let mut first = entries
            .next()
            .ok_or_else(|| damaged("the archive is empty".into()))?
            .map_err(|e| damaged(e.to_string()))?;
        if first.path_bytes().as_ref() != MANIFEST.as_bytes() {
            return Err(damaged(format!("the first entry is not {MANIFEST}")));
        }
        let manifest: Manifest = serde_json::from_slice(
            &read_entry(&mut first, MAX_MANIFEST_BYTES).map_err(|e| damaged(e.to_string()))?,
        )
        .map_err(|e| damaged(format!("{MANIFEST}: {e}")))?;
        if manifest.format != BUNDLE_FORMAT {
            return Err(damaged(format!(
                "bundle format {} (this build reads {BUNDLE_FORMAT}; upgrade cairn)",
                manifest.format
            )));
        }
        let mut objects = BTreeMap::new();
        for listed in &manifest.objects {
            let mut entry = entries
                .next()
                .ok_or_else(|| damaged(format!("{} is listed but missing", listed.key)))?
                .map_err(|e| damaged(e.to_string()))?;
            let path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            if path != listed.key {
                return Err(damaged(format!("expected {}, found {path}", listed.key)));
            }
            let bytes = read_entry(&mut entry, listed.bytes).map_err(|e| damaged(e.to_string()))?;
            if bytes.len() as u64 != listed.bytes || Digest::of(&bytes) != listed.digest {
                return Err(damaged(format!(
                    "{} does not match its length and digest",
                    listed.key
                )));
            }
            objects.insert(listed.key.clone(), bytes);
        }
        if entries.next().is_some() {
            return Err(damaged(
                "it holds entries the manifest does not list".into(),
            ));
        }
        Ok(Bundle { manifest, objects })
    }

    /// Checks that the bundle is what it says: contiguous signed heads of one channel and
    /// epoch (verified by `keys` when given), and packs that rebuild exactly the newest head's
    /// snapshot. Returns its heads and that snapshot's entries and blobs.
    pub fn verify(&self, keys: &[PublicKey]) -> Result<Verified> {
        let m = &self.manifest;
        let foreign =
            |why: String| Error::Input(format!("bundle of channel {:?}: {why}", m.channel));
        let mut log = BTreeMap::new();
        for generation in m.from..=m.to {
            let key = layout::log_key(&m.channel, generation);
            let bytes = self
                .objects
                .get(&key)
                .ok_or_else(|| foreign(format!("generation {generation} is missing")))?;
            let signed = SignedHead::decode(bytes).map_err(|e| foreign(format!("{key}: {e}")))?;
            let head = &signed.head;
            if head.channel != m.channel
                || head.generation != generation
                || head.epoch != Some(m.epoch)
            {
                return Err(foreign(format!(
                    "{key} is generation {} of channel {:?} epoch {:?}, not of this bundle",
                    head.generation,
                    head.channel,
                    head.epoch.map(|e| e.to_string())
                )));
            }
            if !keys.is_empty() {
                check_signature(&signed, bytes, keys)
                    .map_err(|e| foreign(format!("{key}: {e}")))?;
            }
            log.insert(generation, (signed.head, bytes.clone()));
        }
        let newest = &log
            .get(&m.to)
            .ok_or_else(|| foreign("no generation".into()))?
            .0;
        let (entries, blobs) = self.content(newest).map_err(|e| foreign(e.to_string()))?;
        Ok(Verified {
            log,
            entries,
            blobs,
        })
    }

    /// The newest head's snapshot from its snapshot pack, the bridge when it names one, and the
    /// delta pack from there, checked against the head's snapshot digest.
    fn content(&self, head: &Head) -> Result<(EntrySet, BTreeMap<Digest, Vec<u8>>)> {
        let pack = head
            .packs
            .snapshot
            .as_ref()
            .ok_or_else(|| Error::Input("the newest head offers no snapshot pack".into()))?;
        let mut blobs = BTreeMap::new();
        let mut assembler = SnapshotPackAssembler::new(pack.snapshot);
        for shard in &pack.shards {
            assembler.shard(self.pack(shard)?, &mut |digest, blob| {
                blobs.insert(digest, blob);
                Ok(())
            })?;
        }
        let (snapshot, _, mut entries) = assembler.finish()?;
        let mut at = snapshot.digest();
        if let Some(bridge) = head.packs.bridge.filter(|_| at != head.snapshot) {
            let applied = apply_delta(&entries, &at, self.pack(&bridge.pack())?)?;
            if applied.snapshot.digest() != bridge.to {
                let to = bridge.to;
                return Err(Error::Input(format!("the bridge does not lead to {to}")));
            }
            (at, entries) = (bridge.to, applied.entries);
            blobs.extend(applied.blobs);
        }
        if at != head.snapshot {
            let delta = head.packs.delta_from(&at).ok_or_else(|| {
                Error::Input("the newest head names no delta pack from its snapshot pack".into())
            })?;
            let applied = apply_delta(&entries, &at, self.pack(&delta.pack())?)?;
            entries = applied.entries;
            blobs.extend(applied.blobs);
        }
        let needed: HashSet<Digest> = entries.values().map(|e: &Entry| e.blob).collect();
        blobs.retain(|d, _| needed.contains(d));
        Ok((entries, blobs))
    }

    fn pack(&self, pack: &PackRef) -> Result<&[u8]> {
        let key = layout::pack_key(&pack.digest);
        self.objects
            .get(&key)
            .filter(|b| b.len() as u64 == pack.bytes)
            .map(Vec::as_slice)
            .ok_or_else(|| Error::Input(format!("pack {key} is missing or of another length")))
    }
}

fn check_signature(signed: &SignedHead, bytes: &[u8], keys: &[PublicKey]) -> Result<()> {
    let trust = cairn_state_format::Trust {
        keys,
        channel: &signed.head.channel,
        applied_generation: None,
        lineage: Lineage::default(),
        // Expiry is for agents deciding what to apply; an old generation is still genuine.
        now: signed.head.published_at,
    };
    cairn_state_format::verify_head(bytes, &trust)
        .map(|_| ())
        .map_err(|refusal| Error::Input(format!("refused: {refusal}")))
}

/// Why an entry of the archive could not be read.
#[derive(Debug, thiserror::Error)]
enum EntryError {
    /// The archive could not be read.
    #[error("{0}")]
    Read(#[from] std::io::Error),
    /// The entry holds more bytes than the manifest lists.
    #[error("an entry is longer than the {limit} bytes listed")]
    TooLong {
        /// The bytes listed.
        limit: u64,
    },
}

/// An entry's bytes, refused past `limit`.
fn read_entry(entry: &mut impl Read, limit: u64) -> std::result::Result<Vec<u8>, EntryError> {
    let mut bytes = Vec::new();
    entry.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(EntryError::TooLong { limit });
    }
    Ok(bytes)
}

fn append<W: std::io::Write>(
    archive: &mut tar::Builder<W>,
    path: &str,
    bytes: &[u8],
) -> std::io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_size(bytes.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    archive.append_data(&mut header, path, bytes)
}
