//! The campaign loop: follow the lease until it may be taken, take it, renew it, step down when
//! renewing fails for a renew deadline, release it on shutdown.

use std::future::Future;
use std::time::{Duration, SystemTime};

use futures::StreamExt;
use futures::stream::BoxStream;
use tokio::sync::watch;
use tokio::time::Instant;

use super::lock::{LeaseRecord, LockError, Taken, Versioned};
use super::{Campaign, JITTER_FACTOR, Standing};

type LeaseWatch = BoxStream<'static, Result<Option<Versioned>, LockError>>;

/// The lease while this replica holds it.
#[derive(Clone, Debug)]
struct Held {
    lease: Versioned,
    term: u64,
}

/// One replica's view of the election.
struct Candidate<'a> {
    campaign: &'a Campaign,
    standing: watch::Sender<Standing>,
    /// The lease as last seen (`None` inside: there is none) and when this replica saw it
    /// change: expiry is timed from then, on this replica's clock.
    observed: Option<(Option<Versioned>, Instant)>,
    /// No acquisition attempt before then (a retry period, jittered, after the last one).
    not_before: Instant,
    held: Option<Held>,
    terms: u64,
}

/// Runs the campaign until `shutdown`.
pub(super) async fn run(
    campaign: &Campaign,
    standing: watch::Sender<Standing>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut candidate = Candidate {
        campaign,
        standing,
        observed: None,
        not_before: Instant::now(),
        held: None,
        terms: 0,
    };
    let mut lease_watch: Option<LeaseWatch> = None;
    loop {
        let stop = if candidate.held.is_some() {
            lease_watch = None;
            candidate.renew(&mut shutdown).await
        } else {
            let watch = lease_watch.get_or_insert_with(|| campaign.lock.watch());
            candidate.follow(watch, &mut shutdown).await
        };
        if stop {
            break;
        }
    }
    candidate.resign().await;
}

