//! The agent's configuration, as a library caller builds it (the CLI in [`crate::cli`] is one
//! way to fill it in).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use cairn_state_format::{PublicKey, validate_channel_name};
use cairn_store::Store;

use crate::error::{Error, Result};
use crate::target::kube::KubeOptions;

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

/// A channel to follow: by name, or every channel whose name matches a pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChannelSpec {
    /// One named channel.
    Name(String),
    /// Channels matching a pattern where `*` stands for any run of characters (`pr-*`): picked up
    /// as they appear, torn down when they go away.
    Pattern(String),
}

impl ChannelSpec {
    /// Parses a `--channel` value: a name, or a pattern when it contains `*`.
    pub fn parse(text: &str) -> Result<ChannelSpec> {
        if text.contains('*') {
            let probe = text.replace('*', "x");
            validate_channel_name(&probe)
                .map_err(|e| Error::Config(format!("channel pattern {text:?}: {e}")))?;
            Ok(ChannelSpec::Pattern(text.to_owned()))
        } else {
            validate_channel_name(text).map_err(Error::Config)?;
            Ok(ChannelSpec::Name(text.to_owned()))
        }
    }

    /// Whether `channel` is this name or matches this pattern.
    pub fn matches(&self, channel: &str) -> bool {
        match self {
            ChannelSpec::Name(name) => name == channel,
            ChannelSpec::Pattern(pattern) => glob_matches(pattern, channel),
        }
    }
}

/// `*` matches any run of characters (including none); everything else matches itself.
fn glob_matches(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    // Invariant: `split` always yields at least one item.
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
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
    Custom(std::sync::Arc<dyn crate::target::Target>),
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
    pub fn parse(text: &str) -> Result<TargetSpec> {
        match text.split_once(':') {
            Some(("dir", path)) if !path.is_empty() => Ok(TargetSpec::Dir(PathBuf::from(path))),
            _ if text == "kube" => Ok(TargetSpec::Kube),
            _ => Err(Error::Config(format!(
                "target {text:?}: expected dir:PATH or kube"
            ))),
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

/// Everything one agent needs. Several agents may run in one process, each with its own config.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where snapshots are read.
    pub store: StoreLocation,
    /// Where status records are written; defaults to `store` unless that is an HTTP store.
    pub status_store: Option<StoreLocation>,
    /// Channels to follow.
    pub channels: Vec<ChannelSpec>,
    /// Keys whose signatures are trusted.
    pub trust: Vec<PublicKey>,
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
    /// Bytes of blobs kept in memory (default 4 MiB); more are on disk in the state dir. Agents
    /// given one [`crate::Shared`] with the same value share one such tier.
    pub memory_cache_bytes: u64,
    /// How the Kubernetes target talks to the cluster (used with [`TargetSpec::Kube`]).
    pub kube: KubeOptions,
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
            trust,
            cluster_id: cluster_id.to_owned(),
            labels: BTreeMap::new(),
            target,
            state_dir,
            timing: Timing::default(),
            metrics_addr: None,
            memory_cache_bytes: 4 * 1024 * 1024,
            kube: KubeOptions::default(),
        }
    }

    /// Checks what can be checked before any work starts.
    pub fn validate(&self) -> Result<()> {
        if self.channels.is_empty() {
            return Err(Error::Config("no --channel given".to_owned()));
        }
        if self.trust.is_empty() {
            return Err(Error::Config(
                "no --trust key given: the agent applies only signed heads".to_owned(),
            ));
        }
        validate_cluster_id(&self.cluster_id)?;
        let has_pattern = self
            .channels
            .iter()
            .any(|c| matches!(c, ChannelSpec::Pattern(_)));
        if has_pattern && self.store.is_http() {
            return Err(Error::Config(format!(
                "channel patterns need a store that can list; {} is a read-only HTTP store",
                self.store.describe()
            )));
        }
        if self.timing.interval.is_zero() {
            return Err(Error::Config("--interval must be positive".to_owned()));
        }
        if !(0.0..1.0).contains(&self.timing.jitter) {
            return Err(Error::Config(
                "--jitter must be at least 0 % and below 100 %".to_owned(),
            ));
        }
        if self.target == TargetSpec::Kube {
            self.validate_kube()?;
        }
        Ok(())
    }

    fn validate_kube(&self) -> Result<()> {
        let kube = &self.kube;
        if kube.concurrency == 0 {
            return Err(Error::Config(
                "--kube-concurrency must be at least 1".to_owned(),
            ));
        }
        if !(kube.qps >= 0.0 && kube.qps.is_finite()) {
            return Err(Error::Config(
                "--kube-qps must be 0 (no limit) or more".to_owned(),
            ));
        }
        if kube.namespace.is_empty() || kube.field_manager.is_empty() {
            return Err(Error::Config(
                "--namespace and --field-manager must not be empty".to_owned(),
            ));
        }
        if let Some(election) = &kube.election {
            if election.identity.is_empty() || election.lease.is_empty() {
                return Err(Error::Config(
                    "leader election needs a --lease-name and an --identity".to_owned(),
                ));
            }
            if election.lease_duration < std::time::Duration::from_secs(2) {
                return Err(Error::Config(
                    "--lease-duration must be at least 2s".to_owned(),
                ));
            }
        }
        if let Some(path) = &kube.kubeconfig
            && !path.is_file()
        {
            return Err(Error::Config(format!(
                "--kubeconfig {}: no such file",
                path.display()
            )));
        }
        Ok(())
    }
}

/// Cluster ids appear in object keys: 1 to 253 of `A-Z a-z 0-9 - _ .`, not starting with `.`.
pub fn validate_cluster_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 253
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::Config(format!(
            "cluster id {id:?}: use 1 to 253 of A-Z, a-z, 0-9, '-', '_', '.', not starting with '.'"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_with_stars() {
        let p = ChannelSpec::parse("pr-*").unwrap();
        assert!(p.matches("pr-123"));
        assert!(p.matches("pr-"));
        assert!(!p.matches("prod"));
        assert!(glob_matches("a*b*c", "aXXbYYc"));
        assert!(!glob_matches("a*b*c", "aXXcYYb"));
        assert!(glob_matches("*", "anything"));
        assert!(!glob_matches("ab*ba", "aba"));
        assert_eq!(
            ChannelSpec::parse("prod").unwrap(),
            ChannelSpec::Name("prod".into())
        );
        assert!(ChannelSpec::parse("Bad/Name").is_err());
    }

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
