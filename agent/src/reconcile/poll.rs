//! Steps 1 and 2 of a pass: poll the head with `If-None-Match`, verify what changed under the
//! trust root (after looking for a newer one: a changed head, or a resync, makes the agent look).

use bytes::Bytes;
use cairn_state_format::{
    Epoch, HeadCheck, Lineage, Refusal, TrustedRoot, layout, verify_head_under,
};
use chrono::Utc;

use super::Channel;
use super::context::Polling;
use super::phases::{Allowed, HeadSeen, Rejection, VerifiedHead};
use super::status::status_error;
use crate::error::{Error, Result, TrustRootProblem};
use crate::fetch::source::Conditional;
use crate::metrics::RequestKind;
use crate::trust::Current;

impl Channel {
    /// Step 1: poll the head with `If-None-Match`, and step 2: verify what changed; `resync`
    /// also looks for a newer trust root when the head did not change.
    pub(super) async fn poll(&mut self, at: Polling<'_>, resync: bool) -> Result<()> {
        let key = layout::head_key(&self.name);
        // A refused head is fetched and checked again on each resync: a newer trust root (a
        // renewed expiry, a new delegation) may accept it now.
        let etag = match (&self.head, resync) {
            (HeadSeen::Refused { .. }, true) => None,
            (head, _) => head.etag(),
        };
        let answer = at
            .remote
            .get_if_changed(RequestKind::Head, &self.name, &key, etag)
            .await?;
        at.metrics
            .poll(&self.name, matches!(answer, Conditional::NotModified));
        match answer {
            Conditional::NotModified if resync => {
                let current = self.trust_root(at, true).await?;
                self.learn_scope(at.accept_epochs, &current.root);
            }
            Conditional::NotModified => {
                if matches!(self.allowed, Allowed::Unknown) {
                    let current = self.trust_root(at, false).await?;
                    self.learn_scope(at.accept_epochs, &current.root);
                }
            }
            Conditional::NotFound => self.head = HeadSeen::Missing,
            Conditional::Fetched { bytes, etag } => {
                let current = self.trust_root(at, true).await?;
                self.head = match current.refused {
                    Some(next) => self.refuse(
                        Refusal::NextRootRefused {
                            version: current.root.version() + 1,
                            reason: next.refusal.to_string(),
                        },
                        etag,
                    ),
                    None => self.verify(at.accept_epochs, &current.root, bytes, etag),
                };
            }
        }
        if let Some(head) = self.pending().map(|p| &p.head).or(self.head.latest()) {
            let age = (Utc::now() - head.published_at).num_milliseconds() as f64 / 1000.0;
            at.metrics.set_head_age(&self.name, age);
        }
        Ok(())
    }

    /// The root to verify heads under (with `look`, after following the store's chain); a
    /// newer version that was refused goes into the status record.
    async fn trust_root(&mut self, at: Polling<'_>, look: bool) -> Result<Current> {
        let current = at.trust_root(look).await?;
        if let Some(refused) = &current.refused {
            let error = Error::TrustRoot {
                key: refused.key.clone(),
                problem: TrustRootProblem::Refused(refused.refusal.clone()),
            };
            self.record_error(&status_error(&error, None));
        }
        Ok(current)
    }

    /// A refused head: the applied state is served, and the newest head verified before kept
    /// for its expiry.
    fn refuse(&self, refusal: Refusal, etag: Option<String>) -> HeadSeen {
        self.reject(Rejection::Head(refusal), etag)
    }

    /// A head not applied, for `rejection`: the applied state is served, and the newest head
    /// verified before kept for its expiry.
    pub(super) fn reject(&self, rejection: Rejection, etag: Option<String>) -> HeadSeen {
        tracing::warn!(refusal = %rejection, "head refused; serving the applied state");
        HeadSeen::Refused {
            refusal: rejection,
            etag,
            last: self.head.latest().cloned(),
        }
    }

    /// Learns the scope of a resumed channel whose head did not change (`304`): the applied
    /// head's bytes, verified under `root`. A head that no longer verifies leaves it unknown
    /// (the next change of the head or resync decides).
    fn learn_scope(&mut self, accept_epochs: &[Epoch], root: &TrustedRoot) {
        let HeadSeen::Verified(held) = &self.head else {
            return;
        };
        let check = HeadCheck {
            root,
            channel: &self.name,
            applied_generation: None,
            lineage: Lineage {
                accept_applied: true,
                epoch: None,
                accept_epochs,
            },
            now: Utc::now(),
        };
        match verify_head_under(&held.bytes, &check) {
            Ok(verified) => self.allowed = Allowed::Known(verified.scope),
            Err(refusal) => {
                tracing::warn!(%refusal, "the held head does not verify under the current root; its scope stays unknown")
            }
        }
    }

    /// What a fetched head amounts to: verified, or refused (keeping the newest head verified
    /// before, for its expiry).
    fn verify(
        &mut self,
        accept_epochs: &[Epoch],
        root: &TrustedRoot,
        bytes: Bytes,
        etag: Option<String>,
    ) -> HeadSeen {
        let applied = self.holding.mark();
        // Accept the applied generation itself (a re-signed head), refuse anything older; a
        // head of another epoch only when the operator named it.
        let check = HeadCheck {
            root,
            channel: &self.name,
            applied_generation: applied.map(|a| a.generation),
            lineage: Lineage {
                accept_applied: true,
                epoch: applied.and_then(|a| a.epoch),
                accept_epochs,
            },
            now: Utc::now(),
        };
        let verified = match verify_head_under(&bytes, &check) {
            Ok(verified) => verified,
            Err(refusal) => return self.refuse(refusal, etag),
        };
        self.allowed = Allowed::Known(verified.scope);
        let head = verified.head;
        self.status.observed_generation = Some(head.generation);
        if let Some(a) = applied.filter(|a| a.generation == head.generation && !a.behind(&head))
            && a.snapshot != head.snapshot
        {
            let refusal = Refusal::Malformed(format!(
                "generation {} was signed again for snapshot {}, but {} was applied",
                head.generation, head.snapshot, a.snapshot
            ));
            return self.refuse(refusal, etag);
        }
        if applied.is_none_or(|a| a.behind(&head)) {
            tracing::info!(
                generation = head.generation,
                snapshot = %head.snapshot,
                delegation = verified.delegation,
                signers = ?verified.signers,
                root_version = root.version(),
                "new head verified"
            );
        }
        HeadSeen::Verified(VerifiedHead { head, bytes, etag })
    }
}
