//! The agent's configuration, as a library caller builds it (the CLI in [`crate::cli`] is one
//! way to fill it in), and the errors that stop an agent before it starts.

mod channels;
mod trust;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use cairn_state_format::{Epoch, PublicKey};
use cairn_store::Store;

pub use channels::ChannelSpec;
pub use trust::TrustSpec;

use crate::election::{Election, LeaseLock};
use crate::state::StateBackend;
use crate::targets::kube::KubeOptions;

/// Why a configuration cannot work. Every variant names the flag or file concerned.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A setting has a value that cannot work.
    #[error("{setting}: {reason}")]
    Invalid {
        /// The flag (`--interval`) or setting concerned.
        setting: &'static str,
        /// What is wrong, and what would be right.
        reason: String,
    },
    /// A file named by a setting cannot be read.
    #[error("{setting} {}: {source}", path.display())]
    Unreadable {
        /// The flag naming the file.
        setting: &'static str,
        /// The file.
        path: PathBuf,
        /// Why it cannot be read.
        #[source]
        source: std::io::Error,
    },
    /// The metrics address cannot be listened on.
    #[error("--metrics-addr {addr}: cannot listen: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// An HTTP client could not be built (TLS set-up).
    #[error("cannot build an HTTP client: {0}")]
    HttpClient(#[source] reqwest::Error),
    /// The kubeconfig file cannot be used.
    #[error("kubeconfig {}: {source}", path.display())]
    Kubeconfig {
        /// The file.
        path: PathBuf,
        /// What kube reported.
        #[source]
        source: kube::config::KubeconfigError,
    },
    /// No cluster could be found to talk to.
    #[error("no cluster found (in-cluster service account, KUBECONFIG, ~/.kube/config): {0}")]
    NoCluster(#[source] kube::config::InferConfigError),
    /// A Kubernetes client could not be built from a usable configuration.
    #[error("cannot build a Kubernetes client: {0}")]
    KubeClient(#[source] kube::Error),
}

impl ConfigError {
    /// An invalid value of `setting`.
    pub fn invalid(setting: &'static str, reason: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            setting,
            reason: reason.into(),
        }
    }
}

/// Where objects are read from (or status records written to).
#[derive(Clone, Debug)]
pub enum StoreLocation {
    /// A URL: `file://`, `s3://`, `gs://`, `az://`, `memory://`, or a read-only `https://` (or
    /// `http://`) base URL served by any static web server or CDN.
    Url(String),
    /// A store opened by the caller (tests and the fleet load tester share one in-memory store
    /// between a publisher and many agents this way).
    Opened(Store),
}

impl StoreLocation {
    /// Whether this is a read-only HTTP base URL.
    pub fn is_http(&self) -> bool {
        matches!(self, StoreLocation::Url(url) if url.starts_with("http://") || url.starts_with("https://"))
    }

    /// The URL, for messages.
    pub fn describe(&self) -> String {
        match self {
            StoreLocation::Url(url) => url.clone(),
            StoreLocation::Opened(store) => store.url().to_owned(),
        }
    }
}

/// What the agent reconciles.
#[derive(Clone, Debug)]
pub enum TargetSpec {
    /// Write each object as a YAML file under this directory.
    Dir(PathBuf),
    /// The Kubernetes API server, with server-side apply (see [`Config::kube`]).
    Kube,
    /// A target the library caller implements (an embedding host, the fleet load tester's
    /// counting target).
    Custom(std::sync::Arc<dyn crate::targets::Target>),
}

impl PartialEq for TargetSpec {
    fn eq(&self, other: &TargetSpec) -> bool {
        match (self, other) {
            (TargetSpec::Dir(a), TargetSpec::Dir(b)) => a == b,
            (TargetSpec::Kube, TargetSpec::Kube) => true,
            (TargetSpec::Custom(a), TargetSpec::Custom(b)) => std::sync::Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

impl Eq for TargetSpec {}

impl TargetSpec {
    /// Parses `dir:PATH` or `kube`.
    pub fn parse(text: &str) -> Result<TargetSpec, ConfigError> {
        match text.split_once(':') {
            Some(("dir", path)) if !path.is_empty() => Ok(TargetSpec::Dir(PathBuf::from(path))),
            _ if text == "kube" => Ok(TargetSpec::Kube),
            _ => Err(ConfigError::invalid(
                "--target",
                format!("{text:?}: expected dir:PATH or kube"),
            )),
        }
    }
}

/// How often and how patiently the agent works. Every default is the production value.
#[derive(Clone, Debug)]
pub struct Timing {
    /// Poll interval T (default 30 s).
    pub interval: Duration,
    /// Spread of each poll around T, as a fraction (default 0.2: T ± 20 %).
    pub jitter: f64,
    /// How often the target is checked for drift and corrected (default 10 min).
    pub resync: Duration,
    /// How often a status record is written when nothing changes (default 5 min, ± jitter).
    pub heartbeat: Duration,
    /// First retry delay after a failure, doubled per failure (default 1 s).
    pub backoff_base: Duration,
    /// Longest delay between retries (default 5 min).
    pub backoff_cap: Duration,
    /// How long a shutdown waits for in-flight work (default 10 s).
    pub drain: Duration,
    /// Timeout of one store request (default 15 s).
    pub request_timeout: Duration,
    /// Whether the first poll waits a random offset in [0, T) so a fleet restart is not a herd
    /// (default true).
    pub first_poll_offset: bool,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            interval: Duration::from_secs(30),
            jitter: 0.2,
            resync: Duration::from_secs(600),
            heartbeat: Duration::from_secs(300),
            backoff_base: Duration::from_secs(1),
            backoff_cap: Duration::from_secs(300),
            drain: Duration::from_secs(10),
            request_timeout: Duration::from_secs(15),
            first_poll_offset: true,
        }
    }
}

/// Replicas of one agent that meet somewhere other than a Kubernetes API server: a lease and a
/// state backend the library caller shares between them (the fleet load tester simulates R
/// replicas per cluster in memory with [`crate::election::MemoryLease`] and
/// [`crate::MemoryState`]). With `--target kube`, `--leader-elect` does the same through the
/// cluster's Lease and ConfigMaps.
#[derive(Clone, Debug)]
pub struct Replicas {
    /// The election's settings.
    pub election: Election,
    /// The lease the replicas compete for.
    pub lease: std::sync::Arc<dyn LeaseLock>,
    /// Where the leader records what it applied, and followers follow it.
    pub state: std::sync::Arc<dyn StateBackend>,
}

/// Everything one agent needs. Several agents may run in one process, each with its own config.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where snapshots are read.
    pub store: StoreLocation,
    /// Where status records are written; defaults to `store` unless that is an HTTP store.
    pub status_store: Option<StoreLocation>,
    /// Channels to follow.
    pub channels: Vec<ChannelSpec>,
    /// Whom the agent trusts: keys, or the store's trust root from a version given at install.
    pub trust: TrustSpec,
    /// Channel epochs to follow although the channel was re-created since this cluster applied
    /// from it (a re-created channel is otherwise refused and reported, never followed).
    pub accept_epochs: Vec<Epoch>,
    /// This cluster's id (names its status records and places it in rollout cohorts).
    pub cluster_id: String,
    /// This cluster's labels (what cluster selectors match).
    pub labels: BTreeMap<String, String>,
    /// What to reconcile.
    pub target: TargetSpec,
    /// Where applied state, the blob cache and target bookkeeping persist.
    pub state_dir: PathBuf,
    /// Intervals and backoff.
    pub timing: Timing,
    /// Where to serve `/metrics`, `/healthz` and `/readyz` (port 0 picks a free port).
    pub metrics_addr: Option<SocketAddr>,
    /// Bytes of blobs kept in memory, each entry's bookkeeping included (default 4 MiB); a blob
    /// unread for a minute leaves it, and all are on disk in the state dir. Agents given one
    /// [`crate::Shared`] with the same value share one such tier.
    pub memory_cache_bytes: u64,
    /// How the Kubernetes target talks to the cluster (used with [`TargetSpec::Kube`]).
    pub kube: KubeOptions,
    /// Replicas that elect a leader without the Kubernetes target (see [`Replicas`]).
    pub replicas: Option<Replicas>,
}

impl Config {
    /// A configuration with defaults for everything but the essentials.
    pub fn new(
        store: StoreLocation,
        channels: Vec<ChannelSpec>,
        trust: Vec<PublicKey>,
        cluster_id: &str,
        target: TargetSpec,
        state_dir: PathBuf,
    ) -> Config {
        Config {
            store,
            status_store: None,
            channels,
            trust: TrustSpec::Keys(trust),
            accept_epochs: Vec::new(),
            cluster_id: cluster_id.to_owned(),
            labels: BTreeMap::new(),
            target,
            state_dir,
            timing: Timing::default(),
            metrics_addr: None,
            memory_cache_bytes: 4 * 1024 * 1024,
            kube: KubeOptions::default(),
            replicas: None,
        }
    }

    /// Checks what can be checked before any work starts.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.channels.is_empty() {
            return Err(ConfigError::invalid("--channel", "no channel given"));
        }
        if self.trust == TrustSpec::Keys(Vec::new()) {
            return Err(ConfigError::invalid(
                "--trust",
                "no key given: the agent applies only signed heads",
            ));
        }
        validate_cluster_id(&self.cluster_id)?;
        let has_pattern = self
            .channels
            .iter()
            .any(|c| matches!(c, ChannelSpec::Pattern(_)));
        if has_pattern && self.store.is_http() {
            return Err(ConfigError::invalid(
                "--channel",
                format!(
                    "channel patterns need a store that can list; {} is a read-only HTTP store",
                    self.store.describe()
                ),
            ));
        }
        self.timing.validate()?;
        if self.target == TargetSpec::Kube {
            self.kube.validate()?;
        }
        if let Some(replicas) = &self.replicas {
            if self.target == TargetSpec::Kube {
                return Err(ConfigError::invalid(
                    "--leader-elect",
                    "with --target kube the replicas elect a leader through the cluster: use --leader-elect, not a library lease",
                ));
            }
            replicas.election.validate()?;
        }
        Ok(())
    }
}

