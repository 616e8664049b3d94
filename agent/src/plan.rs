//! Planning: from the desired entries and what the target owns, the ordered steps of a reconcile.
//!
//! Order: Namespaces and CustomResourceDefinitions first, then the other objects wave by wave
//! (lower waves first, no wave = 0); deletes come last, in the reverse of that order.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use cairn_state_format::{Digest, Entry, EntrySet, ResourceId};

use crate::target::Inventory;

/// What happens to one object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// The target does not have it.
    Create,
    /// The target has another version of it, or it drifted.
    Update,
    /// The channel owns it but no longer wants it.
    Delete,
}

/// One object of a step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    /// The object.
    pub id: ResourceId,
    /// The blob to write (`None` for deletes).
    pub blob: Option<Digest>,
    /// What happens to it.
    pub action: Action,
}

/// A group of objects applied together; a step starts only when the one before succeeded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// What the step is, for logs (`namespaces and CRDs`, `wave 2`, `prune wave 0`).
    pub label: String,
    /// Whether the step removes objects.
    pub deletes: bool,
    /// Its objects.
    pub items: Vec<Item>,
}

/// The steps of one reconcile.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Steps in order.
    pub steps: Vec<Step>,
    /// Objects already as desired.
    pub unchanged: usize,
}

impl Plan {
    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Blobs the steps write.
    pub fn blobs(&self) -> BTreeSet<Digest> {
        self.steps
            .iter()
            .flat_map(|s| &s.items)
            .filter_map(|i| i.blob)
            .collect()
    }

    /// Number of objects created, updated and deleted.
    pub fn counts(&self) -> (usize, usize, usize) {
        let items = || self.steps.iter().flat_map(|s| &s.items);
        let n = |a| items().filter(|i| i.action == a).count();
        (n(Action::Create), n(Action::Update), n(Action::Delete))
    }
}

/// The entries a cluster with `labels` applies: those without a selector or whose selector
/// matches.
/// Borrows `entries` when every entry applies (no copy in the common case).
pub fn select<'a>(entries: &'a EntrySet, labels: &BTreeMap<String, String>) -> Cow<'a, EntrySet> {
    let applies = |e: &Entry| e.selector.as_ref().is_none_or(|s| s.matches(labels));
    if entries.values().all(applies) {
        return Cow::Borrowed(entries);
    }
    Cow::Owned(
        entries
            .iter()
            .filter(|(_, e)| applies(e))
            .map(|(id, e)| (id.clone(), e.clone()))
            .collect(),
    )
}

/// Whether an object must exist before everything else (Namespaces, CRDs).
fn foundational(id: &ResourceId) -> bool {
    (id.group.is_empty() && id.kind == "Namespace")
        || (id.group == "apiextensions.k8s.io" && id.kind == "CustomResourceDefinition")
}

/// The sort key of an object: foundations first, then by wave.
fn rank(id: &ResourceId, wave: Option<i32>) -> (u8, i32) {
    if foundational(id) {
        (0, wave.unwrap_or(0))
    } else {
        (1, wave.unwrap_or(0))
    }
}

fn label((tier, wave): (u8, i32), deletes: bool) -> String {
    let base = if tier == 0 {
        format!("namespaces and CRDs, wave {wave}")
    } else {
        format!("wave {wave}")
    };
    if deletes {
        format!("prune {base}")
    } else {
        base
    }
}

