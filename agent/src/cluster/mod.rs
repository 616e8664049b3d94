//! The connection to the Kubernetes API server, shared by everything that talks to it: the
//! Kubernetes target and its in-cluster state (the state ConfigMaps), and the leader election.
//! It sits below them all and knows none of them.
//!
//! One client per agent, made on first use (so opening needs no network), with the QPS/burst
//! limit as a layer under it ([`limit`]): no request can bypass it. Beside it, every request is
//! counted by verb ([`count`]).
//!
//! A channel whose scope names a ServiceAccount talks through a client impersonating it
//! ([`Cluster::client_as`]): one per account, made from the same configuration on first use,
//! under the same limit and counts (impersonation is a header, not another connection's budget).

mod count;
mod limit;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use kube::Client;
use kube::client::ClientBuilder;
use tokio::sync::OnceCell;

pub use count::{RequestCounts, Tally};
pub use limit::RateLimitLayer;

use count::CountLayer;

use crate::error::ConfigError;

/// Where the client's configuration comes from.
enum Source {
    /// A kubeconfig file, or inference (in-cluster service account, `KUBECONFIG`,
    /// `~/.kube/config`).
    Kubeconfig(Option<PathBuf>),
    /// A configuration the caller made (tests point one at a fake API server).
    Config(Box<kube::Config>),
}

/// One agent's connection to its cluster.
pub struct Cluster {
    source: Source,
    limit: RateLimitLayer,
    counts: Arc<RequestCounts>,
    client: OnceCell<Client>,
    /// The impersonating clients, by user name.
    impersonating: Mutex<HashMap<String, Client>>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let source = match &self.source {
            Source::Kubeconfig(path) => format!("kubeconfig {path:?}"),
            Source::Config(config) => format!("{}", config.cluster_url),
        };
        f.debug_struct("Cluster")
            .field("source", &source)
            .field("connected", &self.client.initialized())
            .finish()
    }
}

impl Cluster {
    /// A connection through `kubeconfig` (or by inference when `None`), limited to `qps`
    /// sustained requests per second with bursts of `burst` (a `qps` of 0: no limit).
    pub fn new(kubeconfig: Option<PathBuf>, qps: f64, burst: u32) -> Cluster {
        Cluster {
            source: Source::Kubeconfig(kubeconfig),
            limit: RateLimitLayer::new(qps, burst),
            counts: Arc::default(),
            client: OnceCell::new(),
            impersonating: Mutex::default(),
        }
    }

    /// A connection from a configuration the caller made, with the same limit.
    pub fn with_config(config: kube::Config, qps: f64, burst: u32) -> Cluster {
        Cluster {
            source: Source::Config(Box::new(config)),
            limit: RateLimitLayer::new(qps, burst),
            counts: Arc::default(),
            client: OnceCell::new(),
            impersonating: Mutex::default(),
        }
    }

    /// The client, connecting on first use.
    pub async fn client(&self) -> Result<Client, ConfigError> {
        self.client
            .get_or_try_init(|| async {
                let config = self.config().await?;
                self.build(config)
            })
            .await
            .cloned()
    }

    /// A client sending every request as `user` (`Impersonate-User`), made on first use and
    /// kept.
    pub async fn client_as(&self, user: &str) -> Result<Client, ConfigError> {
        let cached = |this: &Self| {
            let clients = this.impersonating.lock().unwrap_or_else(|p| p.into_inner());
            clients.get(user).cloned()
        };
        if let Some(client) = cached(self) {
            return Ok(client);
        }
        let mut config = self.config().await?;
        config.auth_info.impersonate = Some(user.to_owned());
        let client = self.build(config)?;
        let mut clients = self.impersonating.lock().unwrap_or_else(|p| p.into_inner());
        Ok(clients.entry(user.to_owned()).or_insert(client).clone())
    }

    fn build(&self, config: kube::Config) -> Result<Client, ConfigError> {
        let builder = ClientBuilder::try_from(config).map_err(ConfigError::KubeClient)?;
        let counted = CountLayer(self.counts.clone());
        Ok(builder.with_layer(&self.limit).with_layer(&counted).build())
    }

    /// The requests sent so far, by verb.
    pub fn requests(&self) -> Tally {
        self.counts.tally()
    }

    async fn config(&self) -> Result<kube::Config, ConfigError> {
        match &self.source {
            Source::Config(config) => Ok((**config).clone()),
            Source::Kubeconfig(Some(path)) => {
                let kubeconfig = |source| ConfigError::Kubeconfig {
                    path: path.clone(),
                    source,
                };
                let file = kube::config::Kubeconfig::read_from(path).map_err(kubeconfig)?;
                kube::Config::from_custom_kubeconfig(file, &Default::default())
                    .await
                    .map_err(kubeconfig)
            }
            Source::Kubeconfig(None) => kube::Config::infer().await.map_err(ConfigError::NoCluster),
        }
    }
}
