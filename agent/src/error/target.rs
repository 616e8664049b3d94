//! What a target reports when an object (or the target as a whole) fails.

use std::path::PathBuf;
use std::time::Duration;

use cairn_state_format::ResourceId;

use super::{ConfigError, Retry};

/// Why a target could not write, remove, compare or assess an object.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the system reported.
        #[source]
        source: std::io::Error,
    },
    /// The target's own record of what it wrote is damaged.
    #[error("{0}")]
    Bookkeeping(String),
    /// The object belongs to someone else (another channel, another tool).
    #[error("{0}")]
    NotOwned(String),
    /// The API server does not serve the object's kind (its CRD may be missing or not
    /// Established), or the object's apiVersion is malformed.
    #[error("{0}")]
    Unserved(String),
    /// An API request failed.
    #[error("{}", describe_api(.0))]
    Api(#[source] kube::Error),
    /// Discovering which resource serves a kind failed.
    #[error("discovery failed: {}", describe_api(.0))]
    Discovery(#[source] kube::Error),
    /// An object's drift annotations do not parse.
    #[error("{0}")]
    Policy(#[source] PolicyError),
    /// An object's canonical bytes are not a JSON object with metadata.
    #[error("the object is not a JSON object with metadata: {0}")]
    Malformed(String),
    /// A CustomResourceDefinition did not become Established in time.
    #[error("the CustomResourceDefinition was not Established within {0:?}")]
    NotEstablished(Duration),
    /// Waiting for a CustomResourceDefinition failed.
    #[error("waiting for the CustomResourceDefinition failed: {0}")]
    Wait(#[source] kube::runtime::wait::Error),
    /// The agent lacks permissions a pass needs; nothing was written.
    #[error("{}", describe_missing(.0))]
    Forbidden(Vec<MissingPermission>),
    /// The ServiceAccount a channel acts as lacks permissions a pass needs; nothing was written.
    #[error("{}", describe_missing_as(user, missing))]
    ForbiddenAs {
        /// The account's user name (`system:serviceaccount:<ns>:<name>`).
        user: String,
        /// What it lacks.
        missing: Vec<MissingPermission>,
    },
    /// No connection to the cluster could be set up.
    #[error(transparent)]
    Connect(#[from] ConfigError),
    /// A worker thread of the target failed.
    #[error("a worker failed: {0}")]
    Worker(#[source] tokio::task::JoinError),
    /// One object of a batch failed (the batch as a whole fails with it).
    #[error("{id}: {source}")]
    Object {
        /// The object.
        id: ResourceId,
        /// Why.
        #[source]
        source: Box<TargetError>,
    },
    /// Some objects of a plan failed; later steps were not started.
    #[error("{failed} of {total} objects failed; first: {first}")]
    Failed {
        /// How many failed.
        failed: usize,
        /// How many the plan had.
        total: usize,
        /// The first failure (an [`TargetError::Object`]).
        #[source]
        first: Box<TargetError>,
    },
    /// A library caller's own target failed.
    #[error("{0}")]
    Custom(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl TargetError {
    /// How the loop should retry after this error.
    pub fn retry(&self) -> Retry {
        match self {
            TargetError::Api(e) | TargetError::Discovery(e) => Retry::of_kube(e),
            TargetError::Object { source, .. } => source.retry(),
            TargetError::Failed { first, .. } => first.retry(),
            TargetError::Worker(_) | TargetError::NotEstablished(_) | TargetError::Wait(_) => {
                Retry::Transient
            }
            TargetError::Io { .. }
            | TargetError::Bookkeeping(_)
            | TargetError::NotOwned(_)
            | TargetError::Unserved(_)
            | TargetError::Malformed(_)
            | TargetError::Policy(_)
            | TargetError::Connect(_)
            | TargetError::Forbidden(_)
            | TargetError::ForbiddenAs { .. }
            | TargetError::Custom(_) => Retry::Permanent,
        }
    }

    /// The HTTP status the API server answered, if this is an API error.
    pub fn status(&self) -> Option<u16> {
        match self {
            TargetError::Object { source, .. } => source.status(),
            TargetError::Failed { first, .. } => first.status(),
            TargetError::Api(kube::Error::Api(status))
            | TargetError::Discovery(kube::Error::Api(status)) => Some(status.code),
            _ => None,
        }
    }
}

impl TargetError {
    /// This error, about object `id`.
    pub fn about(self, id: &ResourceId) -> TargetError {
        TargetError::Object {
            id: id.clone(),
            source: Box::new(self),
        }
    }
}

/// A permission the agent lacks on one resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MissingPermission {
    /// The API group (empty for the core group).
    pub group: String,
    /// The resource (plural), e.g. `ingresses`.
    pub resource: String,
    /// The namespace, or `None` for a cluster-scoped resource.
    pub namespace: Option<String>,
    /// The verbs missing.
    pub verbs: Vec<String>,
    /// Every verb the agent needs on it (what the rule to add should grant).
    pub needed: Vec<String>,
}

impl std::fmt::Display for MissingPermission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let resource = if self.group.is_empty() {
            self.resource.clone()
        } else {
            format!("{}.{}", self.resource, self.group)
        };
        write!(f, "cannot {} {resource}", self.verbs.join(", "))?;
        match &self.namespace {
            Some(ns) => write!(f, " in namespace {ns}"),
            None => f.write_str(" (cluster-scoped)"),
        }
    }
}

/// One message for every missing permission: what is missing, then the RBAC rules that grant
/// it (to add to the agent's ClusterRole) and the chart's switches.
pub fn describe_missing(missing: &[MissingPermission]) -> String {
    let list: Vec<String> = missing.iter().map(ToString::to_string).collect();
    let mut rules: std::collections::BTreeMap<&str, std::collections::BTreeMap<&str, Vec<&str>>> =
        std::collections::BTreeMap::new();
    for m in missing {
        let verbs = rules
            .entry(&m.group)
            .or_default()
            .entry(&m.resource)
            .or_default();
        for verb in &m.needed {
            if !verbs.contains(&verb.as_str()) {
                verbs.push(verb);
            }
        }
    }
    let rules: Vec<String> = rules
        .iter()
        .flat_map(|(group, resources)| {
            resources.iter().map(move |(resource, verbs)| {
                format!(
                    "{{apiGroups: [\"{group}\"], resources: [\"{resource}\"], verbs: [{}]}}",
                    verbs
                        .iter()
                        .map(|v| format!("\"{v}\""))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
        })
        .collect();
    format!(
        "the agent lacks permissions this generation needs, so nothing was applied: {}. \
         Add these rules to the agent's ClusterRole (cairn-agent-apply in \
         deploy/manifests/30-rbac-apply.yaml, or the chart value rbac.extraRules): {}; \
         or bind cluster-admin (chart value rbac.clusterAdmin=true)",
        list.join("; "),
        rules.join(", ")
    )
}

/// One message for every permission the channel's ServiceAccount `user` lacks: its scope is
/// wider than its RBAC, so the pass is refused before anything is written.
pub fn describe_missing_as(user: &str, missing: &[MissingPermission]) -> String {
    let list: Vec<String> = missing.iter().map(ToString::to_string).collect();
    format!(
        "the channel acts as {user}, which lacks permissions this generation needs, so nothing \
         was applied: {}. Grant them to that account (a Role and RoleBinding per namespace, a \
         ClusterRoleBinding for cluster-scoped kinds), or narrow what the channel publishes",
        list.join("; ")
    )
}

/// Says what an API error means for the person reading the status record.
pub fn describe_api(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => {
            let hint = match s.code {
                409 => "conflict: ",
                422 => "invalid: ",
                404 => "not found: ",
                403 => "forbidden: ",
                429 => "throttled by the API server: ",
                500..=599 => "API server error: ",
                _ => "",
            };
            format!("{hint}{} ({} {})", s.message, s.code, s.reason)
        }
        other => other.to_string(),
    }
}

/// A drift setting (`--drift`) or an object's drift annotation (`cairn.dev/drift`,
/// `cairn.dev/ignore-fields`) that does not parse.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// Not a drift mode.
    #[error("{0:?}: expected correct or report")]
    DriftMode(String),
    /// `=mode` without a channel.
    #[error("{0:?}: a channel name is missing before '='")]
    NoChannel(String),
    /// Not a JSON pointer.
    #[error("{0:?} is not a JSON pointer: it must start with '/'")]
    NotAPointer(String),
    /// A JSON pointer with a `~` escape other than `~0` or `~1`.
    #[error("{0:?}: '~' must be followed by 0 or 1")]
    BadEscape(String),
    /// A list of pointers that looks like JSON but is not an array of strings.
    #[error("not a JSON array of strings: {0}")]
    NotAList(#[source] serde_json::Error),
    /// One annotation of the object does not parse.
    #[error("annotation {annotation}: {source}")]
    Annotation {
        /// The annotation.
        annotation: &'static str,
        /// What is wrong with its value.
        #[source]
        source: Box<PolicyError>,
    },
}
