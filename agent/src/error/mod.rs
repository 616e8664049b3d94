//! The agent's one error type, how each error is retried, and the classes status records and
//! metrics group errors by.
//!
//! Errors keep their cause as a `#[source]` (an object_store, reqwest, kube or I/O error) and are
//! classified by their variant and status code ([`Error::retry`]), never by their text. They are
//! rendered as strings only at the edge: status records, logs and the CLI.

mod config;
mod http;
mod retry;
mod scope;
mod state;
mod target;

use std::path::PathBuf;
use std::time::Duration;

use cairn_state_format::Refusal;

pub use config::{ConfigError, UnexpectedValue};
pub use http::{HttpProblem, TrustRootProblem};
pub use retry::{ErrorClass, Retry, THROTTLED_FLOOR};
pub use scope::{LISTED_VIOLATIONS, OutOfScope};
pub use state::{Damage, StateError};
pub use target::{MissingPermission, PolicyError, TargetError, describe_api, describe_missing};

/// Everything that can go wrong in the agent. Each variant carries what a person needs to find
/// the problem: the URL, key, channel, digest, object or path.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration cannot work.
    #[error("configuration: {0}")]
    Config(#[from] ConfigError),

    /// An object store request failed.
    #[error(transparent)]
    Store(Box<cairn_store::Error>),

    /// An HTTP store request failed.
    #[error("GET {url}: {problem}")]
    Http {
        /// The URL requested.
        url: String,
        /// What went wrong.
        #[source]
        problem: HttpProblem,
    },

    /// The channel's head was refused.
    #[error("head of channel {channel} refused: {refusal}")]
    Refused {
        /// The channel.
        channel: String,
        /// Why.
        refusal: Refusal,
    },

    /// The channel's head verified, but its content reaches beyond the channel's scope: nothing
    /// of that generation is applied.
    #[error("head of channel {channel} refused: {refusal}")]
    OutOfScope {
        /// The channel.
        channel: String,
        /// The generation, the offending objects and their rules.
        refusal: OutOfScope,
    },

    /// A version of the store's trust root was refused (the agent keeps the root it accepted
    /// before), or the version the agent is installed with cannot be used.
    #[error("trust root {key}: {problem}")]
    TrustRoot {
        /// Its key in the store.
        key: String,
        /// What is wrong with it.
        problem: TrustRootProblem,
    },

    /// An object fetched from the store is corrupt, truncated, or does not match what the signed
    /// head promises.
    #[error("{what}: {source}")]
    Corrupt {
        /// The object (`delta pack …`, `blob sha256:…`, `snapshot sha256:…`).
        what: String,
        /// What the format crate found.
        #[source]
        source: cairn_state_format::Error,
    },

    /// Reading a pack from the store failed, or was cut off at its bound.
    #[error("{what}: {source}")]
    Pack {
        /// The pack (`delta pack packs/sha256/…`, `snapshot pack …`).
        what: String,
        /// The store's failure.
        #[source]
        source: Box<Error>,
    },

    /// An object the signed head refers to is not in the store.
    #[error("{key} is missing from the store (referenced by {referrer})")]
    Missing {
        /// The key.
        key: String,
        /// What referred to it.
        referrer: String,
    },

    /// The target failed.
    #[error("target {target}: {problem}")]
    Target {
        /// The target (`dir:/srv/manifests`, `kube`).
        target: String,
        /// What failed.
        #[source]
        problem: Box<TargetError>,
    },

    /// The applied state could not be read or written.
    #[error("state {}: {problem}", location.display())]
    State {
        /// The file, or the ConfigMap (`configmap cairn-system/cairn-state-prod`).
        location: PathBuf,
        /// What failed.
        #[source]
        problem: StateError,
    },

    /// A task the agent cannot run without ended (the metrics server, the election, discovery).
    #[error("the {task} task ended unexpectedly: {why}")]
    Task {
        /// Which task.
        task: &'static str,
        /// How it ended (a panic's message, or "returned").
        why: String,
    },
}

impl Error {
    /// The class this error is reported under.
    pub fn class(&self) -> ErrorClass {
        match self {
            Error::Config(_) | Error::Task { .. } => ErrorClass::Config,
            // A read cut off at its bound is the data's fault, not the store's availability.
            Error::Store(e) if e.refused().is_some_and(|r| !r.is_transient()) => ErrorClass::Fetch,
            Error::Http {
                problem: HttpProblem::Refused(r),
                ..
            } if !r.is_transient() => ErrorClass::Fetch,
            Error::Store(_) | Error::Http { .. } => ErrorClass::Store,
            Error::Pack { source, .. } => source.class(),
            Error::Refused { .. } | Error::OutOfScope { .. } | Error::TrustRoot { .. } => {
                ErrorClass::Verify
            }
            Error::Corrupt { .. } | Error::Missing { .. } => ErrorClass::Fetch,
            Error::Target { .. } => ErrorClass::Apply,
            Error::State { .. } => ErrorClass::State,
        }
    }

