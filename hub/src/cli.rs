//! The command line, with clap derive. Each flag's doc comment is its help text.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

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
store, 5 channel, generation or object not found, 6 a health gate refused a promotion or aborted a watched rollout.";

/// Options every store-using command takes.
#[derive(Args, Debug, Clone)]
pub struct StoreArgs {
    /// Where snapshots live: a directory or file:///path, s3://bucket/prefix (AWS_* environment; S3 options such as
    /// ?endpoint=http://127.0.0.1:3900&region=garage as query parameters), gs://bucket/prefix,
    /// az://container/prefix, or memory:// (this process only).
    #[arg(
        long,
        env = "CAIRN_STORE",
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
        env = "CAIRN_KEY",
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
    #[arg(long, env = "CAIRN_SINGLE_PUBLISHER")]
    pub single_publisher: bool,
}

/// Options of commands that read manifest files.
#[derive(Args, Debug, Clone)]
pub struct CacheArgs {
    /// Where the publish cache lives: what each manifest file held when last read, keyed by its
    /// size, times and inode, so that unchanged files are not parsed again and the new index is
    /// computed from the changed files alone. Default: $XDG_CACHE_HOME/cairn or ~/.cache/cairn.
    /// Safe to delete at any time; keep it between CI runs to publish large trees quickly.
    #[arg(long, env = "CAIRN_CACHE_DIR")]
    pub cache_dir: Option<PathBuf>,

    /// Read and parse every manifest file, ignoring and not writing the publish cache.
    #[arg(long, env = "CAIRN_NO_CACHE")]
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
        env = "CAIRN_NAMESPACE",
        value_name = "NAMESPACE",
        value_parser = parse_namespace
    )]
    pub namespace: Option<String>,
}

