//! Authorization, as the API server's RBAC authorizer decides it.
//!
//! Two kinds of requester: the fake's own caller (the agent's identity), whose rights a test sets
//! as [`Grant`]s (none set: it may do everything, as a cluster admin), and a user the caller
//! impersonates (`Impersonate-User`/`-Group`, [`impersonation`]), whose rights come from the
//! Role/ClusterRole/RoleBinding/ClusterRoleBinding objects stored in the fake ([`bindings`]).
//! Writes of RBAC objects pass the escalation and bind checks ([`escalation`]); the
//! `SelfSubjectRulesReview`/`SelfSubjectAccessReview` answers come from the same rules
//! ([`reviews`]).

mod bindings;
pub mod escalation;
mod grant;
pub mod impersonation;
pub mod reviews;
mod rule;

use serde_json::json;

pub use grant::Grant;
use rule::Rule;

use crate::ops::{Answer, status};
use crate::world::World;

/// The fake's own caller, as 403 messages name it.
pub const CALLER: &str = "system:serviceaccount:cairn-system:cairn-agent";

/// A group whose members may do everything (the API server's privileged group).
const MASTERS: &str = "system:masters";

/// What a request asks to do.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Attributes {
    pub verb: String,
    pub group: String,
    pub resource: String,
    /// Empty for cluster-scoped objects and for lists across all namespaces.
    pub namespace: String,
    /// The object's name; empty for lists and creates.
    pub name: String,
    /// The URL path of a non-resource request (`/healthz`, `/version`).
    pub path: Option<String>,
}

/// An authenticated user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub groups: Vec<String>,
}

/// Who a request is served as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Requester {
    /// The fake's own caller, authorized by the grants.
    Caller,
    /// A user the caller impersonates, authorized by the stored RBAC objects.
    As(User),
}

impl Requester {
    /// The user name, as the API server prints it.
    pub fn name(&self) -> &str {
        match self {
            Requester::Caller => CALLER,
            Requester::As(user) => &user.name,
        }
    }

    fn groups(&self) -> Vec<String> {
        match self {
            Requester::Caller => vec![
                "system:serviceaccounts".into(),
                "system:serviceaccounts:cairn-system".into(),
                "system:authenticated".into(),
            ],
            Requester::As(user) => user.groups.clone(),
        }
    }
}

/// The caller's grants.
#[derive(Clone, Debug, Default)]
pub struct Rbac {
    /// `None`: the caller may do everything.
    pub grants: Option<Vec<Grant>>,
}

/// The rules `who` holds in `namespace` (`""`: cluster-wide only); `None` when it may do
/// everything.
fn rules(world: &World, who: &Requester, namespace: &str) -> Option<Vec<Rule>> {
    match who {
        Requester::Caller => world.rbac.grants.as_ref().map(|grants| {
            grants
                .iter()
                .filter(|g| g.applies_in(namespace))
                .map(Grant::rule)
                .collect()
        }),
        Requester::As(user) if user.groups.iter().any(|g| g == MASTERS) => None,
        Requester::As(user) => Some(bindings::rules_for(&world.objects, user, namespace)),
    }
}

/// Whether `who` may do `a`.
pub fn allows(world: &World, who: &Requester, a: &Attributes) -> bool {
    rules(world, who, &a.namespace).is_none_or(|rules| rules.iter().any(|r| r.allows(a)))
}

/// The 403 the API server sends when `who` may not do `a`.
pub fn forbidden(who: &Requester, a: &Attributes) -> Answer {
    let user = who.name();
    let message = match &a.path {
        Some(path) => format!("User \"{user}\" cannot {} path \"{path}\"", a.verb),
        None if a.namespace.is_empty() => format!(
            "User \"{user}\" cannot {} resource \"{}\" in API group \"{}\" at the cluster scope",
            a.verb, a.resource, a.group
        ),
        None => format!(
            "User \"{user}\" cannot {} resource \"{}\" in API group \"{}\" in the namespace \"{}\"",
            a.verb, a.resource, a.group, a.namespace
        ),
    };
    refused(&a.group, &a.resource, &a.name, &message)
}

/// A 403 on `resource` in `group` named `name`, worded as `errors.NewForbidden`.
fn refused(group: &str, resource: &str, name: &str, reason: &str) -> Answer {
    let what = if group.is_empty() {
        resource.to_owned()
    } else {
        format!("{resource}.{group}")
    };
    let message = match (what.is_empty(), name.is_empty()) {
        (true, _) => format!("forbidden: {reason}"),
        (false, true) => format!("{what} is forbidden: {reason}"),
        (false, false) => format!("{what} \"{name}\" is forbidden: {reason}"),
    };
    let (code, mut body) = status(403, "Forbidden", &message);
    body["details"] = json!({"name": name, "group": group, "kind": resource});
    (code, body)
}

#[cfg(test)]
mod tests;
