//! Why a configuration cannot work: the errors that stop an agent before it starts.

use std::net::SocketAddr;
use std::path::PathBuf;

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

/// A flag's value that is none of those expected (clap names the flag).
#[derive(Debug, thiserror::Error)]
#[error("{value:?}: expected {expected}")]
pub struct UnexpectedValue {
    /// The value given.
    pub value: String,
    /// What would be right.
    pub expected: &'static str,
}

impl UnexpectedValue {
    /// `value`, which is not `expected`.
    pub fn new(value: &str, expected: &'static str) -> UnexpectedValue {
        UnexpectedValue {
            value: value.to_owned(),
            expected,
        }
    }
}
