//! What a channel owns, as the cluster says: one label-selected list per kind it may own,
//! across all namespaces, paginated. The kinds are those its ApplySet parent records (written
//! before any pass writes) and those of the previous snapshot; with no record at all (a first
//! apply, a lost state ConfigMap), every kind the server lists. A namespaced kind whose
//! cluster-wide list is forbidden is listed per namespace instead.
//!
//! The listing also gives each object's health, and its field-ownership fingerprint: objects
//! whose fingerprint moved since cairn wrote them are the drift check's suspects, the others
//! need no request.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use futures::StreamExt;

use cairn_state_format::{Digest, EntrySet, ResourceId};
use kube::Client;
use kube::api::{Api, DynamicObject, ListParams};
use serde_json::Value;

use super::PAGE;
use super::discovery::{Resolved, Unresolved};
use super::health;
use super::ledger::{Book, Health, Live, Mark, Parent};
use super::ownership::selector;
use super::scope::{GroupKind, effective};
use super::{Inner, fields};
use crate::targets::{Inventory, TargetError};

/// One listed object.
struct Listed {
    id: ResourceId,
    live: Live,
    health: Health,
    /// The object itself, kept only when its fingerprint moved (a drift suspect).
    object: Option<Value>,
}

/// Whether what `book` says the channel owns is exactly `previous`: listed in this process,
/// no orphans left, and nothing written or removed since that `previous` does not say.
pub fn owns_exactly(book: &Book, previous: &EntrySet) -> bool {
    book.listed
        && book.orphans.is_empty()
        && book.marks.iter().all(|(id, mark)| match mark {
            Mark::Written(blob) => previous.get(id).map(|e| &e.blob) == Some(blob),
            Mark::Unconfirmed => false,
            Mark::Removed => !previous.contains_key(id),
        })
}

/// Lists the channel's objects and says what it owns, and with `check_drift` which objects
/// someone changed since cairn wrote them (the suspects).
pub async fn take(
    inner: &Inner,
    client: &Client,
    channel: &str,
    desired: &EntrySet,
    previous: &EntrySet,
    check_drift: bool,
) -> Result<Inventory, TargetError> {
    let names = snapshot_names(inner, client, desired.keys().chain(previous.keys())).await?;
    let (kinds, recorded_namespaces) = kinds_to_list(inner, client, channel, previous).await?;
    let recorded = inner.ledger.with(channel, |book| book.recorded.clone());
    let mut namespaces = recorded_namespaces;
    namespaces.extend(
        names
            .to_snapshot
            .keys()
            .map(|id| id.namespace.clone())
            .filter(|n| !n.is_empty()),
    );
    namespaces.insert(inner.options.namespace.clone());
    let account_scope = (inner.scopes.get(channel)).filter(|s| s.service_account.is_some());
    if let Some(scope) = &account_scope
        && !(scope.namespaces.iter()).any(|p| p.matches(channel, &inner.options.namespace))
    {
        // The state ConfigMaps' namespace is an ApplySet member namespace by convention, but
        // outside the scope the channel cannot have written there, and its account may not
        // even list it.
        namespaces.remove(&inner.options.namespace);
    }
    let listing = Listing {
        selector: selector(channel),
        recorded: &recorded,
        namespaces: &namespaces,
        as_account: account_scope.is_some(),
    };
    let results: Vec<_> = futures::stream::iter(kinds)
        .map(|(resolved, required)| {
            let listing = &listing;
            async move {
                (
                    listing.kind(client, &resolved, required).await,
                    resolved,
                    required,
                )
            }
        })
        .buffer_unordered(inner.options.concurrency.max(1))
        .collect()
        .await;
    let mut listed = Vec::new();
    for (result, resolved, required) in results {
        match result {
            Ok(items) => listed.extend(items),
            // A kind cairn has no record of writing, that this agent may not list: it cannot
            // have written any either.
            Err(TargetError::Api(kube::Error::Api(s)))
                if !required && matches!(s.code, 403..=405) =>
            {
                tracing::debug!(kind = %resolved.resource.kind, code = s.code, "not listed");
            }
            Err(e) => return Err(e),
        }
    }
    let inventory = inner.ledger.with(channel, |book| {
        settle(book, listed, &names, desired, previous, check_drift)
    });
    Ok(inventory)
}

/// Effective ids and snapshot ids, both ways.
#[derive(Default)]
struct Names {
    to_snapshot: HashMap<ResourceId, ResourceId>,
    to_effective: HashMap<ResourceId, ResourceId>,
}

