//! The store crate's error, and how a failure is classified: by object_store's error variant
//! and the HTTP status the server answered ([`crate::Answer`]), never by the error's text.

use std::time::Duration;

use crate::answer::Answer;
use crate::bounded::Refused;

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
    /// The provider's client refuses the URL's configuration (an unknown query parameter, a
    /// value it cannot parse, a missing credential).
    #[error("store URL {url:?}: {source}")]
    Client {
        /// The URL given, credentials masked.
        url: String,
        /// What the client builder reported.
        #[source]
        source: Box<object_store::Error>,
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
        /// The server's last failure answer during the operation, when there was one.
        answer: Option<Answer>,
        /// What object_store reported.
        #[source]
        source: Box<object_store::Error>,
    },
    /// A read was cut off before it was complete: the object is larger than its kind allows,
    /// not the length declared for it, or the server took too long.
    #[error("get {key} on {url}: {refused}")]
    Refused {
        /// The key.
        key: String,
        /// The store.
        url: String,
        /// Why the read was cut off.
        refused: Refused,
    },
}

impl Error {
    /// Whether retrying later may succeed (network trouble, throttling, server errors), as
    /// opposed to a problem that needs a person (bad URL, bad credentials, bad key, a request
    /// the server refuses).
    pub fn is_transient(&self) -> bool {
        if let Error::Refused { refused, .. } = self {
            return refused.is_transient();
        }
        let Error::Store { source, answer, .. } = self else {
            return false;
        };
        match source.as_ref() {
            object_store::Error::PermissionDenied { .. }
            | object_store::Error::Unauthenticated { .. }
            | object_store::Error::InvalidPath { .. }
            | object_store::Error::UnknownConfigurationKey { .. }
            | object_store::Error::NotSupported { .. }
            | object_store::Error::NotImplemented { .. } => false,
            object_store::Error::JoinError { .. } => true,
            _ => match answer {
                // No answer at all: the network, a timeout, a reset connection.
                None => true,
                Some(answer) => matches!(answer.status, 408 | 429 | 500..=599),
            },
        }
    }

    /// `Some` when the server asked to slow down (429, or 503 as S3's `SlowDown`), with how long
    /// it asked to wait if it said.
    pub fn throttled(&self) -> Option<Option<Duration>> {
        match self {
            Error::Store {
                answer: Some(answer),
                ..
            } if matches!(answer.status, 429 | 503) => Some(answer.retry_after),
            _ => None,
        }
    }

    /// The server's failure answer, if the failure was one.
    pub fn answer(&self) -> Option<Answer> {
        match self {
            Error::Store { answer, .. } => *answer,
            Error::Url { .. }
            | Error::Client { .. }
            | Error::Key { .. }
            | Error::Refused { .. } => None,
        }
    }
}

impl Error {
    /// Why a read was cut off, if it was.
    pub fn refused(&self) -> Option<Refused> {
        match self {
            Error::Refused { refused, .. } => Some(*refused),
            _ => None,
        }
    }
}

/// `Result` with the store [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
