//! `cairn import`: a bundle written by `cairn export`, into another store, with the same
//! signatures. The whole file is checked first (lengths, digests, signatures, the content
//! rebuilt to the signed snapshot digest) and against the target store (same channel epoch, no
//! generation that differs, the same trust root: see [`crate::bundle::trust`]), and refused
//! whole, with nothing written, when anything is off.
//! Then content, packs and log entries are written, and the head moves forward to the newest
//! logged generation, never back: importing twice, or an older bundle after a newer one, is
//! safe.

use std::collections::HashMap;
use std::path::PathBuf;

use bytes::Bytes;
use cairn_env_vars::EnvVars;
use cairn_state_format::{Node, Snapshot, layout};
use cairn_store::Store;
use clap::Args;
use futures::{StreamExt, TryStreamExt};
use serde::Serialize;

use super::args::{Output, StoreArgs};
use super::common::{open_store, print_json};
use crate::bundle::{self, Bundle, Verified};
use crate::channel::Channel;
use crate::error::{Error, Result};
use crate::files::keys::load_public;
use crate::objects::CONCURRENCY;
use crate::safe_writes::{create_once, safe_abilities};

/// Flags of `cairn import`.
#[derive(Args, Debug, Clone)]
pub struct ImportArgs {
    /// Store options (the store to import into).
    #[command(flatten)]
    pub store: StoreArgs,
    /// The file written by `cairn export`.
    pub file: PathBuf,
    /// Refuse the file unless it holds this channel.
    #[arg(long, env = EnvVars::CAIRN_CHANNEL)]
    pub channel: Option<String>,
    /// Refuse the file unless every head in it is signed by one of these public keys (key text
    /// or a file holding it); repeatable.
    #[arg(long, value_delimiter = ',')]
    pub trust: Vec<String>,
    /// Promise that no other publisher writes to this channel concurrently. Needed only on
    /// stores that ignore conditional writes (cairn detects them and says so).
    #[arg(long, env = EnvVars::CAIRN_SINGLE_PUBLISHER)]
    pub single_publisher: bool,
}

/// What an import did.
#[derive(Serialize, Default)]
struct Imported {
    channel: String,
    from: u64,
    to: u64,
    generations_written: usize,
    objects_written: usize,
    trust_root_versions_written: usize,
    head: u64,
}

/// Imports the bundle `args.file` into `args.store`.
pub async fn run(args: &ImportArgs) -> Result<()> {
    let keys = args
        .trust
        .iter()
        .map(|t| load_public(t).map(|k| k.public))
        .collect::<Result<Vec<_>>>()?;
    let path = args.file.display().to_string();
    let file = std::fs::File::open(&args.file).map_err(Error::io(&path))?;
    let bundle = Bundle::read(std::io::BufReader::new(file), &path)?;
    let m = &bundle.manifest;
    if let Some(expected) = args.channel.as_deref().filter(|c| *c != m.channel) {
        return Err(Error::Input(format!(
            "{path} holds channel {:?}, not {expected:?}; nothing was imported",
            m.channel
        )));
    }
    let verified = bundle.verify(&keys)?;
    let store = open_store(&args.store)?;
    let abilities = safe_abilities(&store, args.single_publisher).await?;
    let channel = Channel::new(&store, &m.channel);
    let latest = check_target(&channel, &bundle, &verified).await?;
    let roots = bundle::trust::plan_import(&store, &bundle, &verified).await?;
    let mut imported = Imported {
        channel: m.channel.clone(),
        from: m.from,
        to: m.to,
        head: latest.unwrap_or(0),
        ..Imported::default()
    };
    // The root versions first: the head that moves below may be signed under them.
    imported.trust_root_versions_written = bundle::trust::write(&store, roots, abilities).await?;
    if latest.is_none_or(|g| g < m.to) {
        imported.objects_written = write_content(&store, &bundle, &verified).await?;
    }
    for (generation, (_, bytes)) in &verified.log {
        let key = layout::log_key(&m.channel, *generation);
        let created = create_once(&store, &key, bytes.clone(), abilities).await?;
        imported.generations_written += usize::from(created);
    }
    let newest = channel.require_latest().await?;
    channel.catch_up_head(&newest, abilities).await?;
    imported.head = newest.head.generation;
    report(&args.store.output, &imported)
}

/// Refuses a bundle of another epoch than the target's channel, or one whose generations
/// differ from those the target has; returns the target's newest generation.
async fn check_target(
    channel: &Channel<'_>,
    bundle: &Bundle,
    verified: &Verified,
) -> Result<Option<u64>> {
    let m = &bundle.manifest;
    let Some(latest) = channel.latest().await? else {
        return Ok(None);
    };
    if latest.head.epoch != Some(m.epoch) {
        return Err(Error::Input(format!(
            "channel {:?} in the target store is another channel (epoch {}) than the bundle's (epoch {}); nothing was \
             imported",
            m.channel,
            latest
                .head
                .epoch
                .map_or("none".to_owned(), |e| e.to_string()),
            m.epoch
        )));
    }
    for (generation, (_, bytes)) in verified.log.range(..=latest.head.generation) {
        if let Some(present) = channel.generation(*generation).await?
            && present.bytes != *bytes
        {
            return Err(Error::Input(format!(
                "generation {generation} of channel {:?} differs between the bundle and the target store; nothing was \
                 imported",
                m.channel
            )));
        }
    }
    Ok(Some(latest.head.generation))
}

/// Writes the newest generation's content (blobs, index nodes, snapshot root) and the packs,
/// before any log entry names them. Returns how many objects were written.
async fn write_content(store: &Store, bundle: &Bundle, verified: &Verified) -> Result<usize> {
    let (snapshot, index) = Snapshot::build(&verified.entries);
    let mut items: Vec<(String, Bytes)> = verified
        .blobs
        .iter()
        .map(|(d, b)| (layout::blob_key(d), Bytes::from(b.clone())))
        .collect();
    items.extend(index.digests().filter_map(|d| {
        let (_, canonical) = index.node(d)?;
        Some((layout::index_key(d), Bytes::from(Node::encode(canonical))))
    }));
    let packs: HashMap<&String, &Vec<u8>> = bundle
        .objects
        .iter()
        .filter(|(k, _)| k.starts_with("packs/"))
        .collect();
    items.extend(
        packs
            .iter()
            .map(|(k, b)| ((*k).clone(), Bytes::from((*b).clone()))),
    );
    let count = items.len() + 1;
    futures::stream::iter(items)
        .map(|(key, bytes)| async move { store.put(&key, bytes).await.map(|_| ()) })
        .buffer_unordered(CONCURRENCY)
        .try_collect::<Vec<()>>()
        .await?;
    store
        .put(&layout::snapshot_key(&snapshot.digest()), snapshot.encode())
        .await?;
    Ok(count)
}

fn report(output: &Output, imported: &Imported) -> Result<()> {
    if *output == Output::Json {
        return print_json(imported);
    }
    println!(
        "imported generations {}..={} of channel {}: {} new log entries, {} objects, {} trust root versions written; the head is at generation {}",
        imported.from,
        imported.to,
        imported.channel,
        imported.generations_written,
        imported.objects_written,
        imported.trust_root_versions_written,
        imported.head
    );
    Ok(())
}
