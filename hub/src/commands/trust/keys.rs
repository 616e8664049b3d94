//! `cairn trust add-key` and `cairn trust remove-key`.

use clap::Args;

use super::write::{RootSigning, publish_edit};
use crate::commands::args::StoreArgs;
use crate::error::{Error, Result};
use crate::files::keys::load_public;
use crate::trust::{KeyTarget, RootEdit};

/// Arguments of `cairn trust add-key`.
#[derive(Args, Debug)]
#[command(
    after_help = "Examples:\n  cairn trust add-key team-a-2.key.pub --delegation team-a --key root.key\n  \
cairn trust add-key dave.key.pub --root --threshold 2 --key alice.key,bob.key,dave.key"
)]
pub struct AddKeyArgs {
    /// Store options.
    #[command(flatten)]
    pub store: StoreArgs,
    /// The public key: a .pub file from `cairn keygen`, or its text `cairn-ed25519-public …`.
    pub public_key: String,
    /// Add it to this delegation.
    #[arg(long, required_unless_present = "root", conflicts_with = "root")]
    pub delegation: Option<String>,
    /// Add it to the root keys (the new key signs the new version too).
    #[arg(long)]
    pub root: bool,
    /// The role's threshold from this version on (default: unchanged).
    #[arg(long)]
    pub threshold: Option<u32>,
    /// What `cairn trust show` calls the key (default: the file name).
    #[arg(long)]
    pub label: Option<String>,
    /// Signing options.
    #[command(flatten)]
    pub signing: RootSigning,
}

/// Writes a version with one more key.
pub async fn add(args: AddKeyArgs) -> Result<()> {
    let mut key = load_public(&args.public_key)?;
    if args.label.is_some() {
        key.label = args.label;
    }
    let target = match args.delegation {
        Some(name) => KeyTarget::Delegation(name),
        None => KeyTarget::Root,
    };
    let edit = RootEdit::AddKey {
        key,
        target,
        threshold: args.threshold,
    };
    publish_edit(&args.store, &args.signing, edit).await
}

/// Arguments of `cairn trust remove-key`.
#[derive(Args, Debug)]
#[command(
    after_help = "Revoking a leaked team key: agents refuse heads it signs from the first poll that \
sees a new head after this version is written.\n  cairn trust remove-key 7300c0ae1429cd15 --key root.key\n  \
cairn trust remove-key team-a.key.pub --replace team-a-2.key.pub --key root.key"
)]
pub struct RemoveKeyArgs {
    /// The key: its id (as `cairn trust show` lists it), a .pub file, or its text.
    pub key: String,
    /// Put this public key wherever the removed one was.
    #[arg(long)]
    pub replace: Option<String>,
    /// When removing a root key: the root threshold from this version on.
    #[arg(long)]
    pub root_threshold: Option<u32>,
    /// Store options.
    #[command(flatten)]
    pub store: StoreArgs,
    /// Signing options.
    #[command(flatten)]
    pub signing: RootSigning,
}

/// Writes a version without a key.
pub async fn remove(args: RemoveKeyArgs) -> Result<()> {
    let id = key_id(&args.key)?;
    let replace = args.replace.as_deref().map(load_public).transpose()?;
    let edit = RootEdit::RemoveKey {
        id,
        replace,
        root_threshold: args.root_threshold,
    };
    publish_edit(&args.store, &args.signing, edit).await
}

/// A key id as given, or the id of a public key given as a file or text.
fn key_id(arg: &str) -> Result<String> {
    let is_id = arg.len() == 16
        && arg
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if is_id {
        return Ok(arg.to_owned());
    }
    load_public(arg).map(|k| k.public.id()).map_err(|e| {
        Error::Usage(format!(
            "{arg:?} is neither a key id (16 hex digits) nor a public key: {e}"
        ))
    })
}
