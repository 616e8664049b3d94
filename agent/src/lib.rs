//! The cairn agent: polls a channel's small signed head, fetches only what changed (one delta
//! pack, or the changed index nodes and missing blobs), verifies every digest, and reconciles a
//! target to the signed snapshot. It never applies anything that was not signed by a trusted key,
//! never moves to an older generation, and keeps serving what it applied when the store or the
//! head goes bad.
//!
//! ```no_run
//! # async fn demo() -> Result<(), cairn_agent::Error> {
//! use cairn_agent::{Agent, ChannelSpec, Config, StoreLocation, TargetSpec};
//!
//! let key = "cairn-ed25519-public AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".parse()
//!     .map_err(|e| cairn_agent::Error::Config(format!("{e}")))?;
//! let config = Config::new(
//!     StoreLocation::Url("file:///srv/cairn".into()),
//!     vec![ChannelSpec::parse("prod")?],
//!     vec![key],
//!     "cluster-1",
//!     TargetSpec::Dir("/srv/manifests".into()),
//!     "/var/lib/cairn-agent".into(),
//! );
//! let report = Agent::new(config)?.run_once().await;
//! std::process::exit(report.outcome.exit_code());
//! # }
//! ```
//!
//! Several agents may run in one process (the fleet load tester does): each [`Agent`] has its own
//! metrics registry, state and target; nothing is global. Agents built with
//! [`Agent::with_shared`] and one [`Shared`] also share what is content-addressed (verified
//! snapshots, delta packs already checked, blobs in memory, optionally the blob directory) and
//! their HTTP clients.

mod agent;
mod backoff;
mod blobs;
mod cache;
pub mod cli;
mod config;
mod context;
mod discover;
mod error;
mod fetch;
mod follower;
mod fsutil;
mod journal;
mod metrics;
mod plan;
mod reconcile;
mod remote;
mod report;
mod server;
mod shared;
mod source;
mod state;
pub mod target;
mod tree;

use std::future::Future;

pub use agent::{Agent, OnceReport, Outcome};
pub use config::{ChannelSpec, Config, StoreLocation, TargetSpec, Timing, validate_cluster_id};
pub use error::{Error, ErrorClass, Result};
pub use metrics::{Metrics, RequestKind};
pub use shared::Shared;
pub use source::{Conditional, HttpSource, ObjectSource, Source};
pub use state::{Applied, StateBackend};

/// Runs an agent until `shutdown` completes (see [`Agent::run`]).
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> Result<()> {
    Agent::new(config)?.run(shutdown).await
}

/// One reconcile pass over every channel (see [`Agent::run_once`]).
pub async fn run_once(config: Config) -> Result<OnceReport> {
    Ok(Agent::new(config)?.run_once().await)
}
