//! The agent's one error type, how each error is retried, and the classes status records and
//! metrics group errors by.
//!
//! Errors keep their cause as a `#[source]` (an object_store, reqwest, kube or I/O error) and are
//! classified by their variant and status code ([`Error::retry`]), never by their text. They are
//! rendered as strings only at the edge: status records, logs and the CLI.

use std::path::PathBuf;
use std::time::Duration;

use cairn_state_format::Refusal;

use crate::config::ConfigError;
use crate::state::StateError;
use crate::targets::TargetError;

/// A stable class of error, as written to status records (`errors[].class`) and to the
/// `cairn_agent_last_error` metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ErrorClass {
    /// Bad configuration; the agent does not start.
    Config,
    /// The store failed or could not be reached.
    Store,
    /// A head was refused (unsigned, untrusted key, other channel, rollback, expired).
    Verify,
    /// Data fetched from the store is corrupt, truncated or missing.
    Fetch,
    /// The target failed to write or delete objects.
    Apply,
    /// The state could not be read or written.
    State,
    /// A status record could not be written.
    Status,
}

impl ErrorClass {
    /// Every class, in a stable order.
    pub const ALL: [ErrorClass; 7] = [
        ErrorClass::Config,
        ErrorClass::Store,
        ErrorClass::Verify,
        ErrorClass::Fetch,
        ErrorClass::Apply,
        ErrorClass::State,
        ErrorClass::Status,
    ];

    /// The class as a lowercase word.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Config => "config",
            ErrorClass::Store => "store",
            ErrorClass::Verify => "verify",
            ErrorClass::Fetch => "fetch",
            ErrorClass::Apply => "apply",
            ErrorClass::State => "state",
            ErrorClass::Status => "status",
        }
    }
}

impl std::fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the loop treats a failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// Trouble that may pass soon (a timeout, a refused connection, a server error): back off
    /// exponentially.
    Transient,
    /// The server asked us to slow down (429, S3's `SlowDown`): wait at least this long.
    Throttled(Duration),
    /// Lasts until something changes (a refused head, corrupt immutable data, a forbidden
    /// request, a full disk): report it and retry no sooner than the poll interval.
    Permanent,
}

/// How long the agent waits at least after a throttling answer that carried no `Retry-After`.
pub const THROTTLED_FLOOR: Duration = Duration::from_secs(5);

impl Retry {
    /// The class of an HTTP status (`None`: no answer at all, a transport failure).
    pub fn of_status(status: Option<u16>, retry_after: Option<Duration>) -> Retry {
        match status {
            Some(429) => Retry::Throttled(retry_after.unwrap_or(THROTTLED_FLOOR)),
            Some(503) if retry_after.is_some() => {
                Retry::Throttled(retry_after.unwrap_or(THROTTLED_FLOOR))
            }
            None | Some(408 | 500..=599) => Retry::Transient,
            Some(_) => Retry::Permanent,
        }
    }

    /// The class of a Kubernetes API error: by the answer's status code, or transient when the
    /// server could not be reached at all.
    pub fn of_kube(error: &kube::Error) -> Retry {
        match error {
            kube::Error::Api(status) => {
                let retry_after = status
                    .details
                    .as_ref()
                    .map(|d| d.retry_after_seconds)
                    .filter(|s| *s > 0)
                    .map(|s| Duration::from_secs(u64::from(s)));
                Retry::of_status(Some(status.code), retry_after)
            }
            kube::Error::HyperError(_) | kube::Error::Service(_) => Retry::Transient,
            _ => Retry::Permanent,
        }
    }
}

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
            Error::Refused { .. } | Error::TrustRoot { .. } => ErrorClass::Verify,
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
