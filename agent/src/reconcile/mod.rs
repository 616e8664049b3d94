//! One channel's reconcile pass, as explicit steps: poll the head, verify it, decide, then fetch,
//! plan, apply and persist (or hold, or tear down). Each pass runs in one tracing span.

mod converge;
mod decide;
mod execute;
mod poll;

use bytes::Bytes;
use cairn_state_format::{
    EntrySet, Head, Phase, Refusal, SignedHead, Snapshot, StatusError, StatusRecord, layout,
};
use chrono::Utc;
use tracing::Instrument;

pub use decide::{Decision, Facts, decide};

use crate::context::{AGENT, Ctx};
use crate::error::Error;
use crate::fetch::fetch_entries;
use crate::plan::select;
use crate::state::Applied;

/// A verified head newer than what is applied.
#[derive(Clone, Debug)]
struct Pending {
    head: Head,
    bytes: Bytes,
    etag: Option<String>,
}

/// How a pass ended, for scheduling the next one.
#[derive(Debug)]
pub enum PassResult {
    /// Nothing failed (converged, waiting, frozen, or just applied).
    Ok,
    /// Something failed; retry with backoff.
    Failed(Error),
    /// Everything the channel applied was removed; a discovered channel stops here.
    TornDown,
}

/// One followed channel and what the agent knows about it.
#[derive(Debug)]
pub struct Channel {
    name: String,
    discovered: bool,
    applied: Option<Applied>,
    broken: Option<String>,
    head_etag: Option<String>,
    head_missing: bool,
    latest: Option<Head>,
    pending: Option<Pending>,
    refusal: Option<Refusal>,
    check_target: bool,
    /// Whether the last pass stood by (another replica leads): state is reloaded on promotion.
    standby: bool,
    /// The snapshot whose blobs a standby pass already fetched.
    warmed: Option<cairn_state_format::Digest>,
    status: StatusRecord,
}

