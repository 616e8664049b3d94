//! The command line: every flag also reads a `CAIRN_*` environment variable, since agents are
//! configured in a DaemonSet spec.

use cairn_env_vars::EnvVars;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use cairn_state_format::PublicKey;
use clap::{Parser, Subcommand, ValueEnum};

use crate::config::{
    ChannelSpec, Config, DEFAULT_BURST, DEFAULT_QPS, DriftMode, DriftPolicy, Election, KubeOptions,
    Propagation, StoreLocation, TargetSpec, Timing, TrustSpec,
};
use crate::error::{ConfigError, PolicyError, UnexpectedValue};

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

/// Flags of the Kubernetes target (`--target kube`).
#[derive(Debug, clap::Args)]
pub struct KubeArgs {
    /// Kubeconfig file (default: the in-cluster service account, else ~/.kube/config).
    #[arg(long, env = EnvVars::CAIRN_KUBECONFIG)]
    pub kubeconfig: Option<PathBuf>,

    /// The agent's own namespace, where its state ConfigMaps and Lease live.
    #[arg(long, env = EnvVars::CAIRN_AGENT_NAMESPACE, default_value = "cairn-system")]
    pub agent_namespace: String,

    /// Server-side apply field manager.
    #[arg(long, env = EnvVars::CAIRN_FIELD_MANAGER, default_value = "cairn")]
    pub field_manager: String,

    /// Take over fields other field managers own when applying (`--force-conflicts=false`
    /// reports conflicts instead).
    #[arg(long, env = EnvVars::CAIRN_FORCE_CONFLICTS, default_value_t = true, action = clap::ArgAction::Set)]
    pub force_conflicts: bool,

    /// Take over existing objects cairn did not create (by default they are refused).
    #[arg(long, env = EnvVars::CAIRN_KUBE_ADOPT)]
    pub kube_adopt: bool,

    /// Deletion propagation for pruned objects: background, foreground or orphan.
    #[arg(long, env = EnvVars::CAIRN_PRUNE_PROPAGATION, default_value = "background", value_parser = Propagation::parse)]
    pub prune_propagation: Propagation,

    /// API requests in flight at once.
    #[arg(long, env = EnvVars::CAIRN_KUBE_CONCURRENCY, default_value_t = 8)]
    pub kube_concurrency: usize,

    /// Sustained API requests per second, for every request the agent makes (apply, list,
    /// state, lease): a token bucket under the client. 0: no limit. The default is kubectl's
    /// (since Kubernetes 1.27); client-go's library default, 5, would take minutes over a large
    /// first apply. Lower it on a busy, shared API server.
    #[arg(long, env = EnvVars::CAIRN_KUBE_QPS, default_value_t = DEFAULT_QPS)]
    pub kube_qps: f64,

    /// API requests allowed in a burst above --kube-qps (kubectl's default; client-go's is 10).
    #[arg(long, env = EnvVars::CAIRN_KUBE_BURST, default_value_t = DEFAULT_BURST)]
    pub kube_burst: u32,

    /// What to do when a live object no longer matches what cairn applied: `correct` it (the
    /// default) or only `report` it in the status record, for every channel (`report`) or one
    /// (`prod=report`); comma-separated or repeated. An object's `cairn.dev/drift` annotation
    /// overrides it, and `cairn.dev/ignore-fields` leaves fields to other managers.
    #[arg(long, env = EnvVars::CAIRN_DRIFT, value_delimiter = ',', value_parser = DriftRule::parse)]
    pub drift: Vec<DriftRule>,

    /// How long to wait for a CustomResourceDefinition to be Established.
    #[arg(long, env = EnvVars::CAIRN_CRD_TIMEOUT, default_value = "60s", value_parser = humantime::parse_duration)]
    pub crd_timeout: Duration,

    /// Compete for a coordination.k8s.io Lease: only the leader reads the store, applies and
    /// reports; the others follow it through the Lease and the state ConfigMaps, by watch (for
    /// a DaemonSet or several replicas).
    #[arg(long, env = EnvVars::CAIRN_LEADER_ELECT)]
    pub leader_elect: bool,

    /// The Lease's name, in --agent-namespace.
    #[arg(long, env = EnvVars::CAIRN_LEASE_NAME, default_value = "cairn-agent")]
    pub lease_name: String,

    /// How long a follower waits, after it last saw the Lease renewed, before it may take it
    /// (whole seconds). Must be longer than --renew-deadline.
    #[arg(long, env = EnvVars::CAIRN_LEASE_DURATION, default_value = "15s", value_parser = humantime::parse_duration)]
    pub lease_duration: Duration,

    /// How long the leader keeps writing after the start of its last successful renewal: when
    /// it cannot renew within this, it steps down (its work in flight is cancelled) before any
    /// follower may take the Lease. Must be longer than --retry-period × 1.2.
    #[arg(long, env = EnvVars::CAIRN_RENEW_DEADLINE, default_value = "10s", value_parser = humantime::parse_duration)]
    pub renew_deadline: Duration,

