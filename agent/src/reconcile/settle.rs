//! Following the health of what was applied until it settles: while objects are progressing
//! (a Deployment rolling out), their health is read again, each pass and between passes when
//! `run` asks, and the phase, counts and metrics follow at once, healthy (`converged`) or failed
//! (`degraded`, e.g. a progress deadline exceeded), instead of at the next resync. Only the
//! objects not seen healthy are read again (the target keeps what it saw), so nothing extra is
//! sent while everything is healthy.

use cairn_state_format::Phase;

use super::context::Converging;
use super::plan::select;
use super::{Channel, Ctx};

impl Channel {
    /// Whether applied objects are still progressing, so their health is worth reading again.
    pub fn settling(&self) -> bool {
        self.status.phase == Phase::Progressing
            && self.status.counts.progressing > 0
            && self.holding.applied().is_some()
    }

    /// Reads again the health of the objects not yet healthy (when [`Channel::settling`]) and
    /// updates the phase, counts and metrics.
    pub(crate) async fn follow_health(&mut self, ctx: &Ctx) {
        if !self.settling() {
            return;
        }
        let name = self.name.clone();
        self.settle(ctx.converging(&name)).await;
    }

    /// Assesses the applied objects' health again and holds the phase it calls for.
    pub(super) async fn settle(&mut self, at: Converging<'_>) {
        let Some(tree) = self.holding.applied().map(|a| a.tree().clone()) else {
            return;
        };
        let desired = select(tree.entries(), at.labels);
        self.assess(at.target, &desired, true).await;
        let (phase, reason) = self.health_phase();
        self.hold(at.metrics, phase, reason, None);
    }
}
