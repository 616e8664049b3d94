//! What a pass leaves in the channel's status record and metrics: the phase and its reason, the
//! errors (each recorded once), and the health of what was applied. This is the edge where
//! errors become text.

use cairn_state_format::{Phase, Refusal, StatusError, layout};
use chrono::Utc;

use super::phases::{HeadSeen, Holding, Rejection};
use super::{Channel, PassResult, outcome};
use crate::error::Error;
use crate::metrics::Metrics;

/// The agent's name and version, as written to status records.
pub(crate) const AGENT: &str = concat!("cairn-agent ", env!("CARGO_PKG_VERSION"));

impl Channel {
    /// A pass of a channel whose state cannot be read: nothing is applied or pruned until a
    /// person repairs or removes it.
    pub(super) fn broken(&mut self, metrics: &Metrics) -> PassResult {
        let Holding::Broken(e) = &self.holding else {
            return PassResult::Ok;
        };
        let (reason, retry, class, error) =
            (e.to_string(), e.retry(), e.class(), status_error(e, None));
        self.status.phase = Phase::Failed;
        self.status.reason = Some(reason);
        metrics.set_phase(&self.name, phase_name(Phase::Failed));
        metrics.error(&self.name, Some(class));
        self.record_error(&error);
        PassResult::Failed(retry)
    }

    /// The phase the objects' health calls for once everything is applied.
    pub(super) fn health_phase(&self) -> (Phase, Option<String>) {
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
    pub(super) fn hold_error(&self, phase: Phase) -> Option<Error> {
        match (phase, &self.head) {
            (Phase::Frozen, HeadSeen::Refused { refusal, .. }) => Some(match refusal {
                Rejection::Head(refusal) => Error::Refused {
                    channel: self.name.clone(),
                    refusal: refusal.clone(),
                },
                Rejection::Scope(refusal) => Error::OutOfScope {
                    channel: self.name.clone(),
                    refusal: refusal.clone(),
                },
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

    pub(super) fn failed(&mut self, metrics: &Metrics, e: Error) -> PassResult {
        tracing::warn!(error = %e, class = %e.class(), "reconcile failed; serving the previous state");
        self.check_target = true;
        // Never "nothing applied" after writes: a pass that stopped part way says what it did.
        let reason = match &self.status.incomplete {
            Some(incomplete) => outcome::summary(incomplete, &e.to_string()),
            None => e.to_string(),
        };
        self.hold(metrics, Phase::Failed, Some(reason), Some(&e));
        PassResult::Failed(e.retry())
    }

    /// Sets the phase, its reason and the current error class.
    pub(super) fn hold(
        &mut self,
        metrics: &Metrics,
        phase: Phase,
        reason: Option<String>,
        error: Option<&Error>,
    ) {
        if phase == Phase::Converged {
            self.status.unhealthy.clear();
        }
        self.status.phase = phase;
        self.status.reason = reason;
        metrics.set_phase(&self.name, phase_name(phase));
        metrics.error(&self.name, error.map(Error::class));
        if let Some(e) = error {
            self.record_error(&status_error(e, None));
        }
    }

    /// Adds an error to the status record unless it repeats the newest one.
    pub(super) fn record_error(&mut self, error: &StatusError) {
        let repeat = self.status.errors.last().is_some_and(|last| {
            (&last.class, &last.message, &last.object)
                == (&error.class, &error.message, &error.object)
        });
        if !repeat {
            self.status.push_error(error.clone());
        }
    }
}

/// A status record's error entry for `e` (the edge where errors become text).
pub(super) fn status_error(e: &Error, object: Option<String>) -> StatusError {
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