    /// How the loop should retry after this error, from its variant and status code.
    pub fn retry(&self) -> Retry {
        match self {
            Error::Store(e) => match e.throttled() {
                Some(wait) => Retry::Throttled(wait.unwrap_or(THROTTLED_FLOOR)),
                None if e.is_transient() => Retry::Transient,
                None => Retry::Permanent,
            },
            Error::Http { problem, .. } => match problem {
                HttpProblem::Status {
                    status,
                    retry_after,
                } => Retry::of_status(Some(*status), *retry_after),
                HttpProblem::Timeout(_) | HttpProblem::Connect(_) | HttpProblem::Request(_) => {
                    Retry::Transient
                }
                HttpProblem::Refused(refused) if refused.is_transient() => Retry::Transient,
                HttpProblem::Refused(_) => Retry::Permanent,
            },
            Error::Target { problem, .. } => problem.retry(),
            Error::Pack { source, .. } => source.retry(),
            Error::State { problem, .. } => problem.retry(),
            Error::Config(_)
            | Error::Task { .. }
            | Error::Refused { .. }
            | Error::OutOfScope { .. }
            | Error::TrustRoot { .. }
            | Error::Corrupt { .. }
            | Error::Missing { .. } => Retry::Permanent,
        }
    }

    /// Whether retrying soon may help (as opposed to a problem that lasts until something
    /// changes). Both are retried; permanent ones are also reported as the reason of the phase.
    pub fn is_transient(&self) -> bool {
        !matches!(self.retry(), Retry::Permanent)
    }

    /// The least time to wait before retrying, when the store asked for one (`Retry-After`, or
    /// an S3 `SlowDown`).
    pub fn retry_after(&self) -> Option<Duration> {
        match self.retry() {
            Retry::Throttled(wait) => Some(wait),
            Retry::Transient | Retry::Permanent => None,
        }
    }

    /// An error of the target `target`.
    pub fn target(target: impl Into<String>, problem: TargetError) -> Error {
        Error::Target {
            target: target.into(),
            problem: Box::new(problem),
        }
    }

    /// `self`, said to be about the pack `what` when it is a failure of the store (other errors
    /// name their object already).
    pub(crate) fn in_pack(self, what: &str) -> Error {
        match self {
            Error::Store(_) | Error::Http { .. } => Error::Pack {
                what: what.to_owned(),
                source: Box::new(self),
            },
            other => other,
        }
    }

    /// A state error about `location`.
    pub(crate) fn state(location: impl Into<PathBuf>, problem: StateError) -> Error {
        Error::State {
            location: location.into(),
            problem,
        }
    }
}

impl From<cairn_store::Error> for Error {
    fn from(e: cairn_store::Error) -> Self {
        Error::Store(Box::new(e))
    }
}

/// `Result` with the agent's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    fn http(status: u16, retry_after: Option<Duration>) -> Error {
        Error::Http {
            url: "http://x/h".into(),
            problem: HttpProblem::Status {
                status,
                retry_after,
            },
        }
    }

    #[test]
    fn http_errors_are_classified_by_status() {
        assert_eq!(http(503, None).retry(), Retry::Transient);
        assert_eq!(http(500, None).retry(), Retry::Transient);
        assert_eq!(http(408, None).retry(), Retry::Transient);
        assert_eq!(http(429, None).retry(), Retry::Throttled(THROTTLED_FLOOR));
        let wait = Some(Duration::from_secs(9));
        assert_eq!(
            http(503, wait).retry(),
            Retry::Throttled(Duration::from_secs(9))
        );
        assert_eq!(http(403, None).retry(), Retry::Permanent);
        assert!(!http(403, None).is_transient());
        assert_eq!(http(500, None).class(), ErrorClass::Store);
    }

    #[test]
    fn kube_errors_are_classified_by_status() {
        let api = |code| {
            kube::Error::Api(Box::new(kube::core::Status {
                code,
                ..kube::core::Status::default()
            }))
        };
        assert_eq!(Retry::of_kube(&api(429)), Retry::Throttled(THROTTLED_FLOOR));
        assert_eq!(Retry::of_kube(&api(500)), Retry::Transient);
        assert_eq!(Retry::of_kube(&api(403)), Retry::Permanent);
        assert_eq!(Retry::of_kube(&api(422)), Retry::Permanent);
    }
}
