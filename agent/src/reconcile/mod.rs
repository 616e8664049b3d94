//! One channel's reconcile pass, as explicit steps: poll the head, verify it, decide, then fetch,
//! plan, apply and persist (or hold, or tear down). Each pass runs in one tracing span.
//!
//! - [`phases`]: what a channel knows, as enums of the phases the loop really has.
//! - [`poll`]: steps 1 and 2, the conditional GET of the head and its verification.
//! - [`decide`]: what to do, a pure function of the facts and the clock.
//! - [`converge`], [`plan`], [`execute`]: fetch, plan, apply, persist.

mod converge;
mod decide;
mod execute;
mod outcome;
mod phases;
pub(crate) mod plan;
mod poll;
mod standby;

use cairn_state_format::{
    AppliedRef, EntrySet, Phase, Refusal, SignedHead, Snapshot, StatusError, StatusRecord, layout,
};
use chrono::Utc;
use tracing::Instrument;

pub use decide::{Decision, Facts, decide};
use phases::{HeadSeen, Holding, Role, VerifiedHead};

use crate::error::{Error, Retry};
use crate::run::{AGENT, Ctx};
use crate::state::AppliedHead;

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
    role: Role,
    /// Whether the next pass must look at the target (after a restart, a failure, on resync).
    check_target: bool,
    status: StatusRecord,
}

impl Channel {
    /// Resumes the channel from its state: from the record of the applied head when there is
    /// one (the entries are loaded after the first poll, see [`Channel::finish_loading`]), else
    /// from the whole state.
    pub(crate) async fn load(ctx: &Ctx, name: &str, discovered: bool) -> Channel {
        ctx.resume_trust().await;
        let mut status = StatusRecord::new(&ctx.cluster_id, name, AGENT, ctx.started_at);
        status.labels = ctx.labels.clone();
        let holding = match ctx.state.load_head(name).await {
            Some(resume) => Holding::Resuming(resume),
            None => Channel::loaded(ctx, name).await,
        };
        let head = match &holding {
            Holding::Applied(a) => seen(&a.head(), ctx, name, &mut status),
            Holding::Resuming(a) => seen(a, ctx, name, &mut status),
            Holding::Nothing | Holding::Broken(_) => HeadSeen::Unknown,
        };
        Channel {
            name: name.to_owned(),
            discovered,
            holding,
            head,
            role: Role::Loaded,
            check_target: true,
            status,
        }
    }

    /// The whole state of the channel, loaded and checked.
    async fn loaded(ctx: &Ctx, name: &str) -> Holding {
        match ctx.state.load(name).await {
            Ok(Some(applied)) => Holding::Applied(applied),
            Ok(None) => Holding::Nothing,
            Err(e) => {
                tracing::error!(channel = name, error = %e, "cannot resume channel");
                Holding::Broken(e)
            }
        }
    }

