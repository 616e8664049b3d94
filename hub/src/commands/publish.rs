//! `cairn publish` (and the manifest-publishing part of `cairn env up`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use cairn_env_vars::EnvVars;
use chrono::{DateTime, Utc};

use super::common::{
    bytes, channel_name, load_keys, open_store, print_json, proposal_notice, settings,
};
use crate::cli::{ChannelArgs, ManifestArgs, Output, SignArgs, StoreArgs, parse_key_value};
use crate::error::Result;
use crate::manifests::ReadOptions;
use crate::publish::{Content, Publication, Published, RolloutPlan, publish as publish_to};
use crate::rollout_spec;
use crate::scan::Scan;
use crate::scan_cache::CacheFile;
use crate::validate::{Policy, validate};

/// Flags of `cairn publish`.
#[derive(clap::Args, Debug)]
pub struct PublishArgs {
    /// Store options.
    #[command(flatten)]
    pub store: StoreArgs,
    /// The channel to publish to.
    #[command(flatten)]
    pub channel: ChannelArgs,
    /// Signing options.
    #[command(flatten)]
    pub sign: SignArgs,
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
        .map(|spec| rollout_spec::resolve(spec, args.rollout_policies.as_deref()))
        .transpose()?
        .map(RolloutPlan::Relative);
    let request = Request {
        store: &args.store,
        channel: &args.channel.channel,
        sign: &args.sign,
        manifests: &args.manifests,
        source: args.source.iter().cloned().collect(),
        rollout,
        retire_at: None,
    };
    publish(request).await.map(|_| ())
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
pub async fn publish(request: Request<'_>) -> Result<Published> {
    let channel = channel_name(request.channel)?;
    let keys = load_keys(request.sign)?;
    let settings = settings(request.sign, &keys);
    let mut scan = read_and_check(&request, channel, settings.progress)?;
    let (parsed, reused) = scan.parsed_and_reused();
    tracing::debug!(parsed, reused, "manifest files read");
    let store = open_store(request.store)?;
    let publication = Publication {
        channel: channel.to_owned(),
        content: Content::Scanned(&mut scan),
        source: request.source.clone(),
        expires_in: request.sign.expires_in,
        rollout: request.rollout.clone(),
        retire_at: request.retire_at,
        allow_unchanged: false,
    };
    let published = publish_to(&store, publication, &settings).await?;
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

/// Reads the inputs (with the publish cache) and checks them across files.
fn read_and_check(request: &Request<'_>, channel: &str, progress: bool) -> Result<Scan> {
    let manifests = request.manifests;
    let options = ReadOptions {
        namespace: manifests.namespace.namespace.clone(),
    };
    let namespace = options.namespace.as_deref();
    let store = &request.store.store;
    let inputs = manifests.inputs();
    let cache = manifests
        .cache
        .dir()
        .map(|dir| CacheFile::new(&dir, store, channel, &inputs, namespace));
    let scan = Scan::run(&inputs, cache, progress, options)?;
    let policy = Policy {
        allow_secrets: manifests.allow_secrets,
    };
    let checked = validate(scan.files(), policy, scan.problems())?;
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
    if output == Output::Json {
        print_json(published)?;
    } else if let Some(notice) = proposal_notice(published) {
        println!("{notice}");
    } else if published.unchanged {
        println!(
            "channel {channel}: content unchanged since generation {} ({}); nothing published",
            published.generation, published.snapshot
        );
    } else {
        println!(
            "channel {channel}: published generation {} ({}): {} objects, {} changed; uploaded {} blobs, {} index nodes, {} delta packs ({})",
            published.generation,
            published.snapshot,
            published.entries,
            published.changes,
            published.blobs_uploaded,
            published.nodes_uploaded,
            published.deltas_uploaded,
            bytes(published.bytes_uploaded)
        );
    }
    Ok(())
}
