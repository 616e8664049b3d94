//! Helpers shared by the commands.

use std::io::IsTerminal;

use cairn_state_format::{Digest, SecretKey, validate_channel_name};
use cairn_store::{Store, StoreOptions};
use serde::Serialize;

use super::args::{Output, SignArgs, StoreArgs};
use crate::channel::{Channel, Logged};
use crate::error::{Error, Result};
use crate::files::keys::load_secrets;
use crate::publish::published::Published;
use crate::publish::request::Settings;

/// Opens the store named on the command line.
pub fn open_store(args: &StoreArgs) -> Result<Store> {
    Ok(Store::open(&args.store, &StoreOptions::default())?
        .with_cache_control(cairn_state_format::layout::cache_control)
        .with_read_limits(cairn_state_format::layout::read_limit))
}

/// Checks a channel name given on the command line.
pub fn channel_name(name: &str) -> Result<&str> {
    validate_channel_name(name).map_err(|e| Error::Usage(e.to_string()))?;
    Ok(name)
}

/// Loads the signing keys.
pub fn load_keys(sign: &SignArgs) -> Result<Vec<SecretKey>> {
    load_secrets(&sign.keys)
}

/// Publishing settings from the signing flags.
pub fn settings<'a>(sign: &SignArgs, keys: &'a [SecretKey]) -> Settings<'a> {
    Settings {
        keys,
        delta_depth: sign.delta_depth.max(1),
        single_publisher: sign.single_publisher,
        progress: std::io::stderr().is_terminal(),
        propose: sign.propose,
    }
}

/// What to tell people when a head was proposed rather than published (the store's trust root
/// asks for more signatures than were given); `None` when it was published.
pub fn proposal_notice(published: &Published) -> Option<String> {
    let proposal = published.proposal.as_ref()?;
    Some(format!(
        "channel {c}: proposed generation {g} ({s}), signed by {signers}; delegation {d:?} needs {t} of {allowed}: \
         review with `cairn sign --channel {c} --list`, complete with `cairn sign --channel {c} --key KEY`",
        c = published.channel,
        g = published.generation,
        s = published.snapshot,
        signers = proposal.signers.join(", "),
        d = proposal.delegation,
        t = proposal.threshold,
        allowed = proposal.allowed.join(", "),
    ))
}

/// Says what a publish did: the JSON report, the notice of a proposal, or `message` (which tells
/// an unchanged channel from a new generation).
pub fn report_published(
    output: Output,
    published: &Published,
    message: impl FnOnce(&Published) -> String,
) -> Result<()> {
    if output == Output::Json {
        return print_json(published);
    }
    match proposal_notice(published) {
        Some(notice) => println!("{notice}"),
        None => println!("{}", message(published)),
    }
    Ok(())
}

/// Prints a JSON document on stdout.
pub fn print_json<T: Serialize>(value: &T) -> Result<()> {
    // Invariant: the output types are plain data that always serializes.
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("output serializes")
    );
    Ok(())
}

/// A generation number or a snapshot digest, resolved to a snapshot (and the head, if a generation).
pub async fn resolve(
    store: &Store,
    channel: Option<&str>,
    what: Option<&str>,
) -> Result<(Digest, Option<Logged>)> {
    if let Some(text) = what.filter(|t| t.starts_with("sha256:")) {
        return Ok((text.parse::<Digest>()?, None));
    }
    let name =
        channel.ok_or_else(|| Error::Usage("--channel is needed to name a generation".into()))?;
    let channel = Channel::new(store, channel_name(name)?);
    let logged = match what {
        None => channel.require_latest().await?,
        Some(text) => {
            let generation: u64 = text.parse().map_err(|_| {
                Error::Usage(format!(
                    "{text:?} is neither a generation number nor a sha256: digest"
                ))
            })?;
            channel.require_generation(generation).await?
        }
    };
    Ok((logged.head.snapshot, Some(logged)))
}

/// A human-readable byte count.
pub fn bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / f64::from(1 << 20)),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / f64::from(1 << 10)),
        n => format!("{n} B"),
    }
}
