//! The syntax Kubernetes requires of names, namespaces, label keys and values: the rules of
//! apimachinery's `util/validation` (`IsDNS1123Label`, `IsDNS1123Subdomain`, `IsDNS1035Label`,
//! `IsQualifiedName`, `IsValidLabelValue`) and `api/validation/path` (`IsValidPathSegmentName`),
//! so that cairn refuses, before anything is uploaded, what every cluster's API server would.
//!
//! Each check returns a [`NameError`] that says why the value fails, worded after the API
//! server's message.
//!
//! ```
//! use cairn_state_format::names;
//! assert!(names::dns1123_subdomain("web.example").is_ok());
//! assert!(names::dns1123_subdomain("../../escape").is_err());
//! assert!(names::qualified_name("app.kubernetes.io/name").is_ok());
//! ```

/// Longest DNS-1123 label (a namespace, a label's name part, a label value).
pub const LABEL_MAX: usize = 63;
/// Longest DNS-1123 subdomain (most object names, a label key's prefix).
pub const SUBDOMAIN_MAX: usize = 253;

/// Why a value breaks one of the rules, worded after the API server's message (the caller names
/// the value: `key "a b" must be …`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// Longer than the rule allows.
    #[error("must be no more than {max} characters (is {len})")]
    TooLong {
        /// The rule's longest.
        max: usize,
        /// The value's length.
        len: usize,
    },
    /// Not a lowercase RFC 1123 label.
    #[error(
        "must be a lowercase RFC 1123 label: lower case letters, digits and '-', starting and \
         ending with a letter or digit (e.g. 'my-name' or '123-abc')"
    )]
    NotDns1123Label,
    /// Not a lowercase RFC 1123 subdomain.
    #[error(
        "must be a lowercase RFC 1123 subdomain: lower case letters, digits, '-' and '.', \
         starting and ending with a letter or digit (e.g. 'example.com')"
    )]
    NotDns1123Subdomain,
    /// Not a DNS-1035 label.
    #[error(
        "must be a DNS-1035 label: lower case letters, digits and '-', starting with a letter \
         and ending with a letter or digit (e.g. 'my-name' or 'abc-123')"
    )]
    NotDns1035Label,
    /// `.` or `..`, which a URL path resolves away.
    #[error("may not be '{0}'")]
    DotSegment(String),
    /// A character that splits or escapes a URL path segment (`/`, `%`).
    #[error("may not contain '{0}'")]
    Contains(char),
    /// More than one `/`.
    #[error(
        "must be a name with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
    )]
    NotQualified,
    /// A `/` with nothing before it.
    #[error("prefix part must be non-empty")]
    EmptyPrefix,
    /// The prefix before `/` is not a DNS subdomain.
    #[error("prefix part {0}")]
    Prefix(#[source] Box<NameError>),
    /// Nothing after the prefix.
    #[error("name part must be non-empty")]
    EmptyName,
    /// The name part is too long.
    #[error("name part {0}")]
    NamePart(#[source] Box<NameError>),
    /// The name part has characters or ends a label name may not have.
    #[error(
        "name part must consist of letters, digits, '-', '_' or '.', starting and ending with a \
         letter or digit (e.g. 'MyName', 'my.name' or '123-abc')"
    )]
    NotLabelName,
    /// Not a label value.
    #[error(
        "must be empty or consist of letters, digits, '-', '_' or '.', starting and ending with \
         a letter or digit (e.g. 'MyValue', 'my_value' or '12345')"
    )]
    NotLabelValue,
}

/// A lowercase RFC 1123 label: 1 to 63 of `a-z 0-9 -`, alphanumeric at both ends (`my-name`).
/// Namespaces, and the names of Namespaces and (from Kubernetes 1.31) StatefulSets.
pub fn dns1123_label(value: &str) -> Result<(), NameError> {
    max_length(value, LABEL_MAX)?;
    is_dns_label(value)
        .then_some(())
        .ok_or(NameError::NotDns1123Label)
}

/// A lowercase RFC 1123 subdomain: at most 253 of `a-z 0-9 - .`, dot-separated parts that start
/// and end alphanumeric (`example.com`). The name rule of most kinds.
pub fn dns1123_subdomain(value: &str) -> Result<(), NameError> {
    max_length(value, SUBDOMAIN_MAX)?;
    // apimachinery bounds the whole subdomain only, not each dot-separated part.
    value
        .split('.')
        .all(is_dns_label)
        .then_some(())
        .ok_or(NameError::NotDns1123Subdomain)
}

/// A DNS-1035 label: like an RFC 1123 label, but starting with a letter (`my-name`). The name
/// rule of Services, whose names become DNS names.
pub fn dns1035_label(value: &str) -> Result<(), NameError> {
    max_length(value, LABEL_MAX)?;
    let starts_with_letter = value.starts_with(|c: char| c.is_ascii_lowercase());
    (starts_with_letter && is_dns_label(value))
        .then_some(())
        .ok_or(NameError::NotDns1035Label)
}

/// What every name must be, whatever its kind, because it is one segment of the object's URL:
/// not `.` or `..`, without `/` or `%`. The API server checks it for every kind (and it is the
/// whole rule for RBAC kinds and for kinds served without a stricter one).
pub fn path_segment(value: &str) -> Result<(), NameError> {
    if matches!(value, "." | "..") {
        return Err(NameError::DotSegment(value.to_owned()));
    }
    match ['/', '%'].into_iter().find(|c| value.contains(*c)) {
        Some(c) => Err(NameError::Contains(c)),
        None => Ok(()),
    }
}

