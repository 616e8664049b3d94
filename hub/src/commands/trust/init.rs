//! `cairn trust init`: version 1 of the trust root.

use cairn_state_format::{ChannelPattern, Delegation, SignedRoot, TrustRoot, TrustedRoot};
use clap::Args;

use super::write::{RootSigning, Written, report, signers};
use crate::clock::now;
use crate::commands::args::StoreArgs;
use crate::commands::common::open_store;
use crate::error::{Error, Result, TrustError};
use crate::files::keys::{NamedKey, load_public};
use crate::trust;

/// Arguments of `cairn trust init`.
#[derive(Args, Debug)]
#[command(
    after_help = "Example: a root of three admins' keys, two of which must sign every change, \
that starts by letting the CI key sign every channel (what `cairn-agent --trust ci.key.pub` \
meant):\n  \
cairn trust init --key alice.key,bob.key --root-key carol.key.pub --threshold 2 \\\n      \
--delegate-all ci.key.pub"
)]
pub struct InitArgs {
    /// Store options.
    #[command(flatten)]
    pub store: StoreArgs,
    /// Signing: the secret root keys given with --key are root keys of version 1 and sign it.
    #[command(flatten)]
    pub signing: RootSigning,
    /// More root keys, by public key only (a .pub file or the key's text), e.g. kept offline.
    #[arg(long = "root-key")]
    pub root_keys: Vec<String>,
    /// How many root keys must sign each later version.
    #[arg(long, default_value_t = 1)]
    pub threshold: u32,
    /// Delegate every channel (`*`) to these public keys, any one of which may sign: the simple mode,
    /// made explicit, to narrow later with `cairn trust delegate`.
    #[arg(long = "delegate-all")]
    pub delegate_all: Vec<String>,
}

/// Writes version 1.
pub async fn run(args: InitArgs) -> Result<()> {
    let secrets = args.signing.load()?;
    let store = open_store(&args.store)?;
    if let Some(chain) = trust::load(&store).await? {
        return Err(Error::Usage(format!(
            "{} has a trust root already (version {}); change it with `cairn trust add-key|remove-key|delegate|rotate`",
            store.url(),
            chain.trusted.version()
        )));
    }
    let mut root_keys: Vec<NamedKey> = args
        .signing
        .keys
        .iter()
        .zip(&secrets)
        .map(|(path, secret)| {
            let pub_path = format!("{}.pub", path.display());
            let label = load_public(&pub_path).ok().and_then(|k| k.label);
            NamedKey {
                public: secret.public(),
                label,
            }
        })
        .collect();
    for arg in &args.root_keys {
        root_keys.push(load_public(arg)?);
    }
    let mut root = first_version(&root_keys, args.threshold, &args.signing)?;
    if !args.delegate_all.is_empty() {
        delegate_all(&mut root, &args.delegate_all)?;
    }
    let signed = SignedRoot::sign(&root, &secrets.iter().collect::<Vec<_>>());
    TrustedRoot::anchor(&signed.encode(), None).map_err(|refusal| TrustError::Unaccepted {
        version: 1,
        refusal,
    })?;
    trust::append(&store, &signed, args.signing.single_publisher).await?;
    let digest = signed.digest();
    let written = Written {
        version: 1,
        digest,
        first_digest: digest,
        expires_at: root.expires_at,
        signed_by: signers(&signed),
        changes: vec![
            format!(
                "{} of {} root keys sign the next version",
                root.root.threshold,
                root.root.keys.len()
            ),
            format!("install agents with --trust-root-digest {digest}"),
        ],
        warnings: nothing_delegated(&root),
    };
    report(&args.store, &written)
}

fn first_version(keys: &[NamedKey], threshold: u32, signing: &RootSigning) -> Result<TrustRoot> {
    let pairs: Vec<_> = keys.iter().map(|k| (k.public, k.label.clone())).collect();
    let root = TrustRoot::first(&pairs, threshold, now(), signing.expires_at());
    if threshold == 0 || threshold as usize > root.root.keys.len() {
        return Err(Error::Usage(format!(
            "--threshold {threshold}: must be between 1 and the {} root keys",
            root.root.keys.len()
        )));
    }
    Ok(root)
}

fn delegate_all(root: &mut TrustRoot, args: &[String]) -> Result<()> {
    let mut ids = Vec::new();
    for arg in args {
        let key = load_public(arg)?;
        let id = key.public.id();
        root.keys
            .entry(id.clone())
            .or_insert(cairn_state_format::KeyEntry {
                public: key.public,
                label: key.label,
            });
        ids.push(id);
    }
    ids.sort_unstable();
    ids.dedup();
    root.delegations.push(Delegation {
        name: "all".to_owned(),
        // Invariant: `*` is a valid pattern.
        channels: vec!["*".parse::<ChannelPattern>().expect("`*` is a pattern")],
        keys: ids,
        threshold: 1,
        scope: None,
    });
    root.validate()
        .map_err(|e| Error::Usage(format!("the trust root would be invalid: {e}")))
}

fn nothing_delegated(root: &TrustRoot) -> Vec<String> {
    if !root.delegations.is_empty() {
        return Vec::new();
    }
    vec![
        "no channel is delegated yet: `cairn publish` refuses every channel until `cairn trust delegate NAME \
         --channel PATTERN --signer KEY.pub --key ROOT_KEY` (agents installed with --trust keep their keys)"
            .to_owned(),
    ]
}
