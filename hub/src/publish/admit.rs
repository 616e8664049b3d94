//! The gate every head passes before anything of it is written: would agents under the store's
//! trust root accept it? Its keys must be delegated the channel (enough of them, or a proposal
//! when `--propose` allows it), and every object of its content must be within the scope of
//! that delegation: all refusals in one report (`TrustError::OutOfScope`, exit 7). Without a
//! trust root nothing is checked here: agents decide with the keys and scopes they are given.
//!
//! Content read from files is checked as scanned (named by file and document); content already
//! in the store (promote, revert, refresh, rollouts, flags, a proposal being signed) is read
//! from its index, whole, and named by identity: the hub does not take it on trust that a
//! stored snapshot was checked under today's scope.

use cairn_state_format::{Digest, EntrySet};
use cairn_store::Store;

use super::request::{Content, Settings};
use super::scope_check::{
    check_files, check_ids, is_definition, kinds_defined_by, needs_definitions,
};
use crate::clock::now;
use crate::error::{Error, OutOfScope, RefusedObject, Result, TrustError};
use crate::objects::fetch_blobs;
use crate::objects::nodes::RemoteNodes;
use crate::trust::{self, ChannelScope, Signing};

/// Checks the keys of `settings` and `content` for a head of `channel`, before anything is
/// written; says how the head stands under the trust root.
pub async fn admit(
    nodes: &mut RemoteNodes<'_>,
    channel: &str,
    settings: &Settings<'_>,
    content: &Content<'_>,
) -> Result<Signing> {
    let (signing, scope) = check_keys(nodes.store(), channel, settings).await?;
    if let Some(scope) = scope {
        match content {
            Content::Scanned(scan) => {
                let refused = check_files(&scope.scope, channel, scan.kinds(), scan.objects())?;
                refuse(channel, &scope, "the manifests", refused)?;
            }
            Content::Local { entries, blobs } => {
                let refused =
                    check_in_memory(&scope, channel, entries, |d| blobs.get(d).map(|b| &b[..]));
                refuse(channel, &scope, "the content", refused)?;
            }
            Content::Existing(snapshot) => {
                let index = nodes.snapshot(snapshot).await?.index;
                check_stored(
                    nodes,
                    &scope,
                    channel,
                    &index,
                    &format!("snapshot {snapshot}"),
                )
                .await?;
            }
        }
    }
    Ok(signing)
}

/// [`admit`] for content whose index is not stored yet (`flag set` checks its patched snapshot
/// before uploading it): the index at `index`, read through `nodes`, described as `what`.
pub async fn admit_index(
    nodes: &mut RemoteNodes<'_>,
    channel: &str,
    settings: &Settings<'_>,
    index: &Digest,
    what: &str,
) -> Result<Signing> {
    let (signing, scope) = check_keys(nodes.store(), channel, settings).await?;
    if let Some(scope) = scope {
        check_stored(nodes, &scope, channel, index, what).await?;
    }
    Ok(signing)
}

/// Refuses every object of the index at `index` (content in the store, described as `what`)
/// that `scope` does not allow for `channel`.
pub async fn check_stored(
    nodes: &mut RemoteNodes<'_>,
    scope: &ChannelScope,
    channel: &str,
    index: &Digest,
    what: &str,
) -> Result<()> {
    let entries = nodes.entries(index).await?;
    let kinds = if needs_definitions(entries.keys()) {
        let definitions = entries.values().filter(|e| is_definition(&e.id));
        let blobs = fetch_blobs(nodes.store(), definitions.map(|e| e.blob)).await?;
        kinds_defined_by(blobs.values().map(|b| &b[..]))
    } else {
        kinds_defined_by([])
    };
    let refused = check_ids(&scope.scope, channel, &kinds, entries.keys());
    refuse(channel, scope, what, refused)
}

/// Every object of `entries` (content held in memory, each blob found by `blob`) that `scope`
/// does not allow for `channel`, named by identity.
pub fn check_in_memory<'b>(
    scope: &ChannelScope,
    channel: &str,
    entries: &EntrySet,
    blob: impl Fn(&Digest) -> Option<&'b [u8]>,
) -> Vec<RefusedObject> {
    let definitions = entries
        .values()
        .filter(|e| is_definition(&e.id))
        .filter_map(|e| blob(&e.blob));
    let kinds = kinds_defined_by(definitions);
    check_ids(&scope.scope, channel, &kinds, entries.keys())
}

/// The trust root's error for `refused`, the objects of `what` outside `scope`; `Ok` if none.
pub fn refuse(
    channel: &str,
    scope: &ChannelScope,
    what: &str,
    refused: Vec<RefusedObject>,
) -> Result<()> {
    if refused.is_empty() {
        return Ok(());
    }
    Err(TrustError::OutOfScope(Box::new(OutOfScope {
        channel: channel.to_owned(),
        content: what.to_owned(),
        version: scope.version,
        delegation: scope.delegation.clone(),
        scope: scope.scope.to_string(),
        refused,
    }))
    .into())
}

/// Checks the signing keys against the store's trust root; returns how the head stands and the
/// scope its content must keep to.
async fn check_keys(
    store: &Store,
    channel: &str,
    settings: &Settings<'_>,
) -> Result<(Signing, Option<ChannelScope>)> {
    let chain = trust::load(store).await?;
    let signing = trust::gate(chain.as_ref(), channel, settings.keys, now())?;
    let signing = match signing {
        Signing::Partial {
            delegation,
            threshold,
            allowed,
        } if !settings.propose => {
            return Err(TrustError::BelowThreshold {
                channel: channel.to_owned(),
                delegation,
                threshold,
                signers: settings.keys.iter().map(|k| k.public().id()).collect(),
                allowed,
            }
            .into());
        }
        Signing::Unchecked if settings.propose => {
            return Err(Error::Usage(format!(
                "--propose leaves a head for others to sign, but {} has no trust root that asks for more \
                 than one signature (`cairn trust init`, `cairn trust delegate --threshold`)",
                store.url()
            )));
        }
        other => other,
    };
    Ok((signing, trust::scope_for(chain.as_ref(), channel)))
}
