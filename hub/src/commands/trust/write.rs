//! What every `cairn trust` command that writes a version shares: the root signing flags, building
//! and checking the next version, writing it and saying what changed.

use std::path::PathBuf;
use std::time::Duration;

use cairn_env_vars::EnvVars;
use cairn_state_format::{Digest, SecretKey, SignedRoot};
use clap::Args;
use serde::Serialize;

use crate::clock::now;
use crate::commands::args::{Output, StoreArgs};
use crate::commands::common::{open_store, print_json};
use crate::error::Result;
use crate::files::keys::load_secrets;
use crate::trust::{self, RootEdit};

/// How a new version is signed.
#[derive(Args, Debug, Clone)]
pub struct RootSigning {
    /// Root secret key file(s) that sign the new version: a threshold of the current root keys, and
    /// of the new ones when they change. Repeat (or separate with commas) for several.
    #[arg(
        long = "key",
        env = EnvVars::CAIRN_ROOT_KEY,
        required = true,
        value_delimiter = ','
    )]
    pub keys: Vec<PathBuf>,

    /// How long agents accept the new version; after that they refuse every head until a newer
    /// version is written (renew with `cairn trust rotate`).
    #[arg(long, default_value = "365d", value_parser = humantime::parse_duration)]
    pub expires_in: Duration,

    /// Promise that no one else writes the trust root concurrently. Needed only on stores that
    /// ignore conditional writes (cairn detects them and says so).
    #[arg(long, env = EnvVars::CAIRN_SINGLE_PUBLISHER)]
    pub single_publisher: bool,
}

impl RootSigning {
    /// The secret keys.
    pub fn load(&self) -> Result<Vec<SecretKey>> {
        load_secrets(&self.keys)
    }

    /// The new version's expiry, from now.
    pub fn expires_at(&self) -> chrono::DateTime<chrono::Utc> {
        let ttl = chrono::Duration::from_std(self.expires_in).unwrap_or(chrono::Duration::MAX);
        now()
            .checked_add_signed(ttl)
            .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC)
    }
}

/// What a written version says, for people and scripts.
#[derive(Serialize, Debug)]
pub struct Written {
    /// The new version.
    pub version: u64,
    /// Its digest.
    pub digest: Digest,
    /// Version 1's digest: what agents are installed with.
    pub first_digest: Digest,
    /// When it expires.
    pub expires_at: chrono::DateTime<chrono::Utc>,
    /// Keys that signed it.
    pub signed_by: Vec<String>,
    /// What changed.
    pub changes: Vec<String>,
    /// What to look at.
    pub warnings: Vec<String>,
}

/// Builds the next version with `edit`, signs and checks it, writes it, and reports.
pub async fn publish_edit(
    store_args: &StoreArgs,
    signing: &RootSigning,
    edit: RootEdit,
) -> Result<()> {
    let keys = signing.load()?;
    let store = open_store(store_args)?;
    let chain = trust::require(&store).await?;
    let mut next = chain
        .latest
        .root
        .successor(chain.trusted.digest(), now(), signing.expires_at());
    let outcome = edit.apply(&mut next)?;
    let signed = trust::sign_next(&chain, &next, &keys)?;
    trust::append(&store, &signed, signing.single_publisher).await?;
    let written = Written {
        version: signed.root.version,
        digest: signed.digest(),
        first_digest: chain.first_digest(),
        expires_at: signed.root.expires_at,
        signed_by: signers(&signed),
        changes: outcome.changes,
        warnings: outcome.warnings,
    };
    report(store_args, &written)
}

/// The ids of the keys that signed `signed`.
pub fn signers(signed: &SignedRoot) -> Vec<String> {
    signed.signatures.iter().map(|s| s.key.clone()).collect()
}

/// Prints what was written.
pub fn report(store_args: &StoreArgs, written: &Written) -> Result<()> {
    if store_args.output == Output::Json {
        return print_json(written);
    }
    println!(
        "trust root version {} written ({}), signed by {}; expires {}. Agents follow it when they next see a new head \
         or resync.",
        written.version,
        written.digest,
        written.signed_by.join(", "),
        written.expires_at
    );
    for change in &written.changes {
        println!("  {change}");
    }
    for warning in &written.warnings {
        eprintln!("warning: {warning}");
    }
    Ok(())
}
