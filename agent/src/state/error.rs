//! What can go wrong reading or writing applied state.

use crate::config::ConfigError;
use crate::error::Retry;
use crate::targets::describe_api;

/// Why applied state (or a target's record of what it wrote) could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The file system failed.
    #[error("cannot {op}: {source}")]
    Io {
        /// What was being done (`read`, `write`, `append to the journal`, …).
        op: &'static str,
        /// What the system reported.
        #[source]
        source: std::io::Error,
    },
    /// The state could not be encoded.
    #[error("cannot encode: {0}")]
    Encode(#[source] serde_json::Error),
    /// What was read back is not a state this agent wrote, or does not add up.
    #[error("{0}")]
    Damaged(String),
    /// The API server refused or failed a request for the state's ConfigMap.
    #[error("cannot {op}: {}", describe_api(source))]
    Api {
        /// What was being done.
        op: &'static str,
        /// What kube reported.
        #[source]
        source: kube::Error,
    },
    /// No connection to the cluster could be set up.
    #[error(transparent)]
    Connect(#[from] ConfigError),
    /// The watch of the state's ConfigMap failed (it is restarted).
    #[error("cannot watch: {0}")]
    Watch(#[source] kube::runtime::watcher::Error),
}

impl StateError {
    /// An I/O failure while doing `op`.
    pub(crate) fn io(op: &'static str) -> impl FnOnce(std::io::Error) -> StateError {
        move |source| StateError::Io { op, source }
    }

    /// How the loop should retry after this error.
    pub fn retry(&self) -> Retry {
        match self {
            StateError::Api { source, .. } => Retry::of_kube(source),
            StateError::Io { .. }
            | StateError::Encode(_)
            | StateError::Damaged(_)
            | StateError::Connect(_) => Retry::Permanent,
            StateError::Watch(_) => Retry::Transient,
        }
    }
}
