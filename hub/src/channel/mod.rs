//! A channel in the store: its log of signed heads and the head that points at the newest, and
//! the heads proposed for it that wait for signatures ([`proposal`]).
//!
//! The linearization point of a publish is the create-only write of `log/<generation>`: of two
//! publishers racing for one generation exactly one creates it. The head is then advanced to the
//! newest logged generation — by compare-and-swap where the store has it (strictly monotonic), or
//! by write-then-check where it has only create-only writes (the last writer always re-reads the
//! log, so the head converges on the newest generation). Stores that honour neither condition
//! cannot arbitrate between publishers, so publishing to them requires the caller to promise
//! there is only one (`--single-publisher`).

pub mod proposal;

use cairn_state_format::{Head, SignedHead, layout};
use cairn_store::{Abilities, Created, Store, Swapped};

use crate::error::{Error, Result};
use crate::safe_writes::create_once;

/// A head read from the store, with its raw bytes.
#[derive(Clone, Debug)]
pub struct Logged {
    /// The decoded head.
    pub head: Head,
    /// The signed bytes as stored.
    pub bytes: Vec<u8>,
}

/// A channel of a store.
pub struct Channel<'a> {
    store: &'a Store,
    name: String,
}

/// What committing a generation did.
#[derive(Debug, PartialEq, Eq)]
pub enum Commit {
    /// The generation is in the log and the head points at it (or at something newer).
    Committed,
    /// Another publisher logged this generation first.
    Lost,
}

impl<'a> Channel<'a> {
    /// The channel `name` of `store` (the name must already be validated).
    pub fn new(store: &'a Store, name: &str) -> Channel<'a> {
        Channel {
            store,
            name: name.to_owned(),
        }
    }

    /// The channel's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The store it lives in.
    pub fn store(&self) -> &'a Store {
        self.store
    }

    /// The head object as stored, if any (it may lag the log after a crash).
    pub async fn head(&self) -> Result<Option<Logged>> {
        self.read(&layout::head_key(&self.name)).await
    }

    /// One generation from the log.
    pub async fn generation(&self, generation: u64) -> Result<Option<Logged>> {
        self.read(&layout::log_key(&self.name, generation)).await
    }

    /// One generation from the log, or a not-found error naming it.
    pub async fn require_generation(&self, generation: u64) -> Result<Logged> {
        self.generation(generation)
            .await?
            .ok_or_else(|| Error::NoGeneration {
                channel: self.name.clone(),
                generation,
            })
    }

    async fn read(&self, key: &str) -> Result<Option<Logged>> {
        let Some(fetched) = self.store.get(key).await? else {
            return Ok(None);
        };
        let signed =
            SignedHead::decode(&fetched.bytes).map_err(|e| Error::Input(format!("{key}: {e}")))?;
        Ok(Some(Logged {
            head: signed.head,
            bytes: fetched.bytes.to_vec(),
        }))
    }

    /// The newest logged generation: the head, unless the log holds newer entries (a publisher
    /// that crashed between logging and moving the head, or one that is moving it right now).
    pub async fn latest(&self) -> Result<Option<Logged>> {
        let mut latest = match self.head().await? {
            Some(head) => head,
            None => match self.log_generations().await?.last() {
                Some(&generation) => self.require_generation(generation).await?,
                None => return Ok(None),
            },
        };
        while let Some(next) = self.generation(latest.head.generation + 1).await? {
            latest = next;
        }
        Ok(Some(latest))
    }

    /// The newest logged generation, or a not-found error naming the channel and store.
    pub async fn require_latest(&self) -> Result<Logged> {
        self.latest().await?.ok_or_else(|| Error::NoChannel {
            channel: self.name.clone(),
            store: self.store.url().to_owned(),
        })
    }

    /// Every generation number in the log, ascending (one LIST; pages through long logs).
    pub async fn log_generations(&self) -> Result<Vec<u64>> {
        let mut generations: Vec<u64> = self
            .store
            .list(&layout::log_prefix(&self.name))
            .await?
            .iter()
            .filter_map(|l| layout::generation_of_log_key(&l.key))
            .collect();
        generations.sort_unstable();
        Ok(generations)
    }

