//! How the agent talks to a cluster (`--target kube`): the Kubernetes target's tunables, with
//! documented defaults.

use std::path::PathBuf;
use std::time::Duration;

use super::{DriftPolicy, Election};
use crate::error::{ConfigError, UnexpectedValue};

/// What happens to an object's dependents when cairn prunes it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Propagation {
    /// The garbage collector removes dependents after the owner is gone (the default).
    #[default]
    Background,
    /// The owner is removed only after its dependents.
    Foreground,
    /// Dependents are left behind.
    Orphan,
}

impl Propagation {
    /// Parses `background`, `foreground` or `orphan`.
    pub fn parse(text: &str) -> Result<Propagation, UnexpectedValue> {
        match text.to_ascii_lowercase().as_str() {
            "background" => Ok(Propagation::Background),
            "foreground" => Ok(Propagation::Foreground),
            "orphan" => Ok(Propagation::Orphan),
            _ => Err(UnexpectedValue::new(
                text,
                "background, foreground or orphan",
            )),
        }
    }
}

/// Default sustained requests per second: kubectl's (client-go's library default, 5, would take
/// minutes over a large first apply).
pub const DEFAULT_QPS: f64 = 50.0;
/// Default burst: kubectl's.
pub const DEFAULT_BURST: u32 = 300;

/// How the agent talks to a cluster. Every default is the production value.
#[derive(Clone, Debug, PartialEq)]
pub struct KubeOptions {
    /// A kubeconfig file; `None` infers (in-cluster service account, else `KUBECONFIG` or
    /// `~/.kube/config`).
    pub kubeconfig: Option<PathBuf>,
    /// The agent's own namespace: its state ConfigMaps and Lease live here (default
    /// `cairn-system`).
    pub namespace: String,
    /// Server-side apply field manager (default `cairn`).
    pub field_manager: String,
    /// Take over fields other managers own on conflicts (default true, as GitOps expects).
    pub force_conflicts: bool,
    /// Take over existing objects that cairn did not create (default false: they are refused).
    pub adopt: bool,
    /// Deletion propagation for pruned objects (default background).
    pub propagation: Propagation,
    /// Requests in flight at once (default 8).
    pub concurrency: usize,
    /// Sustained requests per second to the API server (default 50, kubectl's since Kubernetes
    /// 1.27; client-go's library default is 5).
    pub qps: f64,
    /// Requests allowed in a burst above the sustained rate (default 300, kubectl's; client-go's
    /// library default is 10).
    pub burst: u32,
    /// How long to wait for a CustomResourceDefinition to be Established (default 60 s).
    pub crd_timeout: Duration,
    /// Leader election; `None` means this agent always leads (one replica).
    pub election: Option<Election>,
    /// What to do about drift, per channel (default: correct it); an object's
    /// `cairn.dev/drift` annotation overrides it.
    pub drift: DriftPolicy,
}

impl Default for KubeOptions {
    fn default() -> Self {
        KubeOptions {
            kubeconfig: None,
            namespace: "cairn-system".to_owned(),
            field_manager: "cairn".to_owned(),
            force_conflicts: true,
            adopt: false,
            propagation: Propagation::Background,
            concurrency: 8,
            qps: DEFAULT_QPS,
            burst: DEFAULT_BURST,
            crd_timeout: Duration::from_secs(60),
            election: None,
            drift: DriftPolicy::default(),
        }
    }
}

impl KubeOptions {
    /// Checks what can be checked before connecting.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.concurrency == 0 {
            return Err(ConfigError::invalid(
                "--kube-concurrency",
                "must be at least 1",
            ));
        }
        if !(self.qps >= 0.0 && self.qps.is_finite()) {
            return Err(ConfigError::invalid(
                "--kube-qps",
                "must be 0 (no limit) or more",
            ));
        }
        if self.namespace.is_empty() {
            return Err(ConfigError::invalid(
                "--agent-namespace",
                "must not be empty",
            ));
        }
        if self.field_manager.is_empty() {
            return Err(ConfigError::invalid("--field-manager", "must not be empty"));
        }
        if let Some(election) = &self.election {
            election.validate()?;
        }
        if let Some(path) = &self.kubeconfig
            && !path.is_file()
        {
            return Err(ConfigError::invalid(
                "--kubeconfig",
                format!("{}: no such file", path.display()),
            ));
        }
        Ok(())
    }
}
