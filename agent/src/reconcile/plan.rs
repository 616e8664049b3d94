//! Planning: from the desired entries and what the target owns, the ordered steps of a reconcile.
//!
//! Order: Namespaces and CustomResourceDefinitions first, then the other objects wave by wave
//! (lower waves first, no wave = 0); deletes come last, in the reverse of that order.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use cairn_state_format::{Change, Digest, Entry, EntrySet, ResourceId};

use crate::targets::Inventory;

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

    /// Objects in all steps.
    pub fn len(&self) -> usize {
        self.steps.iter().map(|s| s.items.len()).sum()
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

/// Whether an object is a CustomResourceDefinition (its kinds are served only once it is
/// applied).
pub fn is_definition(id: &ResourceId) -> bool {
    id.group == "apiextensions.k8s.io" && id.kind == "CustomResourceDefinition"
}

/// Whether an object must exist before everything else (Namespaces, CRDs).
fn foundational(id: &ResourceId) -> bool {
    (id.group.is_empty() && id.kind == "Namespace") || is_definition(id)
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
    let mut steps = Steps::new(previous);
    let mut unchanged = 0;
    // Both maps are sorted by identity: one merged pass, no lookups.
    let mut owned = inventory.owned.iter().peekable();
    for (id, entry) in desired {
        while let Some((gone, _)) = owned.next_if(|(o, _)| o.cmp(&id) == Ordering::Less) {
            steps.delete(gone);
        }
        let action = match owned.next_if(|(o, _)| *o == id).map(|(_, blob)| blob) {
            None => Action::Create,
            Some(Some(blob)) if *blob == entry.blob && !inventory.drifted.contains(id) => {
                unchanged += 1;
                continue;
            }
            Some(_) => Action::Update,
        };
        steps.apply(entry, action);
    }
    for (gone, _) in owned {
        steps.delete(gone);
    }
    steps.finish(unchanged)
}

/// The same plan as [`plan`] when the target owns exactly `previous` (no drift, nothing pending),
/// computed from the `changes` between the snapshots alone: O(changes), not O(objects).
/// `desired` and `previous` are the selected entries; `changes` may be unselected (an entry whose
/// selector stopped matching becomes a delete).
pub fn plan_changes(desired: &EntrySet, previous: &EntrySet, changes: &[Change]) -> Plan {
    let mut steps = Steps::new(previous);
    let mut written = 0;
    for change in changes {
        let id = change.id();
        match (desired.get(id), previous.get(id)) {
            (Some(entry), None) => {
                steps.apply(entry, Action::Create);
                written += 1;
            }
            (Some(entry), Some(had)) if entry.blob != had.blob => {
                steps.apply(entry, Action::Update);
                written += 1;
            }
            (None, Some(_)) => steps.delete(id),
            (Some(_), Some(_)) | (None, None) => {}
        }
    }
    steps.finish(desired.len() - written)
}

/// Items grouped into steps by rank, in identity order within each.
struct Steps<'a> {
    previous: &'a EntrySet,
    applies: BTreeMap<(u8, i32), Vec<Item>>,
    deletes: BTreeMap<(u8, i32), Vec<Item>>,
}

impl<'a> Steps<'a> {
    fn new(previous: &'a EntrySet) -> Steps<'a> {
        Steps {
            previous,
            applies: BTreeMap::new(),
            deletes: BTreeMap::new(),
        }
    }

    fn apply(&mut self, entry: &Entry, action: Action) {
        self.applies
            .entry(rank(&entry.id, entry.wave))
            .or_default()
            .push(Item {
                id: entry.id.clone(),
                blob: Some(entry.blob),
                action,
            });
    }

    /// A delete, ordered by the wave the object had when applied.
    fn delete(&mut self, id: &ResourceId) {
        let wave = self.previous.get(id).and_then(|e| e.wave);
        self.deletes.entry(rank(id, wave)).or_default().push(Item {
            id: id.clone(),
            blob: None,
            action: Action::Delete,
        });
    }

    /// Applies in rank order, then deletes in the reverse order.
    fn finish(self, unchanged: usize) -> Plan {
        let mut steps: Vec<Step> = self
            .applies
            .into_iter()
            .map(|(key, items)| Step {
                label: label(key, false),
                deletes: false,
                items,
            })
            .collect();
        steps.extend(self.deletes.into_iter().rev().map(|(key, mut items)| {
            items.reverse();
            Step {
                label: label(key, true),
                deletes: true,
                items,
            }
        }));
        Plan { steps, unchanged }
    }
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
            ..Inventory::default()
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

    /// `plan_changes` gives exactly the full plan against an inventory of `previous`, for
    /// every kind of change: added, changed, removed, a selector starting or stopping to match,
    /// a wave moving, a change that does not concern this cluster.
    #[test]
    fn a_plan_from_the_changes_alone_is_the_full_plan() {
        let before = entries(YAML);
        let after = entries(
            &YAML
                .replace(
                    "name: plain, namespace: app}",
                    "name: plain, namespace: app, labels: {v: '2'}}",
                )
                .replace("'region=eu'", "'region=us'")
                .replace("wave: '2'", "wave: '3'")
                .replace(
                    "kind: CustomResourceDefinition\nmetadata: {name: widgets.example.com}",
                    "kind: ConfigMap\nmetadata: {name: added, namespace: app}",
                ),
        );
        let changes = cairn_state_format::diff_entries(&before, &after);
        assert_eq!(changes.len(), 5, "{changes:?}");
        for region in ["us", "eu"] {
            let labels = BTreeMap::from([("region".to_owned(), region.to_owned())]);
            let (previous, desired) = (select(&before, &labels), select(&after, &labels));
            let inventory = Inventory {
                owned: previous
                    .values()
                    .map(|e| (e.id.clone(), Some(e.blob)))
                    .collect(),
                ..Inventory::default()
            };
            let full = plan(&desired, &inventory, &previous);
            assert!(!full.is_empty());
            assert_eq!(
                plan_changes(&desired, &previous, &changes),
                full,
                "{region}"
            );
        }
    }

    #[test]
    fn unchanged_objects_are_skipped_and_drifted_or_pending_ones_updated() {
        let desired = entries(YAML);
        let mut inventory = Inventory {
            owned: desired
                .values()
                .map(|e| (e.id.clone(), Some(e.blob)))
                .collect(),
            ..Inventory::default()
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
