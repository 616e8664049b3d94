//! `cairn export`: a channel's signed heads and newest content in one portable file.

use std::path::{Path, PathBuf};

use cairn_env_vars::EnvVars;
use cairn_state_format::{Epoch, Head, layout};
use clap::Args;
use serde::Serialize;

use super::args::{Output, StoreArgs};
use super::common::{bytes, channel_name, open_store, print_json};
use crate::bundle::{self, Bundle};
use crate::channel::Channel;
use crate::error::{Error, Result};
use crate::files::atomic;
use crate::objects::read_pack;

/// Flags of `cairn export`.
#[derive(Args, Debug, Clone)]
pub struct ExportArgs {
    /// Store options (the store to export from).
    #[command(flatten)]
    pub store: StoreArgs,
    /// The channel to export.
    #[arg(long, env = EnvVars::CAIRN_CHANNEL)]
    pub channel: String,
    /// The oldest generation whose signed head goes in the file (default: every generation).
    /// The content is always the newest generation's, whole: one snapshot pack and the delta
    /// packs the newest head names, so any bundle imports into an empty store.
    #[arg(long)]
    pub since: Option<u64>,
    /// The file to write (replaced atomically).
    #[arg(long)]
    pub out: PathBuf,
}

/// What an export wrote.
#[derive(Serialize)]
struct Exported {
    channel: String,
    epoch: String,
    from: u64,
    to: u64,
    objects: usize,
    bytes: u64,
    out: String,
}

/// Writes the bundle of a channel to `--out`.
pub async fn run(args: &ExportArgs) -> Result<()> {
    let store = open_store(&args.store)?;
    let channel = Channel::new(&store, channel_name(&args.channel)?);
    let head = channel.require_latest().await?.head;
    let (epoch, from) = span(&head, args)?;
    let mut bundle = Bundle::new(&args.channel, epoch, from, head.generation);
    for generation in from..=head.generation {
        let logged = channel.require_generation(generation).await?;
        bundle.add(layout::log_key(&args.channel, generation), logged.bytes);
    }
    for (key, bytes) in bundle::trust::export(&store).await? {
        bundle.add(key, bytes);
    }
    for pack in head.packs.objects() {
        let bytes = read_pack(&store, &pack).await?.to_vec();
        bundle.add(layout::pack_key(&pack.digest), bytes);
    }
    // Refuse to write what an import would refuse.
    let verified = bundle.verify(&[])?;
    bundle::trust::check(&bundle, &verified)?;
    write(&bundle, &args.out)?;
    report(&bundle, args)
}

/// The channel's epoch and the first generation to export, refused when the newest head carries
/// no epoch (format 1) or `--since` is past it.
fn span(head: &Head, args: &ExportArgs) -> Result<(Epoch, u64)> {
    let epoch = head.epoch.ok_or_else(|| {
        Error::Usage(format!(
            "the newest head of channel {:?} is of format 1 (written by an older cairn): publish once with this one \
             (`cairn refresh` will do) so that it offers a snapshot pack, then export",
            args.channel
        ))
    })?;
    let from = args.since.unwrap_or(1).max(1);
    if from > head.generation {
        return Err(Error::Usage(format!(
            "--since {from} is after the newest generation {} of channel {:?}",
            head.generation, args.channel
        )));
    }
    Ok((epoch, from))
}

/// Says what was exported.
fn report(bundle: &Bundle, args: &ExportArgs) -> Result<()> {
    let m = &bundle.manifest;
    let exported = Exported {
        channel: m.channel.clone(),
        epoch: m.epoch.to_string(),
        from: m.from,
        to: m.to,
        objects: m.objects.len(),
        bytes: m.objects.iter().map(|o| o.bytes).sum(),
        out: args.out.display().to_string(),
    };
    if args.store.output == Output::Json {
        return print_json(&exported);
    }
    println!(
        "exported generations {}..={} of channel {} (epoch {}): {} objects, {}, to {}",
        exported.from,
        exported.to,
        exported.channel,
        exported.epoch,
        exported.objects,
        bytes(exported.bytes),
        exported.out
    );
    Ok(())
}

/// Writes the archive whole or not at all: a crash leaves no half-written file.
fn write(bundle: &Bundle, out: &Path) -> Result<()> {
    atomic::write_with(out, |file| bundle.write(std::io::BufWriter::new(file)))
}
