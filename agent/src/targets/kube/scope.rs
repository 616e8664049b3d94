//! Group-kinds and namespaces: what an ApplySet parent records (KEP-3659's
//! `applyset.kubernetes.io/contains-group-kinds` and `additional-namespaces`), what a pass
//! touches, and the identity of an object as the API server sees it.

use std::collections::BTreeSet;
use std::fmt;

use cairn_state_format::ResourceId;

/// A kind and its API group (`Deployment.apps`, `ConfigMap`), as ApplySet annotations spell it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GroupKind {
    /// The API group; empty for the core group.
    pub group: String,
    /// The kind.
    pub kind: String,
}

impl GroupKind {
    /// The group-kind of `id`.
    pub fn of(id: &ResourceId) -> GroupKind {
        GroupKind {
            group: id.group.clone(),
            kind: id.kind.clone(),
        }
    }

    /// Parses `Kind.group` (or `Kind` for the core group).
    pub fn parse(text: &str) -> Option<GroupKind> {
        let text = text.trim();
        let (kind, group) = text.split_once('.').unwrap_or((text, ""));
        (!kind.is_empty()).then(|| GroupKind {
            group: group.to_owned(),
            kind: kind.to_owned(),
        })
    }
}

impl fmt::Display for GroupKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.group.is_empty() {
            f.write_str(&self.kind)
        } else {
            write!(f, "{}.{}", self.kind, self.group)
        }
    }
}

/// Group-kinds and namespaces: what an ApplySet parent says its members may be.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scope {
    /// Every group-kind of a member.
    pub kinds: BTreeSet<GroupKind>,
    /// Every namespace of a member (the parent's own included, which the annotation leaves out).
    pub namespaces: BTreeSet<String>,
}

impl Scope {
    /// The scope of `ids` (already as the API server sees them, see [`effective`]).
    pub fn of<'a>(ids: impl IntoIterator<Item = &'a ResourceId>) -> Scope {
        let mut scope = Scope::default();
        for id in ids {
            scope.kinds.insert(GroupKind::of(id));
            if !id.namespace.is_empty() {
                scope.namespaces.insert(id.namespace.clone());
            }
        }
        scope
    }

    /// Reads the parent's annotations (comma-separated lists; empty entries are ignored).
    pub fn parse(kinds: &str, namespaces: &str) -> Scope {
        Scope {
            kinds: kinds.split(',').filter_map(GroupKind::parse).collect(),
            namespaces: namespaces
                .split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(str::to_owned)
                .collect(),
        }
    }

    /// Whether `other` adds nothing to this scope.
    pub fn covers(&self, other: &Scope) -> bool {
        other.kinds.is_subset(&self.kinds) && other.namespaces.is_subset(&self.namespaces)
    }

    /// This scope with `other`'s kinds and namespaces added.
    pub fn union(&self, other: &Scope) -> Scope {
        Scope {
            kinds: self.kinds.union(&other.kinds).cloned().collect(),
            namespaces: self.namespaces.union(&other.namespaces).cloned().collect(),
        }
    }

    /// The `contains-group-kinds` annotation: comma-separated, sorted as text (as KEP-3659
    /// asks, so that writers agree byte for byte).
    pub fn kinds_annotation(&self) -> String {
        let mut kinds: Vec<String> = self.kinds.iter().map(ToString::to_string).collect();
        kinds.sort();
        kinds.join(",")
    }

    /// The `additional-namespaces` annotation: every namespace but the parent's own.
    pub fn namespaces_annotation(&self, parent_namespace: &str) -> String {
        let namespaces: Vec<&str> = self
            .namespaces
            .iter()
            .map(String::as_str)
            .filter(|n| *n != parent_namespace)
            .collect();
        namespaces.join(",")
    }
}

/// `id` as the API server sees it: a namespaced object without a namespace lands in `default`,
/// a cluster-scoped one has none.
pub fn effective(id: &ResourceId, namespaced: bool) -> ResourceId {
    let namespace = match (namespaced, id.namespace.is_empty()) {
        (true, true) => "default".to_owned(),
        (true, false) => id.namespace.clone(),
        (false, _) => String::new(),
    };
    ResourceId {
        namespace,
        ..id.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotations_round_trip() {
        let scope = Scope::parse(
            "Service,Deployment.apps, ConfigMap,,Widget.example.com",
            "app,cairn-system,",
        );
        assert_eq!(
            scope.kinds_annotation(),
            "ConfigMap,Deployment.apps,Service,Widget.example.com"
        );
        assert_eq!(scope.namespaces_annotation("cairn-system"), "app");
        let more = Scope::parse("Secret", "");
        assert!(!scope.covers(&more));
        assert!(scope.union(&more).covers(&scope));
        assert_eq!(
            GroupKind::parse("Ingress.networking.k8s.io").unwrap().group,
            "networking.k8s.io"
        );
    }
}