/// The commands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create an ed25519 key pair: PATH (secret, mode 0600) and PATH.pub (give it to agents).
    Keygen {
        /// Where to write the secret key.
        #[arg(long)]
        out: PathBuf,
    },
    /// Publish manifests as the channel's next generation (nothing happens if they are unchanged).
    #[command(
        after_help = "Examples:\n  cairn publish --channel prod --key hub.key deploy/\n  kustomize build overlays/prod | cairn publish --channel prod --key hub.key -f -"
    )]
    Publish {
        /// Store options.
        #[command(flatten)]
        store: StoreArgs,
        /// Channel to publish to.
        #[arg(long, env = "CAIRN_CHANNEL")]
        channel: String,
        /// Signing options.
        #[command(flatten)]
        sign: SignArgs,
        /// Manifest files or directories (searched recursively for .yaml, .yml, .json; each file is
        /// read once, however many of the paths reach it). Lists (`kind: List`, `ConfigMapList`,
        /// any kind ending in List with `items`) stand for their items.
        paths: Vec<PathBuf>,
        /// Read manifests from a file, or `-` for standard input.
        #[arg(short = 'f', long = "filename")]
        filename: Vec<PathBuf>,
        /// Provenance recorded in the head, as KEY=VALUE (e.g. commit=abc123, pipeline=https://…); repeatable.
        #[arg(long, value_parser = parse_key_value)]
        source: Vec<(String, String)>,
        /// Allow plain Secret objects with data (they end up readable in the store).
        #[arg(long)]
        allow_secrets: bool,
        /// Where objects that name no namespace go.
        #[command(flatten)]
        namespace: NamespaceArgs,
        /// Publish cache options.
        #[command(flatten)]
        cache: CacheArgs,
        /// Roll out progressively: steps of PERCENT%:DELAY (e.g. 1%:0s,10%:10m,50%:30m,100%:1h),
        /// or the name of a policy in --rollout-policies.
        #[arg(long)]
        rollout: Option<String>,
        /// A YAML file of named rollout policies (`canary: 1%:0s,10%:10m,100%:1h`).
        #[arg(long, env = "CAIRN_ROLLOUT_POLICIES")]
        rollout_policies: Option<PathBuf>,
    },
    /// List a channel's generations, newest first.
    History {
        /// Store options.
        #[command(flatten)]
        store: StoreArgs,
        /// The channel.
        #[arg(long, env = "CAIRN_CHANNEL")]
        channel: String,
        /// Show at most this many generations.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Show a generation (default: the newest) or a snapshot: head, source and entries.
    Show {
        /// Store options.
        #[command(flatten)]
        store: StoreArgs,
        /// The channel (needed for generation numbers).
        #[arg(long, env = "CAIRN_CHANNEL")]
        channel: Option<String>,
        /// A generation number or a snapshot digest (sha256:…).
        what: Option<String>,
    },
    /// Compare two generations or snapshots: entries added, changed, removed, and a unified diff.
    Diff {
        /// Store options.
        #[command(flatten)]
        store: StoreArgs,
        /// The channel (needed for generation numbers).
        #[arg(long, env = "CAIRN_CHANNEL")]
        channel: Option<String>,
        /// The older side: generation number or snapshot digest.
        from: String,
        /// The newer side: generation number or snapshot digest.
        to: String,
        /// List entries only, without the object diffs.
        #[arg(long)]
        summary: bool,
    },
    /// Publish a new generation with the content of an older one (never a move backwards).
    Revert {
        /// Store options.
        #[command(flatten)]
        store: StoreArgs,
        /// The channel.
        #[arg(long, env = "CAIRN_CHANNEL")]
        channel: String,
        /// The generation whose content to restore.
        #[arg(long)]
        to: u64,
        /// Signing options.
        #[command(flatten)]
        sign: SignArgs,
    },
    /// Re-sign the newest generation's content as a new generation with a fresh expiry.
    Refresh {
        /// Store options.
        #[command(flatten)]
        store: StoreArgs,
        /// The channel.
        #[arg(long, env = "CAIRN_CHANNEL")]
        channel: String,
        /// Signing options.
        #[command(flatten)]
        sign: SignArgs,
    },
    /// Summarize the agents' status records: clusters per generation and phase, stale agents, failures.
    Status {
        /// Store options.
        #[command(flatten)]
        store: StoreArgs,
        /// Only this channel (default: every channel with status records).
        #[arg(long, env = "CAIRN_CHANNEL")]
        channel: Option<String>,
        /// Agents silent for longer than this are reported stale.
        #[arg(long, default_value = "15m", value_parser = humantime::parse_duration)]
        stale_after: Duration,
    },
    /// Progressive rollouts: status, advance, pause, resume, abort, watch.
    Rollout {
        /// What to do.
        #[command(subcommand)]
        action: RolloutAction,
    },
    /// Publish another channel's snapshot (the identical digest) as this channel's next generation.
    Promote {
        /// Store options.
        #[command(flatten)]
        store: StoreArgs,
        /// The channel to promote from.
        #[arg(long)]
        from: String,
        /// The channel to promote to.
        #[arg(long)]
        to: String,
        /// The generation of --from to promote (default: its newest).
        #[arg(long)]
        generation: Option<u64>,
        /// Refuse unless at least this share of --from's clusters report that content healthy.
        #[arg(long, value_parser = parse_percent)]
        require_healthy: Option<f64>,
        /// Signing options.
        #[command(flatten)]
        sign: SignArgs,
    },
    /// Ephemeral environments: up, down, list.
    Env {
        /// What to do.
        #[command(subcommand)]
        action: EnvAction,
    },
    /// Feature flags: set, list, stale.
    Flag {
        /// What to do.
        #[command(subcommand)]
        action: FlagAction,
    },
    /// Write a channel's signed generations and newest content to one portable file, for a
    /// store that cannot be reached from here (an air-gapped site): see `cairn import`.
    #[command(
        after_help = "Example:\n  cairn export --channel prod --out prod.cairn\n  # carry prod.cairn across, then:\n  cairn import prod.cairn --store /srv/cairn --trust hub.key.pub"
    )]
    Export(ExportArgs),
    /// Write a file from `cairn export` into a store, with the same signatures, so that agents
    /// there verify exactly as at the origin. The whole file is checked first and refused whole
    /// if damaged or foreign; importing twice or out of order never moves a channel back.
    Import(ImportArgs),
    /// Delete objects no kept generation of any channel reaches.
    Gc {
        /// Store options.
        #[command(flatten)]
        store: StoreArgs,
        /// Generations to keep per channel (the newest ones).
        #[arg(long, default_value_t = 10)]
        keep: usize,
        /// Never delete objects younger than this, nor what a generation that was the head within it
        /// reaches, so in-flight publishes are never broken.
        #[arg(long, default_value = "24h", value_parser = humantime::parse_duration)]
        grace: Duration,
        /// Only report what would be deleted.
        #[arg(long)]
        dry_run: bool,
    },
}

