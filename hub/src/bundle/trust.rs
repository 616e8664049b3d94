//! The trust root in a bundle. `cairn export` carries every version of the source store's trust
//! root, so that agents at the other site, installed with the same root, verify exactly as at
//! home (without them an agent installed with a root finds no `trust/root/` there, and one whose
//! channel was delegated in a later version refuses every head). `cairn import` refuses, before
//! writing anything, a bundle whose chain is not the target store's (a version both hold that
//! differs) or whose newest head agents there would refuse under the newest root, and writes the
//! versions the target lacks, create-only and before any head can name them.
//!
//! Only the newest head is checked under the root: it is the one agents apply, and older heads
//! were signed under versions that later ones may have changed (a rotated team key).

use cairn_state_format::{HeadCheck, Lineage, TrustedRoot, layout, verify_head_under};
use cairn_store::{Abilities, Store};

use super::{Bundle, Verified};
use crate::error::{Error, Result};
use crate::safe_writes::create_once;
use crate::trust::{self, Chain};

/// Every version of `store`'s trust root as stored, keyed as in the store (none without a root),
/// checked from version 1.
pub async fn export(store: &Store) -> Result<Vec<(String, Vec<u8>)>> {
    let Some(chain) = trust::load(store).await? else {
        return Ok(Vec::new());
    };
    Ok(chain
        .versions
        .iter()
        .zip(chain.stored)
        .map(|(info, bytes)| (layout::root_key(info.version), bytes))
        .collect())
}

/// Checks the chain a bundle carries and its newest head under it (what `cairn export` makes sure
/// of before writing a file).
pub fn check(bundle: &Bundle, verified: &Verified) -> Result<()> {
    if let Some(chain) = carried_chain(bundle)? {
        check_newest_head(bundle, verified, &chain.trusted)?;
    }
    Ok(())
}

/// The trust root versions an import writes to `store`, after checking the bundle's chain
/// against the target's and the newest head under the newer of the two.
pub async fn plan_import(
    store: &Store,
    bundle: &Bundle,
    verified: &Verified,
) -> Result<Vec<(String, Vec<u8>)>> {
    let carried = carried_chain(bundle)?;
    let target = trust::load(store).await?;
    if let (Some(carried), Some(target)) = (&carried, &target) {
        let differing = carried
            .versions
            .iter()
            .zip(&target.versions)
            .find(|(c, t)| c.digest != t.digest);
        if let Some((c, t)) = differing {
            return Err(refuse(
                bundle,
                format!(
                    "its trust root version {} ({}) is not the target store's ({}): the stores have different roots",
                    c.version, c.digest, t.digest
                ),
            ));
        }
    }
    let newest = match (&carried, &target) {
        (Some(c), Some(t)) if t.versions.len() > c.versions.len() => Some(&t.trusted),
        (Some(c), _) => Some(&c.trusted),
        (None, Some(t)) => Some(&t.trusted),
        (None, None) => None,
    };
    if let Some(root) = newest {
        check_newest_head(bundle, verified, root)?;
    }
    let have = target.map_or(0, |t| t.versions.len());
    Ok(versions_in(bundle)?
        .into_iter()
        .skip(have)
        .map(|(version, bytes)| (layout::root_key(version), bytes.to_vec()))
        .collect())
}

/// Writes `versions` (oldest first) where absent; returns how many were written.
pub async fn write(
    store: &Store,
    versions: Vec<(String, Vec<u8>)>,
    abilities: Abilities,
) -> Result<usize> {
    let mut written = 0;
    for (key, bytes) in versions {
        written += usize::from(create_once(store, &key, bytes, abilities).await?);
    }
    Ok(written)
}

/// The bundle's trust root versions, checked to be 1, 2, … n.
fn versions_in(bundle: &Bundle) -> Result<Vec<(u64, &[u8])>> {
    let mut versions: Vec<(u64, &[u8])> = bundle
        .objects
        .iter()
        .filter_map(|(key, bytes)| Some((layout::version_of_root_key(key)?, bytes.as_slice())))
        .collect();
    versions.sort_unstable_by_key(|(v, _)| *v);
    if let Some((i, (v, _))) = versions
        .iter()
        .enumerate()
        .find(|(i, (v, _))| *v != *i as u64 + 1)
    {
        return Err(refuse(
            bundle,
            format!(
                "its trust root versions are not 1 to n: version {v} is in place {}",
                i + 1
            ),
        ));
    }
    Ok(versions)
}

/// The chain the bundle carries, verified from version 1; `None` when it carries none.
fn carried_chain(bundle: &Bundle) -> Result<Option<Chain>> {
    let versions = versions_in(bundle)?;
    trust::verify_versions(versions.iter().map(|(_, b)| *b)).map_err(|(v, r)| {
        refuse(
            bundle,
            format!("its trust root version {v} is refused: {r}"),
        )
    })
}

/// Refuses the bundle unless `root` accepts its newest head (as of its publication).
fn check_newest_head(bundle: &Bundle, verified: &Verified, root: &TrustedRoot) -> Result<()> {
    let m = &bundle.manifest;
    let Some((head, bytes)) = verified.log.get(&m.to) else {
        return Err(refuse(bundle, format!("generation {} is missing", m.to)));
    };
    let check = HeadCheck {
        root,
        channel: &m.channel,
        applied_generation: None,
        lineage: Lineage::default(),
        // Agents check the head's own expiry; here: was it signed as the root allows.
        now: head.published_at,
    };
    verify_head_under(bytes, &check).map_err(|refusal| {
        refuse(
            bundle,
            format!(
                "agents would refuse generation {} under trust root version {}: {refusal}",
                m.to,
                root.version()
            ),
        )
    })?;
    Ok(())
}

fn refuse(bundle: &Bundle, why: String) -> Error {
    Error::Input(format!(
        "bundle of channel {:?}: {why}; nothing was imported",
        bundle.manifest.channel
    ))
}
