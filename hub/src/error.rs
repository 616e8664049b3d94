//! The hub's error type and the exit codes scripts can rely on.

use cairn_state_format::Digest;

/// Exit codes of the `cairn` binary.
pub mod exit {
    /// Success, including "nothing changed".
    pub const OK: i32 = 0;
    /// A store or I/O failure; retrying later may help.
    pub const FAILURE: i32 = 1;
    /// Bad command line or configuration (clap uses 2 as well).
    pub const USAGE: i32 = 2;
    /// The manifests (or another input) are invalid; nothing was published.
    pub const INVALID_INPUT: i32 = 3;
    /// A concurrent publisher won every attempt, or the store cannot make publishing safe.
    pub const CONFLICT: i32 = 4;
    /// The channel, generation or snapshot asked for does not exist.
    pub const NOT_FOUND: i32 = 5;
    /// A health gate said no: a promotion refused, or a watched rollout aborted.
    pub const UNHEALTHY: i32 = 6;
    /// The store's trust root refuses: a key not delegated the channel, too few signatures, a
    /// key that is not a root key, an expired or broken root.
    pub const UNTRUSTED: i32 = 7;
}

/// Everything the hub's commands can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a local file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Manifests or other inputs are invalid.
    #[error("{0}")]
    Input(String),
    /// A wire object could not be built or read.
    #[error(transparent)]
    Format(#[from] cairn_state_format::Error),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] cairn_store::Error),
    /// The channel does not exist.
    #[error("channel {channel:?} does not exist in {store} (no head and no log)")]
    NoChannel {
        /// Channel name.
        channel: String,
        /// Store URL.
        store: String,
    },
    /// A generation does not exist.
    #[error("channel {channel:?} has no generation {generation}")]
    NoGeneration {
        /// Channel name.
        channel: String,
        /// Generation asked for.
        generation: u64,
    },
    /// An object a generation needs is gone (garbage-collected or never uploaded).
    #[error("{what} {digest} is missing from the store (garbage-collected?)")]
    Missing {
        /// What kind of object.
        what: &'static str,
        /// Its digest.
        digest: Digest,
    },
    /// Concurrent publishers kept winning, or the store cannot make concurrent publishing safe.
    #[error("{0}")]
    Conflict(String),
    /// Bad configuration.
    #[error("{0}")]
    Usage(String),
    /// A health gate refused (promotion) or aborted (rollout watch).
    #[error("{0}")]
    Unhealthy(String),
    /// The store's trust root refuses what was asked.
    #[error(transparent)]
    Trust(#[from] crate::trust::TrustError),
}

impl Error {
    /// The exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Input(_) => exit::INVALID_INPUT,
            Error::Conflict(_) => exit::CONFLICT,
            Error::NoChannel { .. } | Error::NoGeneration { .. } | Error::Missing { .. } => {
                exit::NOT_FOUND
            }
            Error::Usage(_) => exit::USAGE,
            Error::Unhealthy(_) => exit::UNHEALTHY,
            Error::Trust(_) => exit::UNTRUSTED,
            Error::Io { .. } | Error::Store(_) | Error::Format(_) => exit::FAILURE,
        }
    }

    /// An I/O error about `path`.
    pub fn io(path: impl std::fmt::Display) -> impl FnOnce(std::io::Error) -> Error {
        move |source| Error::Io {
            path: path.to_string(),
            source,
        }
    }
}

/// `Result` with the hub [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
