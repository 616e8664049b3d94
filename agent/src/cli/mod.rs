//! The command line: every flag also reads a `CAIRN_*` environment variable, since agents are
//! configured in a DaemonSet spec. The flags of the Kubernetes target are in `cli/kube.rs`.

mod kube;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use cairn_env_vars::EnvVars;
use cairn_state_format::{Epoch, PublicKey};
use clap::{Parser, Subcommand, ValueEnum};

pub use kube::{DriftRule, KubeArgs};

use crate::config::{ChannelSpec, Config, StoreLocation, TargetSpec, Timing, TrustSpec};
use crate::error::{ConfigError, UnexpectedValue};

/// cairn-agent: pulls signed snapshots from object storage and reconciles a target to them.
#[derive(Debug, Parser)]
#[command(name = "cairn-agent", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The agent's commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Reconcile continuously (or once, with --once).
    Run(Box<RunArgs>),
    /// Print a shell completion script for cairn-agent.
    #[command(after_help = "Install:\n  \
        bash: cairn-agent completion bash > ~/.local/share/bash-completion/completions/cairn-agent\n  \
        zsh:  cairn-agent completion zsh > \"${fpath[1]}/_cairn-agent\"\n  \
        fish: cairn-agent completion fish > ~/.config/fish/completions/cairn-agent.fish")]
    Completion {
        /// The shell to complete in.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// Log output format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Flags of `cairn-agent run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Do one reconcile pass, then exit: 0 converged, 1 failed or refused, 2 bad configuration,
    /// 3 waiting (rollout step not open, nothing published yet).
    #[arg(long, env = EnvVars::CAIRN_ONCE)]
    pub once: bool,

    /// Store URL: file:///path, s3://bucket/prefix, gs://…, az://…, or a read-only https://
    /// base URL served by a web server or CDN.
    #[arg(long, env = EnvVars::CAIRN_STORE)]
    pub store: String,

    /// Where status records are written (default: the store, unless it is an HTTP store).
    #[arg(long, env = EnvVars::CAIRN_STATUS_STORE)]
    pub status_store: Option<String>,

    /// Channel to follow; repeatable. A pattern such as `pr-*` follows channels as they appear
    /// and tears them down when they go away.
    #[arg(
        long = "channel",
        env = EnvVars::CAIRN_CHANNEL,
        value_delimiter = ',',
        required = true
    )]
    pub channels: Vec<String>,

    /// Trusted public key: `cairn-ed25519-public <base64>` or a file holding it; repeatable.
    /// The simple mode: any of these keys may sign any channel. Give this or a trust root.
    #[arg(
        long = "trust",
        env = EnvVars::CAIRN_TRUST,
        value_delimiter = ',',
        required_unless_present_any = ["trust_root", "trust_root_digest"]
    )]
    pub trust: Vec<String>,

    /// With --trust: what each channel may do on the cluster, as a YAML or JSON file listing
    /// `{channels: [patterns], scope: {namespaces, kinds, deny_kinds, cluster_scoped,
    /// service_account}}` entries (the first entry matching a channel decides; a channel none
    /// names is refused). Without it, --trust keys may sign anything.
    #[arg(long = "scopes", env = EnvVars::CAIRN_SCOPES, value_name = "FILE")]
    pub scopes: Option<PathBuf>,

    /// A version of the store's trust root, as a file (`cairn trust show 1 --raw > root.json`):
    /// the agent accepts heads signed as the root delegates, and walks the store's later
    /// versions forward from this one (rotations and revocations reach it over the wire).
    #[arg(long = "trust-root", env = EnvVars::CAIRN_TRUST_ROOT, value_name = "FILE")]
    pub trust_root: Option<PathBuf>,

    /// The digest of the trust root version the agent is installed with (`sha256:…`, as
    /// `cairn trust show` prints it). With --trust-root, the file must have it; alone, version 1
    /// is read from the store and must have it.
    #[arg(
        long = "trust-root-digest",
        env = EnvVars::CAIRN_TRUST_ROOT_DIGEST,
        value_name = "DIGEST"
    )]
    pub trust_root_digest: Option<String>,

    /// Follow a channel that was deleted and published afresh (a new epoch) although this cluster
    /// applied generations of the old one: the epoch as the status names it ("re-created (epoch
    /// A → B)"); repeatable. Without it such a channel is refused and reported, never followed,
    /// and a replayed old head stays refused as a rollback either way.
    #[arg(
        long = "accept-new-epoch",
        env = EnvVars::CAIRN_ACCEPT_NEW_EPOCH,
        value_delimiter = ',',
        value_name = "EPOCH"
    )]
    pub accept_new_epoch: Vec<String>,

    /// This cluster's id (names its status records; places it in rollout cohorts).
    #[arg(long, env = EnvVars::CAIRN_CLUSTER_ID)]
    pub cluster_id: String,

    /// A label of this cluster, `key=value`, matched by cluster selectors; repeatable.
    #[arg(
        long = "cluster-label",
        env = EnvVars::CAIRN_CLUSTER_LABEL,
        value_delimiter = ','
    )]
    pub cluster_labels: Vec<String>,

    /// What to reconcile: `dir:PATH` (a YAML file per object) or `kube`.
    #[arg(long, env = EnvVars::CAIRN_TARGET)]
    pub target: String,

    /// Where applied state, the blob cache and ownership records persist.
    #[arg(long, env = EnvVars::CAIRN_STATE_DIR, default_value = "/var/lib/cairn-agent")]
    pub state_dir: PathBuf,

    /// Poll interval.
    #[arg(long, env = EnvVars::CAIRN_INTERVAL, default_value = "30s", value_parser = humantime::parse_duration)]
    pub interval: Duration,

    /// Spread of each poll around the interval: `20%` or `0.2`.
    #[arg(long, env = EnvVars::CAIRN_JITTER, default_value = "20%", value_parser = parse_fraction)]
    pub jitter: f64,

    /// How often the target is checked for drift and corrected.
    #[arg(long, env = EnvVars::CAIRN_RESYNC, default_value = "10m", value_parser = humantime::parse_duration)]
    pub resync: Duration,

    /// How often a status record is written when nothing changes.
    #[arg(long, env = EnvVars::CAIRN_HEARTBEAT, default_value = "5m", value_parser = humantime::parse_duration)]
    pub heartbeat: Duration,

    /// Longest wait between retries after failures.
    #[arg(long, env = EnvVars::CAIRN_BACKOFF_CAP, default_value = "5m", value_parser = humantime::parse_duration)]
    pub backoff_cap: Duration,

    /// Timeout of one store request.
    #[arg(long, env = EnvVars::CAIRN_REQUEST_TIMEOUT, default_value = "15s", value_parser = humantime::parse_duration)]
    pub request_timeout: Duration,

    /// How long shutdown waits for in-flight work.
    #[arg(long, env = EnvVars::CAIRN_DRAIN, default_value = "10s", value_parser = humantime::parse_duration)]
    pub drain: Duration,

    /// Address for /metrics, /healthz and /readyz, e.g. `0.0.0.0:9464`.
    #[arg(long, env = EnvVars::CAIRN_METRICS_ADDR)]
    pub metrics_addr: Option<SocketAddr>,

    /// Log format.
    #[arg(long, env = EnvVars::CAIRN_LOG_FORMAT, value_enum, default_value_t)]
    pub log_format: LogFormat,

    /// With --target kube, the flags of the Kubernetes target.
    #[command(flatten)]
    pub kube: KubeArgs,
}

