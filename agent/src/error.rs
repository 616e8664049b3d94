//! The agent's one error type, and the classes status records and metrics group errors by.

use std::path::PathBuf;
use std::time::Duration;

use cairn_state_format::Refusal;

/// A stable class of error, as written to status records (`errors[].class`) and to the
/// `cairn_agent_last_error` metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ErrorClass {
    /// Bad configuration; the agent does not start.
    Config,
    /// The store failed or could not be reached (transient: retried with backoff).
    Store,
    /// A head was refused (unsigned, untrusted key, other channel, rollback, expired).
    Verify,
    /// Data fetched from the store is corrupt, truncated or missing.
    Fetch,
    /// The target failed to write or delete objects.
    Apply,
    /// The state directory could not be read or written.
    State,
    /// A status record could not be written.
    Status,
}

impl ErrorClass {
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

/// Everything that can go wrong in the agent. Each variant carries what a person needs to find
/// the problem: the URL, key, channel, digest or path.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration cannot work.
    #[error("configuration: {0}")]
    Config(String),

    /// An object store request failed.
    #[error(transparent)]
    Store(Box<cairn_store::Error>),

    /// An HTTP store request failed.
    #[error("GET {url}: {message}")]
    Http {
        /// The URL requested.
        url: String,
        /// The HTTP status, when one was received.
        status: Option<u16>,
        /// What went wrong.
        message: String,
        /// How long the server asked us to wait (`Retry-After`).
        retry_after: Option<Duration>,
    },

    /// The channel's head was refused.
    #[error("head of channel {channel} refused: {refusal}")]
    Refused {
        /// The channel.
        channel: String,
        /// Why.
        refusal: Refusal,
    },

    /// An object fetched from the store is corrupt, truncated, or does not match what the signed
    /// head promises.
    #[error("{what}: {source}")]
    Corrupt {
        /// The object (`delta pack …`, `blob sha256:…`, `snapshot sha256:…`).
        what: String,
        /// What the format crate found.
        source: cairn_state_format::Error,
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
    #[error("target {target}: {message}")]
    Target {
        /// The target (`dir:/srv/manifests`).
        target: String,
        /// What failed.
        message: String,
    },

    /// The state directory failed.
    #[error("state {path}: {message}")]
    State {
        /// The file or directory.
        path: PathBuf,
        /// What failed.
        message: String,
    },
}

impl Error {
    /// The class this error is reported under.
    pub fn class(&self) -> ErrorClass {
        match self {
            Error::Config(_) => ErrorClass::Config,
            Error::Store(_) | Error::Http { .. } => ErrorClass::Store,
            Error::Refused { .. } => ErrorClass::Verify,
            Error::Corrupt { .. } | Error::Missing { .. } => ErrorClass::Fetch,
            Error::Target { .. } => ErrorClass::Apply,
            Error::State { .. } => ErrorClass::State,
        }
    }

    /// Whether retrying soon may help (store trouble), as opposed to a problem that lasts until
    /// something changes (a refused head, corrupt immutable data, a full disk). Both are retried;
    /// permanent ones are also reported as the reason of the phase.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Store(e) => e.is_transient(),
            Error::Http { status, .. } => {
                status.is_none_or(|s| s == 408 || s == 429 || (500..600).contains(&s))
            }
            _ => false,
        }
    }

    /// The least time to wait before retrying, when the store asked for one (`Retry-After`, or
    /// an S3 `SlowDown`).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Http { retry_after, .. } => *retry_after,
            Error::Store(e) => {
                let text = e.to_string().to_ascii_lowercase();
                ["slowdown", "slow down", "too many requests", "429"]
                    .iter()
                    .any(|needle| text.contains(needle))
                    .then_some(THROTTLED_FLOOR)
            }
            _ => None,
        }
    }

    pub(crate) fn state(path: impl Into<PathBuf>, message: impl std::fmt::Display) -> Error {
        Error::State {
            path: path.into(),
            message: message.to_string(),
        }
    }
}

/// How long the agent waits at least after an S3 `SlowDown` that carried no `Retry-After`.
const THROTTLED_FLOOR: Duration = Duration::from_secs(5);

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

    #[test]
    fn http_errors_are_transient_unless_the_client_is_wrong() {
        let http = |status| Error::Http {
            url: "http://x/h".into(),
            status,
            message: "m".into(),
            retry_after: None,
        };
        assert!(http(None).is_transient());
        assert!(http(Some(503)).is_transient());
        assert!(http(Some(429)).is_transient());
        assert!(!http(Some(403)).is_transient());
        assert_eq!(http(Some(500)).class(), ErrorClass::Store);
    }
}
