//! `cairn ui`: a read-only web view of a store's fleet, served by the CLI.
//!
//! One task looks at the store every `--refresh` (the same cached status reads as `cairn status`:
//! a listing plus what changed), keeps the newest look in memory and samples each rollout's
//! progress over time; the server renders pages from that look, so any number of people
//! watching costs the store nothing more. Pages are server-rendered HTML (maud escapes every
//! value: status records are unsigned and anyone who can write the bucket can write one), with
//! no script at all and a Content-Security-Policy that allows none. There is no write path.

use cairn_env_vars::EnvVars;
mod html;
mod pages;
mod server;
mod state;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use super::common::open_store;
use super::status::StatusReadArgs;
use crate::cli::StoreArgs;
use crate::error::{Error, Result};

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
    let view = Arc::new(state::View::new(store, args.refresh, args.stale_after));
    eprintln!(
        "cairn ui: serving {} on http://{} (read-only; Ctrl-C to stop)",
        view.store.url(),
        listener.local_addr().unwrap_or(args.addr)
    );
    tokio::select! {
        () = state::keep_looking(Arc::clone(&view), args.reads.dir()) => Ok(()),
        () = server::serve(listener, view) => Ok(()),
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}
