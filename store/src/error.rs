//! The store crate's error.

/// A store operation that failed, with the URL, operation and key it was about.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The store URL cannot be used.
    #[error("store URL {url:?}: {reason}")]
    Url {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A key is not a valid object path.
    #[error("object key {key:?} is invalid: {reason}")]
    Key {
        /// The key.
        key: String,
        /// Why.
        reason: String,
    },
    /// The store refused or failed a request.
    #[error("{op} {key} on {url}: {source}")]
    Store {
        /// The operation (`get`, `put`, …).
        op: &'static str,
        /// The key.
        key: String,
        /// The store.
        url: String,
        /// What object_store reported.
        source: Box<object_store::Error>,
    },
}

impl Error {
    /// Whether retrying later may succeed (network trouble, throttling, server errors), as
    /// opposed to a problem that needs a person (bad URL, bad credentials, bad key).
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Url { .. } | Error::Key { .. } => false,
            Error::Store { source, .. } => match source.as_ref() {
                object_store::Error::Generic { source, .. } => {
                    let text = source.to_string().to_ascii_lowercase();
                    ![
                        "403",
                        "401",
                        "forbidden",
                        "unauthorized",
                        "access denied",
                        "invalidaccesskeyid",
                        "signaturedoesnotmatch",
                    ]
                    .iter()
                    .any(|needle| text.contains(needle))
                }
                object_store::Error::JoinError { .. } => true,
                _ => false,
            },
        }
    }
}

/// `Result` with the store [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
