//! What went wrong reading a read-only HTTP store, or the trust root an agent is installed with.

use std::time::Duration;

/// What went wrong with a request to a read-only HTTP store.
#[derive(Debug, thiserror::Error)]
pub enum HttpProblem {
    /// The server answered with a failure status.
    #[error("server answered {status}")]
    Status {
        /// The status.
        status: u16,
        /// How long the server asked us to wait (`Retry-After`).
        retry_after: Option<Duration>,
    },
    /// The request or the body timed out.
    #[error("timed out ({0})")]
    Timeout(#[source] reqwest::Error),
    /// No connection could be made.
    #[error("cannot connect ({0})")]
    Connect(#[source] reqwest::Error),
    /// Anything else the HTTP client reported.
    #[error("{0}")]
    Request(#[source] reqwest::Error),
    /// The read was cut off: the object is larger than its kind allows, not the length declared
    /// for it, or the server took too long.
    #[error("{0}")]
    Refused(cairn_store::Refused),
}

impl From<reqwest::Error> for HttpProblem {
    fn from(e: reqwest::Error) -> Self {
        if e.is_timeout() {
            HttpProblem::Timeout(e)
        } else if e.is_connect() {
            HttpProblem::Connect(e)
        } else {
            HttpProblem::Request(e)
        }
    }
}

/// Why the trust root version an agent is installed with cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TrustRootProblem {
    /// The store holds no such version (publish one with `cairn trust init`).
    #[error("not in the store (create the trust root with `cairn trust init`)")]
    Missing,
    /// It is not the pinned version, or not validly signed.
    #[error(transparent)]
    Refused(cairn_state_format::RootRefusal),
}