fn parse_fraction(text: &str) -> std::result::Result<f64, UnexpectedValue> {
    let (number, scale) = match text.trim().strip_suffix('%') {
        Some(percent) => (percent, 100.0),
        None => (text.trim(), 1.0),
    };
    number
        .trim()
        .parse::<f64>()
        .map(|n| n / scale)
        .map_err(|_| UnexpectedValue::new(text, "a fraction such as 20% or 0.2"))
}

/// Reads a `--trust` value: key text, or a path to a file holding it.
pub fn parse_trust(value: &str) -> Result<PublicKey, ConfigError> {
    let text = if value.trim_start().starts_with("cairn-ed25519-") {
        value.to_owned()
    } else {
        std::fs::read_to_string(value).map_err(|source| ConfigError::Unreadable {
            setting: "--trust (not key text, so a file)",
            path: value.into(),
            source,
        })?
    };
    text.parse()
        .map_err(|e| ConfigError::invalid("--trust", format!("{value}: {e}")))
}

impl RunArgs {
    /// The library configuration these flags describe.
    pub fn to_config(&self) -> Result<Config, ConfigError> {
        let channels = self
            .channels
            .iter()
            .map(|c| ChannelSpec::parse(c.trim()))
            .collect::<Result<Vec<_>, _>>()?;
        let trust = self
            .trust
            .iter()
            .map(|t| parse_trust(t))
            .collect::<Result<Vec<_>, _>>()?;
        let mut config = Config::new(
            StoreLocation::Url(self.store.clone()),
            channels,
            Vec::new(),
            &self.cluster_id,
            TargetSpec::parse(&self.target)?,
            self.state_dir.clone(),
        );
        config.trust = TrustSpec::from_flags(
            trust,
            self.scopes.as_deref(),
            self.trust_root.as_deref(),
            self.trust_root_digest.as_deref(),
        )?;
        config.status_store = self.status_store.clone().map(StoreLocation::Url);
        config.accept_epochs = self.epochs()?;
        config.labels = self.labels()?;
        config.metrics_addr = self.metrics_addr;
        config.timing = self.timing();
        config.kube = self.kube.to_options(&self.cluster_id);
        config.validate()?;
        Ok(config)
    }

