//! What cairn knows about kinds: whether their objects live in a namespace, and what the API
//! server requires of their names. Built-in kinds come from the Kubernetes API's own data
//! ([`builtin`]); custom kinds from the CustomResourceDefinitions published with them ([`crd`]).

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

/// Why a name breaks its kind's [`NameRule`].
#[derive(Debug, thiserror::Error)]
pub enum NameError {
    /// It is not of the form the rule names.
    #[error(transparent)]
    Form(#[from] names::NameError),
    /// It is longer than the kind allows.
    #[error("must be no more than {max} characters (is {length})")]
    TooLong {
        /// The longest name allowed.
        max: usize,
        /// The name's length.
        length: usize,
    },
    /// An IP address not written the one way the API server accepts.
    #[error("must be in canonical form ({canonical:?})")]
    NotCanonical {
        /// The address as it must be written.
        canonical: std::net::IpAddr,
    },
    /// Not an IP address at all.
    #[error("must be an IP address")]
    NotAnIp(#[source] std::net::AddrParseError),
    /// A priority class name that takes the prefix reserved for the cluster's own.
    #[error("the system- prefix is reserved for the cluster's own priority classes")]
    ReservedPrefix,
}

impl NameRule {
    /// Whether `name` follows the rule; `Err` says why not.
    pub fn check(self, name: &str) -> Result<(), NameError> {
        form(names::path_segment(name))?;
        match self {
            NameRule::Subdomain => form(names::dns1123_subdomain(name)),
            NameRule::SubdomainOfAtMost(max) if name.len() > max => Err(NameError::TooLong {
                max,
                length: name.len(),
            }),
            NameRule::SubdomainOfAtMost(_) => form(names::dns1123_subdomain(name)),
            NameRule::Label => form(names::dns1123_label(name)),
            NameRule::Dns1035Label => form(names::dns1035_label(name)),
            NameRule::PathSegment => Ok(()),
            NameRule::IpAddress => match name.parse::<std::net::IpAddr>() {
                Ok(ip) if ip.to_string() == name => Ok(()),
                Ok(canonical) => Err(NameError::NotCanonical { canonical }),
                Err(e) => Err(NameError::NotAnIp(e)),
            },
            NameRule::PriorityClass
                if name.starts_with("system-") && !SYSTEM_CLASSES.contains(&name) =>
            {
                Err(NameError::ReservedPrefix)
            }
            NameRule::PriorityClass => form(names::dns1123_subdomain(name)),
        }
    }
}

/// A name check's verdict as a [`NameError`].
fn form(checked: Result<(), names::NameError>) -> Result<(), NameError> {
    Ok(checked?)
}

/// The priority classes every cluster has, which may be declared (with their fixed values).
const SYSTEM_CLASSES: [&str; 2] = ["system-node-critical", "system-cluster-critical"];

/// The kinds of one publish: the built-in ones and those its CustomResourceDefinitions define.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Kinds {
    /// Custom kinds' scopes by group, then kind (looked up without copying either).
    custom: BTreeMap<String, BTreeMap<String, Scope>>,
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
            match kinds.scope_of_custom(&k.group, &k.kind) {
                Some(scope) if scope != k.scope => conflicts.push(k.clone()),
                Some(_) => {}
                None => {
                    let group = kinds.custom.entry(k.group.clone()).or_default();
                    group.insert(k.kind.clone(), k.scope);
                }
            }
        }
        (kinds, conflicts)
    }

    /// Whether objects of `kind` in `group` are namespaced, if cairn can tell.
    pub fn scope(&self, group: &str, kind: &str) -> Option<Scope> {
        match builtin::lookup(group, kind) {
            Some(k) => Some(k.scope),
            None => self.scope_of_custom(group, kind),
        }
    }

    fn scope_of_custom(&self, group: &str, kind: &str) -> Option<Scope> {
        self.custom.get(group)?.get(kind).copied()
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
