//! Signing the new head and committing it: the create-only write of the log entry, retried on
//! the next generation while other publishers win (their content may be this one's: then
//! nothing is published), or leaving it as a proposal when the channel's delegation needs more
//! signatures than the keys give.

use cairn_state_format::{Digest, Epoch, Head, Packs, SecretKey, SignedHead};
use cairn_store::Abilities;
use chrono::{DateTime, Utc};

use super::packs::{Blobs, PackWriter};
use super::published::{Proposed, Published};
use super::request::{Publication, Settings};
use crate::channel::{Channel, Commit, Logged, proposal};
use crate::error::{Error, Result};
use crate::objects::nodes::RemoteNodes;
use crate::trust::Signing;

/// Most attempts at committing when other publishers keep winning.
const MAX_ATTEMPTS: usize = 16;

/// Signs and commits the new head, retrying on the next generation when others win.
pub(super) struct Committer<'s, 'p> {
    pub(super) channel: Channel<'s>,
    pub(super) abilities: Abilities,
    pub(super) publication: &'p Publication<'p>,
    pub(super) settings: &'p Settings<'p>,
    pub(super) nodes: RemoteNodes<'s>,
    /// The channel's epoch: the newest head's, or a fresh one for a new channel.
    pub(super) epoch: Epoch,
    pub(super) packs: PackWriter<'s, 'p>,
    /// The packs the head offers.
    pub(super) offered: Packs,
    /// Bytes of the content uploaded before the packs.
    pub(super) content_bytes: u64,
    pub(super) now: DateTime<Utc>,
}

impl Committer<'_, '_> {
    /// Commits the head of `snapshot` after `latest`, or proposes it when the keys are fewer than
    /// the channel's delegation asks for.
    pub(super) async fn finish(
        self,
        signing: Signing,
        latest: Option<Logged>,
        snapshot: Digest,
        published: Published,
    ) -> Result<Published> {
        match signing {
            Signing::Partial { .. } => self.propose(signing, latest, snapshot, published).await,
            Signing::Unchecked | Signing::Complete => {
                self.commit(latest, snapshot, published).await
            }
        }
    }

    /// The head of the generation after `latest`.
    fn head(&self, latest: Option<&Logged>, snapshot: Digest) -> Head {
        let publication = self.publication;
        let generation = latest.map_or(1, |l| l.head.generation + 1);
        let expires_at = self.now + publication.expires_in;
        let mut head = Head::new(
            &publication.channel,
            self.epoch,
            generation,
            snapshot,
            self.now,
            expires_at,
        );
        head.previous_snapshot = latest.map(|l| l.head.snapshot);
        head.source = publication.source.clone();
        head.retire_at = publication.retire_at;
        head.rollout = publication.rollout.as_ref().map(|plan| plan.at(self.now));
        head.set_packs(self.offered.clone());
        head
    }

    fn sign(&self, head: &Head) -> Vec<u8> {
        let keys: Vec<&SecretKey> = self.settings.keys.iter().collect();
        SignedHead::sign(head, &keys)
    }

    /// Leaves the head for `cairn sign`: the channel's delegation needs more signatures.
    async fn propose(
        self,
        signing: Signing,
        latest: Option<Logged>,
        snapshot: Digest,
        mut published: Published,
    ) -> Result<Published> {
        let Signing::Partial {
            delegation,
            threshold,
            allowed,
        } = signing
        else {
            return Ok(published);
        };
        let head = self.head(latest.as_ref(), snapshot);
        let signed = self.sign(&head);
        let store = self.channel.store();
        let folder = proposal::create(store, &signed, self.abilities).await?;
        published.generation = head.generation;
        published.proposal = Some(Proposed {
            folder,
            delegation,
            threshold,
            signers: self.settings.keys.iter().map(|k| k.public().id()).collect(),
            allowed,
        });
        Ok(published)
    }

    async fn commit(
        mut self,
        mut latest: Option<Logged>,
        snapshot: Digest,
        mut published: Published,
    ) -> Result<Published> {
        for _attempt in 0..MAX_ATTEMPTS {
            let head = self.head(latest.as_ref(), snapshot);
            let signed = self.sign(&head);
            if self
                .channel
                .commit(head.generation, &signed, self.abilities)
                .await?
                == Commit::Committed
            {
                published.generation = head.generation;
                return Ok(published);
            }
            tracing::info!(
                channel = self.channel.name(),
                generation = head.generation,
                "another publisher logged this generation first; retrying"
            );
            latest = self.channel.latest().await?;
            if let Some(l) = latest.as_ref() {
                if !self.publication.allow_unchanged && l.head.snapshot == snapshot {
                    published.generation = l.head.generation;
                    published.unchanged = true;
                    return Ok(published);
                }
                // The packs now lead from the new newest generation too; the content is in the
                // store by now, so a snapshot pack is written from there.
                self.offered = self
                    .packs
                    .offer_after(
                        &mut self.nodes,
                        &self.channel,
                        latest.as_ref(),
                        self.settings.delta_depth,
                        Blobs::Store,
                    )
                    .await?;
                published.note_packs(&self.packs.written, self.content_bytes);
            }
        }
        Err(Error::Conflict(format!(
            "channel {:?}: other publishers logged {MAX_ATTEMPTS} generations in a row before this one could; nothing \
             was published (the uploaded content stays for the next attempt)",
            self.publication.channel
        )))
    }
}

/// The epoch of the channel's next head: the newest head's, or a fresh one for a new channel (or
/// one whose heads are of format 1, which carry none).
pub(super) fn channel_epoch(latest: Option<&Logged>) -> Result<Epoch> {
    if let Some(epoch) = latest.and_then(|l| l.head.epoch) {
        return Ok(epoch);
    }
    let mut bytes = [0; 16];
    getrandom::getrandom(&mut bytes)
        .map_err(|e| Error::Usage(format!("no randomness for a new channel epoch: {e}")))?;
    Ok(Epoch::from_bytes(bytes))
}
