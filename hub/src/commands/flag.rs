//! `cairn flag`: feature flags with a lifecycle. A flip publishes a generation that changes only
//! the flag document: one blob and the index nodes on its path, found without reading the rest
//! of the snapshot.

use bytes::Bytes;
use cairn_env_vars::EnvVars;
use cairn_state_format::{Origin, Resource, ResourceId, to_canonical_bytes};

use super::args::{Output, SignArgs, StoreArgs};
use super::common::{channel_name, load_keys, open_store, print_json, report_published, settings};
use crate::channel::Channel;
use crate::clock::now;
use crate::error::{Error, Result};
use crate::flags::document::{FlagDocument, FlagInfo, FlagType, is_stale, parse_expiry};
use crate::flags::stored::{configmap_id, read_document, snapshot_flags};
use crate::objects::nodes::RemoteNodes;
use crate::objects::patch::{upload, upsert};
use crate::publish::publish;
use crate::publish::published::Published;
use crate::publish::request::{Content, Publication};
use crate::publish::validate::check_object;

/// Feature flags, delivered as a ConfigMap in the flagd (OpenFeature) flag-definition format.
#[derive(clap::Subcommand, Debug)]
pub enum FlagAction {
    /// Set a flag's value, publishing a generation that changes only the flag document.
    Set(SetArgs),
    /// List the channel's flags with owner, expiry and last change.
    List(FlagArgs),
    /// List flags past their expiry or unchanged for too long.
    Stale(StaleArgs),
}

/// Where a channel's flags live.
#[derive(clap::Args, Debug, Clone)]
pub struct FlagArgs {
    /// Store options.
    #[command(flatten)]
    pub store: StoreArgs,
    /// The channel.
    #[arg(long, env = EnvVars::CAIRN_CHANNEL)]
    pub channel: String,
    /// Namespace of the flags ConfigMap.
    #[arg(long, default_value = "default")]
    pub namespace: String,
    /// Name of the flags ConfigMap.
    #[arg(long, default_value = "feature-flags")]
    pub configmap: String,
}

impl FlagArgs {
    /// The flags ConfigMap's identity.
    fn configmap_id(&self) -> ResourceId {
        configmap_id(&self.namespace, &self.configmap)
    }
}

/// Flags of `cairn flag set`.
#[derive(clap::Args, Debug)]
pub struct SetArgs {
    /// The flag's location.
    #[command(flatten)]
    pub at: FlagArgs,
    /// NAME=VALUE; VALUE is true/false, a number, a JSON object, or text.
    pub assignment: String,
    /// Who owns the flag (required for a new flag).
    #[arg(long)]
    pub owner: Option<String>,
    /// When the flag should be gone, YYYY-MM-DD (required for a new flag).
    #[arg(long)]
    pub expires: Option<String>,
    /// The flag's type (default: the existing flag's, or inferred from VALUE).
    #[arg(long, value_enum)]
    pub r#type: Option<FlagType>,
    /// Signing options.
    #[command(flatten)]
    pub sign: SignArgs,
}

/// Flags of `cairn flag stale`.
#[derive(clap::Args, Debug)]
pub struct StaleArgs {
    /// The flags' location.
    #[command(flatten)]
    pub at: FlagArgs,
    /// Flags unchanged for this long are stale.
    #[arg(long, default_value = "30d", value_parser = humantime::parse_duration)]
    pub unchanged_for: std::time::Duration,
}

/// Runs one flag action.
pub async fn run(action: &FlagAction) -> Result<()> {
    match action {
        FlagAction::Set(args) => set(args).await,
        FlagAction::List(at) => list(at).await,
        FlagAction::Stale(args) => stale(args).await,
    }
}

/// `flag set`: patches the flag document along its index path and publishes.
async fn set(args: &SetArgs) -> Result<()> {
    let at = &args.at;
    let name = channel_name(&at.channel)?.to_owned();
    let (flag, text) = args
        .assignment
        .split_once('=')
        .filter(|(f, _)| !f.is_empty())
        .ok_or_else(|| Error::Usage(format!("{:?} is not NAME=VALUE", args.assignment)))?;
    let keys = load_keys(&args.sign)?;
    let store = open_store(&at.store)?;
    let latest = Channel::new(&store, &name).require_latest().await?;
    let mut nodes = RemoteNodes::new(&store);
    let base = nodes.snapshot(&latest.head.snapshot).await?;
    let id = at.configmap_id();
    let mut doc = read_document(&store, &mut nodes, &base.index, &id).await?;
    let value = assign(&mut doc, args, flag, text)?;
    let object = doc.to_configmap(&at.namespace, &at.configmap);
    let resource = Resource::from_value(object, Origin::new(&format!("flag {flag}"), 1))?;
    // --namespace and --configmap name the object: the API server's rules apply.
    check_object(&resource)?;
    debug_assert_eq!(resource.id, id);
    let patched = upsert(&mut nodes, &base, resource.entry()).await?;
    let canonical = Bytes::from(to_canonical_bytes(&resource.object));
    let snapshot = upload(&store, &patched, &resource.digest, canonical).await?;
    let publication = Publication {
        channel: name.clone(),
        content: Content::Existing(snapshot),
        source: [("flag".to_owned(), format!("{flag}={value}"))].into(),
        expires_in: args.sign.expires_in,
        rollout: None,
        retire_at: latest.head.retire_at,
        allow_unchanged: false,
    };
    let published = publish(&store, publication, &settings(&args.sign, &keys)).await?;
    report_set(&published, at, &name, flag, &value)
}

