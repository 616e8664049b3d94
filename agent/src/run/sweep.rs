//! The blob cache's clean-up: every resync period, blobs no channel needs any more go.

use std::collections::HashSet;
use std::sync::Arc;

use tokio::sync::watch;

use super::Ctx;
use super::follower::sleep_or_shutdown;

/// Sweeps the blob cache every resync period until shutdown.
pub(super) async fn sweep_cache_every(ctx: Arc<Ctx>, mut shutdown: watch::Receiver<bool>) {
    while !sleep_or_shutdown(ctx.timing.resync, &mut shutdown).await {
        sweep_cache(&ctx).await;
    }
}

/// Removes cached blobs that no persisted channel, and no snapshot in use in the process, refers
/// to and that are older than a resync period (younger ones may belong to a reconcile in flight).
async fn sweep_cache(ctx: &Ctx) {
    let (reader, state) = (&ctx.reconcile.reader, &ctx.reconcile.state);
    let mut keep: HashSet<_> = reader.shared.trees.blobs().into_iter().collect();
    for name in state.channels().await {
        if let Ok(Some(applied)) = state.load(&name).await {
            keep.extend(applied.entries().values().map(|e| e.blob));
        }
    }
    let removed = reader.cache.sweep(keep, ctx.timing.resync).await;
    if removed > 0 {
        tracing::info!(removed, "removed unused blobs from the cache");
    }
}
