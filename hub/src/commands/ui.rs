//! `cairn ui`: a read-only web view of a store's fleet, served by the CLI (see [`crate::ui`]).

use std::net::SocketAddr;
use std::time::Duration;

use cairn_env_vars::EnvVars;
use clap::Args;

use super::args::{StatusReadArgs, StoreArgs};
use super::common::open_store;
use crate::error::{Error, Result};
use crate::ui::{self, Looking};

/// Serve a read-only web view of the store's fleet.
#[derive(Args, Debug, Clone)]
#[command(
    after_help = "Pages: channels with clusters per generation; a channel's rollout steps, cohorts, gates and progress \
over time; clusters by phase with their problems, stale and drifted clusters (search by id or label, paginated); \
history with diffs between generations; flags with owner and age.\n\nExample:\n  cairn ui --store s3://bucket/cairn   # then open http://127.0.0.1:8080"
)]
pub struct UiArgs {
    /// Store options.
    #[command(flatten)]
    pub store: StoreArgs,

    /// Address to serve on. The view has no login: keep it on loopback (the default), or put it
    /// behind something that authenticates.
    #[arg(long, env = EnvVars::CAIRN_UI_ADDR, default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,

    /// How often the view reads the store (what changed) and pages reload themselves.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub refresh: Duration,

    /// Agents silent for longer than this are shown as stale.
    #[arg(long, default_value = "15m", value_parser = humantime::parse_duration)]
    pub stale_after: Duration,

    /// Status cache options.
    #[command(flatten)]
    pub reads: StatusReadArgs,
}

/// Serves the view until interrupted.
pub async fn run(args: UiArgs) -> Result<()> {
    if args.refresh < Duration::from_secs(1) {
        return Err(Error::Usage("--refresh must be at least 1s".into()));
    }
    let store = open_store(&args.store)?;
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .map_err(Error::io(format!("cannot listen on {}", args.addr)))?;
    if !args.addr.ip().is_loopback() {
        tracing::warn!(addr = %args.addr, "serving the fleet view beyond loopback: it has no login");
    }
    eprintln!(
        "cairn ui: serving {} on http://{} (read-only; Ctrl-C to stop)",
        store.url(),
        listener.local_addr().unwrap_or(args.addr)
    );
    let looking = Looking {
        refresh: args.refresh,
        stale_after: args.stale_after,
        cache_dir: args.reads.dir(),
    };
    ui::serve(store, listener, looking).await;
    Ok(())
}
