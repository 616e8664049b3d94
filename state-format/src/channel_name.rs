//! Channel names: they appear in object keys (`channels/<name>/head`), so they are kept to a
//! small alphabet.

/// A name that is not a channel name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "{name:?} is not a valid channel name: use 1 to 63 of a-z, 0-9, '-', '_', '.', starting and ending with a letter or digit"
)]
pub struct InvalidChannelName {
    /// The name offered.
    pub name: String,
}

/// Channel names: 1 to 63 characters of `a-z 0-9 - _ .`, starting and ending with a letter or
/// digit. They appear in object keys, so nothing else is allowed.
pub fn validate_channel_name(name: &str) -> Result<(), InvalidChannelName> {
    let ok_chars = name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b));
    let ok_ends = name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if name.is_empty() || name.len() > 63 || !ok_chars || !ok_ends {
        return Err(InvalidChannelName {
            name: name.to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_names_are_checked() {
        for ok in ["prod", "pr-123", "eu.west_1"] {
            validate_channel_name(ok).unwrap();
        }
        for bad in ["", "Prod", "-x", "a/b", "x-", &"a".repeat(64)] {
            let err = validate_channel_name(bad).unwrap_err();
            assert!(
                err.to_string().contains("not a valid channel name"),
                "{err}"
            );
        }
    }
}
