//! Channel patterns: list the store's channels at the poll interval and have the new ones that
//! match followed; torn-down ones are let go, and not picked up again for a resync period.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};

use super::Ctx;
use super::follower::sleep_or_shutdown;
use super::schedule::Schedule;
use crate::config::ChannelSpec;

/// Channels a pattern picks up: those listed, and those with persisted state (which may have
/// been torn down while the agent was away and must be pruned), minus the ones named outright.
pub(crate) fn matching(
    patterns: &[ChannelSpec],
    named: &HashSet<String>,
    candidates: impl IntoIterator<Item = String>,
) -> Vec<String> {
    let mut out: Vec<String> = candidates
        .into_iter()
        .filter(|c| !named.contains(c) && patterns.iter().any(|p| p.matches(c)))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Which discovered channels are followed, and which were torn down recently.
#[derive(Debug, Default)]
pub(crate) struct Membership {
    inner: Mutex<(HashSet<String>, HashMap<String, Instant>)>,
}

impl Membership {
    /// Marks `channel` followed, unless it is already, or was torn down within `quiet`.
    /// Returns whether it should be started now.
    pub fn claim(&self, channel: &str, quiet: Duration) -> bool {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let (following, retired) = &mut *inner;
        retired.retain(|_, at| at.elapsed() < quiet);
        if following.contains(channel) || retired.contains_key(channel) {
            return false;
        }
        following.insert(channel.to_owned());
        true
    }

    /// `channel` was torn down: no longer followed.
    pub fn retire(&self, channel: &str) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.0.remove(channel);
        inner.1.insert(channel.to_owned(), Instant::now());
    }
}

/// Runs discovery until shutdown: every channel to start is sent on `start` (the supervisor
/// follows it).
pub(crate) async fn discover(
    ctx: Arc<Ctx>,
    patterns: Vec<ChannelSpec>,
    named: HashSet<String>,
    membership: Arc<Membership>,
    start: mpsc::UnboundedSender<String>,
    mut shutdown: watch::Receiver<bool>,
) {
    let quiet = ctx.timing.resync;
    let mut schedule = Schedule::new(&ctx.timing);
    let offer = |names: Vec<String>| {
        for name in matching(&patterns, &named, names) {
            if membership.claim(&name, quiet) {
                tracing::info!(channel = %name, "following channel");
                // The supervisor outlives discovery: a send fails only during shutdown.
                let _ = start.send(name);
            }
        }
    };
    offer(ctx.reconcile.state.channels().await);
    if ctx.timing.first_poll_offset
        && sleep_or_shutdown(schedule.first_offset(), &mut shutdown).await
    {
        return;
    }
    loop {
        // Only the leader reads the store; a replica standing by waits for its turn.
        if !ctx.reconcile.leads() {
            tokio::select! {
                _ = ctx.reconcile.leader.lead() => {}
                _ = shutdown.changed() => return,
            }
        }
        let delay = match ctx.reconcile.reader.remote.list_channels().await {
            Ok(names) => {
                offer(names);
                schedule.success()
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot list channels");
                schedule.failure(e.retry())
            }
        };
        if sleep_or_shutdown(delay, &mut shutdown).await {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_pick_matching_channels_except_named_ones() {
        let patterns = [ChannelSpec::parse("pr-*").unwrap()];
        let named = HashSet::from(["pr-1".to_owned()]);
        let got = matching(
            &patterns,
            &named,
            ["pr-2", "prod", "pr-1", "pr-2"].map(String::from),
        );
        assert_eq!(got, ["pr-2"]);
    }

    #[test]
    fn torn_down_channels_stay_away_for_a_while() {
        let membership = Membership::default();
        let quiet = Duration::from_secs(60);
        assert!(membership.claim("pr-1", quiet));
        assert!(!membership.claim("pr-1", quiet), "already followed");
        membership.retire("pr-1");
        assert!(!membership.claim("pr-1", quiet), "torn down recently");
        assert!(membership.claim("pr-1", Duration::ZERO));
    }
}
