//! Checking one object against a scope.

use std::fmt;

use super::Scope;

/// Where an object lives, as the API server will see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement<'a> {
    /// An object of a namespaced kind, in this namespace.
    Namespaced(&'a str),
    /// An object of a cluster-scoped kind.
    Cluster,
    /// An object of a namespaced kind that names no namespace (the target would choose one):
    /// never within a scope, since where it lands is not the publisher's to say.
    Unplaced,
}

/// An object as a scope sees it: its kind, where it lives, its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScopedObject<'a> {
    /// API group; empty for the core group.
    pub group: &'a str,
    /// Kind.
    pub kind: &'a str,
    /// Where it lives.
    pub placement: Placement<'a>,
    /// `metadata.name`.
    pub name: &'a str,
}

impl<'a> ScopedObject<'a> {
    /// An object of `kind` in `group`, placed as `placement`.
    pub fn new(group: &'a str, kind: &'a str, placement: Placement<'a>, name: &'a str) -> Self {
        ScopedObject {
            group,
            kind,
            placement,
            name,
        }
    }
}

impl fmt::Display for ScopedObject<'_> {
    /// `Kind.group namespace/name`, as cairn names objects everywhere else.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind)?;
        if !self.group.is_empty() {
            write!(f, ".{}", self.group)?;
        }
        match self.placement {
            Placement::Namespaced(namespace) => write!(f, " {namespace}/{}", self.name),
            Placement::Cluster | Placement::Unplaced => write!(f, " {}", self.name),
        }
    }
}

/// An object a scope does not allow, and the rule it breaks.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{object}: {rule}")]
pub struct Violation {
    /// The object, as `Kind.group namespace/name`.
    pub object: String,
    /// The rule it breaks.
    pub rule: Rule,
}

/// The scope rule an object breaks.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rule {
    /// A `deny_kinds` pattern matches the kind.
    #[error("kind {kind} is denied by the scope's deny_kinds pattern {pattern}")]
    KindDenied {
        /// `Kind.group`.
        kind: String,
        /// The pattern that matched.
        pattern: String,
    },
    /// No `kinds` pattern matches the kind.
    #[error("kind {kind} is not among the scope's kinds ({allowed})")]
    KindNotAllowed {
        /// `Kind.group`.
        kind: String,
        /// The scope's kinds, comma-separated.
        allowed: String,
    },
    /// The object is cluster-scoped and the scope allows none.
    #[error("cluster-scoped objects are not allowed by the scope (cluster_scoped: false)")]
    ClusterScoped,
    /// The object's namespace matches none of the scope's.
    #[error("namespace {namespace} is outside the scope's namespaces ({allowed})")]
    NamespaceOutside {
        /// The object's namespace.
        namespace: String,
        /// The scope's namespaces for this channel (`$channel` replaced), comma-separated.
        allowed: String,
    },
    /// The object names no namespace, so the scope cannot place it.
    #[error(
        "names no namespace, and the scope allows only objects placed in its namespaces ({allowed}); set metadata.namespace (or publish with --namespace)"
    )]
    Unplaced {
        /// The scope's namespaces for this channel, comma-separated.
        allowed: String,
    },
}

impl Scope {
    /// Whether channel `channel` may write `object`: its kind is allowed and not denied, and it
    /// is cluster-scoped only if the scope allows that, or in one of the scope's namespaces.
    pub fn check(&self, channel: &str, object: &ScopedObject<'_>) -> Result<(), Violation> {
        self.rule_broken(channel, object).map_or(Ok(()), |rule| {
            Err(Violation {
                object: object.to_string(),
                rule,
            })
        })
    }

    fn rule_broken(&self, channel: &str, object: &ScopedObject<'_>) -> Option<Rule> {
        let kind = || match object.group {
            "" => object.kind.to_owned(),
            group => format!("{}.{group}", object.kind),
        };
        if let Some(pattern) = self
            .deny_kinds
            .iter()
            .find(|p| p.matches(object.group, object.kind))
        {
            return Some(Rule::KindDenied {
                kind: kind(),
                pattern: pattern.to_string(),
            });
        }
        if !self
            .kinds
            .iter()
            .any(|p| p.matches(object.group, object.kind))
        {
            let allowed: Vec<String> = self.kinds.iter().map(|k| k.to_string()).collect();
            return Some(Rule::KindNotAllowed {
                kind: kind(),
                allowed: allowed.join(", "),
            });
        }
        match object.placement {
            Placement::Cluster if self.cluster_scoped => None,
            Placement::Cluster => Some(Rule::ClusterScoped),
            Placement::Namespaced(namespace)
                if self
                    .namespaces
                    .iter()
                    .any(|p| p.matches(channel, namespace)) =>
            {
                None
            }
            Placement::Namespaced(namespace) => Some(Rule::NamespaceOutside {
                namespace: namespace.to_owned(),
                allowed: self.namespaces_for(channel),
            }),
            Placement::Unplaced => Some(Rule::Unplaced {
                allowed: self.namespaces_for(channel),
            }),
        }
    }

