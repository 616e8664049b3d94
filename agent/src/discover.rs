//! Channel patterns: list the store's channels at the poll interval, follow the new ones that
//! match, and let torn-down ones go.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::backoff::Schedule;
use crate::config::ChannelSpec;
use crate::context::Ctx;
use crate::follower::{Ended, first_offset, follow, sleep_or_shutdown};
use crate::reconcile::Channel;

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

/// Runs discovery until shutdown, then waits for its followers.
pub(crate) async fn discover(
    ctx: Arc<Ctx>,
    patterns: Vec<ChannelSpec>,
    named: HashSet<String>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut followers: JoinSet<(String, Ended)> = JoinSet::new();
    let mut following: HashSet<String> = HashSet::new();
    let mut retired: HashMap<String, Instant> = HashMap::new();
    let mut schedule = Schedule::new(&ctx.timing);

    let for_followers = shutdown.clone();
    let start = |name: String,
                 followers: &mut JoinSet<(String, Ended)>,
                 following: &mut HashSet<String>| {
        tracing::info!(channel = %name, "following channel");
        following.insert(name.clone());
        let (ctx, mut shutdown) = (ctx.clone(), for_followers.clone());
        followers.spawn(async move {
            if first_offset(&ctx, &mut shutdown).await {
                return (name, Ended::Shutdown);
            }
            let channel = Channel::load(&ctx, &name, true).await;
            (name, follow(ctx, channel, shutdown, None).await)
        });
    };

    for name in matching(&patterns, &named, ctx.state.channels().await) {
        start(name, &mut followers, &mut following);
    }
    if ctx.timing.first_poll_offset
        && sleep_or_shutdown(schedule.first_offset(), &mut shutdown).await
    {
        followers.join_all().await;
        return;
    }
    loop {
        while let Some(done) = followers.try_join_next() {
            if let Ok((name, ended)) = done {
                following.remove(&name);
                if ended == Ended::TornDown {
                    retired.insert(name, Instant::now());
                }
            }
        }
        retired.retain(|_, at| at.elapsed() < ctx.timing.resync);
        let delay = match ctx.remote.list_channels().await {
            Ok(names) => {
                let fresh = names
                    .into_iter()
                    .filter(|n| !following.contains(n) && !retired.contains_key(n));
                for name in matching(&patterns, &named, fresh) {
                    start(name, &mut followers, &mut following);
                }
                schedule.success()
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot list channels");
                schedule.failure(e.retry_after())
            }
        };
        if sleep_or_shutdown(delay, &mut shutdown).await {
            break;
        }
    }
    followers.join_all().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_pick_matching_channels_except_named_ones() {
        let patterns = [ChannelSpec::Pattern("pr-*".into())];
        let named = HashSet::from(["pr-1".to_owned()]);
        let got = matching(
            &patterns,
            &named,
            ["pr-2", "prod", "pr-1", "pr-2"].map(String::from),
        );
        assert_eq!(got, ["pr-2"]);
    }
}