/// Sets `flag` to `text` in `doc`, with its type, owner and expiry (the existing flag's unless
/// given; required for a new flag). Returns the value set.
fn assign(
    doc: &mut FlagDocument,
    args: &SetArgs,
    flag: &str,
    text: &str,
) -> Result<serde_json::Value> {
    let flag_type = match (args.r#type, doc.flag_type(flag)) {
        (Some(asked), Some(has)) if asked != has => {
            return Err(Error::Input(format!(
                "flag {flag} is {has:?}, not {asked:?}; remove it first to change its type"
            )));
        }
        (Some(asked), _) => asked,
        (None, Some(has)) => has,
        (None, None) => FlagType::infer(text),
    };
    let value = flag_type.parse(flag, text)?;
    let previous = doc.list().into_iter().find(|f| f.name == flag);
    let owner = args
        .owner
        .clone()
        .or_else(|| previous.as_ref().and_then(|p| p.owner.clone()))
        .ok_or_else(|| Error::Input(format!("flag {flag} is new: give its --owner")))?;
    let expires = args
        .expires
        .clone()
        .or_else(|| previous.as_ref().and_then(|p| p.expires.clone()))
        .ok_or_else(|| {
            Error::Input(format!(
                "flag {flag} is new: give its --expires date (YYYY-MM-DD)"
            ))
        })?;
    parse_expiry(&expires)?;
    doc.set(flag, value.clone(), &owner, &expires, now());
    Ok(value)
}

fn report_set(
    published: &Published,
    at: &FlagArgs,
    channel: &str,
    flag: &str,
    value: &serde_json::Value,
) -> Result<()> {
    report_published(at.store.output, published, |p| {
        if p.unchanged {
            format!("channel {channel}: flag {flag} is already {value}; nothing published")
        } else {
            format!(
                "channel {channel}: flag {flag} = {value} in generation {}",
                p.generation
            )
        }
    })
}

/// `flag list`.
async fn list(at: &FlagArgs) -> Result<()> {
    let flags = current_flags(at).await?;
    if at.store.output == Output::Json {
        return print_json(&flags);
    }
    for f in &flags {
        println!(
            "{:<30} {:<12} owner {:<16} expires {:<10} updated {}",
            f.name,
            f.value.to_string(),
            f.owner.as_deref().unwrap_or("-"),
            f.expires.as_deref().unwrap_or("-"),
            f.updated.as_deref().unwrap_or("-")
        );
    }
    if flags.is_empty() {
        println!("no flags on channel {}", at.channel);
    }
    Ok(())
}

/// `flag stale`.
async fn stale(args: &StaleArgs) -> Result<()> {
    let at = &args.at;
    let now = now();
    let since =
        now - chrono::Duration::from_std(args.unchanged_for).unwrap_or(chrono::Duration::MAX);
    let stale: Vec<_> = current_flags(at)
        .await?
        .into_iter()
        .filter_map(|f| is_stale(&f, now, since).map(|why| (f, why)))
        .collect();
    if at.store.output == Output::Json {
        let rows: Vec<_> = stale
            .iter()
            .map(|(f, why)| serde_json::json!({ "flag": f, "why": why }))
            .collect();
        return print_json(&rows);
    }
    for (f, why) in &stale {
        println!(
            "{:<30} {why} (owner {})",
            f.name,
            f.owner.as_deref().unwrap_or("-")
        );
    }
    if stale.is_empty() {
        println!("no stale flags on channel {}", at.channel);
    }
    Ok(())
}

async fn current_flags(at: &FlagArgs) -> Result<Vec<FlagInfo>> {
    let name = channel_name(&at.channel)?;
    let store = open_store(&at.store)?;
    let latest = Channel::new(&store, name).require_latest().await?;
    snapshot_flags(&store, &latest.head.snapshot, &at.configmap_id()).await
}
