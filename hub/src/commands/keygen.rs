//! `cairn keygen`.

use std::path::PathBuf;

use crate::error::Result;

/// Flags of `cairn keygen`.
#[derive(clap::Args, Debug)]
pub struct KeygenArgs {
    /// Where to write the secret key.
    #[arg(long)]
    pub out: PathBuf,
}

/// Writes a key pair and says where.
pub fn run(args: &KeygenArgs) -> Result<()> {
    let out = &args.out;
    let (public_path, secret) = crate::files::keys::generate(out)?;
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