    /// How often the leader renews the Lease (followers watch it and do not poll); also the
    /// timeout of every Lease call.
    #[arg(long, env = EnvVars::CAIRN_RETRY_PERIOD, default_value = "2s", value_parser = humantime::parse_duration)]
    pub retry_period: Duration,

    /// This replica's identity in the election (default: $HOSTNAME, the pod name in a pod).
    #[arg(long, env = EnvVars::CAIRN_IDENTITY)]
    pub identity: Option<String>,
}

impl KubeArgs {
    /// The Kubernetes target's options these flags describe.
    pub fn to_options(&self, cluster_id: &str) -> KubeOptions {
        let election = self.leader_elect.then(|| {
            let identity = self
                .identity
                .clone()
                .or_else(|| std::env::var("HOSTNAME").ok())
                .unwrap_or_else(|| cluster_id.to_owned());
            Election {
                lease: self.lease_name.clone(),
                lease_duration: self.lease_duration,
                renew_deadline: self.renew_deadline,
                retry_period: self.retry_period,
                ..Election::new(&identity)
            }
        });
        KubeOptions {
            kubeconfig: self.kubeconfig.clone(),
            namespace: self.agent_namespace.clone(),
            field_manager: self.field_manager.clone(),
            force_conflicts: self.force_conflicts,
            adopt: self.kube_adopt,
            propagation: self.prune_propagation,
            concurrency: self.kube_concurrency,
            qps: self.kube_qps,
            burst: self.kube_burst,
            crd_timeout: self.crd_timeout,
            election,
            drift: DriftRule::policy(&self.drift),
        }
    }
}

/// One `--drift` value: a mode for every channel, or for one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DriftRule {
    /// The channel, or `None` for all.
    pub channel: Option<String>,
    /// The mode.
    pub mode: DriftMode,
}

impl DriftRule {
    /// Parses `report`, `correct` or `<channel>=<mode>`.
    pub fn parse(text: &str) -> std::result::Result<DriftRule, PolicyError> {
        let policy = DriftPolicy::parse([text])?;
        Ok(match policy.channels.into_iter().next() {
            Some((channel, mode)) => DriftRule {
                channel: Some(channel),
                mode,
            },
            None => DriftRule {
                channel: None,
                mode: policy.default,
            },
        })
    }

    /// The policy the rules make, later rules winning.
    pub fn policy(rules: &[DriftRule]) -> DriftPolicy {
        let mut policy = DriftPolicy::default();
        for rule in rules {
            match &rule.channel {
                Some(channel) => {
                    policy.channels.insert(channel.clone(), rule.mode);
                }
                None => policy.default = rule.mode,
            }
        }
        policy
    }
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
        let mut labels = BTreeMap::new();
        for label in &self.cluster_labels {
            let (k, v) = label.split_once('=').ok_or_else(|| {
                ConfigError::invalid("--cluster-label", format!("{label:?}: expected key=value"))
            })?;
            labels.insert(k.trim().to_owned(), v.trim().to_owned());
        }
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
            self.trust_root.as_deref(),
            self.trust_root_digest.as_deref(),
        )?;
        config.status_store = self.status_store.clone().map(StoreLocation::Url);
        config.accept_epochs = self
            .accept_new_epoch
            .iter()
            .map(|e| {
                e.trim().parse().map_err(|_| {
                    ConfigError::invalid(
                        "--accept-new-epoch",
                        format!("{e:?} is not an epoch: expected 32 lowercase hex digits"),
                    )
                })
            })
            .collect::<Result<_, _>>()?;
        config.labels = labels;
        config.metrics_addr = self.metrics_addr;
        config.timing = Timing {
            interval: self.interval,
            jitter: self.jitter,
            resync: self.resync,
            heartbeat: self.heartbeat,
            backoff_cap: self.backoff_cap,
            request_timeout: self.request_timeout,
            drain: self.drain,
            ..Timing::default()
        };
        config.kube = self.kube.to_options(&self.cluster_id);
        config.validate()?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_state_format::SecretKey;

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
        let cli = Cli::try_parse_from([
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
        ])
        .unwrap();
        let Command::Run(args) = cli.command else {
            panic!("not run")
        };
        let config = args.to_config().unwrap();
        assert_eq!(config.target, TargetSpec::Kube);
        assert_eq!(config.kube, KubeOptions::default());
        let cli = Cli::try_parse_from([
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
            "--kube-concurrency",
            "0",
        ])
        .unwrap();
        let Command::Run(args) = cli.command else {
            panic!("not run")
        };
        let err = args.to_config().unwrap_err().to_string();
        assert!(err.contains("--kube-concurrency"), "{err}");
    }
}
