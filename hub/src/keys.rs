//! Key files: generating them and loading them safely.

use std::io::Write;
use std::path::{Path, PathBuf};

use cairn_state_format::SecretKey;

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