    /// The cluster's labels (`--cluster-label key=value`).
    fn labels(&self) -> Result<BTreeMap<String, String>, ConfigError> {
        let mut labels = BTreeMap::new();
        for label in &self.cluster_labels {
            let (k, v) = label.split_once('=').ok_or_else(|| {
                ConfigError::invalid("--cluster-label", format!("{label:?}: expected key=value"))
            })?;
            labels.insert(k.trim().to_owned(), v.trim().to_owned());
        }
        Ok(labels)
    }

    /// The epochs of re-created channels to follow (`--accept-new-epoch`).
    fn epochs(&self) -> Result<Vec<Epoch>, ConfigError> {
        self.accept_new_epoch
            .iter()
            .map(|e| {
                e.trim().parse().map_err(|_| {
                    ConfigError::invalid(
                        "--accept-new-epoch",
                        format!("{e:?} is not an epoch: expected 32 lowercase hex digits"),
                    )
                })
            })
            .collect()
    }

    /// Intervals and backoff.
    fn timing(&self) -> Timing {
        Timing {
            interval: self.interval,
            jitter: self.jitter,
            resync: self.resync,
            heartbeat: self.heartbeat,
            backoff_cap: self.backoff_cap,
            request_timeout: self.request_timeout,
            drain: self.drain,
            ..Timing::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_state_format::SecretKey;

    use crate::config::KubeOptions;

    #[test]
    fn flags_become_a_config() {
        let key = SecretKey::from_seed([1; 32]).public().to_string();
        let cli = Cli::try_parse_from([
            "cairn-agent",
            "run",
            "--once",
            "--store",
            "file:///tmp/s",
            "--channel",
            "prod",
            "--channel",
            "pr-*",
            "--trust",
            &key,
            "--cluster-id",
            "c1",
            "--cluster-label",
            "env=prod",
            "--target",
            "dir:/tmp/out",
            "--jitter",
            "10%",
            "--interval",
            "5s",
        ])
        .unwrap();
        let Command::Run(args) = cli.command else {
            panic!("not run")
        };
        assert!(args.once);
        let config = args.to_config().unwrap();
        assert_eq!(config.channels.len(), 2);
        assert_eq!(config.labels["env"], "prod");
        assert!((config.timing.jitter - 0.1).abs() < 1e-9);
        assert_eq!(config.timing.interval, Duration::from_secs(5));
    }

    #[test]
    fn bad_values_say_what_is_wrong() {
        assert!(
            parse_trust("/nonexistent/key")
                .unwrap_err()
                .to_string()
                .contains("--trust")
        );
        assert!(parse_fraction("lots").is_err());
        let key = SecretKey::from_seed([1; 32]).public().to_string();
        let kube_run = |extra: &[&str]| {
            let mut argv = vec![
                "cairn-agent",
                "run",
                "--store",
                "file:///tmp/s",
                "--channel",
                "prod",
                "--trust",
                &key,
                "--cluster-id",
                "c1",
                "--target",
                "kube",
            ];
            argv.extend_from_slice(extra);
            let Command::Run(args) = Cli::try_parse_from(argv).unwrap().command else {
                panic!("not run")
            };
            args
        };
        let config = kube_run(&[]).to_config().unwrap();
        assert_eq!(config.target, TargetSpec::Kube);
        assert_eq!(config.kube, KubeOptions::default());
        let args = kube_run(&["--kube-concurrency", "0"]);
        let err = args.to_config().unwrap_err().to_string();
        assert!(err.contains("--kube-concurrency"), "{err}");
    }
}
