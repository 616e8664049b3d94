//! One channel's reconcile pass, as explicit steps: poll the head, verify it, decide, then fetch,
//! plan, apply and persist (or hold, or tear down). Each pass runs in one tracing span.
//!
//! - [`context`]: what the passes work with ([`Ctx`], built by `run`), and the narrow view
//!   each step takes.
//! - [`phases`]: what a channel knows, as enums of the phases the loop really has;
//!   [`resume`]: a channel resumed from its state.
//! - [`poll`]: steps 1 and 2, the conditional GET of the head and its verification.
//! - [`decide`]: what to do, a pure function of the facts and the clock.
//! - [`converge`], [`plan`], [`execute`]: fetch, plan, apply, persist; [`confine`]: holding
//!   each pass to the channel's scope.
//! - [`status`]: what a pass leaves in the status record and the metrics.
//! - [`standby`]: a channel while another replica leads.
//!
//! It imports the parts it drives (fetch, state, trust, targets, election, metrics) and never
//! the loop that runs it (`run`).

mod confine;
mod context;
mod converge;
mod decide;
mod execute;
mod inspect;
mod outcome;
mod phases;
pub(crate) mod plan;
mod poll;
mod resume;
mod standby;
mod status;

use cairn_state_format::{EntrySet, Phase, Snapshot, StatusRecord};
use chrono::Utc;
use tracing::Instrument;

use context::Converging;
pub(crate) use context::{Ctx, Identity, Reader};
pub use decide::{Decision, Facts, decide};
use phases::{Allowed, HeadSeen, Holding, Role, VerifiedHead};

use crate::error::Retry;

/// How a pass ended, for scheduling the next one.
#[derive(Debug)]
pub enum PassResult {
    /// Nothing failed (converged, waiting, frozen, or just applied).
    Ok,
    /// Something failed; retry as it says.
    Failed(Retry),
    /// Everything the channel applied was removed; a discovered channel stops here.
    TornDown,
}

/// One followed channel and what the agent knows about it.
#[derive(Debug)]
pub struct Channel {
    name: String,
    discovered: bool,
    holding: Holding,
    head: HeadSeen,
    /// What the channel may do on the target (its delegation's scope).
    allowed: Allowed,
    role: Role,
    /// Whether the next pass must look at the target (after a restart, a failure, on resync).
    check_target: bool,
    status: StatusRecord,
}

impl Channel {
    /// The channel's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the channel was found by a pattern.
    pub fn discovered(&self) -> bool {
        self.discovered
    }

    /// The status record as of the last pass.
    pub fn status(&self) -> &StatusRecord {
        &self.status
    }

    /// The verified head newer than what is applied, if any.
    fn pending(&self) -> Option<&VerifiedHead> {
        self.head.pending(self.holding.mark())
    }

    /// One reconcile pass; `resync` also checks the target for drift.
    pub(crate) async fn pass(&mut self, ctx: &Ctx, resync: bool) -> PassResult {
        let span = tracing::info_span!(
            "reconcile",
            channel = %self.name,
            generation = tracing::field::Empty,
            snapshot = tracing::field::Empty,
        );
        let before = ctx.target.requests();
        let result = self.pass_inner(ctx, resync).instrument(span).await;
        if let (Some(before), Some(after)) = (before, ctx.target.requests()) {
            ctx.metrics.api.pass(&self.name, &before, &after);
        }
        result
    }

    async fn pass_inner(&mut self, ctx: &Ctx, resync: bool) -> PassResult {
        if matches!(self.holding, Holding::Broken(_)) {
            return self.broken(&ctx.metrics);
        }
        let resuming = matches!(self.holding, Holding::Resuming(_));
        let polled = self.poll(ctx.polling(), resync).await;
        if resuming {
            // The first poll after a restart went out before the entries were loaded.
            self.finish_loading(&ctx.state, &ctx.metrics).await;
        }
        if let Err(e) = polled {
            tracing::warn!(error = %e, "poll failed; serving the applied state");
            self.hold(&ctx.metrics, Phase::Failed, Some(e.to_string()), Some(&e));
            return PassResult::Failed(e.retry());
        }
        // Loading the entries after the first poll may have found the state damaged.
        if matches!(self.holding, Holding::Broken(_)) {
            return self.broken(&ctx.metrics);
        }
        self.check_target |= resync;
        let decision = self.decide(&ctx.identity.cluster_id);
        let name = self.name.clone();
        self.act(ctx.converging(&name), decision, resync).await
    }

    /// Step 3: what to do, from what the channel knows and the clock.
    fn decide(&self, cluster_id: &str) -> Decision {
        let empty = Snapshot::build(&EntrySet::new()).0.digest();
        let pending = self.pending().map(|p| &p.head);
        let act_on = pending.or(self.head.latest());
        let (refusal, head_missing) = match &self.head {
            HeadSeen::Refused { refusal, .. } => (Some(refusal), false),
            HeadSeen::Missing => (None, true),
            HeadSeen::Unknown | HeadSeen::Verified(_) => (None, false),
        };
        let span = tracing::Span::current();
        if let Some(head) = act_on {
            span.record("generation", head.generation);
            span.record("snapshot", tracing::field::display(head.snapshot));
        }
        decide(&Facts {
            now: Utc::now(),
            channel: &self.name,
            cluster_id,
            discovered: self.discovered,
            head_missing,
            applied: self.holding.generation(),
            latest: self.head.latest(),
            pending,
            refusal,
            empty: act_on.is_some_and(|h| h.snapshot == empty),
        })
    }

    /// Steps 4 to 7: carries a decision out.
    async fn act(&mut self, at: Converging<'_>, decision: Decision, resync: bool) -> PassResult {
        match decision {
            Decision::Apply => match self.apply_pending(at, resync).await {
                Ok(Some(refusal)) => {
                    self.frozen_out_of_scope(at.metrics, &refusal);
                    PassResult::Ok
                }
                Ok(None) => {
                    let (phase, reason) = self.health_phase();
                    self.hold(at.metrics, phase, reason, None);
                    PassResult::Ok
                }
                Err(e) => self.failed(at.metrics, e),
            },
            Decision::Teardown(reason) => match self.teardown(at, &reason).await {
                Ok(()) => PassResult::TornDown,
                Err(e) => self.failed(at.metrics, e),
            },
            Decision::Hold { phase, reason } => {
                let applied = self.holding.applied().is_some();
                if self.check_target
                    && applied
                    && let Err(e) = self.reconcile_applied(at, resync).await
                {
                    return self.failed(at.metrics, e);
                }
                let (phase, reason) = match phase {
                    Phase::Converged if applied => self.health_phase(),
                    _ => (phase, reason),
                };
                let error = self.hold_error(phase);
                self.hold(at.metrics, phase, reason, error.as_ref());
                PassResult::Ok
            }
        }
    }
}
