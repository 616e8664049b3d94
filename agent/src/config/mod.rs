//! The agent's configuration, as a library caller builds it (the CLI, `cli.rs`, is one way
//! to fill it in): plain data, checked before any work starts. It names what to build and
//! never holds a live part of the agent: the parts are made from it by `run` (a library
//! caller's own target and replicas are given to [`crate::AgentBuilder`] beside it).
//!
//! Near the bottom of the crate: it imports only [`crate::error`].

mod channels;
mod drift;
mod election;
mod kube;
mod scopes;
mod timing;
mod trust;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use cairn_state_format::{Epoch, PublicKey};
use cairn_store::Store;

pub use channels::ChannelSpec;
pub use drift::{DriftMode, DriftPolicy};
pub use election::{Election, JITTER_FACTOR};
pub use kube::{DEFAULT_BURST, DEFAULT_QPS, KubeOptions, Propagation};
pub use scopes::ScopedChannels;
pub use timing::Timing;
pub use trust::TrustSpec;

pub use crate::error::ConfigError;

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
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetSpec {
    /// Write each object as a YAML file under this directory.
    Dir(PathBuf),
    /// The Kubernetes API server, with server-side apply (see [`Config::kube`]).
    Kube,
    /// A target the library caller implements (an embedding host, the fleet load tester's
    /// counting target), given to [`crate::AgentBuilder::target`].
    Custom,
}

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
        }
    }

    /// Checks what can be checked before any work starts.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.channels.is_empty() {
            return Err(ConfigError::invalid("--channel", "no channel given"));
        }
        let no_key = match &self.trust {
            TrustSpec::Keys(keys) | TrustSpec::ScopedKeys { keys, .. } => keys.is_empty(),
            TrustSpec::Root(_) | TrustSpec::Pinned(_) => false,
        };
        if no_key {
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
