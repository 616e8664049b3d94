//! `cairn publish` (and the manifest-publishing part of `cairn env up`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use cairn_env_vars::EnvVars;
use cairn_state_format::SecretKey;
use cairn_store::Store;
use chrono::{DateTime, Utc};

use super::args::{ChannelWriteArgs, ManifestArgs, Output, SignArgs, StoreArgs, parse_key_value};
use super::common::{bytes, channel_name, load_keys, open_store, report_published, settings};
use crate::error::Result;
use crate::publish::manifests::ReadOptions;
use crate::publish::publish;
use crate::publish::published::Published;
use crate::publish::request::{Content, Publication};
use crate::publish::rollout::{self, RolloutPlan};
use crate::publish::scan::Scan;
use crate::publish::scan_cache::{CacheFile, Known};
use crate::publish::source_map;
use crate::publish::validate::{Policy, validate};

/// Flags of `cairn publish`.
#[derive(clap::Args, Debug)]
pub struct PublishArgs {
    /// The store, the channel to publish to, the signing options.
    #[command(flatten)]
    pub target: ChannelWriteArgs,
    /// What to publish.
    #[command(flatten)]
    pub manifests: ManifestArgs,
    /// Provenance recorded in the head, as KEY=VALUE (e.g. commit=abc123, pipeline=https://…); repeatable.
    #[arg(long, value_parser = parse_key_value)]
    pub source: Vec<(String, String)>,
    /// Roll out progressively: steps of PERCENT%:DELAY (e.g. 1%:0s,10%:10m,50%:30m,100%:1h),
    /// or the name of a policy in --rollout-policies.
    #[arg(long)]
    pub rollout: Option<String>,
    /// A YAML file of named rollout policies (`canary: 1%:0s,10%:10m,100%:1h`).
    #[arg(long, env = EnvVars::CAIRN_ROLLOUT_POLICIES)]
    pub rollout_policies: Option<PathBuf>,
}

/// `cairn publish`: the flags resolved into a request, published.
pub async fn run(args: &PublishArgs) -> Result<()> {
    let rollout = args
        .rollout
        .as_deref()
        .map(|spec| rollout::resolve(spec, args.rollout_policies.as_deref()))
        .transpose()?
        .map(RolloutPlan::Relative);
    let target = &args.target;
    let request = Request {
        store: &target.store,
        channel: &target.channel.channel,
        sign: &target.sign,
        manifests: &args.manifests,
        source: args.source.iter().cloned().collect(),
        rollout,
        retire_at: None,
    };
    publish_manifests(request).await.map(|_| ())
}

/// What to publish, as settings resolved from the command line.
pub struct Request<'a> {
    /// Store options.
    pub store: &'a StoreArgs,
    /// Channel.
    pub channel: &'a str,
    /// Signing options.
    pub sign: &'a SignArgs,
    /// The manifests and how to read them.
    pub manifests: &'a ManifestArgs,
    /// Provenance.
    pub source: BTreeMap<String, String>,
    /// A progressive rollout.
    pub rollout: Option<RolloutPlan>,
    /// When an ephemeral channel retires.
    pub retire_at: Option<DateTime<Utc>>,
}

/// Reads, validates and publishes manifests, then reports what happened.
pub async fn publish_manifests(request: Request<'_>) -> Result<Published> {
    let channel = channel_name(request.channel)?;
    let keys = load_keys(request.sign)?;
    let mut settings = settings(request.sign, &keys);
    settings.progress &= request.store.output != Output::Json;
    let store = open_store(request.store)?;
    let mut scan = read_and_check(&request, &store, channel, &keys, settings.progress).await?;
    let counts = scan.counts();
    tracing::debug!(
        parsed = counts.parsed,
        unchanged_by_stamp = counts.by_stamp,
        unchanged_by_git_index = counts.by_git_index,
        unchanged_by_content = counts.by_content,
        "manifest files read"
    );
    let publication = Publication {
        channel: channel.to_owned(),
        content: Content::Scanned(&mut scan),
        source: request.source.clone(),
        expires_in: request.sign.expires_in,
        rollout: request.rollout.clone(),
        retire_at: request.retire_at,
        allow_unchanged: false,
    };
    let mut published = publish(&store, publication, &settings).await?;
    published.files = Some(counts);
    // Only after the generation is committed (or found unchanged): the cache must describe a
    // snapshot the channel really has. Failing to write it costs the next publish time, no more.
    if published.proposal.is_none()
        && let Err(e) = scan.save_cache(published.snapshot)
    {
        tracing::warn!(error = %e, "could not write the publish cache");
    }
    report(&published, channel, request.store.output)?;
    Ok(published)
}

/// Reads the inputs (with the publish cache, or the head's source map when the cache does not
/// describe the head) and checks them across files.
async fn read_and_check(
    request: &Request<'_>,
    store: &Store,
    channel: &str,
    keys: &[SecretKey],
    progress: bool,
) -> Result<Scan> {
    let manifests = request.manifests;
    let options = ReadOptions {
        namespace: manifests.namespace.namespace.clone(),
    };
    let namespace = options.namespace.as_deref();
    let inputs = manifests.inputs();
    let cache = manifests
        .cache
        .dir()
        .map(|dir| CacheFile::new(&dir, &request.store.store, channel, &inputs, namespace));
    let known = match &cache {
        Some(cache) => {
            let local = cache.load(&options);
            source_map::known_before(store, channel, local, keys, &options, progress).await?
        }
        None => Known::default(),
    };
    let scan = Scan::run(&inputs, cache, known, progress, options)?;
    let policy = Policy {
        allow_secrets: manifests.allow_secrets,
    };
    let checked = validate(scan.defined(), scan.objects(), policy, scan.problems())?;
    if checked.without_namespace > 0 {
        tracing::warn!(
            "{} objects of namespaced kinds name no namespace: agents apply them to their \
             target's default namespace. Pass --namespace NAMESPACE (or set CAIRN_NAMESPACE) to \
             place them, as kubectl apply -n does",
            checked.without_namespace
        );
    }
    Ok(scan)
}

/// Says what a publish did.
fn report(published: &Published, channel: &str, output: Output) -> Result<()> {
    report_published(output, published, |p| {
        if p.unchanged {
            format!(
                "channel {channel}: content unchanged since generation {} ({}); nothing published",
                p.generation, p.snapshot
            )
        } else {
            format!(
                "channel {channel}: published generation {} ({}): {} objects, {} changed; uploaded {} blobs, {} index nodes, {} delta packs ({})",
                p.generation,
                p.snapshot,
                p.entries,
                p.changes,
                p.blobs_uploaded,
                p.nodes_uploaded,
                p.deltas_uploaded,
                bytes(p.bytes_uploaded)
            )
        }
    })
}
