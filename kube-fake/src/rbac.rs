//! Authorization, as RBAC would decide it: grants bound cluster-wide (a ClusterRoleBinding) or in
//! some namespaces (RoleBindings). Without grants the fake allows everything. It also answers
//! `SelfSubjectRulesReview` and `SelfSubjectAccessReview` from the same grants.

use serde_json::{Value, json};

/// What a request asks to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attributes {
    pub verb: String,
    pub group: String,
    pub resource: String,
    /// Empty for cluster-scoped objects and for lists across all namespaces.
    pub namespace: String,
}

/// One grant: an RBAC rule and where it is bound.
#[derive(Clone, Debug)]
pub struct Grant {
    /// API groups (`""` for the core group, `*` for all).
    pub groups: Vec<String>,
    /// Resources, plural (`*` for all).
    pub resources: Vec<String>,
    /// Verbs (`*` for all).
    pub verbs: Vec<String>,
    /// `None`: bound cluster-wide; `Some`: bound in these namespaces only.
    pub namespaces: Option<Vec<String>>,
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

fn has(list: &[String], item: &str) -> bool {
    list.iter().any(|l| l == "*" || l == item)
}

impl Grant {
    /// A rule bound cluster-wide.
    pub fn cluster(groups: &[&str], resources: &[&str], verbs: &[&str]) -> Grant {
        Grant {
            groups: strings(groups),
            resources: strings(resources),
            verbs: strings(verbs),
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

    fn applies_in(&self, namespace: &str) -> bool {
        match &self.namespaces {
            None => true,
            Some(list) => !namespace.is_empty() && list.iter().any(|n| n == namespace),
        }
    }

    fn allows(&self, a: &Attributes) -> bool {
        self.applies_in(&a.namespace)
            && has(&self.verbs, &a.verb)
            && has(&self.groups, &a.group)
            && has(&self.resources, &a.resource)
    }

    fn rule(&self) -> Value {
        json!({"verbs": self.verbs, "apiGroups": self.groups, "resources": self.resources})
    }
}

/// The fake's authorizer.
#[derive(Clone, Debug, Default)]
pub struct Rbac {
    /// `None`: everything is allowed.
    pub grants: Option<Vec<Grant>>,
}

impl Rbac {
    /// Whether the request is allowed.
    pub fn allows(&self, a: &Attributes) -> bool {
        match &self.grants {
            None => true,
            Some(grants) => grants.iter().any(|g| g.allows(a)),
        }
    }

    /// The 403 body the API server sends.
    pub fn forbidden(a: &Attributes) -> String {
        let what = if a.group.is_empty() {
            a.resource.clone()
        } else {
            format!("{}.{}", a.resource, a.group)
        };
        let scope = if a.namespace.is_empty() {
            "at the cluster scope".to_owned()
        } else {
            format!("in the namespace \"{}\"", a.namespace)
        };
        format!(
            "{what} is forbidden: User \"system:serviceaccount:cairn-system:cairn-agent\" cannot {} resource \"{}\" in API group \"{}\" {scope}",
            a.verb, a.resource, a.group
        )
    }

    /// The status of a `SelfSubjectRulesReview` for `namespace`.
    pub fn rules_review(&self, namespace: &str) -> Value {
        let rules: Vec<Value> = match &self.grants {
            None => vec![json!({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]})],
            Some(grants) => grants
                .iter()
                .filter(|g| g.applies_in(namespace))
                .map(Grant::rule)
                .collect(),
        };
        json!({"resourceRules": rules, "nonResourceRules": [], "incomplete": false})
    }

    /// The status of a `SelfSubjectAccessReview` of `spec`.
    pub fn access_review(&self, spec: &Value) -> Value {
        let attrs = &spec["resourceAttributes"];
        let text = |k: &str| attrs[k].as_str().unwrap_or_default().to_owned();
        let allowed = self.allows(&Attributes {
            verb: text("verb"),
            group: text("group"),
            resource: text("resource"),
            namespace: text("namespace"),
        });
        json!({"allowed": allowed})
    }
}
