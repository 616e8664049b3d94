//! The one error type of the format crate, and the reasons it carries. At the bottom of the
//! crate: it names digests and names, nothing above them.

mod selector;
mod yaml;

pub use selector::SelectorError;
pub use yaml::NoJsonForm;

use crate::digest::Digest;

/// Everything that can go wrong while reading, building or checking wire objects.
///
/// Each variant says what failed and where (file and document, object digest, field), so that the
/// message alone is enough for a user to find the problem.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A digest string is not `sha256:` followed by 64 lowercase hex digits.
    #[error("{value:?} is not a digest: expected sha256:<64 lowercase hex digits>")]
    BadDigest {
        /// The text that was offered.
        value: String,
    },

    /// Bytes did not hash to the digest that names them.
    #[error("{what} is corrupt: expected {expected}, got {actual}")]
    DigestMismatch {
        /// The object, e.g. `blob sha256:…` or `index node sha256:…`.
        what: String,
        /// The digest the object is named by.
        expected: Digest,
        /// The digest of the bytes received.
        actual: Digest,
    },

    /// A manifest document could not be parsed.
    #[error("{origin}: {message}")]
    Parse {
        /// File and document.
        origin: String,
        /// What the parser said.
        message: String,
    },

    /// A manifest document lacks a field or has one of the wrong shape.
    #[error("{origin}: field {field}: {reason}")]
    InvalidField {
        /// File and document, or the wire object.
        origin: String,
        /// Dotted path of the field, e.g. `metadata.name`.
        field: String,
        /// What is wrong with it.
        reason: String,
    },

    /// Two documents declare the same resource identity.
    #[error("{id} is declared twice: in {first} and in {second}")]
    DuplicateIdentity {
        /// The identity, e.g. `Deployment.apps shop/web`.
        id: String,
        /// Where it was first seen.
        first: String,
        /// Where it was seen again.
        second: String,
    },

    /// An input is larger than the format allows.
    #[error("{what} is {size} bytes, over the limit of {limit} bytes")]
    TooLarge {
        /// The object or document.
        what: String,
        /// Its size (or a lower bound of it).
        size: u64,
        /// The limit.
        limit: u64,
    },

    /// A wire object carries a format version this code does not know.
    #[error(
        "{what} has format {found}, but this build reads format {supported} at most; upgrade cairn"
    )]
    UnsupportedFormat {
        /// The object.
        what: String,
        /// The version found.
        found: u64,
        /// The version this build reads.
        supported: u32,
    },

    /// A wire object is not well-formed (bad JSON, unknown or missing field, bad value).
    #[error("{what} is malformed: {message}")]
    Malformed {
        /// The object.
        what: String,
        /// What is wrong.
        message: String,
    },

    /// A streamed object ended before its end marker.
    #[error("{what} is truncated: {detail}")]
    Truncated {
        /// The object.
        what: String,
        /// What was missing.
        detail: String,
    },

    /// A cluster selector could not be parsed.
    #[error("cluster selector {input:?}: {reason}")]
    Selector {
        /// The selector text.
        input: String,
        /// What is wrong with it.
        #[source]
        reason: SelectorError,
    },

    /// A YAML document has something JSON cannot say (a tag, a non-finite number, a complex
    /// key).
    #[error("{origin}: {reason}")]
    NoJsonForm {
        /// File and document.
        origin: String,
        /// What and where.
        #[source]
        reason: NoJsonForm,
    },

    /// A key file or key text could not be read.
    #[error("key: {0}")]
    Key(String),

    /// A rollout specification is not valid.
    #[error("rollout: {0}")]
    Rollout(String),
}

/// A wire object that is not well-formed: `what` names it, `e` says what is wrong.
pub(crate) fn malformed(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Malformed {
        what: what.to_owned(),
        message: e.to_string(),
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