/// Plans the move from what the target has (`inventory`) to `desired`. `previous` (the entries
/// applied before) supplies the waves of objects being deleted.
pub fn plan(desired: &EntrySet, inventory: &Inventory, previous: &EntrySet) -> Plan {
    let mut applies: BTreeMap<(u8, i32), Vec<Item>> = BTreeMap::new();
    let mut deletes: BTreeMap<(u8, i32), Vec<Item>> = BTreeMap::new();
    let mut delete = |id: &ResourceId| {
        let wave = previous.get(id).and_then(|e| e.wave);
        deletes.entry(rank(id, wave)).or_default().push(Item {
            id: id.clone(),
            blob: None,
            action: Action::Delete,
        });
    };
    let mut unchanged = 0;
    // Both maps are sorted by identity: one merged pass, no lookups.
    let mut owned = inventory.owned.iter().peekable();
    for (id, entry) in desired {
        while let Some((gone, _)) = owned.next_if(|(o, _)| o.cmp(&id) == Ordering::Less) {
            delete(gone);
        }
        let action = match owned.next_if(|(o, _)| *o == id).map(|(_, blob)| blob) {
            None => Action::Create,
            Some(Some(blob)) if *blob == entry.blob && !inventory.drifted.contains(id) => {
                unchanged += 1;
                continue;
            }
            Some(_) => Action::Update,
        };
        applies.entry(rank(id, entry.wave)).or_default().push(Item {
            id: id.clone(),
            blob: Some(entry.blob),
            action,
        });
    }
    for (gone, _) in owned {
        delete(gone);
    }
    let mut steps: Vec<Step> = applies
        .into_iter()
        .map(|(key, items)| Step {
            label: label(key, false),
            deletes: false,
            items,
        })
        .collect();
    steps.extend(deletes.into_iter().rev().map(|(key, mut items)| {
        items.reverse();
        Step {
            label: label(key, true),
            deletes: true,
            items,
        }
    }));
    Plan { steps, unchanged }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_state_format::parse_documents;

    fn entries(yaml: &str) -> EntrySet {
        parse_documents("t.yaml", yaml)
            .unwrap()
            .iter()
            .map(|r| (r.id.clone(), r.entry()))
            .collect()
    }

    const YAML: &str = "\
apiVersion: v1
kind: ConfigMap
metadata: {name: late, namespace: app, annotations: {cairn.dev/wave: '2'}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: early, namespace: app, annotations: {cairn.dev/wave: '-1'}}
---
apiVersion: v1
kind: Namespace
metadata: {name: app, annotations: {cairn.dev/wave: '5'}}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.com}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: plain, namespace: app}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: eu-only, namespace: app, annotations: {cairn.dev/cluster-selector: 'region=eu'}}
";

    #[test]
    fn orders_foundations_then_waves_and_deletes_last_in_reverse() {
        let all = entries(YAML);
        let labels = BTreeMap::from([("region".to_owned(), "us".to_owned())]);
        let desired = select(&all, &labels);
        assert_eq!(desired.len(), 5);
        let p = plan(&desired, &Inventory::default(), &EntrySet::new());
        let order: Vec<&str> = p
            .steps
            .iter()
            .flat_map(|s| &s.items)
            .map(|i| i.id.name.as_str())
            .collect();
        assert_eq!(
            order,
            ["widgets.example.com", "app", "early", "plain", "late"]
        );
        assert_eq!(p.counts(), (5, 0, 0));

        // Everything applied; now remove it all: deletes come in reverse order.
        let inventory = Inventory {
            owned: desired
                .values()
                .map(|e| (e.id.clone(), Some(e.blob)))
                .collect(),
            drifted: Default::default(),
        };
        let p = plan(&EntrySet::new(), &inventory, &all);
        let order: Vec<&str> = p
            .steps
            .iter()
            .flat_map(|s| &s.items)
            .map(|i| i.id.name.as_str())
            .collect();
        assert_eq!(
            order,
            ["late", "plain", "early", "app", "widgets.example.com"]
        );
        assert!(p.steps.iter().all(|s| s.deletes));
    }

    #[test]
    fn unchanged_objects_are_skipped_and_drifted_or_pending_ones_updated() {
        let desired = entries(YAML);
        let mut inventory = Inventory {
            owned: desired
                .values()
                .map(|e| (e.id.clone(), Some(e.blob)))
                .collect(),
            drifted: Default::default(),
        };
        assert!(plan(&desired, &inventory, &desired).is_empty());
        let first = desired.keys().next().unwrap().clone();
        let second = desired.keys().nth(1).unwrap().clone();
        inventory.drifted.insert(first);
        inventory.owned.insert(second, None);
        let p = plan(&desired, &inventory, &desired);
        assert_eq!(p.counts(), (0, 2, 0));
        assert_eq!(p.unchanged, desired.len() - 2);
    }
}
