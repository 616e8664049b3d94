//! `cairn trust delegate` and `cairn trust undelegate`.

use cairn_state_format::ChannelPattern;
use clap::Args;

use super::write::{RootSigning, publish_edit};
use crate::commands::args::StoreArgs;
use crate::error::{Error, Result};
use crate::files::keys::load_publics;
use crate::trust::RootEdit;

/// Arguments of `cairn trust delegate`.
#[derive(Args, Debug)]
#[command(after_help = "Examples:\n  \
cairn trust delegate team-a --channel 'team-a-*' --signer team-a.key.pub --key root.key\n  \
cairn trust delegate prod --channel prod --signer a.pub --signer b.pub --signer c.pub \\\n      \
--threshold 2 --key root.key\n\
A new delegation goes before the first one that matches every channel it names (so `team-a-*` \
goes before `*`); for a channel, the first delegation whose pattern matches decides.")]
pub struct DelegateArgs {
    /// Store options.
    #[command(flatten)]
    pub store: StoreArgs,
    /// The delegation's name (replaces a delegation of that name).
    pub name: String,
    /// A channel name or pattern (`*` for any run of characters); repeat for several.
    #[arg(long = "channel", required = true)]
    pub channels: Vec<String>,
    /// A public key that may sign those channels (.pub file or text); repeat for several.
    #[arg(long = "signer", required = true)]
    pub signers: Vec<String>,
    /// How many of the signers must sign each head.
    #[arg(long, default_value_t = 1)]
    pub threshold: u32,
    /// Signing options.
    #[command(flatten)]
    pub signing: RootSigning,
}

/// Writes a version with the delegation created or replaced.
pub async fn delegate(args: DelegateArgs) -> Result<()> {
    let channels = args
        .channels
        .iter()
        .map(|c| {
            c.parse::<ChannelPattern>()
                .map_err(|e| Error::Usage(e.to_string()))
        })
        .collect::<Result<Vec<_>>>()?;
    let keys = load_publics(&args.signers)?;
    let edit = RootEdit::Delegate {
        name: args.name,
        channels,
        keys,
        threshold: args.threshold,
    };
    publish_edit(&args.store, &args.signing, edit).await
}

/// Arguments of `cairn trust undelegate`.
#[derive(Args, Debug)]
pub struct UndelegateArgs {
    /// Store options.
    #[command(flatten)]
    pub store: StoreArgs,
    /// The delegation's name.
    pub name: String,
    /// Signing options.
    #[command(flatten)]
    pub signing: RootSigning,
}

/// Writes a version without the delegation.
pub async fn undelegate(args: UndelegateArgs) -> Result<()> {
    publish_edit(
        &args.store,
        &args.signing,
        RootEdit::Undelegate { name: args.name },
    )
    .await
}
