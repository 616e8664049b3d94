//! `cairn env`: ephemeral environments, channels with a time to live. Agents following a pattern
//! such as `pr-*` apply them, and remove everything of one when it is torn down or its time is
//! up, whether or not the hub ever says so.

use std::time::Duration;

use cairn_state_format::{EntrySet, layout};
use serde::Serialize;

use super::args::{ManifestArgs, Output, SignArgs, StoreArgs};
use super::common::{channel_name, load_keys, open_store, print_json, settings};
use super::publish::{Request, publish_manifests};
use crate::channel::{Channel, names_under};
use crate::clock::now;
use crate::error::{Error, Result};
use crate::publish::publish;
use crate::publish::request::{Content, Publication};

/// Ephemeral environments: channels with a time to live.
#[derive(clap::Subcommand, Debug)]
pub enum EnvAction {
    /// Create (or update) an environment: publish manifests to channel NAME, retiring after --ttl.
    Up(UpArgs),
    /// Tear an environment down: a final empty generation, then the channel is removed.
    Down(DownArgs),
    /// List environments with their age and time left.
    List(ListArgs),
}

/// Flags of `cairn env up`.
#[derive(clap::Args, Debug)]
pub struct UpArgs {
    /// Store options.
    #[command(flatten)]
    pub store: StoreArgs,
    /// The environment's channel name, e.g. pr-123.
    pub name: String,
    /// How long the environment lives; agents remove it on their own once it passes.
    #[arg(long, default_value = "48h", value_parser = humantime::parse_duration)]
    pub ttl: Duration,
    /// What to publish.
    #[command(flatten)]
    pub manifests: ManifestArgs,
    /// Signing options.
    #[command(flatten)]
    pub sign: SignArgs,
}

/// Flags of `cairn env down`.
#[derive(clap::Args, Debug)]
pub struct DownArgs {
    /// Store options.
    #[command(flatten)]
    pub store: StoreArgs,
    /// The environment's channel name.
    pub name: String,
    /// Signing options.
    #[command(flatten)]
    pub sign: SignArgs,
}

/// Flags of `cairn env list`.
#[derive(clap::Args, Debug)]
pub struct ListArgs {
    /// Store options.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// Runs one env action.
pub async fn run(action: &EnvAction) -> Result<()> {
    match action {
        EnvAction::Up(args) => up(args).await,
        EnvAction::Down(args) => down(&args.store, &args.name, &args.sign).await,
        EnvAction::List(args) => list(&args.store).await,
    }
}

async fn up(args: &UpArgs) -> Result<()> {
    let (store, ttl) = (&args.store, args.ttl);
    let name = channel_name(&args.name)?;
    let retire_at = now()
        + chrono::Duration::from_std(ttl)
            .map_err(|_| Error::Usage(format!("--ttl {ttl:?} is too long")))?;
    let source = [(
        "env_ttl".to_owned(),
        humantime::format_duration(ttl).to_string(),
    )]
    .into();
    publish_manifests(Request {
        store,
        channel: name,
        sign: &args.sign,
        manifests: &args.manifests,
        source,
        rollout: None,
        retire_at: Some(retire_at),
    })
    .await?;
    if store.output == Output::Text {
        println!("environment {name} retires at {}", retire_at.to_rfc3339());
    }
    Ok(())
}

async fn down(store_args: &StoreArgs, name: &str, sign: &SignArgs) -> Result<()> {
    let name = channel_name(name)?;
    if sign.propose {
        return Err(Error::Usage(
            "`env down` removes the channel right after its final generation, so that generation cannot wait \
             for signatures: sign it with enough keys (repeat --key)"
                .into(),
        ));
    }
    let keys = load_keys(sign)?;
    let store = open_store(store_args)?;
    let channel = Channel::new(&store, name);
    let latest = channel.require_latest().await?;
    // A final empty generation first: agents that poll before the channel disappears prune
    // through an ordinary reconcile; the others see the channel gone and prune on their own.
    let publication = Publication {
        channel: name.to_owned(),
        content: Content::Local {
            entries: EntrySet::new(),
            blobs: Default::default(),
        },
        source: [("env_down".to_owned(), latest.head.generation.to_string())].into(),
        expires_in: sign.expires_in,
        rollout: None,
        retire_at: Some(now()),
        allow_unchanged: true,
    };
    let published = publish(&store, publication, &settings(sign, &keys)).await?;
    store.delete(&layout::head_key(name)).await?;
    for generation in channel.log_generations().await? {
        store.delete(&layout::log_key(name, generation)).await?;
    }
    if store_args.output == Output::Json {
        return print_json(
            &serde_json::json!({ "environment": name, "final_generation": published.generation, "removed": true }),
        );
    }
    println!(
        "environment {name}: published an empty generation {} and removed the channel",
        published.generation
    );
    Ok(())
}

#[derive(Serialize)]
struct EnvRow {
    name: String,
    generation: u64,
    created_at: String,
    age: String,
    retire_at: String,
    time_left: String,
}

async fn list(store_args: &StoreArgs) -> Result<()> {
    let store = open_store(store_args)?;
    let now = now();
    let mut rows = Vec::new();
    for name in names_under(&store, "channels/").await? {
        let channel = Channel::new(&store, &name);
        let Some(latest) = channel.latest().await? else {
            continue;
        };
        let Some(retire_at) = latest.head.retire_at else {
            continue;
        };
        let created = match channel.log_generations().await?.first() {
            Some(&first) => channel.require_generation(first).await?.head.published_at,
            None => latest.head.published_at,
        };
        let span = |d: chrono::Duration| {
            humantime::format_duration(Duration::from_secs(d.num_seconds().max(0) as u64))
                .to_string()
        };
        rows.push(EnvRow {
            name,
            generation: latest.head.generation,
            created_at: created.to_rfc3339(),
            age: span(now - created),
            retire_at: retire_at.to_rfc3339(),
            time_left: if retire_at > now {
                span(retire_at - now)
            } else {
                "retired".to_owned()
            },
        });
    }
    if store_args.output == Output::Json {
        return print_json(&rows);
    }
    if rows.is_empty() {
        println!("no environments");
    }
    for r in &rows {
        println!(
            "{:<30} gen {:<5} age {:<16} left {:<16} retires {}",
            r.name, r.generation, r.age, r.time_left, r.retire_at
        );
    }
    Ok(())
}
