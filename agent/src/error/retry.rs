//! How each failure is retried, and the classes status records and metrics group errors by.

use std::time::Duration;

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
