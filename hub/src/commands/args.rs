//! The flag groups several commands share (each command's own flags are an `*Args` struct next
//! to its code) and the value parsers of flags. Each flag's doc comment is its help text.

use std::path::PathBuf;
use std::time::Duration;

use cairn_env_vars::EnvVars;
use clap::{Args, ValueEnum};

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

/// Options of every command that reads status records.
#[derive(Args, Debug, Clone, Default)]
pub struct StatusReadArgs {
    /// Where the status cache lives: the records last read, by their listed version, so a read
    /// fetches only records that changed. Default: $XDG_CACHE_HOME/cairn or ~/.cache/cairn.
    /// Safe to delete at any time.
    #[arg(long = "cache-dir", env = EnvVars::CAIRN_CACHE_DIR, value_name = "DIR")]
    pub status_cache_dir: Option<PathBuf>,

    /// Fetch every status record, ignoring and not writing the status cache.
    #[arg(long = "no-cache", env = EnvVars::CAIRN_NO_CACHE)]
    pub no_status_cache: bool,
}

impl StatusReadArgs {
    /// The cache directory, unless caching is off or no home directory is known.
    pub fn dir(&self) -> Option<PathBuf> {
        CacheArgs {
            cache_dir: self.status_cache_dir.clone(),
            no_cache: self.no_status_cache,
        }
        .dir()
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
pub fn parse_percent(text: &str) -> Result<f64, String> {
    let number = text.trim().strip_suffix('%').unwrap_or(text.trim());
    match number.parse::<f64>() {
        Ok(p) if (0.0..=100.0).contains(&p) => Ok(p / 100.0),
        _ => Err(format!("{text:?} is not a percentage between 0% and 100%")),
    }
}

/// A namespace name.
fn parse_namespace(text: &str) -> Result<String, String> {
    cairn_state_format::names::dns1123_label(text)
        .map(|()| text.to_owned())
        .map_err(|why| format!("{text:?} is not a valid namespace: {why}"))
}

/// `KEY=VALUE`.
pub fn parse_key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("{text:?} is not KEY=VALUE")),
    }
}
