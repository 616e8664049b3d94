//! The command line, with clap derive: the top-level [`Cli`] and [`Command`], and the flag groups
//! several commands share. Each command's own flags are an `*Args` struct next to its code in
//! [`crate::commands`]. Each flag's doc comment is its help text.

use std::path::PathBuf;
use std::time::Duration;

use cairn_env_vars::EnvVars;
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::commands::{
    diff, env, export, flag, gc, history, import, keygen, promote, publish, revert, rollout, show,
    sign, status, trust,
};

/// cairn publishes signed, content-addressed snapshots of Kubernetes manifests to object storage,
/// for fleets of agents to pull.
#[derive(Parser, Debug)]
#[command(name = "cairn", version, propagate_version = true, after_help = EXIT_CODES)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

const EXIT_CODES: &str = "Exit codes: 0 success (also when nothing changed), 1 store or I/O failure, 2 bad usage \
or configuration, 3 invalid manifests or input (nothing published), 4 lost to concurrent publishers or unsafe \
store, 5 channel, generation or object not found, 6 a health gate refused a promotion or aborted a watched rollout, \
7 the store's trust root refused (key not delegated the channel, too few signatures, not a root key, root expired).";

/// Options every store-using command takes.
#[derive(Args, Debug, Clone)]
pub struct StoreArgs {
    /// Where snapshots live: a directory or file:///path, s3://bucket/prefix (AWS_* environment; S3 options such as
    /// ?endpoint=http://127.0.0.1:3900&region=garage as query parameters), gs://bucket/prefix,
    /// az://container/prefix, or memory:// (this process only).
    #[arg(
        long,
        env = EnvVars::CAIRN_STORE,
        global = true,
        default_value = ".cairn-store"
    )]
    pub store: String,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Output::Text, global = true)]
    pub output: Output,
}

/// Output formats.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// Human-readable text and tables.
    Text,
    /// One JSON document on stdout.
    Json,
}

/// Options of commands that sign a new head.
#[derive(Args, Debug, Clone)]
pub struct SignArgs {
    /// Secret key file(s) to sign the head with (from `cairn keygen`); repeat to sign with several.
    #[arg(
        long = "key",
        env = EnvVars::CAIRN_KEY,
        required = true,
        value_delimiter = ','
    )]
    pub keys: Vec<PathBuf>,

    /// How long agents accept the head before freezing; `cairn refresh` extends it.
    #[arg(long, default_value = "7d", value_parser = humantime::parse_duration)]
    pub expires_in: Duration,

    /// Write delta packs from this many of the channel's latest snapshots.
    #[arg(long, default_value_t = 8)]
    pub delta_depth: usize,

    /// Promise that no other publisher writes to this channel concurrently. Needed only on stores
    /// that ignore conditional writes (cairn detects them and says so).
    #[arg(long, env = EnvVars::CAIRN_SINGLE_PUBLISHER)]
    pub single_publisher: bool,

    /// When the store's trust root asks for more signatures on this channel than these keys give,
    /// upload the content and leave the head as a proposal for other key holders to complete with
    /// `cairn sign`, instead of refusing. Agents never see a proposal.
    #[arg(long, env = EnvVars::CAIRN_PROPOSE)]
    pub propose: bool,
}

/// Options of commands that read manifest files.
#[derive(Args, Debug, Clone)]
pub struct CacheArgs {
    /// Where the publish cache lives: what each manifest file held when last read, keyed by its
    /// size, times and inode, so that unchanged files are not parsed again and the new index is
    /// computed from the changed files alone. Default: $XDG_CACHE_HOME/cairn or ~/.cache/cairn.
    /// Safe to delete at any time; keep it between CI runs to publish large trees quickly.
    #[arg(long, env = EnvVars::CAIRN_CACHE_DIR)]
    pub cache_dir: Option<PathBuf>,

    /// Read and parse every manifest file, ignoring and not writing the publish cache.
    #[arg(long, env = EnvVars::CAIRN_NO_CACHE)]
    pub no_cache: bool,
}

impl CacheArgs {
    /// The cache directory, unless caching is off or no home directory is known.
    pub fn dir(&self) -> Option<PathBuf> {
        if self.no_cache {
            return None;
        }
        let home_cache = || std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache"));
        self.cache_dir.clone().or_else(|| {
            std::env::var_os("XDG_CACHE_HOME")
                .filter(|d| !d.is_empty())
                .map(PathBuf::from)
                .or_else(home_cache)
                .map(|d| d.join("cairn"))
        })
    }
}

/// Where objects that name no namespace go.
#[derive(Args, Debug, Clone, Default)]
pub struct NamespaceArgs {
    /// Put objects of namespaced kinds that name no namespace in NAMESPACE, as `kubectl apply -n`
    /// does. Objects that name a namespace keep it, even another one (as with `helm -n`; kubectl
    /// refuses the mismatch): install manifests put a few objects in kube-system on purpose.
    /// Cluster-scoped objects stay without one. Namespaced kinds are the built-in ones and those
    /// the CustomResourceDefinitions among the inputs define; a namespace-less object of any other
    /// kind is refused rather than guessed. Without it, such objects are published as they are
    /// (agents apply them to their target's default namespace) and a warning counts them.
    #[arg(
        short = 'n',
        long,
        env = EnvVars::CAIRN_NAMESPACE,
        value_name = "NAMESPACE",
        value_parser = parse_namespace
    )]
    pub namespace: Option<String>,
}

