//! Grants: the rights of the fake's own caller (the agent's identity) set by a test, bound
//! cluster-wide (as a ClusterRoleBinding would) or in some namespaces (as RoleBindings would).

use super::rule::Rule;

/// One grant: an RBAC rule and where it is bound.
#[derive(Clone, Debug)]
pub struct Grant {
    /// API groups (`""` for the core group, `*` for all).
    pub groups: Vec<String>,
    /// Resources, plural (`*` for all).
    pub resources: Vec<String>,
    /// Verbs (`*` for all).
    pub verbs: Vec<String>,
    /// Object names (`resourceNames`); empty for every name.
    pub names: Vec<String>,
    /// `None`: bound cluster-wide; `Some`: bound in these namespaces only.
    pub namespaces: Option<Vec<String>>,
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

impl Grant {
    /// A rule bound cluster-wide.
    pub fn cluster(groups: &[&str], resources: &[&str], verbs: &[&str]) -> Grant {
        Grant {
            groups: strings(groups),
            resources: strings(resources),
            verbs: strings(verbs),
            names: Vec::new(),
            namespaces: None,
        }
    }

    /// A rule bound in `namespaces` only.
    pub fn namespaced(
        namespaces: &[&str],
        groups: &[&str],
        resources: &[&str],
        verbs: &[&str],
    ) -> Grant {
        Grant {
            namespaces: Some(strings(namespaces)),
            ..Grant::cluster(groups, resources, verbs)
        }
    }

    /// The same grant, for objects named `names` only.
    pub fn named(self, names: &[&str]) -> Grant {
        Grant {
            names: strings(names),
            ..self
        }
    }

    /// Whether the grant holds for requests in `namespace` (`""`: cluster scope).
    pub(super) fn applies_in(&self, namespace: &str) -> bool {
        match &self.namespaces {
            None => true,
            Some(list) => !namespace.is_empty() && list.iter().any(|n| n == namespace),
        }
    }

    pub(super) fn rule(&self) -> Rule {
        Rule {
            verbs: self.verbs.clone(),
            groups: self.groups.clone(),
            resources: self.resources.clone(),
            names: self.names.clone(),
            urls: Vec::new(),
        }
    }
}