impl Names {
    fn snapshot(&self, effective: &ResourceId) -> ResourceId {
        self.to_snapshot
            .get(effective)
            .cloned()
            .unwrap_or_else(|| effective.clone())
    }

    fn effective(&self, snapshot: &ResourceId) -> ResourceId {
        self.to_effective
            .get(snapshot)
            .cloned()
            .unwrap_or_else(|| snapshot.clone())
    }
}

/// Effective ids and snapshot ids of `ids`, both ways (an id whose kind is not served stays as
/// it is).
async fn snapshot_names<'a>(
    inner: &Inner,
    client: &Client,
    ids: impl Iterator<Item = &'a ResourceId>,
) -> Result<Names, TargetError> {
    let mut scopes: HashMap<GroupKind, Option<bool>> = HashMap::new();
    let mut out = Names::default();
    for id in ids {
        let gk = GroupKind::of(id);
        if !scopes.contains_key(&gk) {
            let namespaced = match inner
                .kinds
                .for_group_kind(client, &id.group, &id.kind)
                .await
            {
                Ok(resolved) => Some(resolved.namespaced),
                Err(Unresolved::Unknown(_)) => None,
                Err(Unresolved::Failed(e)) => return Err(TargetError::Discovery(e)),
            };
            scopes.insert(gk.clone(), namespaced);
        }
        let key = match scopes[&gk] {
            Some(namespaced) => effective(id, namespaced),
            None => id.clone(),
        };
        out.to_effective.insert(id.clone(), key.clone());
        out.to_snapshot.insert(key, id.clone());
    }
    Ok(out)
}

/// The kinds to list (each with whether it is known to hold the channel's objects, so that a
/// forbidden list of it is an error) and the namespaces the parent records.
async fn kinds_to_list(
    inner: &Inner,
    client: &Client,
    channel: &str,
    previous: &EntrySet,
) -> Result<(Vec<(Resolved, bool)>, BTreeSet<String>), TargetError> {
    let parent = inner.ledger.with(channel, |book| book.parent.clone());
    let mut wanted: BTreeSet<GroupKind> = previous.keys().map(GroupKind::of).collect();
    let (every_kind, namespaces) = match parent {
        Parent::Recorded(scope) => {
            wanted.extend(scope.kinds);
            (false, scope.namespaces)
        }
        Parent::Absent | Parent::Unknown => (true, BTreeSet::new()),
    };
    let mut kinds = Vec::new();
    for gk in &wanted {
        match inner
            .kinds
            .for_group_kind(client, &gk.group, &gk.kind)
            .await
        {
            Ok(resolved) => kinds.push((resolved, true)),
            // A kind no longer served (its CRD is gone) holds nothing.
            Err(Unresolved::Unknown(_)) => {}
            Err(Unresolved::Failed(e)) => return Err(TargetError::Discovery(e)),
        }
    }
    if every_kind {
        let all = inner.kinds.all(client).await.map_err(|e| match e {
            Unresolved::Failed(e) => TargetError::Discovery(e),
            Unresolved::Unknown(message) => TargetError::Unserved(message),
        })?;
        for resolved in all.into_iter().filter(|r| r.listable) {
            let gk = GroupKind {
                group: resolved.resource.group.clone(),
                kind: resolved.resource.kind.clone(),
            };
            if !wanted.contains(&gk) {
                kinds.push((resolved, false));
            }
        }
    }
    kinds.sort_by(|a, b| a.0.resource.kind.cmp(&b.0.resource.kind));
    Ok((kinds, namespaces))
}

/// How to list the channel's objects.
struct Listing<'a> {
    selector: String,
    recorded: &'a BTreeMap<ResourceId, u64>,
    /// Where to look when a cluster-wide list is forbidden.
    namespaces: &'a BTreeSet<String>,
    /// The channel acts as its ServiceAccount, whose rights are per namespace as a rule: its
    /// kinds are listed per namespace at once (no cluster-wide list refused first).
    as_account: bool,
}

