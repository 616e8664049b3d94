//! The hub's errors: [`Error`], what every command fails with, the trust root's refusals
//! ([`TrustError`]) and the exit codes scripts can rely on. Nothing here depends on another
//! module of the crate: errors are the bottom layer.

use cairn_state_format::{Digest, RootRefusal};
use chrono::{DateTime, Utc};

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
    Trust(#[from] TrustError),
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

/// A refusal by the trust root: the keys given may not do this, or the root itself is unusable.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    /// A stored version does not follow the one before it (forged, damaged, or from another
    /// store).
    #[error("the trust root in {store} is broken at version {version}: {refusal}")]
    Chain {
        /// Store URL.
        store: String,
        /// The version refused.
        version: u64,
        /// Why.
        #[source]
        refusal: RootRefusal,
    },
    /// The newest version expired: agents refuse every head.
    #[error(
        "the trust root (version {version}) expired at {expires_at}: agents refuse every head until a new version is \
         published; renew it with `cairn trust rotate --key ROOT_KEY`"
    )]
    Expired {
        /// Its version.
        version: u64,
        /// Its expiry.
        expires_at: DateTime<Utc>,
    },
    /// No delegation names the channel.
    #[error(
        "trust root version {version} lets no key sign channel {channel:?}; delegate it first: \
         `cairn trust delegate NAME --channel {channel} --signer KEY.pub --key ROOT_KEY`"
    )]
    NotDelegated {
        /// The channel.
        channel: String,
        /// The root's version.
        version: u64,
    },
    /// A key given is not one the channel's delegation names.
    #[error(
        "key {keys:?} may not sign channel {channel:?}: trust root version {version} decides it by delegation \
         {delegation:?}, which names keys {allowed:?}"
    )]
    KeyNotDelegated {
        /// The channel.
        channel: String,
        /// The root's version.
        version: u64,
        /// The delegation that decides.
        delegation: String,
        /// The keys given that it does not name.
        keys: Vec<String>,
        /// The keys it names.
        allowed: Vec<String>,
    },
    /// The keys given are fewer than the delegation's threshold.
    #[error(
        "channel {channel:?} needs signatures by {threshold} of keys {allowed:?} (delegation {delegation:?}), and \
         {signers:?} give {}; sign with more keys (repeat --key), or pass --propose to leave the head \
         for others to sign with `cairn sign --channel {channel}`",
        signers.len()
    )]
    BelowThreshold {
        /// The channel.
        channel: String,
        /// The delegation that decides.
        delegation: String,
        /// Signatures it needs.
        threshold: u32,
        /// The keys that signed.
        signers: Vec<String>,
        /// The keys it names.
        allowed: Vec<String>,
    },
    /// The delegation has fewer keys than its threshold (a key was revoked): nobody can sign.
    #[error(
        "channel {channel:?} cannot be signed: delegation {delegation:?} needs {threshold} signatures but names {keys} \
         keys (a key was removed); add one with `cairn trust add-key KEY.pub --delegation {delegation} --key ROOT_KEY`"
    )]
    Suspended {
        /// The channel.
        channel: String,
        /// The delegation that decides.
        delegation: String,
        /// Signatures it needs.
        threshold: u32,
        /// Keys it names.
        keys: usize,
    },
    /// A key given to sign the trust root is a root key of neither the current nor the new version.
    #[error(
        "key {key} is not a root key of version {version} (root keys: {root_keys:?}) nor of the new version: only root \
         keys sign the trust root"
    )]
    NotRootKey {
        /// The key.
        key: String,
        /// The current version.
        version: u64,
        /// Its root keys.
        root_keys: Vec<String>,
    },
    /// The new version would not be accepted by agents (threshold not met).
    #[error("version {version} would be refused by agents: {refusal}")]
    Unaccepted {
        /// The new version.
        version: u64,
        /// Why.
        #[source]
        refusal: RootRefusal,
    },
}
