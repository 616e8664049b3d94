//! `cairn keygen`.

use std::path::Path;

use crate::error::Result;

/// Writes a key pair and says where.
pub fn keygen(out: &Path) -> Result<()> {
    let (public_path, secret) = crate::keys::generate(out)?;
    println!(
        "secret key: {} (mode 0600; keep it in your CI secret store)",
        out.display()
    );
    println!(
        "public key: {} (key id {}); give it to agents with --trust",
        public_path.display(),
        secret.public().id()
    );
    Ok(())
}
