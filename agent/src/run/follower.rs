//! The long-running loop of one channel: while this replica leads, pass, report, sleep (T ±
//! jitter, or backoff), repeat; while another leads, stand by; until shutdown or until a
//! discovered channel is torn down.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::Ctx;
use super::report::Reporter;
use super::schedule::Schedule;
use crate::reconcile::{Channel, PassResult};
use crate::serve::Readiness;

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
/// when its first pass is over: leads while this replica leads, stands by (following what the
/// leader records, never the store) while another does.
pub(crate) async fn follow(
    ctx: Arc<Ctx>,
    mut channel: Channel,
    mut shutdown: watch::Receiver<bool>,
    readiness: Arc<Readiness>,
) -> Ended {
    loop {
        let term = match ctx.reconcile.leader.term() {
            Some(term) => term,
            None => {
                // A replica standing by does its job: it is ready.
                readiness.followed(channel.name());
                match channel.stand_by(&ctx.reconcile, &mut shutdown).await {
                    Some(term) => term,
                    None => return Ended::Shutdown,
                }
            }
        };
        channel.take_over(&ctx.reconcile, term).await;
        let mut leader = Leader {
            ctx: &ctx,
            term,
            readiness: &readiness,
            reporter: Reporter::new(),
        };
        if let Some(ended) = leader.lead(&mut channel, &mut shutdown).await {
            return ended;
        }
        tracing::info!(
            channel = channel.name(),
            term,
            "no longer leading; work in flight was cancelled"
        );
    }
}

/// One channel's loop during one term of leadership.
struct Leader<'a> {
    ctx: &'a Arc<Ctx>,
    term: u64,
    readiness: &'a Readiness,
    reporter: Reporter,
}

impl Leader<'_> {
    /// Passes until shutdown, teardown (`Some`) or the end of the term (`None`): each pass, its
    /// report and the sleep after it are cancelled the moment the term ends.
    ///
    /// Polls are scheduled from the start of the pass before, not from its end: a pass that
    /// takes long (a large change, a busy CPU) does not move this channel's polls later, so a
    /// fleet whose members all applied one change at the same busy moment does not poll in step
    /// afterwards.
    async fn lead(
        &mut self,
        channel: &mut Channel,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Option<Ended> {
        let (ctx, term) = (self.ctx, self.term);
        let mut schedule = Schedule::new(&ctx.timing);
        let mut next_resync = Instant::now() + ctx.timing.resync;
        loop {
            let started = Instant::now();
            let resync = started >= next_resync;
            if resync {
                next_resync = started + ctx.timing.resync;
            }
            let pass = self.pass(channel, resync, &mut schedule, started);
            let delay = tokio::select! {
                delay = pass => match delay {
                    Ok(delay) => delay,
                    Err(ended) => return Some(ended),
                },
                () = ctx.reconcile.leader.deposed(term) => return None,
            };
            tokio::select! {
                stopping = sleep_or_shutdown(delay, shutdown) => if stopping {
                    return Some(Ended::Shutdown);
                },
                () = ctx.reconcile.leader.deposed(term) => return None,
            }
        }
    }

    /// One pass and its report; the delay until the next, or how the follower ended.
    async fn pass(
        &mut self,
        channel: &mut Channel,
        resync: bool,
        schedule: &mut Schedule,
        started: Instant,
    ) -> Result<Duration, Ended> {
        let ctx = self.ctx;
        let result = channel.pass(&ctx.reconcile, resync).await;
        self.readiness.followed(channel.name());
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
                self.reporter.remove(ctx, channel.name()).await;
                tracing::info!(
                    channel = channel.name(),
                    "channel torn down; no longer following it"
                );
                return Err(Ended::TornDown);
            }
            PassResult::TornDown => schedule.success().saturating_sub(started.elapsed()),
        };
        self.reporter.report(ctx, channel.status()).await;
        Ok(delay)
    }
}