/// A qualified name: an optional DNS-1123 subdomain prefix and `/`, then 1 to 63 of
/// `A-Z a-z 0-9 - _ .` starting and ending alphanumeric (`app.kubernetes.io/name`, `MyName`).
/// Label keys, annotation keys (case-insensitively) and finalizers.
pub fn qualified_name(value: &str) -> Result<(), NameError> {
    let (prefix, name) = match value.split('/').collect::<Vec<_>>()[..] {
        [name] => (None, name),
        [prefix, name] => (Some(prefix), name),
        _ => return Err(NameError::NotQualified),
    };
    if let Some(prefix) = prefix {
        if prefix.is_empty() {
            return Err(NameError::EmptyPrefix);
        }
        dns1123_subdomain(prefix).map_err(|why| NameError::Prefix(Box::new(why)))?;
    }
    if name.is_empty() {
        return Err(NameError::EmptyName);
    }
    max_length(name, LABEL_MAX).map_err(|why| NameError::NamePart(Box::new(why)))?;
    is_label_name(name)
        .then_some(())
        .ok_or(NameError::NotLabelName)
}

/// A label value: empty, or 1 to 63 of `A-Z a-z 0-9 - _ .` starting and ending alphanumeric.
pub fn label_value(value: &str) -> Result<(), NameError> {
    if value.is_empty() {
        return Ok(());
    }
    max_length(value, LABEL_MAX)?;
    is_label_name(value)
        .then_some(())
        .ok_or(NameError::NotLabelValue)
}

fn max_length(value: &str, max: usize) -> Result<(), NameError> {
    match value.len() {
        len if len > max => Err(NameError::TooLong { max, len }),
        _ => Ok(()),
    }
}

/// Non-empty, `end` bytes at both ends and `inner` bytes throughout.
fn bounded(value: &str, end: impl Fn(u8) -> bool, inner: impl Fn(u8) -> bool) -> bool {
    let bytes = value.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(&first), Some(&last)) => end(first) && end(last) && bytes.iter().all(|&b| inner(b)),
        _ => false,
    }
}

/// A DNS label's shape: `a-z 0-9 -`, alphanumeric at both ends (length checked apart).
fn is_dns_label(value: &str) -> bool {
    let end = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    bounded(value, end, |b| end(b) || b == b'-')
}

/// A label name's or value's shape: `A-Z a-z 0-9 - _ .`, alphanumeric at both ends.
fn is_label_name(value: &str) -> bool {
    let inner = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.');
    bounded(value, |b| b.is_ascii_alphanumeric(), inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_subdomains_follow_rfc_1123_in_lower_case() {
        for ok in ["a", "my-name", "123-abc", &"a".repeat(63)] {
            assert!(dns1123_label(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-a", "a-", "A", "a.b", "a_b", &"a".repeat(64)] {
            assert!(dns1123_label(bad).is_err(), "{bad}");
        }
        for ok in [
            "example.com",
            "a",
            "1.2.3",
            &format!("{}.b", "a".repeat(100)),
        ] {
            assert!(dns1123_subdomain(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            ".a",
            "a.",
            "a..b",
            "Web",
            "../../escape",
            "a/b",
            &"a".repeat(254),
        ] {
            assert!(dns1123_subdomain(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn dns_1035_labels_start_with_a_letter() {
        assert!(dns1035_label("web-1").is_ok());
        assert!(dns1035_label("1web").is_err());
        assert!(dns1035_label("web.example").is_err());
    }

    #[test]
    fn path_segments_refuse_only_what_breaks_a_url() {
        for ok in ["a", "system:controller:x", "Weird Name", "a.b"] {
            assert!(path_segment(ok).is_ok(), "{ok}");
        }
        for bad in [".", "..", "a/b", "100%"] {
            assert!(path_segment(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn qualified_names_have_an_optional_subdomain_prefix() {
        for ok in [
            "app",
            "App_Name.x",
            "app.kubernetes.io/name",
            "example.com/MyName",
        ] {
            assert!(qualified_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "/a",
            "a/",
            "a/b/c",
            "Example.com/a",
            "-a",
            "a b",
            &"a".repeat(64),
        ] {
            assert!(qualified_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn messages_say_which_part_fails_and_why() {
        let why = |r: Result<(), NameError>| r.unwrap_err().to_string();
        assert_eq!(
            why(qualified_name(&format!("a/{}", "b".repeat(64)))),
            "name part must be no more than 63 characters (is 64)"
        );
        assert!(
            why(qualified_name("Example.com/a"))
                .starts_with("prefix part must be a lowercase RFC 1123 subdomain"),
        );
        assert_eq!(why(path_segment("100%")), "may not contain '%'");
        assert_eq!(why(path_segment("..")), "may not be '..'");
    }

    #[test]
    fn label_values_may_be_empty() {
        for ok in ["", "v1.2", "My_Value", "12345"] {
            assert!(label_value(ok).is_ok(), "{ok}");
        }
        for bad in ["-a", "a/b", "a b", &"a".repeat(64)] {
            assert!(label_value(bad).is_err(), "{bad}");
        }
    }
}