    /// Makes sure the head shows at least `latest`, for when the log got ahead of it (a publisher
    /// that crashed between logging a generation and moving the head).
    pub async fn catch_up_head(&self, latest: &Logged, abilities: Abilities) -> Result<()> {
        let head_generation = self.head().await?.map(|h| h.head.generation);
        if head_generation.is_some_and(|g| g >= latest.head.generation) {
            return Ok(());
        }
        tracing::info!(
            channel = self.name,
            generation = latest.head.generation,
            "moving a lagging head to the newest logged generation"
        );
        if abilities.compare_and_swap {
            self.advance_by_swap(latest.head.generation, &latest.bytes)
                .await
        } else {
            self.advance_by_repair(latest.head.generation, &latest.bytes)
                .await
        }
    }

    /// Logs `signed` (a head for `generation`) and advances the head to it.
    pub async fn commit(
        &self,
        generation: u64,
        signed: &[u8],
        abilities: Abilities,
    ) -> Result<Commit> {
        let log_key = layout::log_key(&self.name, generation);
        // Without create-only writes the caller promised a single publisher; still, what is
        // there is never overwritten.
        if !create_once(self.store, &log_key, signed.to_vec(), abilities).await? {
            return Ok(Commit::Lost);
        }
        crate::failpoint::hit("after-log");
        if abilities.compare_and_swap {
            self.advance_by_swap(generation, signed).await?;
        } else {
            self.advance_by_repair(generation, signed).await?;
        }
        Ok(Commit::Committed)
    }

    /// Compare-and-swap the head forward; never replaces a newer head.
    async fn advance_by_swap(&self, generation: u64, signed: &[u8]) -> Result<()> {
        let key = layout::head_key(&self.name);
        for _ in 0..64 {
            let current = self.store.get(&key).await?;
            let swapped = match current {
                None => match self.store.put_if_absent(&key, signed.to_vec()).await? {
                    Created::Created => Swapped::Swapped,
                    Created::AlreadyExists => Swapped::Conflict,
                },
                Some(fetched) => {
                    let head = SignedHead::decode(&fetched.bytes)
                        .map_err(|e| Error::Input(format!("{key}: {e}")))?;
                    if head.head.generation >= generation {
                        return Ok(());
                    }
                    self.store
                        .put_if_match(&key, signed.to_vec(), &fetched.version)
                        .await?
                }
            };
            match swapped {
                Swapped::Swapped => return Ok(()),
                Swapped::Conflict => continue,
                Swapped::Unsupported => return self.advance_by_repair(generation, signed).await,
            }
        }
        Err(Error::Conflict(format!(
            "generation {generation} of channel {:?} is logged, but the head kept changing under 64 attempts to \
             move it; the next publish or `cairn refresh` will move it",
            self.name
        )))
    }

    /// Write the head, then make sure no newer generation was logged meanwhile; if one was, write
    /// that one instead. Whoever writes last re-checks, so the head ends on the newest generation.
    async fn advance_by_repair(&self, generation: u64, signed: &[u8]) -> Result<()> {
        let key = layout::head_key(&self.name);
        let (mut generation, mut bytes) = (generation, signed.to_vec());
        loop {
            self.store.put(&key, bytes).await?;
            match self.generation(generation + 1).await? {
                Some(newer) => (generation, bytes) = (newer.head.generation, newer.bytes),
                None => return Ok(()),
            }
        }
    }
}

/// The channels with objects under `prefix` (`channels/`, `proposals/`, `status/`): one
/// delimited listing of the names there, not of every object below them (a channel's log grows
/// by a key per generation, and `cairn ui` asks for the names at every refresh).
pub async fn names_under(store: &Store, prefix: &str) -> Result<Vec<String>> {
    Ok(store.list_names(prefix).await?)
}