    /// Loads the entries of a channel resumed from its head record: after the first poll, so
    /// that a restart's polls go out on time whatever the loading costs. The whole state is the
    /// truth; the record only told the poll what was applied.
    async fn finish_loading(&mut self, ctx: &Ctx) {
        let Holding::Resuming(resume) = &self.holding else {
            return;
        };
        let resumed = resume.generation;
        self.holding = Channel::loaded(ctx, &self.name).await;
        if self.holding.generation() != Some(resumed) {
            tracing::warn!(
                channel = self.name,
                recorded = resumed,
                loaded = ?self.holding.generation(),
                "the head record and the state differ (a crash between saving them); using the state"
            );
            if let Holding::Applied(a) = &self.holding {
                self.head = seen(&a.head(), ctx, &self.name, &mut self.status);
            }
        }
    }

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
        if matches!(self.holding, Holding::Resuming(_)) {
            // The first poll after a restart goes out before the entries are loaded.
            let polled = self.poll(ctx, resync).await;
            self.finish_loading(ctx).await;
            if let Err(e) = polled {
                tracing::warn!(error = %e, "poll failed; serving the applied state");
                self.hold(ctx, Phase::Failed, Some(e.to_string()), Some(&e));
                return PassResult::Failed(e.retry());
            }
            return self.after_poll(ctx, resync).await;
        }
        if matches!(self.holding, Holding::Broken(_)) {
            return self.broken(ctx);
        }
        if let Err(e) = self.poll(ctx, resync).await {
            tracing::warn!(error = %e, "poll failed; serving the applied state");
            self.hold(ctx, Phase::Failed, Some(e.to_string()), Some(&e));
            return PassResult::Failed(e.retry());
        }
        self.after_poll(ctx, resync).await
    }

    /// A pass of a channel whose state cannot be read: nothing is applied or pruned until a
    /// person repairs or removes it.
    fn broken(&mut self, ctx: &Ctx) -> PassResult {
        let Holding::Broken(e) = &self.holding else {
            return PassResult::Ok;
        };
        let (reason, retry, class, error) =
            (e.to_string(), e.retry(), e.class(), status_error(e, None));
        self.status.phase = Phase::Failed;
        self.status.reason = Some(reason);
        ctx.metrics.set_phase(&self.name, phase_name(Phase::Failed));
        ctx.metrics.error(&self.name, Some(class));
        self.record_error(&error);
        PassResult::Failed(retry)
    }

    /// Steps 3 to 7, once the head is known.
    async fn after_poll(&mut self, ctx: &Ctx, resync: bool) -> PassResult {
        if matches!(self.holding, Holding::Broken(_)) {
            return self.broken(ctx);
        }
        self.check_target |= resync;
        let decision = self.decide(ctx);
        self.act(ctx, decision, resync).await
    }

    /// Step 3: what to do, from what the channel knows and the clock.
    fn decide(&self, ctx: &Ctx) -> Decision {
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
            cluster_id: &ctx.cluster_id,
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
    async fn act(&mut self, ctx: &Ctx, decision: Decision, resync: bool) -> PassResult {
        match decision {
            Decision::Apply => match self.apply_pending(ctx, resync).await {
                Ok(()) => {
                    let (phase, reason) = self.health_phase();
                    self.hold(ctx, phase, reason, None);
                    PassResult::Ok
                }
                Err(e) => self.failed(ctx, e),
            },
            Decision::Teardown(reason) => match self.teardown(ctx, &reason).await {
                Ok(()) => PassResult::TornDown,
                Err(e) => self.failed(ctx, e),
            },
            Decision::Hold { phase, reason } => {
                let applied = self.holding.applied().is_some();
                if self.check_target
                    && applied
                    && let Err(e) = self.reconcile_applied(ctx, resync).await
                {
                    return self.failed(ctx, e);
                }
                let (phase, reason) = match phase {
                    Phase::Converged if applied => self.health_phase(),
                    _ => (phase, reason),
                };
                let error = self.hold_error(phase);
                self.hold(ctx, phase, reason, error.as_ref());
                PassResult::Ok
            }
        }
    }

    /// The phase the objects' health calls for once everything is applied.
    fn health_phase(&self) -> (Phase, Option<String>) {
        let counts = &self.status.counts;
        let first = || self.status.unhealthy.first().cloned().unwrap_or_default();
        if counts.degraded > 0 {
            let reason = format!("{} objects degraded; first: {}", counts.degraded, first());
            (Phase::Degraded, Some(reason))
        } else if counts.progressing > 0 {
            let reason = format!(
                "{} objects progressing; first: {}",
                counts.progressing,
                first()
            );
            (Phase::Progressing, Some(reason))
        } else {
            (Phase::Converged, None)
        }
    }

    /// The error behind a held phase that is not fine: the refusal (or expiry) of a frozen
    /// channel, the missing head of a failed one.
    fn hold_error(&self, phase: Phase) -> Option<Error> {
        match (phase, &self.head) {
            (Phase::Frozen, HeadSeen::Refused { refusal, .. }) => Some(Error::Refused {
                channel: self.name.clone(),
                refusal: refusal.clone(),
            }),
            (Phase::Frozen, _) => {
                let head = self.pending().map(|p| &p.head).or(self.head.latest())?;
                Some(Error::Refused {
                    channel: self.name.clone(),
                    refusal: Refusal::Expired {
                        expires_at: head.expires_at,
                    },
                })
            }
            (Phase::Failed, HeadSeen::Missing) => Some(Error::Missing {
                key: layout::head_key(&self.name),
                referrer: format!("channel {}", self.name),
            }),
            _ => None,
        }
    }

    fn failed(&mut self, ctx: &Ctx, e: Error) -> PassResult {
        tracing::warn!(error = %e, class = %e.class(), "reconcile failed; serving the previous state");
        self.check_target = true;
        // Never "nothing applied" after writes: a pass that stopped part way says what it did.
        let reason = match &self.status.incomplete {
            Some(incomplete) => outcome::summary(incomplete, &e.to_string()),
            None => e.to_string(),
        };
        self.hold(ctx, Phase::Failed, Some(reason), Some(&e));
        PassResult::Failed(e.retry())
    }

    /// Sets the phase, its reason and the current error class.
    fn hold(&mut self, ctx: &Ctx, phase: Phase, reason: Option<String>, error: Option<&Error>) {
        if phase == Phase::Converged {
            self.status.unhealthy.clear();
        }
        self.status.phase = phase;
        self.status.reason = reason;
        ctx.metrics.set_phase(&self.name, phase_name(phase));
        ctx.metrics.error(&self.name, error.map(Error::class));
        if let Some(e) = error {
            self.record_error(&status_error(e, None));
        }
    }

    /// Adds an error to the status record unless it repeats the newest one.
    fn record_error(&mut self, error: &StatusError) {
        let repeat = self.status.errors.last().is_some_and(|last| {
            (&last.class, &last.message, &last.object)
                == (&error.class, &error.message, &error.object)
        });
        if !repeat {
            self.status.push_error(error.clone());
        }
    }
}

/// The head a resumed channel applied, as verified when it was applied: kept for its expiry
/// and retirement times, and its ETag makes the first poll conditional. Fills in the status
/// and the applied-generation metric.
fn seen(applied: &AppliedHead, ctx: &Ctx, name: &str, status: &mut StatusRecord) -> HeadSeen {
    status.applied = Some(AppliedRef {
        generation: applied.generation,
        snapshot: applied.snapshot,
    });
    ctx.metrics.set_generation(name, applied.generation);
    match SignedHead::decode(&applied.head) {
        Ok(signed) => HeadSeen::Verified(VerifiedHead {
            head: signed.head,
            bytes: applied.head.clone(),
            etag: applied.head_etag.clone(),
        }),
        Err(_) => HeadSeen::Unknown,
    }
}

/// A status record's error entry for `e` (the edge where errors become text).
fn status_error(e: &Error, object: Option<String>) -> StatusError {
    StatusError {
        at: Utc::now(),
        class: e.class().as_str().to_owned(),
        message: e.to_string(),
        object,
    }
}

/// The phase as the status record spells it.
pub fn phase_name(phase: Phase) -> &'static str {
    match phase {
        Phase::Pending => "pending",
        Phase::Progressing => "progressing",
        Phase::Converged => "converged",
        Phase::Degraded => "degraded",
        Phase::Failed => "failed",
        Phase::Frozen => "frozen",
        Phase::Waiting => "waiting",
    }
}
