//! Steps 1 and 2 of a pass: poll the head with `If-None-Match`, verify what changed.

use bytes::Bytes;
use cairn_state_format::{Lineage, Refusal, Trust, layout, verify_head};
use chrono::Utc;

use super::Channel;
use super::phases::{HeadSeen, VerifiedHead};
use crate::error::Result;
use crate::fetch::source::Conditional;
use crate::run::Ctx;
use crate::serve::metrics::RequestKind;

impl Channel {
    /// Step 1: poll the head with `If-None-Match`, and step 2: verify what changed.
    pub(super) async fn poll(&mut self, ctx: &Ctx) -> Result<()> {
        let key = layout::head_key(&self.name);
        let answer = ctx
            .remote
            .get_if_changed(RequestKind::Head, &self.name, &key, self.head.etag())
            .await?;
        ctx.metrics
            .poll(&self.name, matches!(answer, Conditional::NotModified));
        match answer {
            Conditional::NotModified => {}
            Conditional::NotFound => self.head = HeadSeen::Missing,
            Conditional::Fetched { bytes, etag } => self.head = self.verify(ctx, bytes, etag),
        }
        if let Some(head) = self.pending().map(|p| &p.head).or(self.head.latest()) {
            let age = (Utc::now() - head.published_at).num_milliseconds() as f64 / 1000.0;
            ctx.metrics.set_head_age(&self.name, age);
        }
        Ok(())
    }

    /// What a fetched head amounts to: verified, or refused (keeping the newest head verified
    /// before, for its expiry).
    fn verify(&mut self, ctx: &Ctx, bytes: Bytes, etag: Option<String>) -> HeadSeen {
        let applied = self.holding.mark();
        // Accept the applied generation itself (a re-signed head), refuse anything older; a
        // head of another epoch only when the operator named it.
        let trust = Trust {
            keys: &ctx.keys,
            channel: &self.name,
            applied_generation: applied.map(|a| a.generation),
            lineage: Lineage {
                accept_applied: true,
                epoch: applied.and_then(|a| a.epoch),
                accept_epochs: &ctx.accept_epochs,
            },
            now: Utc::now(),
        };
        let refused = |refusal: Refusal, last| {
            tracing::warn!(%refusal, "head refused; serving the applied state");
            HeadSeen::Refused {
                refusal,
                etag: etag.clone(),
                last,
            }
        };
        let last = self.head.latest().cloned();
        let (head, key) = match verify_head(&bytes, &trust) {
            Ok(verified) => verified,
            Err(refusal) => return refused(refusal, last),
        };
        self.status.observed_generation = Some(head.generation);
        if let Some(a) = applied.filter(|a| a.generation == head.generation && !a.behind(&head))
            && a.snapshot != head.snapshot
        {
            let refusal = Refusal::Malformed(format!(
                "generation {} was signed again for snapshot {}, but {} was applied",
                head.generation, head.snapshot, a.snapshot
            ));
            return refused(refusal, last);
        }
        if applied.is_none_or(|a| a.behind(&head)) {
            tracing::info!(generation = head.generation, snapshot = %head.snapshot, key, "new head verified");
        }
        HeadSeen::Verified(VerifiedHead { head, bytes, etag })
    }
}
