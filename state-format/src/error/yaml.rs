//! What a YAML document says that JSON cannot.

/// Something in a YAML document with no JSON form, and where it is (a dotted path, `a.b[2]`;
/// empty for the document itself).
#[derive(Debug, thiserror::Error)]
pub enum NoJsonForm {
    /// A number JSON cannot hold (`.inf`, `.nan`).
    #[error("{}{number} has no JSON form", at(.path))]
    Number {
        /// Where.
        path: String,
        /// The number as YAML wrote it.
        number: String,
    },
    /// A mapping key that is a sequence, a mapping or null.
    #[error("{}mapping key {key} is not a string", at(.path))]
    Key {
        /// Where.
        path: String,
        /// The key, as parsed.
        key: String,
    },
    /// A tag (`!Ref x`), which Kubernetes' YAML decoder refuses too.
    #[error("{}YAML tag {tag} is not supported", at(.path))]
    Tag {
        /// Where.
        path: String,
        /// The tag.
        tag: String,
    },
}

fn at(path: &str) -> String {
    if path.is_empty() {
        String::new()
    } else {
        format!("at {}: ", path.trim_start_matches('.'))
    }
}
