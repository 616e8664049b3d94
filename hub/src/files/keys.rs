//! Key files: generating them, loading secret keys safely, and public keys named on the command
//! line (a `.pub` file from `cairn keygen`, or the key's text).

use std::io::Write;
use std::path::{Path, PathBuf};

use cairn_state_format::{MAX_LABEL_CHARS, PublicKey, SecretKey};

use crate::error::{Error, Result};

/// Writes a new key pair: the secret key at `path` (mode 0600, never overwritten) and the public
/// key at `path.pub`. Returns the public key's path.
pub fn generate(path: &Path) -> Result<(PathBuf, SecretKey)> {
    let mut seed = [0u8; 32];
    getrandom::getrandom(&mut seed)
        .map_err(|e| Error::Usage(format!("no randomness available for a key: {e}")))?;
    let secret = SecretKey::from_seed(seed);
    let public_path = PathBuf::from(format!("{}.pub", path.display()));
    for existing in [path, public_path.as_path()] {
        if existing.exists() {
            return Err(Error::Usage(format!(
                "{} exists already; refusing to overwrite a key",
                existing.display()
            )));
        }
    }
    write_new(path, secret.to_text().as_bytes(), 0o600)?;
    write_new(
        &public_path,
        format!("{}\n", secret.public()).as_bytes(),
        0o644,
    )?;
    Ok((public_path, secret))
}

fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(path).map_err(Error::io(path.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(Error::io(path.display()))
}

/// Loads a secret key file, refusing one that others can read (as ssh does).
pub fn load_secret(path: &Path) -> Result<SecretKey> {
    let text = std::fs::read_to_string(path).map_err(Error::io(path.display()))?;
    if text.parse::<cairn_state_format::PublicKey>().is_ok() {
        return Err(Error::Usage(format!(
            "{} holds a public key; give the secret key file (the one without .pub)",
            path.display()
        )));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(Error::io(path.display()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(Error::Usage(format!(
                "{}: the secret key is readable by others (mode {:o}); run `chmod 600 {}`",
                path.display(),
                mode & 0o777,
                path.display()
            )));
        }
    }
    text.parse()
        .map_err(|e| Error::Usage(format!("{}: {e}", path.display())))
}

/// Loads secret key files (see [`load_secret`]).
pub fn load_secrets(paths: &[PathBuf]) -> Result<Vec<SecretKey>> {
    paths.iter().map(|p| load_secret(p)).collect()
}

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

/// Reads public keys (see [`load_public`]).
pub fn load_publics(args: &[String]) -> Result<Vec<NamedKey>> {
    args.iter().map(|a| load_public(a)).collect()
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