impl Timing {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.interval.is_zero() {
            return Err(ConfigError::invalid("--interval", "must be positive"));
        }
        if !(0.0..1.0).contains(&self.jitter) {
            return Err(ConfigError::invalid(
                "--jitter",
                "must be at least 0 % and below 100 %",
            ));
        }
        Ok(())
    }
}

/// Cluster ids appear in object keys: 1 to 253 of `A-Z a-z 0-9 - _ .`, not starting with `.`.
pub fn validate_cluster_id(id: &str) -> Result<(), ConfigError> {
    let ok = !id.is_empty()
        && id.len() <= 253
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(ConfigError::invalid(
            "--cluster-id",
            format!("{id:?}: use 1 to 253 of A-Z, a-z, 0-9, '-', '_', '.', not starting with '.'"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_and_cluster_ids_are_checked() {
        assert_eq!(
            TargetSpec::parse("dir:/srv/x").unwrap(),
            TargetSpec::Dir("/srv/x".into())
        );
        assert_eq!(TargetSpec::parse("kube").unwrap(), TargetSpec::Kube);
        assert!(TargetSpec::parse("dir:").is_err());
        assert!(validate_cluster_id("eu-west-1.prod").is_ok());
        assert!(validate_cluster_id("a/b").is_err());
        assert!(validate_cluster_id("").is_err());
    }
}