/// The commands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create an ed25519 key pair: PATH (secret, mode 0600) and PATH.pub (give it to agents).
    Keygen(keygen::KeygenArgs),
    /// Publish manifests as the channel's next generation (nothing happens if they are unchanged).
    #[command(
        after_help = "Examples:\n  cairn publish --channel prod --key hub.key deploy/\n  kustomize build overlays/prod | cairn publish --channel prod --key hub.key -f -"
    )]
    Publish(publish::PublishArgs),
    /// List a channel's generations, newest first.
    History(history::HistoryArgs),
    /// Show a generation (default: the newest) or a snapshot: head, source and entries.
    Show(show::ShowArgs),
    /// Compare two generations or snapshots: entries added, changed, removed, and a unified diff.
    Diff(diff::DiffArgs),
    /// Publish a new generation with the content of an older one (never a move backwards).
    Revert(revert::RevertArgs),
    /// Re-sign the newest generation's content as a new generation with a fresh expiry.
    Refresh(revert::RefreshArgs),
    /// Summarize the agents' status records: clusters per generation and phase, stale agents, failures.
    Status(status::StatusArgs),
    /// Progressive rollouts: status, advance, pause, resume, abort, watch.
    #[command(subcommand)]
    Rollout(rollout::RolloutAction),
    /// Publish another channel's snapshot (the identical digest) as this channel's next generation.
    Promote(promote::PromoteArgs),
    /// Ephemeral environments: up, down, list.
    #[command(subcommand)]
    Env(env::EnvAction),
    /// Feature flags: set, list, stale.
    #[command(subcommand)]
    Flag(flag::FlagAction),
    /// The trust root: which keys sign which channels, rotated and revoked over the wire.
    Trust(trust::TrustArgs),
    /// Add signatures to a proposed head (`--propose`); publish it once enough keys signed.
    Sign(sign::SignHeadArgs),
    /// Write a channel's signed generations and newest content to one portable file, for a
    /// store that cannot be reached from here (an air-gapped site): see `cairn import`.
    #[command(
        after_help = "Example:\n  cairn export --channel prod --out prod.cairn\n  # carry prod.cairn across, then:\n  cairn import prod.cairn --store /srv/cairn --trust hub.key.pub"
    )]
    Export(export::ExportArgs),
    /// Write a file from `cairn export` into a store, with the same signatures, so that agents
    /// there verify exactly as at the origin. The whole file is checked first and refused whole
    /// if damaged or foreign; importing twice or out of order never moves a channel back.
    Import(import::ImportArgs),
    /// Delete objects no kept generation of any channel reaches.
    Gc(gc::GcArgs),
    /// Serve a read-only web view of the store's fleet on 127.0.0.1 (channels, rollouts, clusters).
    Ui(crate::commands::ui::UiArgs),
    /// Print a shell completion script for cairn.
    Completion(crate::commands::completion::CompletionArgs),
}

/// The channel a command works on.
#[derive(Args, Debug, Clone)]
pub struct ChannelArgs {
    /// The channel.
    #[arg(long, env = EnvVars::CAIRN_CHANNEL)]
    pub channel: String,
}

/// The flags of a command that publishes a new generation of one channel from what is already
/// stored (`refresh`, the rollout actions): the store, the channel, the signing options.
#[derive(Args, Debug, Clone)]
pub struct ChannelWriteArgs {
    /// Store options.
    #[command(flatten)]
    pub store: StoreArgs,
    /// The channel.
    #[command(flatten)]
    pub channel: ChannelArgs,
    /// Signing options.
    #[command(flatten)]
    pub sign: SignArgs,
}

/// Where manifests come from and how they are read (`publish`, `env up`).
#[derive(Args, Debug, Clone)]
pub struct ManifestArgs {
    /// Manifest files or directories (searched recursively for .yaml, .yml, .json; each file is
    /// read once, however many of the paths reach it). Lists (`kind: List`, `ConfigMapList`,
    /// any kind ending in List with `items`) stand for their items.
    pub paths: Vec<PathBuf>,
    /// Read manifests from a file, or `-` for standard input.
    #[arg(short = 'f', long = "filename")]
    pub filename: Vec<PathBuf>,
    /// Allow plain Secret objects with data (they end up readable in the store).
    #[arg(long)]
    pub allow_secrets: bool,
    /// Where objects that name no namespace go.
    #[command(flatten)]
    pub namespace: NamespaceArgs,
    /// Publish cache options.
    #[command(flatten)]
    pub cache: CacheArgs,
}

impl ManifestArgs {
    /// Every input: the paths, then the `-f` files.
    pub fn inputs(&self) -> Vec<PathBuf> {
        self.paths.iter().chain(&self.filename).cloned().collect()
    }
}

/// `5%` or `5` → 0.05.
pub(crate) fn parse_percent(text: &str) -> Result<f64, String> {
    let number = text.trim().strip_suffix('%').unwrap_or(text.trim());
    match number.parse::<f64>() {
        Ok(p) if (0.0..=100.0).contains(&p) => Ok(p / 100.0),
        _ => Err(format!("{text:?} is not a percentage between 0% and 100%")),
    }
}

fn parse_namespace(text: &str) -> Result<String, String> {
    cairn_state_format::names::dns1123_label(text)
        .map(|()| text.to_owned())
        .map_err(|why| format!("{text:?} is not a valid namespace: {why}"))
}

/// `KEY=VALUE`.
pub(crate) fn parse_key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("{text:?} is not KEY=VALUE")),
    }
}
