//! What cairn knows about kinds: whether their objects live in a namespace, and what the API
//! server requires of their names. Built-in kinds come from the Kubernetes API's own data
//! ([`builtin`]); custom kinds from the CustomResourceDefinitions published with them ([`crd`]).
//!
//! ```
//! use cairn_hub::kinds::{Kinds, Scope};
//! let kinds = Kinds::builtin_only();
//! assert_eq!(kinds.scope("apps", "Deployment"), Some(Scope::Namespaced));
//! assert_eq!(kinds.scope("example.com", "Widget"), None);
//! assert!(kinds.name_rule("", "Service").check("1-web").is_err());
//! ```

pub mod builtin;
pub mod crd;

use std::collections::BTreeMap;

use cairn_state_format::names;
use serde::{Deserialize, Serialize};

/// Where a kind's objects live.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Scope {
    /// In a namespace.
    Namespaced,
    /// In the cluster, outside any namespace.
    Cluster,
}

/// A kind a CustomResourceDefinition defines.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CustomKind {
    /// `spec.group`.
    pub group: String,
    /// `spec.names.kind`.
    pub kind: String,
    /// `spec.scope`.
    pub scope: Scope,
}

/// What the API server requires of a kind's names (on top of [`names::path_segment`], which
/// it requires of every name).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameRule {
    /// An RFC 1123 subdomain: most built-in kinds, and every custom resource.
    Subdomain,
    /// An RFC 1123 subdomain of at most this many characters.
    SubdomainOfAtMost(usize),
    /// An RFC 1123 label: Namespaces, StatefulSets.
    Label,
    /// A DNS-1035 label: Services.
    Dns1035Label,
    /// A path segment only: RBAC kinds, and what the generic registry applies to kinds cairn
    /// does not know.
    PathSegment,
    /// An IP address in canonical form: IPAddress.
    IpAddress,
    /// A subdomain, with the `system-` prefix reserved for the cluster's own classes.
    PriorityClass,
}

impl NameRule {
    /// Whether `name` follows the rule; `Err` says why not.
    pub fn check(self, name: &str) -> Result<(), String> {
        let why = |e: names::NameError| e.to_string();
        names::path_segment(name).map_err(why)?;
        match self {
            NameRule::Subdomain => names::dns1123_subdomain(name).map_err(why),
            NameRule::SubdomainOfAtMost(max) if name.len() > max => Err(format!(
                "must be no more than {max} characters (is {})",
                name.len()
            )),
            NameRule::SubdomainOfAtMost(_) => names::dns1123_subdomain(name).map_err(why),
            NameRule::Label => names::dns1123_label(name).map_err(why),
            NameRule::Dns1035Label => names::dns1035_label(name).map_err(why),
            NameRule::PathSegment => Ok(()),
            NameRule::IpAddress => match name.parse::<std::net::IpAddr>() {
                Ok(ip) if ip.to_string() == name => Ok(()),
                Ok(ip) => Err(format!("must be in canonical form ({ip:?})")),
                Err(_) => Err("must be an IP address".to_owned()),
            },
            NameRule::PriorityClass
                if name.starts_with("system-") && !SYSTEM_CLASSES.contains(&name) =>
            {
                Err(
                    "the system- prefix is reserved for the cluster's own priority classes"
                        .to_owned(),
                )
            }
            NameRule::PriorityClass => names::dns1123_subdomain(name).map_err(why),
        }
    }
}

/// The priority classes every cluster has, which may be declared (with their fixed values).
const SYSTEM_CLASSES: [&str; 2] = ["system-node-critical", "system-cluster-critical"];

/// The kinds of one publish: the built-in ones and those its CustomResourceDefinitions define.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Kinds {
    custom: BTreeMap<(String, String), Scope>,
}

impl Kinds {
    /// Built-in kinds only.
    pub fn builtin_only() -> Kinds {
        Kinds::default()
    }

    /// Built-in kinds and `defined` custom kinds. Two definitions of one kind with different
    /// scopes are returned as conflicts (the first one is kept).
    pub fn with_custom<'a>(
        defined: impl IntoIterator<Item = &'a CustomKind>,
    ) -> (Kinds, Vec<CustomKind>) {
        let mut kinds = Kinds::default();
        let mut conflicts = Vec::new();
        for k in defined {
            let key = (k.group.clone(), k.kind.clone());
            match kinds.custom.get(&key) {
                Some(scope) if *scope != k.scope => conflicts.push(k.clone()),
                Some(_) => {}
                None => {
                    kinds.custom.insert(key, k.scope);
                }
            }
        }
        (kinds, conflicts)
    }

    /// Whether objects of `kind` in `group` are namespaced, if cairn can tell.
    pub fn scope(&self, group: &str, kind: &str) -> Option<Scope> {
        match builtin::lookup(group, kind) {
            Some(k) => Some(k.scope),
            None => self
                .custom
                .get(&(group.to_owned(), kind.to_owned()))
                .copied(),
        }
    }

    /// What the API server requires of the names of `kind` in `group`.
    pub fn name_rule(&self, group: &str, kind: &str) -> NameRule {
        if builtin::lookup(group, kind).is_some() {
            builtin::name_rule(group, kind)
        } else if self.scope(group, kind).is_some() {
            NameRule::Subdomain
        } else {
            NameRule::PathSegment
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_rules_follow_the_kind() {
        let kinds = Kinds::builtin_only();
        let check = |group: &str, kind: &str, name: &str| kinds.name_rule(group, kind).check(name);
        assert!(check("", "ConfigMap", "a.b-c").is_ok());
        assert!(check("", "ConfigMap", "../../../../escape").is_err());
        assert!(check("", "ConfigMap", "Web").is_err());
        assert!(check("", "Namespace", "a.b").is_err());
        assert!(check("", "Service", "9web").is_err());
        assert!(check("apps", "StatefulSet", "db.main").is_err());
        assert!(
            check(
                "rbac.authorization.k8s.io",
                "ClusterRole",
                "system:auth-delegator"
            )
            .is_ok()
        );
        assert!(check("rbac.authorization.k8s.io", "Role", "..").is_err());
        assert!(check("batch", "CronJob", &"a".repeat(53)).is_err());
        assert!(check("networking.k8s.io", "IPAddress", "2001:db8::1").is_ok());
        assert!(check("networking.k8s.io", "IPAddress", "2001:DB8::1").is_err());
        assert!(check("scheduling.k8s.io", "PriorityClass", "system-mine").is_err());
        // Kinds cairn does not know get the generic registry's rule: a path segment.
        assert!(check("example.com", "Widget", "Any Name:1").is_ok());
        assert!(check("example.com", "Widget", "a/b").is_err());
    }

    #[test]
    fn custom_kinds_are_placed_and_named_as_custom_resources() {
        let widget = |scope| CustomKind {
            group: "example.com".into(),
            kind: "Widget".into(),
            scope,
        };
        let (kinds, conflicts) = Kinds::with_custom(&[widget(Scope::Namespaced)]);
        assert!(conflicts.is_empty());
        assert_eq!(
            kinds.scope("example.com", "Widget"),
            Some(Scope::Namespaced)
        );
        assert!(
            kinds
                .name_rule("example.com", "Widget")
                .check("Any Name")
                .is_err()
        );
        let both = [widget(Scope::Namespaced), widget(Scope::Cluster)];
        assert_eq!(Kinds::with_custom(&both).1, [widget(Scope::Cluster)]);
    }
}
