//! `cairn export`: a channel's signed heads and newest content in one portable file.

use std::path::{Path, PathBuf};

use cairn_env_vars::EnvVars;
use cairn_state_format::layout;
use clap::Args;
use serde::Serialize;

use super::args::{Output, StoreArgs};
use super::common::{bytes, channel_name, open_store, print_json};
use crate::bundle::{self, BUNDLE_FORMAT, Bundle, Listed, Manifest};
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
    let latest = channel.require_latest().await?;
    let head = &latest.head;
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
    let mut bundle = Bundle {
        manifest: Manifest {
            format: BUNDLE_FORMAT,
            channel: args.channel.clone(),
            epoch,
            from,
            to: head.generation,
            objects: Vec::new(),
        },
        objects: Default::default(),
    };
    for generation in from..=head.generation {
        let logged = channel.require_generation(generation).await?;
        add(
            &mut bundle,
            layout::log_key(&args.channel, generation),
            logged.bytes,
        );
    }
    for (key, bytes) in bundle::trust::export(&store).await? {
        add(&mut bundle, key, bytes);
    }
    for pack in head.packs.objects() {
        let bytes = read_pack(&store, &pack).await?.to_vec();
        add(&mut bundle, layout::pack_key(&pack.digest), bytes);
    }
    // Refuse to write what an import would refuse.
    let verified = bundle.verify(&[])?;
    bundle::trust::check(&bundle, &verified)?;
    write(&bundle, &args.out)?;
    let exported = Exported {
        channel: args.channel.clone(),
        epoch: epoch.to_string(),
        from,
        to: head.generation,
        objects: bundle.manifest.objects.len(),
        bytes: bundle.manifest.objects.iter().map(|o| o.bytes).sum(),
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

fn add(bundle: &mut Bundle, key: String, bytes: Vec<u8>) {
    if bundle.objects.contains_key(&key) {
        return;
    }
    bundle.manifest.objects.push(Listed {
        key: key.clone(),
        bytes: bytes.len() as u64,
        digest: cairn_state_format::Digest::of(&bytes),
    });
    bundle.objects.insert(key, bytes);
}

/// Writes the archive whole or not at all: a crash leaves no half-written file.
fn write(bundle: &Bundle, out: &Path) -> Result<()> {
    atomic::write_with(out, |file| bundle.write(std::io::BufWriter::new(file)))
}