impl Channel {
    /// Loads what the channel applied before (if anything) from the state dir.
    pub(crate) async fn load(ctx: &Ctx, name: &str, discovered: bool) -> Channel {
        let mut status = StatusRecord::new(&ctx.cluster_id, name, AGENT, ctx.started_at);
        status.labels = ctx.labels.clone();
        let mut channel = Channel {
            name: name.to_owned(),
            discovered,
            applied: None,
            broken: None,
            head_etag: None,
            head_missing: false,
            latest: None,
            pending: None,
            refusal: None,
            check_target: true,
            standby: false,
            warmed: None,
            status,
        };
        match ctx.state.load(name).await {
            Ok(Some(applied)) => {
                // The head was verified when it was applied; it is kept for its expiry and
                // retirement times, and its ETag makes the first poll conditional.
                channel.latest = SignedHead::decode(&applied.head).ok().map(|s| s.head);
                channel.head_etag = applied
                    .head_etag
                    .clone()
                    .filter(|_| channel.latest.is_some());
                channel.status.applied = Some(cairn_state_format::AppliedRef {
                    generation: applied.generation,
                    snapshot: applied.snapshot,
                });
                ctx.metrics.set_generation(name, applied.generation);
                channel.applied = Some(applied);
            }
            Ok(None) => {}
            Err(e) => {
                tracing::error!(channel = name, error = %e, "cannot resume channel");
                channel.broken = Some(e.to_string());
            }
        }
        channel
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

    /// One reconcile pass; `resync` also checks the target for drift.
    pub(crate) async fn pass(&mut self, ctx: &Ctx, resync: bool) -> PassResult {
        let span = tracing::info_span!(
            "reconcile",
            channel = %self.name,
            generation = tracing::field::Empty,
            snapshot = tracing::field::Empty,
        );
        self.pass_inner(ctx, resync).instrument(span).await
    }

    async fn pass_inner(&mut self, ctx: &Ctx, resync: bool) -> PassResult {
        if !ctx.leads() {
            return self.stand_by(ctx).await;
        }
        if self.standby {
            // Another replica led until now: what it applied is the truth.
            tracing::info!("leading now: reloading the applied state");
            *self = Channel::load(ctx, &self.name, self.discovered).await;
        }
        if let Some(message) = &self.broken {
            let e = Error::state(ctx.state.locate(&self.name), message);
            self.hold(ctx, Phase::Failed, Some(e.to_string()), Some(&e));
            return PassResult::Failed(e);
        }
        if let Err(e) = self.poll(ctx).await {
            tracing::warn!(error = %e, "poll failed; serving the applied state");
            self.hold(ctx, Phase::Failed, Some(e.to_string()), Some(&e));
            return PassResult::Failed(e);
        }
        self.check_target |= resync;
        let empty = Snapshot::build(&EntrySet::new()).0.digest();
        let act_on = self
            .pending
            .as_ref()
            .map(|p| &p.head)
            .or(self.latest.as_ref());
        let facts = Facts {
            now: Utc::now(),
            channel: &self.name,
            cluster_id: &ctx.cluster_id,
            discovered: self.discovered,
            head_missing: self.head_missing,
            applied: self.applied.as_ref().map(|a| a.generation),
            latest: self.latest.as_ref(),
            pending: self.pending.as_ref().map(|p| &p.head),
            refusal: self.refusal.as_ref(),
            empty: act_on.is_some_and(|h| h.snapshot == empty),
        };
        let decision = decide(&facts);
        let span = tracing::Span::current();
        if let Some(head) = act_on {
            span.record("generation", head.generation);
            span.record("snapshot", tracing::field::display(head.snapshot));
        }
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
                if self.check_target
                    && self.applied.is_some()
                    && let Err(e) = self.reconcile_applied(ctx, resync).await
                {
                    return self.failed(ctx, e);
                }
                let (phase, reason) = match phase {
                    Phase::Converged if self.applied.is_some() => self.health_phase(),
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

    /// A pass while another replica leads: poll and verify, and fetch what a new head needs so
    /// the cache is warm for a takeover; write nothing.
    async fn stand_by(&mut self, ctx: &Ctx) -> PassResult {
        self.standby = true;
        if let Err(e) = self.poll(ctx).await {
            return PassResult::Failed(e);
        }
        if let Some(pending) = self.pending.clone()
            && self.warmed != Some(pending.head.snapshot)
        {
            let base = self.applied.as_ref().map(Applied::tree);
            let warmed = async {
                let fetched =
                    fetch_entries(ctx.fetcher(&self.name), base, &pending.head.snapshot).await?;
                let blobs = select(fetched.tree.entries(), &ctx.labels)
                    .values()
                    .map(|e| e.blob)
                    .collect::<Vec<_>>();
                crate::blobs::prefetch(&ctx.remote, &ctx.cache, &self.name, blobs).await
            };
            if let Err(e) = warmed.await {
                return PassResult::Failed(e);
            }
            self.warmed = Some(pending.head.snapshot);
        }
        self.status.phase = Phase::Pending;
        self.status.reason = Some("standing by: another replica leads".to_owned());
        PassResult::Ok
    }

    /// The error behind a held phase that is not fine: the refusal (or expiry) of a frozen
    /// channel, the missing head of a failed one.
    fn hold_error(&self, phase: Phase) -> Option<Error> {
        match phase {
            Phase::Frozen => {
                let head = self
                    .pending
                    .as_ref()
                    .map(|p| &p.head)
                    .or(self.latest.as_ref());
                let refusal = self.refusal.clone().or_else(|| {
                    head.map(|h| Refusal::Expired {
                        expires_at: h.expires_at,
                    })
                })?;
                Some(Error::Refused {
                    channel: self.name.clone(),
                    refusal,
                })
            }
            Phase::Failed if self.head_missing => Some(Error::Missing {
                key: layout::head_key(&self.name),
                referrer: format!("channel {}", self.name),
            }),
            _ => None,
        }
    }

    fn failed(&mut self, ctx: &Ctx, e: Error) -> PassResult {
        tracing::warn!(error = %e, class = %e.class(), "reconcile failed; serving the previous state");
        self.check_target = true;
        self.hold(ctx, Phase::Failed, Some(e.to_string()), Some(&e));
        PassResult::Failed(e)
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
            self.record_error(ctx, e, None);
        }
    }

    /// Adds an error to the status record unless it repeats the newest one.
    fn record_error(&mut self, _ctx: &Ctx, e: &Error, object: Option<String>) {
        let class = e.class().as_str().to_owned();
        let message = e.to_string();
        let repeat = self.status.errors.last().is_some_and(|last| {
            last.class == class && last.message == message && last.object == object
        });
        if !repeat {
            self.status.push_error(StatusError {
                at: Utc::now(),
                class,
                message,
                object,
            });
        }
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
