//! What a channel may do on a cluster: the **scope** a delegation of the trust root carries (or,
//! without a root, the agent's own configuration gives a channel).
//!
//! A signature says who published a head; a scope says what that head's content may touch. It is
//! checked three times: by the hub before anything is uploaded, by the agent before the first
//! write of a generation (whoever wrote the head into the bucket), and by the API server, which
//! answers the agent's requests as the scope's ServiceAccount (impersonation).
//!
//! ```
//! use cairn_state_format::{Placement, Scope, ScopedObject};
//!
//! // Team A: its own namespaces, no RBAC, nothing cluster-scoped, applied as its account.
//! let scope: Scope = serde_json::from_str(r#"{
//!     "cluster_scoped": false,
//!     "deny_kinds": ["*.rbac.authorization.k8s.io"],
//!     "kinds": ["*.*"],
//!     "namespaces": ["$channel", "team-a-*"],
//!     "service_account": {"name": "cairn", "namespace": "team-a"}
//! }"#)?;
//! let web = ScopedObject::new("apps", "Deployment", Placement::Namespaced("team-a-web"), "web");
//! assert!(scope.check("team-a-web", &web).is_ok());
//! let elsewhere = ScopedObject::new("", "ConfigMap", Placement::Namespaced("team-b"), "x");
//! assert!(scope.check("team-a-web", &elsewhere).is_err());
//! let binding = ScopedObject::new("rbac.authorization.k8s.io", "ClusterRoleBinding", Placement::Cluster, "x");
//! assert!(scope.check("team-a-web", &binding).is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The rule language is small on purpose (docs/FORMAT.md, "Scope"):
//! - `namespaces`: where namespaced objects may be. Names or patterns (`*` is any run of
//!   characters); `$channel` stands for the name of the channel being checked.
//! - `kinds`: the kinds objects may be of, as `Kind.group` (`Deployment.apps`), `Kind` for the
//!   core group (`ConfigMap`), each part a pattern (`*.apps`, `*.*` for every kind). At least one.
//! - `deny_kinds`: kinds refused even when `kinds` allows them; a deny always wins.
//! - `cluster_scoped`: whether cluster-scoped objects (Namespaces, CRDs, ClusterRoles, webhook
//!   configurations, ...) may be written at all.
//! - `service_account`: the account the agent applies as (optional: without it the agent writes
//!   with its own rights, which the default install keeps to its own state).

mod check;
mod kind;
mod namespace;

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::names;

pub use check::{Placement, Rule, ScopedObject, Violation};
pub use kind::KindPattern;
pub use namespace::NamespacePattern;

/// What one channel may write to a cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scope {
    /// Whether cluster-scoped objects may be written.
    pub cluster_scoped: bool,
    /// Kinds refused even when [`Scope::kinds`] allows them; strictly ascending.
    pub deny_kinds: Vec<KindPattern>,
    /// Kinds objects may be of; strictly ascending, at least one.
    pub kinds: Vec<KindPattern>,
    /// Namespaces namespaced objects may be in; strictly ascending. Empty: none (a channel of
    /// cluster-scoped objects only).
    pub namespaces: Vec<NamespacePattern>,
    /// The account the agent writes, reads and prunes this channel's objects as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account: Option<ServiceAccount>,
}

/// A Kubernetes ServiceAccount, by namespace and name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceAccount {
    /// The account's name.
    pub name: String,
    /// The account's namespace.
    pub namespace: String,
}

impl ServiceAccount {
    /// The user name the API server knows the account by (`system:serviceaccount:<ns>:<name>`),
    /// which is what an agent impersonates.
    pub fn username(&self) -> String {
        format!("system:serviceaccount:{}:{}", self.namespace, self.name)
    }

    /// Parses `namespace/name`.
    pub fn parse(text: &str) -> Result<ServiceAccount, ScopeError> {
        let bad = |reason: String| ScopeError {
            field: "service_account".into(),
            reason: format!("{text:?}: {reason}"),
        };
        let (namespace, name) = text
            .split_once('/')
            .ok_or_else(|| bad("write it as NAMESPACE/NAME".into()))?;
        let account = ServiceAccount {
            name: name.to_owned(),
            namespace: namespace.to_owned(),
        };
        account.validate().map_err(|e| bad(e.to_string()))?;
        Ok(account)
    }

    fn validate(&self) -> Result<(), ScopeError> {
        names::dns1123_label(&self.namespace).map_err(|reason| ScopeError {
            field: "service_account.namespace".into(),
            reason: format!("{:?}: {reason}", self.namespace),
        })?;
        names::dns1123_subdomain(&self.name).map_err(|reason| ScopeError {
            field: "service_account.name".into(),
            reason: format!("{:?}: {reason}", self.name),
        })
    }
}

impl fmt::Display for ServiceAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// A scope that does not follow the rules: the field, and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct ScopeError {
    /// The field, e.g. `namespaces` or `service_account.name`.
    pub field: String,
    /// What is wrong with it.
    pub reason: String,
}

