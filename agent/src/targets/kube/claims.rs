//! Whose an object is, for objects the target does not know to be the channel's (a create, an
//! object a write may have left behind, one missing from the last listing): looked for once
//! before the first write, with one metadata-only list per kind and namespace when several are
//! wanted (kept for the rest of the pass), else one get. Nothing can be in a namespace the pass
//! itself created, so those cost nothing.

use std::collections::{BTreeMap, HashMap};

use cairn_state_format::ResourceId;
use kube::Client;
use kube::api::{Api, DynamicObject, ListParams};

use super::discovery::Resolved;
use super::ledger::{Claim, Seen};
use super::ownership::{Owner, owner};
use super::{Inner, PAGE};
use crate::targets::TargetError;

/// An object to look for, as the API server names it, with its kind.
type Wanted = (ResourceId, Resolved);

impl Claim {
    fn of(labels: Option<&BTreeMap<String, String>>, channel: &str) -> Claim {
        match owner(labels, channel) {
            Owner::Channel => Claim::Ours,
            Owner::OtherChannel(other) => Claim::Other(other),
            Owner::Foreign => Claim::Foreign,
        }
    }
}

/// The claims on `wanted` (ids as the API server sees them, with their kinds) for `channel`.
pub async fn look(
    inner: &Inner,
    client: &Client,
    channel: &str,
    wanted: &[Wanted],
) -> HashMap<ResourceId, Result<Claim, TargetError>> {
    let mut out = HashMap::new();
    // (group, kind, namespace) → the objects to look for there.
    let mut groups: BTreeMap<(String, String, String), Vec<&Wanted>> = BTreeMap::new();
    for item in wanted {
        let (id, _) = item;
        let fresh = inner
            .ledger
            .with(channel, |book| book.fresh.contains(&id.namespace));
        if fresh {
            out.insert(id.clone(), Ok(Claim::Absent));
        } else {
            groups.entry(Seen::key(id)).or_default().push(item);
        }
    }
    for (key, items) in groups {
        let listed = inner
            .ledger
            .with(channel, |book| book.seen.0.contains_key(&key));
        if items.len() > 1 || listed {
            let (_, resolved) = items[0];
            match list(inner, client, channel, &key, resolved).await {
                Ok(()) => {
                    inner.ledger.with(channel, |book| {
                        let names = &book.seen.0[&key];
                        for (id, _) in &items {
                            let claim = names.get(&id.name).cloned().unwrap_or(Claim::Absent);
                            out.insert(id.clone(), Ok(claim));
                        }
                    });
                    continue;
                }
                // Each object is then looked at alone, and fails (or not) on its own.
                Err(error) => tracing::debug!(%error, "cannot list; looking at each object"),
            }
        }
        for (id, resolved) in items {
            out.insert(id.clone(), get(client, channel, id, resolved).await);
        }
    }
    out
}

/// Lists the metadata of every object of one kind in one namespace (once per pass).
async fn list(
    inner: &Inner,
    client: &Client,
    channel: &str,
    key: &(String, String, String),
    resolved: &Resolved,
) -> Result<(), kube::Error> {
    if inner
        .ledger
        .with(channel, |book| book.seen.0.contains_key(key))
    {
        return Ok(());
    }
    let api = api(client, resolved, &key.2);
    let mut names = HashMap::new();
    let mut params = ListParams::default().limit(PAGE);
    loop {
        let page = api.list_metadata(&params).await?;
        for item in page.items {
            let claim = Claim::of(item.metadata.labels.as_ref(), channel);
            names.insert(item.metadata.name.unwrap_or_default(), claim);
        }
        match page.metadata.continue_ {
            Some(token) if !token.is_empty() => params = params.continue_token(&token),
            _ => break,
        }
    }
    inner
        .ledger
        .with(channel, |book| book.seen.0.insert(key.clone(), names));
    Ok(())
}

async fn get(
    client: &Client,
    channel: &str,
    id: &ResourceId,
    resolved: &Resolved,
) -> Result<Claim, TargetError> {
    let found = api(client, resolved, &id.namespace)
        .get_metadata_opt(&id.name)
        .await
        .map_err(TargetError::Api)?;
    Ok(match found {
        Some(meta) => Claim::of(meta.metadata.labels.as_ref(), channel),
        None => Claim::Absent,
    })
}

fn api(client: &Client, resolved: &Resolved, namespace: &str) -> Api<DynamicObject> {
    if resolved.namespaced {
        Api::namespaced_with(client.clone(), namespace, &resolved.resource)
    } else {
        Api::all_with(client.clone(), &resolved.resource)
    }
}

/// Forgets what the last pass looked for (a new pass starts).
pub fn forget(seen: &mut Seen) {
    seen.0.clear();
}
