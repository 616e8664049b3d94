//! `cairn flag`: feature flags with a lifecycle. A flip publishes a generation that changes only
//! the flag document: one blob and the index nodes on its path, found without reading the rest
//! of the snapshot.

use bytes::Bytes;
use cairn_state_format::{Origin, Resource, ResourceId, to_canonical_bytes};

use super::common::{channel_name, load_keys, open_store, print_json, settings};
use crate::channel::Channel;
use crate::cli::{FlagAction, FlagArgs, Output};
use crate::error::{Error, Result};
use crate::flags::{FlagDocument, FlagType, is_stale, parse_expiry};
use crate::patch::{lookup, upload, upsert};
use crate::publish::{Content, Publication, now, publish};
use crate::remote::{RemoteNodes, fetch_blobs};

/// Runs one flag action.
pub async fn flag(action: FlagAction) -> Result<()> {
    match action {
        FlagAction::Set {
            at,
            assignment,
            owner,
            expires,
            r#type,
            sign,
        } => {
            let name = channel_name(&at.channel)?.to_owned();
            let (flag, text) = assignment
                .split_once('=')
                .filter(|(f, _)| !f.is_empty())
                .ok_or_else(|| Error::Usage(format!("{assignment:?} is not NAME=VALUE")))?;
            let keys = load_keys(&sign)?;
            let store = open_store(&at.store)?;
            let channel = Channel::new(&store, &name);
            let latest = channel.require_latest().await?;
            let mut nodes = RemoteNodes::new(&store);
            let base = nodes.snapshot(&latest.head.snapshot).await?;
            let (mut doc, id) = read_document(&store, &mut nodes, &base.index, &at).await?;

            let existing_type = doc.flag_type(flag);
            let flag_type = match (r#type, existing_type) {
                (Some(asked), Some(has)) if asked != has => {
                    return Err(Error::Input(format!(
                        "flag {flag} is {has:?}, not {asked:?}; remove it first to change its type"
                    )));
                }
                (Some(asked), _) => asked,
                (None, Some(has)) => has,
                (None, None) => FlagType::infer(text),
            };
            let value = flag_type.parse(flag, text)?;
            let previous = doc.list().into_iter().find(|f| f.name == flag);
            let owner = owner
                .or_else(|| previous.as_ref().and_then(|p| p.owner.clone()))
                .ok_or_else(|| Error::Input(format!("flag {flag} is new: give its --owner")))?;
            let expires = expires
                .or_else(|| previous.as_ref().and_then(|p| p.expires.clone()))
                .ok_or_else(|| {
                    Error::Input(format!(
                        "flag {flag} is new: give its --expires date (YYYY-MM-DD)"
                    ))
                })?;
            parse_expiry(&expires)?;
            doc.set(flag, value.clone(), &owner, &expires, now());

            let object = doc.to_configmap(&at.namespace, &at.configmap);
            let resource = Resource::from_value(
                object,
                Origin {
                    source: format!("flag {flag}"),
                    document: 1,
                },
            )?;
            debug_assert_eq!(resource.id, id);
            let patched = upsert(&mut nodes, &base, resource.entry()).await?;
            let snapshot = upload(
                &store,
                &patched,
                &resource.digest,
                Bytes::from(to_canonical_bytes(&resource.object)),
            )
            .await?;
            let source = [("flag".to_owned(), format!("{flag}={value}"))].into();
            let publication = Publication {
                channel: name.clone(),
                content: Content::Existing(snapshot),
                source,
                expires_in: sign.expires_in,
                rollout: None,
                retire_at: latest.head.retire_at,
                allow_unchanged: false,
            };
            let published = publish(&store, publication, &settings(&sign, &keys)).await?;
            if at.store.output == Output::Json {
                return print_json(&published);
            }
            if published.unchanged {
                println!("channel {name}: flag {flag} is already {value}; nothing published");
            } else {
                println!(
                    "channel {name}: flag {flag} = {value} in generation {}",
                    published.generation
                );
            }
            Ok(())
        }
        FlagAction::List { at } => {
            let flags = current_flags(&at).await?;
            if at.store.output == Output::Json {
                return print_json(&flags);
            }
            for f in &flags {
                println!(
                    "{:<30} {:<12} owner {:<16} expires {:<10} updated {}",
                    f.name,
                    f.value.to_string(),
                    f.owner.as_deref().unwrap_or("-"),
                    f.expires.as_deref().unwrap_or("-"),
                    f.updated.as_deref().unwrap_or("-")
                );
            }
            if flags.is_empty() {
                println!("no flags on channel {}", at.channel);
            }
            Ok(())
        }
        FlagAction::Stale { at, unchanged_for } => {
            let now = now();
            let since =
                now - chrono::Duration::from_std(unchanged_for).unwrap_or(chrono::Duration::MAX);
            let stale: Vec<_> = current_flags(&at)
                .await?
                .into_iter()
                .filter_map(|f| is_stale(&f, now, since).map(|why| (f, why)))
                .collect();
            if at.store.output == Output::Json {
                let rows: Vec<_> = stale
                    .iter()
                    .map(|(f, why)| serde_json::json!({ "flag": f, "why": why }))
                    .collect();
                return print_json(&rows);
            }
            for (f, why) in &stale {
                println!(
                    "{:<30} {why} (owner {})",
                    f.name,
                    f.owner.as_deref().unwrap_or("-")
                );
            }
            if stale.is_empty() {
                println!("no stale flags on channel {}", at.channel);
            }
            Ok(())
        }
    }
}

async fn current_flags(at: &FlagArgs) -> Result<Vec<crate::flags::FlagInfo>> {
    let name = channel_name(&at.channel)?;
    let store = open_store(&at.store)?;
    let latest = Channel::new(&store, name).require_latest().await?;
    snapshot_flags(&store, &latest.head.snapshot, at).await
}

/// The flags in `snapshot`'s flag document (none if it has no such document).
pub async fn snapshot_flags(
    store: &cairn_store::Store,
    snapshot: &cairn_state_format::Digest,
    at: &FlagArgs,
) -> Result<Vec<crate::flags::FlagInfo>> {
    let mut nodes = RemoteNodes::new(store);
    let base = nodes.snapshot(snapshot).await?;
    Ok(read_document(store, &mut nodes, &base.index, at)
        .await?
        .0
        .list())
}

/// The channel's flag document (empty if it has none yet) and the ConfigMap's identity.
async fn read_document(
    store: &cairn_store::Store,
    nodes: &mut RemoteNodes<'_>,
    root: &cairn_state_format::Digest,
    at: &FlagArgs,
) -> Result<(FlagDocument, ResourceId)> {
    let id = ResourceId {
        group: String::new(),
        kind: "ConfigMap".into(),
        namespace: at.namespace.clone(),
        name: at.configmap.clone(),
    };
    let Some(entry) = lookup(nodes, root, &id).await? else {
        return Ok((FlagDocument::default(), id));
    };
    let blobs = fetch_blobs(store, [entry.blob]).await?;
    let object: serde_json::Value = serde_json::from_slice(&blobs[&entry.blob])
        .map_err(|e| Error::Input(format!("{id}: not JSON: {e}")))?;
    Ok((FlagDocument::from_configmap(&object, &id.to_string())?, id))
}
