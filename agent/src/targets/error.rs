//! What a target reports when an object (or the target as a whole) fails.

use std::path::PathBuf;
use std::time::Duration;

use cairn_state_format::ResourceId;

use crate::config::ConfigError;
use crate::error::Retry;

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
    /// An object's canonical bytes are not a JSON object with metadata.
    #[error("the object is not a JSON object with metadata: {0}")]
    Malformed(String),
    /// A CustomResourceDefinition did not become Established in time.
    #[error("the CustomResourceDefinition was not Established within {0:?}")]
    NotEstablished(Duration),
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
            TargetError::Worker(_) | TargetError::NotEstablished(_) => Retry::Transient,
            TargetError::Io { .. }
            | TargetError::Bookkeeping(_)
            | TargetError::NotOwned(_)
            | TargetError::Unserved(_)
            | TargetError::Malformed(_)
            | TargetError::Connect(_)
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
