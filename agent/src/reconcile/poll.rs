//! Steps 1 and 2 of a pass: poll the head with `If-None-Match`, verify what changed.

use bytes::Bytes;
use cairn_state_format::{Refusal, Trust, layout, verify_head};
use chrono::Utc;

use super::{Channel, Pending};
use crate::context::Ctx;
use crate::error::Result;
use crate::metrics::RequestKind;
use crate::source::Conditional;

impl Channel {
    /// Step 1: poll the head with `If-None-Match`, and step 2: verify what changed.
    pub(super) async fn poll(&mut self, ctx: &Ctx) -> Result<()> {
        let key = layout::head_key(&self.name);
        let answer = ctx
            .remote
            .get_if_changed(
                RequestKind::Head,
                &self.name,
                &key,
                self.head_etag.as_deref(),
            )
            .await?;
        ctx.metrics
            .poll(&self.name, matches!(answer, Conditional::NotModified));
        match answer {
            Conditional::NotModified => {}
            Conditional::NotFound => {
                self.head_missing = true;
                self.head_etag = None;
                self.pending = None;
                self.refusal = None;
            }
            Conditional::Fetched { bytes, etag } => {
                self.head_missing = false;
                self.head_etag = etag.clone();
                self.verify(ctx, bytes, etag);
            }
        }
        if let Some(head) = self
            .pending
            .as_ref()
            .map(|p| &p.head)
            .or(self.latest.as_ref())
        {
            let age = (Utc::now() - head.published_at).num_milliseconds() as f64 / 1000.0;
            ctx.metrics.set_head_age(&self.name, age);
        }
        Ok(())
    }

    fn verify(&mut self, ctx: &Ctx, bytes: Bytes, etag: Option<String>) {
        let applied = self.applied.as_ref().map(|a| a.generation);
        // Accept the applied generation itself (a re-signed head), refuse anything older.
        let trust = Trust {
            keys: &ctx.keys,
            channel: &self.name,
            applied_generation: applied.map(|g| g.saturating_sub(1)),
            now: Utc::now(),
        };
        match verify_head(&bytes, &trust) {
            Err(refusal) => {
                tracing::warn!(%refusal, "head refused; serving the applied state");
                self.refusal = Some(refusal);
                self.pending = None;
            }
            Ok((head, key)) => {
                self.refusal = None;
                self.status.observed_generation = Some(head.generation);
                if let Some(a) = self
                    .applied
                    .as_ref()
                    .filter(|a| a.generation == head.generation)
                {
                    if a.snapshot != head.snapshot {
                        self.refusal = Some(Refusal::Malformed(format!(
                            "generation {} was signed again for snapshot {}, but {} was applied",
                            head.generation, head.snapshot, a.snapshot
                        )));
                        self.pending = None;
                        return;
                    }
                    self.pending = None;
                } else {
                    tracing::info!(generation = head.generation, snapshot = %head.snapshot, key, "new head verified");
                    self.pending = Some(Pending {
                        head: head.clone(),
                        bytes,
                        etag,
                    });
                }
                self.latest = Some(head);
            }
        }
    }
}