impl Scope {
    /// Checks what decoding alone cannot: lists ascending and unique, at least one kind, a
    /// valid account. Names the offending field.
    pub fn validate(&self) -> Result<(), ScopeError> {
        let field = |field: &str, reason: &str| ScopeError {
            field: field.into(),
            reason: reason.into(),
        };
        if self.kinds.is_empty() {
            return Err(field(
                "kinds",
                "names no kind: write \"*.*\" to allow every kind",
            ));
        }
        if !is_ascending(&self.kinds) {
            return Err(field("kinds", "must be ascending and unique"));
        }
        if !is_ascending(&self.deny_kinds) {
            return Err(field("deny_kinds", "must be ascending and unique"));
        }
        if !is_ascending(&self.namespaces) {
            return Err(field("namespaces", "must be ascending and unique"));
        }
        match &self.service_account {
            Some(account) => account.validate(),
            None => Ok(()),
        }
    }

    /// Sorts and deduplicates the lists, so that a scope built from flags in any order is valid
    /// and has one canonical form.
    pub fn normalized(mut self) -> Scope {
        for list in [&mut self.kinds, &mut self.deny_kinds] {
            list.sort();
            list.dedup();
        }
        self.namespaces.sort();
        self.namespaces.dedup();
        self
    }
}

impl fmt::Display for Scope {
    /// One line for people: `namespaces $channel, team-a-*; kinds *.*; deny *.rbac…; no
    /// cluster-scoped; as team-a/cairn`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let join = |items: &[String]| {
            if items.is_empty() {
                "none".to_owned()
            } else {
                items.join(", ")
            }
        };
        let namespaces: Vec<String> = self.namespaces.iter().map(|n| n.to_string()).collect();
        let kinds: Vec<String> = self.kinds.iter().map(|k| k.to_string()).collect();
        write!(
            f,
            "namespaces {}; kinds {}",
            join(&namespaces),
            join(&kinds)
        )?;
        if !self.deny_kinds.is_empty() {
            let deny: Vec<String> = self.deny_kinds.iter().map(|k| k.to_string()).collect();
            write!(f, "; deny {}", deny.join(", "))?;
        }
        let cluster = if self.cluster_scoped {
            "cluster-scoped allowed"
        } else {
            "no cluster-scoped"
        };
        write!(f, "; {cluster}")?;
        match &self.service_account {
            Some(account) => write!(f, "; as {account}"),
            None => write!(f, "; as the agent's own account"),
        }
    }
}

fn is_ascending<T: Ord>(items: &[T]) -> bool {
    items.windows(2).all(|w| w[0] < w[1])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(json: &str) -> Scope {
        serde_json::from_str(json).unwrap()
    }

    const TEAM: &str =
        r#"{"cluster_scoped":false,"deny_kinds":[],"kinds":["*.*"],"namespaces":["team-a"]}"#;

    #[test]
    fn a_valid_scope_round_trips_in_canonical_form() {
        let s = scope(TEAM);
        s.validate().unwrap();
        assert_eq!(crate::canonical_bytes_of(&s), TEAM.as_bytes());
    }

    #[test]
    fn unknown_fields_are_refused_never_ignored() {
        let text = TEAM.replace("\"kinds\"", "\"verbs\":[],\"kinds\"");
        assert!(serde_json::from_str::<Scope>(&text).is_err());
    }

    #[test]
    fn validation_names_the_field() {
        let mut s = scope(TEAM);
        s.kinds.clear();
        assert!(s.validate().unwrap_err().to_string().starts_with("kinds:"));
        let mut s = scope(TEAM);
        s.namespaces = vec!["b".parse().unwrap(), "a".parse().unwrap()];
        assert!(
            s.validate()
                .unwrap_err()
                .to_string()
                .starts_with("namespaces:")
        );
        assert!(s.normalized().validate().is_ok());
        let mut s = scope(TEAM);
        s.service_account = Some(ServiceAccount {
            name: "ok".into(),
            namespace: "Not_A_Namespace".into(),
        });
        let err = s.validate().unwrap_err().to_string();
        assert!(err.starts_with("service_account.namespace:"), "{err}");
    }

    #[test]
    fn service_accounts_parse_and_name_their_user() {
        let account = ServiceAccount::parse("team-a/cairn").unwrap();
        assert_eq!(account.username(), "system:serviceaccount:team-a:cairn");
        assert_eq!(account.to_string(), "team-a/cairn");
        for bad in ["cairn", "team-a/", "/cairn", "Team/x"] {
            assert!(ServiceAccount::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn display_says_everything_in_one_line() {
        let mut s = scope(TEAM);
        s.service_account = Some(ServiceAccount::parse("team-a/cairn").unwrap());
        s.deny_kinds = vec!["*.rbac.authorization.k8s.io".parse().unwrap()];
        assert_eq!(
            s.to_string(),
            "namespaces team-a; kinds *.*; deny *.rbac.authorization.k8s.io; no cluster-scoped; as team-a/cairn"
        );
    }
}
