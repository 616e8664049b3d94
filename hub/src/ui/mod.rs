//! The web view of `cairn ui`: a read-only view of a store's fleet, served by the CLI.
//!
//! One task looks at the store every `--refresh` (the same cached status reads as `cairn status`:
//! a listing plus what changed), keeps the newest look in memory and samples each rollout's
//! progress over time; the server renders pages from that look, so any number of people
//! watching costs the store nothing more. Pages are server-rendered HTML (maud escapes every
//! value: status records are unsigned and anyone who can write the bucket can write one), with
//! no script at all and a Content-Security-Policy that allows none. There is no write path.

mod html;
mod pages;
mod refusals;
mod server;
mod state;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use cairn_store::Store;
use tokio::net::TcpListener;

/// How the view looks at the store.
pub struct Looking {
    /// How often it reads the store (what changed), and pages reload themselves.
    pub refresh: Duration,
    /// Agents silent for longer than this are shown as stale.
    pub stale_after: Duration,
    /// Where the status cache lives, if anywhere.
    pub cache_dir: Option<PathBuf>,
}

/// Serves the view of `store` on `listener` until interrupted.
pub async fn serve(store: Store, listener: TcpListener, looking: Looking) {
    let view = Arc::new(state::View::new(
        store,
        looking.refresh,
        looking.stale_after,
    ));
    tokio::select! {
        () = state::keep_looking(Arc::clone(&view), looking.cache_dir) => {}
        () = server::serve(listener, view) => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
