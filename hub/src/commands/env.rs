//! `cairn env`: ephemeral environments, channels with a time to live. Agents following a pattern
//! such as `pr-*` apply them, and remove everything of one when it is torn down or its time is
//! up, whether or not the hub ever says so.

use std::path::PathBuf;
use std::time::Duration;

use cairn_state_format::{EntrySet, layout};
use serde::Serialize;

use super::common::{channel_name, load_keys, open_store, print_json, settings};
use super::publish::{Request, publish as publish_manifests};
use crate::channel::Channel;
use crate::cli::{EnvAction, Output, SignArgs, StoreArgs};
use crate::error::{Error, Result};
use crate::publish::{Content, Publication, now, publish};

/// Runs one env action.
pub async fn env(action: EnvAction) -> Result<()> {
    match action {
        EnvAction::Up {
            store,
            name,
            ttl,
            paths,
            filename,
            allow_secrets,
            cache,
            sign,
        } => {
            let inputs: Vec<PathBuf> = paths.into_iter().chain(filename).collect();
            let manifests = Manifests {
                inputs: &inputs,
                allow_secrets,
                cache_dir: cache.dir(),
            };
            up(&store, &name, ttl, manifests, &sign).await
        }
        EnvAction::Down { store, name, sign } => down(&store, &name, &sign).await,
        EnvAction::List { store } => list(&store).await,
    }
}

/// The manifests of `env up`.
struct Manifests<'a> {
    inputs: &'a [PathBuf],
    allow_secrets: bool,
    cache_dir: Option<PathBuf>,
}

async fn up(
    store: &StoreArgs,
    name: &str,
    ttl: Duration,
    manifests: Manifests<'_>,
    sign: &SignArgs,
) -> Result<()> {
    let name = channel_name(name)?;
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
        sign,
        inputs: manifests.inputs,
        source,
        allow_secrets: manifests.allow_secrets,
        cache_dir: manifests.cache_dir,
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
    for name in super::common::names_under(&store, "channels/").await? {
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
