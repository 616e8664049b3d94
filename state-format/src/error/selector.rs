//! What is wrong with a cluster selector's text.

use crate::names::NameError;

/// What is wrong with a selector's text (the crate's [`Error::Selector`](super::Error::Selector)
/// names the selector).
#[derive(Debug, thiserror::Error)]
pub enum SelectorError {
    /// A `(` without its `)`, or the reverse, or parentheses inside parentheses.
    #[error("unbalanced parentheses")]
    UnbalancedParentheses,
    /// Nothing between two commas.
    #[error("empty requirement between commas")]
    EmptyRequirement,
    /// `key=a,key=b`.
    #[error("label {key} is given twice")]
    LabelTwice {
        /// The label key.
        key: String,
    },
    /// `key something` where `in (…)` or `notin (…)` was expected.
    #[error("{part:?}: expected `in (...)` or `notin (...)`")]
    ExpectedSetOperator {
        /// The requirement.
        part: String,
    },
    /// `key in a,b` without parentheses.
    #[error("{part:?}: values must be in parentheses")]
    ValuesNotInParentheses {
        /// The requirement.
        part: String,
    },
    /// `key in (a,,b)`.
    #[error("{part:?}: empty value in the list")]
    EmptyValue {
        /// The requirement.
        part: String,
    },
    /// A key that is not a qualified name.
    #[error("{key:?} is not a valid label key: {reason}")]
    LabelKey {
        /// The key.
        key: String,
        /// Why.
        #[source]
        reason: NameError,
    },
    /// A value that is not a label value.
    #[error("{value:?} is not a valid label value: {reason}")]
    LabelValue {
        /// The value.
        value: String,
        /// Why.
        #[source]
        reason: NameError,
    },
}