impl Listing<'_> {
    /// The channel's objects of one kind (per namespace when the kind is known to hold some and
    /// a list across namespaces is forbidden).
    async fn kind(
        &self,
        client: &Client,
        resolved: &Resolved,
        required: bool,
    ) -> Result<Vec<Listed>, TargetError> {
        let per_namespace = resolved.namespaced && required;
        if per_namespace && self.as_account {
            return self.each_namespace(client, resolved).await;
        }
        let all = Api::<DynamicObject>::all_with(client.clone(), &resolved.resource);
        match self.pages(&all, resolved).await {
            Err(TargetError::Api(kube::Error::Api(status)))
                if status.code == 403 && per_namespace =>
            {
                tracing::debug!(kind = %resolved.resource.kind, "cluster-wide list forbidden; listing per namespace");
                self.each_namespace(client, resolved).await
            }
            other => other,
        }
    }

    /// The channel's objects of one kind, namespace by namespace.
    async fn each_namespace(
        &self,
        client: &Client,
        resolved: &Resolved,
    ) -> Result<Vec<Listed>, TargetError> {
        let mut out = Vec::new();
        for namespace in self.namespaces {
            let api = Api::<DynamicObject>::namespaced_with(
                client.clone(),
                namespace,
                &resolved.resource,
            );
            out.extend(self.pages(&api, resolved).await?);
        }
        Ok(out)
    }

    /// Every page of one list.
    async fn pages(
        &self,
        api: &Api<DynamicObject>,
        resolved: &Resolved,
    ) -> Result<Vec<Listed>, TargetError> {
        let mut out = Vec::new();
        let mut params = ListParams::default().labels(&self.selector).limit(PAGE);
        loop {
            let page = api.list(&params).await.map_err(TargetError::Api)?;
            for item in page.items {
                out.push(self.seen(resolved, item));
            }
            match page.metadata.continue_ {
                Some(token) if !token.is_empty() => params = params.continue_token(&token),
                _ => return Ok(out),
            }
        }
    }

    fn seen(&self, resolved: &Resolved, item: DynamicObject) -> Listed {
        let r = &resolved.resource;
        let id = ResourceId {
            group: r.group.clone(),
            kind: r.kind.clone(),
            namespace: item.metadata.namespace.clone().unwrap_or_default(),
            name: item.metadata.name.clone().unwrap_or_default(),
        };
        let mut object = serde_json::to_value(&item).unwrap_or(Value::Null);
        object["apiVersion"] = r.api_version.clone().into();
        object["kind"] = r.kind.clone().into();
        let live = Live {
            uid: item.metadata.uid.clone().unwrap_or_default(),
            resource_version: item.metadata.resource_version.clone().unwrap_or_default(),
            fingerprint: fields::fingerprint(&object),
        };
        let health = health::assess(&object);
        let moved = self.recorded.get(&id) != Some(&live.fingerprint);
        Listed {
            id,
            live,
            health,
            object: moved.then_some(object),
        }
    }
}

/// Records the listing in the book and says what the channel owns.
fn settle(
    book: &mut Book,
    listed: Vec<Listed>,
    names: &Names,
    desired: &EntrySet,
    previous: &EntrySet,
    check_drift: bool,
) -> Inventory {
    book.live.clear();
    book.orphans.clear();
    book.suspects.clear();
    let mut inventory = Inventory::default();
    let mut seen = BTreeSet::new();
    for item in listed {
        let name = names.snapshot(&item.id);
        book.saw(&item.id, item.live, item.health);
        let blob = known_blob(book, &name, previous);
        if !desired.contains_key(&name) && !previous.contains_key(&name) {
            book.orphans.insert(item.id.clone());
        }
        if check_drift
            && blob.is_some()
            && desired.contains_key(&name)
            && let Some(object) = item.object
        {
            book.suspects.insert(item.id.clone(), Some(object));
            inventory.suspects.insert(name.clone());
        }
        seen.insert(name.clone());
        inventory.owned.insert(name, blob);
    }
    // What the channel applied and the listing did not find: gone behind cairn's back (a
    // suspect of the drift check), or never created (a write that failed).
    for (name, mark) in &book.marks {
        if *mark == Mark::Unconfirmed && !seen.contains(name) {
            inventory.owned.insert(name.clone(), None);
        }
    }
    for (name, entry) in previous {
        if seen.contains(name)
            || matches!(
                book.marks.get(name),
                Some(Mark::Removed | Mark::Unconfirmed)
            )
        {
            continue;
        }
        inventory.owned.insert(name.clone(), Some(entry.blob));
        if check_drift && desired.contains_key(name) {
            book.suspects.insert(names.effective(name), None);
            inventory.suspects.insert(name.clone());
        }
    }
    book.listed = true;
    inventory.narrowed = check_drift;
    inventory
}

/// The blob cairn last wrote to `name`, as far as it knows.
fn known_blob(book: &Book, name: &ResourceId, previous: &EntrySet) -> Option<Digest> {
    match book.marks.get(name) {
        Some(Mark::Written(blob)) => Some(*blob),
        Some(Mark::Unconfirmed) => None,
        Some(Mark::Removed) | None => previous.get(name).map(|e| e.blob),
    }
}
