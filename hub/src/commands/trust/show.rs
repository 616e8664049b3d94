//! `cairn trust show`: who may sign what, explained.

use cairn_state_format::{Delegation, Digest, Scope, SignedRoot, TrustRoot, layout};
use chrono::{DateTime, Utc};
use clap::Args;
use serde::Serialize;

use crate::clock::now;
use crate::commands::args::{Output, StoreArgs};
use crate::commands::common::{channel_name, open_store, print_json};
use crate::error::{Error, Result};
use crate::trust::{self, Chain, VersionInfo, key_list, scope_text, shadowed};

/// Arguments of `cairn trust show`.
#[derive(Args, Debug)]
pub struct ShowArgs {
    /// Store options.
    #[command(flatten)]
    pub store: StoreArgs,
    /// Explain who may sign this channel.
    #[arg(long)]
    pub channel: Option<String>,
    /// Show this version rather than the newest (every version is verified from version 1 first).
    #[arg(value_name = "VERSION")]
    pub at: Option<u64>,
    /// Print the version's stored bytes, e.g. `cairn trust show 1 --raw > root.json` for
    /// `cairn-agent --trust-root`.
    #[arg(long)]
    pub raw: bool,
}

/// Who may sign one channel.
#[derive(Serialize, Debug)]
struct ChannelRule {
    channel: String,
    /// The delegation that decides, if any.
    delegation: Option<String>,
    threshold: Option<u32>,
    keys: Vec<String>,
    /// What its heads may hold (`None`: anything).
    scope: Option<Scope>,
}

/// What `show` prints as JSON.
#[derive(Serialize, Debug)]
struct Shown<'a> {
    store: &'a str,
    version: u64,
    digest: Digest,
    first_digest: Digest,
    expired: bool,
    root: &'a TrustRoot,
    signed_by: Vec<String>,
    channel: Option<ChannelRule>,
    versions: &'a [VersionInfo],
    warnings: Vec<String>,
}

/// Shows a version of the trust root.
pub async fn run(args: ShowArgs) -> Result<()> {
    let store = open_store(&args.store)?;
    let chain = trust::require(&store).await?;
    let newest = chain.trusted.version();
    let (signed, bytes) = match args.at {
        None => (chain.latest.clone(), chain.latest.encode()),
        Some(v) if v >= 1 && v <= newest => {
            let fetched = store.get(&layout::root_key(v)).await?.ok_or_else(|| {
                Error::Conflict(format!("trust root version {v} vanished while it was read"))
            })?;
            (SignedRoot::decode(&fetched.bytes)?, fetched.bytes.to_vec())
        }
        Some(v) => {
            return Err(Error::Usage(format!(
                "the trust root has versions 1 to {newest}, not {v}"
            )));
        }
    };
    if args.raw {
        use std::io::Write as _;
        return std::io::stdout()
            .write_all(&bytes)
            .map_err(Error::io("standard output"));
    }
    let rule = args
        .channel
        .as_deref()
        .map(|c| channel_name(c).map(|c| rule_for(&signed.root, c)))
        .transpose()?;
    let shown = Shown {
        store: store.url(),
        version: signed.root.version,
        digest: signed.digest(),
        first_digest: chain.first_digest(),
        expired: now() >= signed.root.expires_at,
        root: &signed.root,
        signed_by: signed.signatures.iter().map(|s| s.key.clone()).collect(),
        channel: rule,
        versions: &chain.versions,
        warnings: shadowed(&signed.root),
    };
    if args.store.output == Output::Json {
        return print_json(&shown);
    }
    print_text(&shown, &chain);
    Ok(())
}

fn rule_for(root: &TrustRoot, channel: &str) -> ChannelRule {
    let delegation = root.delegation_for(channel);
    ChannelRule {
        channel: channel.to_owned(),
        delegation: delegation.map(|d| d.name.clone()),
        threshold: delegation.map(|d| d.threshold),
        keys: delegation.map(|d| d.keys.clone()).unwrap_or_default(),
        scope: delegation.and_then(|d| d.scope.clone()),
    }
}

fn when(at: DateTime<Utc>) -> String {
    let left = at - now();
    if left <= chrono::Duration::zero() {
        format!("{at} (EXPIRED: agents refuse every head)")
    } else {
        format!("{at} (in {} days)", left.num_days())
    }
}

fn print_text(shown: &Shown<'_>, chain: &Chain) {
    let root = shown.root;
    println!(
        "trust root version {} of {} ({}), format {}",
        root.version, shown.store, shown.digest, root.format
    );
    println!(
        "  published {}, expires {}",
        root.published_at,
        when(root.expires_at)
    );
    println!(
        "  agents are installed with version 1: --trust-root-digest {}",
        shown.first_digest
    );
    println!(
        "root keys ({} of them sign the next version): {}",
        root.root.threshold,
        key_list(root, &root.root.keys)
    );
    if root.delegations.is_empty() {
        println!("delegations: none, so no key may sign any channel");
    } else {
        println!(
            "delegations (for a channel, the first whose pattern matches decides; root keys sign no channel):"
        );
    }
    for (i, d) in root.delegations.iter().enumerate() {
        println!("  {}. {}", i + 1, describe(root, d));
    }
    if let Some(rule) = &shown.channel {
        print_rule(root, rule);
    }
    for warning in &shown.warnings {
        println!("warning: {warning}");
    }
    println!("versions (each signed by its predecessor's root keys):");
    for v in &chain.versions {
        println!(
            "  {} {} published {} signed by {}",
            v.version,
            v.digest,
            v.published_at,
            v.signed_by.join(", ")
        );
    }
}

fn describe(root: &TrustRoot, d: &Delegation) -> String {
    let channels: Vec<&str> = d.channels.iter().map(|c| c.as_str()).collect();
    let need = if d.keys.len() < d.threshold as usize {
        format!(
            "needs {} signatures but names {} keys: NOBODY can sign",
            d.threshold,
            d.keys.len()
        )
    } else {
        format!("{} of", d.threshold)
    };
    format!(
        "{:?}: channels {}: {need} {}\n     scope: {}",
        d.name,
        channels.join(", "),
        key_list(root, &d.keys),
        scope_text(d.scope.as_ref())
    )
}

fn print_rule(root: &TrustRoot, rule: &ChannelRule) {
    match (&rule.delegation, rule.threshold) {
        (Some(name), Some(threshold)) => println!(
            "channel {}: delegation {name:?} decides: a head needs signatures by {threshold} of {}; \
             its content: {}",
            rule.channel,
            key_list(root, &rule.keys),
            scope_text(rule.scope.as_ref())
        ),
        _ => println!(
            "channel {}: no delegation matches it, so no key may sign it",
            rule.channel
        ),
    }
}
