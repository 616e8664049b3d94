//! The long-running loop of one channel: pass, report, sleep (T ± jitter, or backoff), repeat,
//! until shutdown or until a discovered channel is torn down.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::watch;

use super::Ctx;
use super::readiness::Readiness;
use super::report::Reporter;
use super::schedule::Schedule;
use crate::reconcile::{Channel, PassResult};

/// Why a follower stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    /// The agent is shutting down.
    Shutdown,
    /// The channel was torn down and is no longer followed.
    TornDown,
}

/// Sleeps for `delay` unless shutdown comes first; returns whether shutdown came.
pub(crate) async fn sleep_or_shutdown(
    delay: std::time::Duration,
    shutdown: &mut watch::Receiver<bool>,
) -> bool {
    if *shutdown.borrow() {
        return true;
    }
    tokio::select! {
        () = tokio::time::sleep(delay) => *shutdown.borrow(),
        _ = shutdown.changed() => true,
    }
}

/// Waits the first poll's random offset in [0, T) (when the timing asks for one), so a fleet
/// restart is not a herd; returns whether shutdown came first.
pub(crate) async fn first_offset(ctx: &Ctx, shutdown: &mut watch::Receiver<bool>) -> bool {
    ctx.timing.first_poll_offset
        && sleep_or_shutdown(Schedule::new(&ctx.timing).first_offset(), shutdown).await
}

/// Follows one channel (whose first offset, if any, was waited already), telling `readiness`
/// when its first pass is over.
///
/// Polls are scheduled from the start of the pass before, not from its end: a pass that takes
/// long (a large change, a busy CPU) does not move this channel's polls later, so a fleet whose
/// members all applied one change at the same busy moment does not poll in step afterwards.
pub(crate) async fn follow(
    ctx: Arc<Ctx>,
    mut channel: Channel,
    mut shutdown: watch::Receiver<bool>,
    readiness: Arc<Readiness>,
) -> Ended {
    let mut schedule = Schedule::new(&ctx.timing);
    let mut reporter = Reporter::new();
    let mut next_resync = Instant::now() + ctx.timing.resync;
    loop {
        let started = Instant::now();
        let resync = started >= next_resync;
        if resync {
            next_resync = started + ctx.timing.resync;
        }
        let result = channel.pass(&ctx, resync).await;
        readiness.followed(channel.name());
        let delay = match result {
            PassResult::Ok => schedule.success().saturating_sub(started.elapsed()),
            PassResult::Failed(retry) => {
                let delay = schedule.failure(retry);
                tracing::debug!(
                    channel = channel.name(),
                    ?delay,
                    ?retry,
                    failures = schedule.failures(),
                    "backing off"
                );
                delay
            }
            PassResult::TornDown if channel.discovered() => {
                reporter.remove(&ctx, channel.name()).await;
                tracing::info!(
                    channel = channel.name(),
                    "channel torn down; no longer following it"
                );
                return Ended::TornDown;
            }
            PassResult::TornDown => schedule.success().saturating_sub(started.elapsed()),
        };
        // Followers of a leader election keep quiet: the leader reports for the cluster.
        if ctx.leads() {
            reporter.report(&ctx, channel.status()).await;
        }
        if sleep_or_shutdown(delay, &mut shutdown).await {
            return Ended::Shutdown;
        }
    }
}
