//! A channel while another replica leads, and the moment this one takes over.
//!
//! A standby replica never reads the store. It follows what the leader records in the cluster
//! (the channel's state, by watch: no request per interval), so its metrics show the applied
//! generation and it holds the verified snapshot for a quick takeover. When it leads, it starts
//! from what the leader recorded last: the recorded head's ETag makes the first poll
//! conditional (`304` when nothing was published since), the recorded snapshot is the base of
//! the next delta pack, and an unchanged snapshot is not applied again.

use cairn_state_format::Phase;
use futures::StreamExt;
use tokio::sync::watch;

use super::phases::{Holding, Role};
use super::status::phase_name;
use super::{Channel, Ctx};
use crate::error::Result;
use crate::metrics::Metrics;
use crate::state::StateDir;

const STANDING_BY: &str = "standing by: another replica leads";

impl Channel {
    /// While another replica leads: follows what it records until this replica leads (its
    /// term) or shutdown (`None`). Writes nothing, reads no store.
    pub(crate) async fn stand_by(
        &mut self,
        ctx: &Ctx,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Option<u64> {
        if self.role != Role::Standby {
            tracing::info!(channel = %self.name, "{STANDING_BY}");
        }
        self.role = Role::Standby;
        self.status.phase = Phase::Pending;
        self.status.reason = Some(STANDING_BY.to_owned());
        ctx.metrics
            .set_phase(&self.name, phase_name(Phase::Pending));
        let mut recorded = ctx.state.follow(&self.name);
        loop {
            tokio::select! {
                term = ctx.leader.lead() => return Some(term),
                _ = shutdown.changed() => return None,
                Some(state) = recorded.next() => {
                    self.follow_recorded(&ctx.state, &ctx.metrics, state);
                }
            }
        }
    }

    /// Takes in a state the leader recorded (`None`: it removed it, the channel was torn down).
    fn follow_recorded(
        &mut self,
        state: &StateDir,
        metrics: &Metrics,
        recorded: Result<Option<Vec<u8>>>,
    ) {
        let decoded = recorded.and_then(|bytes| {
            bytes
                .map(|bytes| state.decode_recorded(&self.name, &bytes))
                .transpose()
        });
        match decoded {
            Ok(Some(applied)) => {
                metrics.set_generation(&self.name, applied.head.generation);
                self.status.applied = Some(applied.head.reference());
                self.holding = Holding::Applied(applied);
            }
            Ok(None) => {
                metrics.set_generation(&self.name, 0);
                self.status.applied = None;
                self.holding = Holding::Nothing;
            }
            // The leader's own load finds the damage when it leads; a follower only waits.
            Err(error) => {
                tracing::warn!(channel = %self.name, %error, "cannot follow the recorded state")
            }
        }
    }

    /// Starts leading in `term`. Unless the channel was loaded just now, another replica may
    /// have led since: what it recorded is the truth, and what this process's target remembers
    /// writing in an earlier term is older than that, so it is forgotten.
    pub(crate) async fn take_over(&mut self, ctx: &Ctx, term: u64) {
        match self.role {
            Role::Loaded => {}
            Role::Leading { term: current } if current == term => return,
            Role::Leading { .. } | Role::Standby => {
                tracing::info!(channel = %self.name, term, "leading: starting from the recorded state");
                ctx.target.forget(&self.name);
                *self = Channel::load(ctx, &self.name, self.discovered).await;
            }
        }
        self.role = Role::Leading { term };
    }
}
