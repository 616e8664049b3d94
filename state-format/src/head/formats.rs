//! Which head format carries which field: the one rule that gates head fields by format.
//!
//! Each field a format added is declared here with the format that introduced it. A head's
//! format is the newest among the fields it has (hubs write the lowest format that expresses a
//! head, so agents of the format before keep reading heads that need nothing new), and a head
//! may not carry a field newer than its format says. Adding a head field in a new format is one
//! line here, and nothing else.

use serde_json::Value;

/// A head field that not every format has.
struct Gated {
    /// Its path from the head object, e.g. `["packs", "bridge"]`.
    path: &'static [&'static str],
    /// The format that introduced it: heads of older formats do not carry it.
    since: u64,
    /// Whether heads of format `since` and later must carry it.
    required: bool,
}

/// The oldest head format: the fields not listed below.
pub(super) const OLDEST: u32 = 1;

/// Every head field a format after the first introduced.
const GATED: [Gated; 3] = [
    // Format 2: the channel's epoch, fixed at its first generation, in every head.
    Gated {
        path: &["epoch"],
        since: 2,
        required: true,
    },
    // Format 2: the packs a head offers.
    Gated {
        path: &["packs"],
        since: 2,
        required: false,
    },
    // Format 3: the bridge among them.
    Gated {
        path: &["packs", "bridge"],
        since: 3,
        required: false,
    },
];

/// A head whose fields do not fit its format.
#[derive(Debug, thiserror::Error)]
pub(super) enum FieldFormatError {
    /// A field newer than the head's format.
    #[error(
        "unknown field `{field}` (a format {format} head has no such field; format {since} has)"
    )]
    Newer {
        /// The field's name.
        field: &'static str,
        /// The head's format.
        format: u64,
        /// The format that introduced the field.
        since: u64,
    },
    /// A field every head of its format carries is missing.
    #[error("missing field `{field}`")]
    Missing {
        /// The field's name.
        field: &'static str,
    },
}

impl Gated {
    fn name(&self) -> &'static str {
        self.path.last().copied().unwrap_or_default()
    }

    /// The field's value in `head`, if the key is there (even as `null`).
    fn find<'a>(&self, head: &'a Value) -> Option<&'a Value> {
        self.path.iter().try_fold(head, |value, key| value.get(key))
    }
}

/// The lowest format whose heads carry every field `head` (a head as JSON) has.
pub(super) fn lowest_format(head: &Value) -> u64 {
    GATED
        .iter()
        .filter(|field| field.find(head).is_some())
        .map(|field| field.since)
        .fold(u64::from(OLDEST), u64::max)
}

/// Refuses a head (as JSON) of format `format` that carries a field newer than its format, or
/// lacks one its format requires.
pub(super) fn check_fields(head: &Value, format: u64) -> Result<(), FieldFormatError> {
    for field in &GATED {
        let found = field.find(head);
        if found.is_some() && field.since > format {
            return Err(FieldFormatError::Newer {
                field: field.name(),
                format,
                since: field.since,
            });
        }
        if field.required && format >= field.since && found.is_none_or(Value::is_null) {
            return Err(FieldFormatError::Missing {
                field: field.name(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_gated_field_is_of_a_format_this_build_reads() {
        for field in &GATED {
            assert!(
                (u64::from(OLDEST) + 1..=u64::from(crate::HEAD_FORMAT)).contains(&field.since),
                "{}",
                field.name()
            );
        }
    }

    #[test]
    fn the_format_is_the_newest_field_present() {
        let head = |v: Value| lowest_format(&v);
        assert_eq!(head(serde_json::json!({"channel": "prod"})), 1);
        assert_eq!(head(serde_json::json!({"epoch": "e"})), 2);
        assert_eq!(
            head(serde_json::json!({"epoch": "e", "packs": {"bridge": {}}})),
            3
        );
    }
}