/// Flags of `cairn export`.
#[derive(Args, Debug, Clone)]
pub struct ExportArgs {
    /// Store options (the store to export from).
    #[command(flatten)]
    pub store: StoreArgs,
    /// The channel to export.
    #[arg(long, env = "CAIRN_CHANNEL")]
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

/// Flags of `cairn import`.
#[derive(Args, Debug, Clone)]
pub struct ImportArgs {
    /// Store options (the store to import into).
    #[command(flatten)]
    pub store: StoreArgs,
    /// The file written by `cairn export`.
    pub file: PathBuf,
    /// Refuse the file unless it holds this channel.
    #[arg(long, env = "CAIRN_CHANNEL")]
    pub channel: Option<String>,
    /// Refuse the file unless every head in it is signed by one of these public keys (key text
    /// or a file holding it); repeatable.
    #[arg(long, value_delimiter = ',')]
    pub trust: Vec<String>,
    /// Promise that no other publisher writes to this channel concurrently. Needed only on
    /// stores that ignore conditional writes (cairn detects them and says so).
    #[arg(long, env = "CAIRN_SINGLE_PUBLISHER")]
    pub single_publisher: bool,
}

/// Progressive rollout controls. Every action is a new signed generation; nothing moves back.
#[derive(Subcommand, Debug)]
pub enum RolloutAction {
    /// Show the newest generation's rollout: steps, and clusters on the new content.
    Status {
        /// Store options.
        #[command(flatten)]
        store: StoreArgs,
        /// The channel.
        #[arg(long, env = "CAIRN_CHANNEL")]
        channel: String,
    },
    /// Open the next closed step now.
    Advance(RolloutControl),
    /// Freeze the steps: closed steps stay closed until `resume`.
    Pause(RolloutControl),
    /// Unfreeze the steps, shifting the closed ones by the time spent paused.
    Resume(RolloutControl),
    /// Roll forward to a new generation with the content from before the rollout, for everyone.
    Abort(RolloutControl),
    /// Follow the rollout: advance steps early while healthy, abort when too many fail.
    Watch {
        /// The channel and signing options.
        #[command(flatten)]
        control: RolloutControl,
        /// Abort when more than this share of the clusters on the new content fail.
        #[arg(long, default_value = "2%", value_parser = parse_percent)]
        max_failed: f64,
        /// Advance early once this share of the open cohort reports the new content healthy.
        #[arg(long, default_value = "90%", value_parser = parse_percent)]
        min_reporting: f64,
        /// How often to read the status records.
        #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
        every: Duration,
        /// Give up watching (leaving the rollout as it is) after this long.
        #[arg(long, default_value = "2h", value_parser = humantime::parse_duration)]
        timeout: Duration,
    },
}

/// Flags of the rollout actions that publish.
#[derive(Args, Debug, Clone)]
pub struct RolloutControl {
    /// Store options.
    #[command(flatten)]
    pub store: StoreArgs,
    /// The channel.
    #[arg(long, env = "CAIRN_CHANNEL")]
    pub channel: String,
    /// Signing options.
    #[command(flatten)]
    pub sign: SignArgs,
}

/// Ephemeral environments: channels with a time to live.
#[derive(Subcommand, Debug)]
pub enum EnvAction {
    /// Create (or update) an environment: publish manifests to channel NAME, retiring after --ttl.
    Up {
        /// Store options.
        #[command(flatten)]
        store: StoreArgs,
        /// The environment's channel name, e.g. pr-123.
        name: String,
        /// How long the environment lives; agents remove it on their own once it passes.
        #[arg(long, default_value = "48h", value_parser = humantime::parse_duration)]
        ttl: Duration,
        /// Manifest files or directories.
        paths: Vec<PathBuf>,
        /// Read manifests from a file, or `-` for standard input.
        #[arg(short = 'f', long = "filename")]
        filename: Vec<PathBuf>,
        /// Allow plain Secret objects with data.
        #[arg(long)]
        allow_secrets: bool,
        /// Where objects that name no namespace go.
        #[command(flatten)]
        namespace: NamespaceArgs,
        /// Publish cache options.
        #[command(flatten)]
        cache: CacheArgs,
        /// Signing options.
        #[command(flatten)]
        sign: SignArgs,
    },
    /// Tear an environment down: a final empty generation, then the channel is removed.
    Down {
        /// Store options.
        #[command(flatten)]
        store: StoreArgs,
        /// The environment's channel name.
        name: String,
        /// Signing options.
        #[command(flatten)]
        sign: SignArgs,
    },
    /// List environments with their age and time left.
    List {
        /// Store options.
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// Feature flags, delivered as a ConfigMap in the flagd (OpenFeature) flag-definition format.
#[derive(Subcommand, Debug)]
pub enum FlagAction {
    /// Set a flag's value, publishing a generation that changes only the flag document.
    Set {
        /// The flag's location and signing options.
        #[command(flatten)]
        at: FlagArgs,
        /// NAME=VALUE; VALUE is true/false, a number, a JSON object, or text.
        assignment: String,
        /// Who owns the flag (required for a new flag).
        #[arg(long)]
        owner: Option<String>,
        /// When the flag should be gone, YYYY-MM-DD (required for a new flag).
        #[arg(long)]
        expires: Option<String>,
        /// The flag's type (default: the existing flag's, or inferred from VALUE).
        #[arg(long, value_enum)]
        r#type: Option<crate::flags::FlagType>,
        /// Signing options.
        #[command(flatten)]
        sign: SignArgs,
    },
    /// List the channel's flags with owner, expiry and last change.
    List {
        /// The flag's location.
        #[command(flatten)]
        at: FlagArgs,
    },
    /// List flags past their expiry or unchanged for too long.
    Stale {
        /// The flag's location.
        #[command(flatten)]
        at: FlagArgs,
        /// Flags unchanged for this long are stale.
        #[arg(long, default_value = "30d", value_parser = humantime::parse_duration)]
        unchanged_for: Duration,
    },
}

/// Where a channel's flags live.
#[derive(Args, Debug, Clone)]
pub struct FlagArgs {
    /// Store options.
    #[command(flatten)]
    pub store: StoreArgs,
    /// The channel.
    #[arg(long, env = "CAIRN_CHANNEL")]
    pub channel: String,
    /// Namespace of the flags ConfigMap.
    #[arg(long, default_value = "default")]
    pub namespace: String,
    /// Name of the flags ConfigMap.
    #[arg(long, default_value = "feature-flags")]
    pub configmap: String,
}

fn parse_percent(text: &str) -> Result<f64, String> {
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

fn parse_key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("{text:?} is not KEY=VALUE")),
    }
}
