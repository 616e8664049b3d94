//! `cairn trust rotate`: new root keys, a new threshold, or just a new expiry.

use clap::Args;

use super::write::{RootSigning, publish_edit};
use crate::commands::args::StoreArgs;
use crate::error::Result;
use crate::files::keys::load_publics;
use crate::trust::RootEdit;

/// Arguments of `cairn trust rotate`.
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
cairn trust rotate --key alice.key      # renew the expiry only\n\
Replace a leaked root key (alice); a threshold of the old root keys and of the new ones sign:\n  \
cairn trust rotate --root-key bob.key.pub --root-key carol.key.pub --root-key dave.key.pub \\\n      \
--threshold 2 --key bob.key,carol.key,dave.key")]
pub struct RotateArgs {
    /// Store options.
    #[command(flatten)]
    pub store: StoreArgs,
    /// The complete new set of root keys (.pub files or texts); repeat. Default: unchanged.
    #[arg(long = "root-key")]
    pub root_keys: Vec<String>,
    /// How many root keys must sign each later version. Default: unchanged.
    #[arg(long)]
    pub threshold: Option<u32>,
    /// Signing options.
    #[command(flatten)]
    pub signing: RootSigning,
}

/// Writes a version with the root keys, threshold or expiry changed.
pub async fn run(args: RotateArgs) -> Result<()> {
    let edit = RootEdit::Rotate {
        root_keys: load_publics(&args.root_keys)?,
        threshold: args.threshold,
    };
    publish_edit(&args.store, &args.signing, edit).await
}
