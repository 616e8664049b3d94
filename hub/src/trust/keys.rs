//! Public keys named on the command line: a `.pub` file from `cairn keygen`, or the key's text.

use std::path::Path;

use cairn_state_format::{MAX_LABEL_CHARS, PublicKey};

use crate::error::{Error, Result};

/// A public key and the label `cairn trust show` gives it.
#[derive(Clone, Debug)]
pub struct NamedKey {
    /// The key.
    pub public: PublicKey,
    /// Its label: the file name without `.pub` and `.key` (`alice.key.pub` → `alice`).
    pub label: Option<String>,
}

/// Reads a public key: `cairn-ed25519-public …` given as is, or the path of a file holding it.
pub fn load_public(arg: &str) -> Result<NamedKey> {
    if arg.trim_start().starts_with("cairn-ed25519-public") {
        let public = arg
            .parse()
            .map_err(|e| Error::Usage(format!("public key {arg:?}: {e}")))?;
        return Ok(NamedKey {
            public,
            label: None,
        });
    }
    let path = Path::new(arg);
    let text = std::fs::read_to_string(path).map_err(Error::io(path.display()))?;
    let public = text.parse().map_err(|e| {
        Error::Usage(format!(
            "{}: {e} (give the public key: the .pub file `cairn keygen` wrote)",
            path.display()
        ))
    })?;
    Ok(NamedKey {
        public,
        label: label_of(path),
    })
}

fn label_of(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    let name = name.strip_suffix(".pub").unwrap_or(name);
    let name = name.strip_suffix(".key").unwrap_or(name);
    let label: String = name
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_LABEL_CHARS)
        .collect();
    (!label.is_empty()).then_some(label)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_come_from_the_file_name() {
        assert_eq!(
            label_of(Path::new("/k/alice.key.pub")).as_deref(),
            Some("alice")
        );
        assert_eq!(label_of(Path::new("team-a.pub")).as_deref(), Some("team-a"));
        assert_eq!(label_of(Path::new(".pub")), None);
    }
}