    /// The scope's namespaces as they read for `channel`, comma-separated (`none` if empty).
    pub fn namespaces_for(&self, channel: &str) -> String {
        if self.namespaces.is_empty() {
            return "none".to_owned();
        }
        let list: Vec<String> = self
            .namespaces
            .iter()
            .map(|n| n.for_channel(channel))
            .collect();
        list.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(json: &str) -> Scope {
        serde_json::from_str(json).unwrap()
    }

    fn team() -> Scope {
        scope(
            r#"{"cluster_scoped":false,"deny_kinds":["*.rbac.authorization.k8s.io","ResourceQuota"],
                "kinds":["*.*"],"namespaces":["$channel","team-a-*"]}"#,
        )
    }

    fn obj<'a>(group: &'a str, kind: &'a str, placement: Placement<'a>) -> ScopedObject<'a> {
        ScopedObject::new(group, kind, placement, "x")
    }

    #[test]
    fn a_team_writes_its_namespaces_only() {
        let s = team();
        let ns = Placement::Namespaced;
        assert!(
            s.check("team-a-web", &obj("apps", "Deployment", ns("team-a-web")))
                .is_ok()
        );
        assert!(
            s.check("team-a-web", &obj("", "ConfigMap", ns("team-a-db")))
                .is_ok()
        );
        let err = s
            .check("team-a-web", &obj("", "ConfigMap", ns("team-b")))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "ConfigMap team-b/x: namespace team-b is outside the scope's namespaces (team-a-web, team-a-*)"
        );
        let err = s
            .check("team-a-web", &obj("apps", "DaemonSet", ns("kube-system")))
            .unwrap_err();
        assert!(matches!(err.rule, Rule::NamespaceOutside { .. }));
    }

    #[test]
    fn cluster_scoped_objects_need_the_scope_to_say_so() {
        let s = team();
        let hook = obj(
            "admissionregistration.k8s.io",
            "MutatingWebhookConfiguration",
            Placement::Cluster,
        );
        assert_eq!(
            s.check("team-a-web", &hook).unwrap_err().rule,
            Rule::ClusterScoped
        );
        let namespace = obj("", "Namespace", Placement::Cluster);
        assert_eq!(
            s.check("team-a-web", &namespace).unwrap_err().rule,
            Rule::ClusterScoped
        );
        let platform =
            scope(r#"{"cluster_scoped":true,"deny_kinds":[],"kinds":["*.*"],"namespaces":["*"]}"#);
        assert!(platform.check("platform", &hook).is_ok());
    }

    #[test]
    fn a_deny_wins_over_an_allow() {
        let s = team();
        let binding = obj(
            "rbac.authorization.k8s.io",
            "RoleBinding",
            Placement::Namespaced("team-a-web"),
        );
        let err = s.check("team-a-web", &binding).unwrap_err();
        assert_eq!(
            err.rule,
            Rule::KindDenied {
                kind: "RoleBinding.rbac.authorization.k8s.io".into(),
                pattern: "*.rbac.authorization.k8s.io".into()
            }
        );
        let quota = obj("", "ResourceQuota", Placement::Namespaced("team-a-web"));
        assert!(matches!(
            s.check("team-a-web", &quota).unwrap_err().rule,
            Rule::KindDenied { .. }
        ));
    }

    #[test]
    fn only_listed_kinds_are_allowed() {
        let s = scope(
            r#"{"cluster_scoped":false,"deny_kinds":[],"kinds":["ConfigMap","Deployment.apps"],"namespaces":["staging-*"]}"#,
        );
        let ns = Placement::Namespaced("staging-1");
        assert!(s.check("ai", &obj("apps", "Deployment", ns)).is_ok());
        let err = s.check("ai", &obj("batch", "CronJob", ns)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "CronJob.batch staging-1/x: kind CronJob.batch is not among the scope's kinds (ConfigMap, Deployment.apps)"
        );
    }

    #[test]
    fn an_object_without_a_namespace_is_never_in_scope() {
        let s = team();
        let err = s
            .check("team-a-web", &obj("", "ConfigMap", Placement::Unplaced))
            .unwrap_err();
        assert!(err.to_string().contains("names no namespace"), "{err}");
    }

    #[test]
    fn an_empty_namespace_list_allows_cluster_scoped_only() {
        let s = scope(
            r#"{"cluster_scoped":true,"deny_kinds":[],"kinds":["*.apiextensions.k8s.io"],"namespaces":[]}"#,
        );
        let crd = obj(
            "apiextensions.k8s.io",
            "CustomResourceDefinition",
            Placement::Cluster,
        );
        assert!(s.check("crds", &crd).is_ok());
        let cm = obj("", "ConfigMap", Placement::Namespaced("default"));
        assert!(s.check("crds", &cm).is_err());
    }
}
