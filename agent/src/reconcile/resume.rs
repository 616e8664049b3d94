//! Resuming a channel from its state: from the record of the applied head when there is one
//! (the entries are loaded after the first poll), else from the whole state.

use cairn_state_format::{SignedHead, StatusRecord};

use super::phases::{Allowed, HeadSeen, Holding, Role, VerifiedHead};
use super::status::AGENT;
use super::{Channel, Ctx};
use crate::metrics::Metrics;
use crate::state::{AppliedHead, StateDir};

impl Channel {
    /// Resumes the channel from its state: from the record of the applied head when there is
    /// one (the entries are loaded after the first poll, see [`Channel::finish_loading`]), else
    /// from the whole state.
    pub(crate) async fn load(ctx: &Ctx, name: &str, discovered: bool) -> Channel {
        ctx.resume_trust().await;
        let identity = &ctx.identity;
        let mut status = StatusRecord::new(&identity.cluster_id, name, AGENT, identity.started_at);
        status.labels = identity.labels.clone();
        let holding = match ctx.state.load_head(name).await {
            Some(resume) => Holding::Resuming(resume),
            None => Channel::loaded(&ctx.state, name).await,
        };
        let head = match holding.head() {
            Some(applied) => seen(applied, &ctx.metrics, name, &mut status),
            None => HeadSeen::Unknown,
        };
        Channel {
            name: name.to_owned(),
            discovered,
            holding,
            head,
            allowed: Allowed::Unknown,
            role: Role::Loaded,
            check_target: true,
            status,
        }
    }

    /// The whole state of the channel, loaded and checked.
    async fn loaded(state: &StateDir, name: &str) -> Holding {
        match state.load(name).await {
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
    pub(super) async fn finish_loading(&mut self, state: &StateDir, metrics: &Metrics) {
        let Holding::Resuming(resume) = &self.holding else {
            return;
        };
        let resumed = resume.generation;
        self.holding = Channel::loaded(state, &self.name).await;
        if self.holding.generation() != Some(resumed) {
            tracing::warn!(
                channel = self.name,
                recorded = resumed,
                loaded = ?self.holding.generation(),
                "the head record and the state differ (a crash between saving them); using the state"
            );
            if let Holding::Applied(a) = &self.holding {
                self.head = seen(&a.head, metrics, &self.name, &mut self.status);
            }
        }
    }
}

/// The head a resumed channel applied, as verified when it was applied: kept for its expiry
/// and retirement times, and its ETag makes the first poll conditional. Fills in the status
/// and the applied-generation metric.
fn seen(
    applied: &AppliedHead,
    metrics: &Metrics,
    name: &str,
    status: &mut StatusRecord,
) -> HeadSeen {
    status.applied = Some(applied.reference());
    metrics.set_generation(name, applied.generation);
    let bytes = applied.signed.bytes();
    match SignedHead::decode(bytes) {
        Ok(signed) => HeadSeen::Verified(VerifiedHead {
            head: signed.head,
            bytes: bytes.clone(),
            etag: applied.etag.clone(),
        }),
        Err(_) => HeadSeen::Unknown,
    }
}