impl Candidate<'_> {
    fn identity(&self) -> &str {
        &self.campaign.election.identity
    }

    /// Runs one lease call, bounded by the retry period.
    async fn bounded<T>(
        &self,
        op: &'static str,
        call: impl Future<Output = Result<T, LockError>>,
    ) -> Result<T, LockError> {
        let after = self.campaign.election.retry_period;
        tokio::time::timeout(after, call).await.unwrap_or_else(|_| {
            Err(LockError::TimedOut {
                lease: self.campaign.lock.describe(),
                op,
                after,
            })
        })
    }

    /// Notes what the lease holds now; a changed record restarts the expiry clock.
    fn observe(&mut self, lease: Option<Versioned>) {
        let same = self.observed.as_ref().is_some_and(|(seen, _)| {
            seen.as_ref().map(|v| &v.record) == lease.as_ref().map(|v| &v.record)
        });
        if !same {
            self.observed = Some((lease, Instant::now()));
        }
    }

    /// When the lease observed may be taken: at once if there is none, it names no holder or
    /// names this replica; else a lease duration after the record was seen to change. `None`
    /// while nothing was observed yet.
    fn expiry(&self) -> Option<Instant> {
        let (lease, at) = self.observed.as_ref()?;
        let Some(lease) = lease else {
            return Some(*at);
        };
        let record = &lease.record;
        if record.holder.is_none() || record.held_by(self.identity()) {
            return Some(*at);
        }
        Some(*at + record.duration)
    }

    /// Follows the lease until it may be taken, then tries to take it. Returns whether
    /// shutdown came.
    async fn follow(
        &mut self,
        watch: &mut LeaseWatch,
        shutdown: &mut watch::Receiver<bool>,
    ) -> bool {
        let expiry = self.expiry().map(|at| at.max(self.not_before));
        let due = async {
            match expiry {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = shutdown.changed() => return true,
            event = watch.next() => match event {
                Some(Ok(lease)) => self.observe(lease),
                Some(Err(error)) => tracing::warn!(%error, "cannot watch the lease"),
                None => {
                    // The watch ended (no connection could be made): start another later.
                    *watch = futures::stream::once(tokio::time::sleep(self.campaign.election.retry_period))
                        .flat_map({
                            let lock = self.campaign.lock.clone();
                            move |()| lock.watch()
                        })
                        .boxed();
                }
            },
            () = due => self.acquire().await,
        }
        *shutdown.borrow()
    }

    /// One attempt to take the lease observed.
    async fn acquire(&mut self) {
        let Some((current, _)) = self.observed.clone() else {
            return;
        };
        let election = &self.campaign.election;
        let started = Instant::now();
        let now = SystemTime::now();
        let previous = current.as_ref().map(|v| &v.record);
        let ours = previous.is_some_and(|r| r.held_by(self.identity()));
        let record = LeaseRecord {
            holder: Some(self.identity().to_owned()),
            duration: election.lease_duration,
            acquired: if ours {
                previous.and_then(|r| r.acquired)
            } else {
                Some(now)
            },
            renewed: Some(now),
            transitions: previous.map_or(0, |r| {
                r.transitions + i32::from(r.holder.is_some() && !ours)
            }),
        };
        let lock = &self.campaign.lock;
        let result = match &current {
            None => self.bounded("create", lock.create(&record)).await,
            Some(lease) => {
                self.bounded("take", lock.replace(&record, &lease.version))
                    .await
            }
        };
        let jitter = 1.0 + rand::random::<f64>() * (JITTER_FACTOR - 1.0);
        self.not_before = Instant::now() + election.retry_period.mul_f64(jitter);
        match result {
            Ok(Taken::Written(lease)) => {
                self.terms += 1;
                let term = self.terms;
                self.held = Some(Held { lease, term });
                self.extend(term, started);
                tracing::info!(identity = self.identity(), term, "leading");
            }
            Ok(Taken::Lost) => self.refresh().await,
            Err(error) => tracing::warn!(%error, "cannot take the lease"),
        }
    }

    /// Reads the lease again after losing a race for it (the watch may lag).
    async fn refresh(&mut self) {
        match self.bounded("get", self.campaign.lock.get()).await {
            Ok(lease) => self.observe(lease),
            Err(error) => tracing::warn!(%error, "cannot read the lease"),
        }
    }

    /// Publishes that `term`'s writes are allowed until the renew deadline after `started`.
    fn extend(&self, term: u64, started: Instant) {
        let until = Some(started + self.campaign.election.renew_deadline);
        self.standing
            .send_replace(Standing::Leading { term, until });
    }

    /// One renewal, then the wait until the next. Returns whether shutdown came.
    async fn renew(&mut self, shutdown: &mut watch::Receiver<bool>) -> bool {
        let Some(held) = self.held.clone() else {
            return false;
        };
        let started = Instant::now();
        let mut record = held.lease.record.clone();
        record.renewed = Some(SystemTime::now());
        let lock = self.campaign.lock.clone();
        match self
            .bounded("renew", lock.replace(&record, &held.lease.version))
            .await
        {
            Ok(Taken::Written(lease)) => {
                self.held = Some(Held { lease, ..held });
                self.extend(held.term, started);
            }
            Ok(Taken::Lost) => {
                self.step_down("another replica wrote the lease");
                self.refresh().await;
                return *shutdown.borrow();
            }
            Err(error) => tracing::warn!(%error, "cannot renew the lease"),
        }
        if self.standing.borrow().term_at(Instant::now()).is_none() {
            self.step_down("could not renew the lease within the renew deadline");
        }
        let next = started + self.campaign.election.retry_period;
        tokio::select! {
            () = tokio::time::sleep_until(next) => *shutdown.borrow(),
            _ = shutdown.changed() => true,
        }
    }

    /// Stops leading; the lease as last held counts as seen now.
    fn step_down(&mut self, why: &str) {
        if let Some(held) = self.held.take() {
            tracing::warn!(
                identity = self.identity(),
                term = held.term,
                why,
                "stepping down"
            );
            self.observed = Some((Some(held.lease), Instant::now()));
        }
        self.standing.send_replace(Standing::Following);
    }

    /// On shutdown: stop writing, then give the lease up so another replica need not wait for
    /// it to expire.
    async fn resign(&mut self) {
        self.standing.send_replace(Standing::Following);
        let Some(held) = self.held.take() else {
            return;
        };
        let record = LeaseRecord {
            holder: None,
            duration: Duration::from_secs(1),
            renewed: Some(SystemTime::now()),
            ..held.lease.record.clone()
        };
        let lock = self.campaign.lock.clone();
        match self
            .bounded("release", lock.replace(&record, &held.lease.version))
            .await
        {
            Ok(_) => tracing::info!(identity = self.identity(), "released the lease"),
            Err(error) => tracing::warn!(
                %error,
                "cannot release the lease; another replica takes over when it expires"
            ),
        }
    }
}
