//! What the rest of the agent sees of the election: whether this replica leads, in which term,
//! and until when its writes are allowed. Work done for a term is raced against
//! [`Leadership::deposed`], so it is cancelled (its requests dropped) the moment the term ends or
//! its deadline passes unrenewed, whether or not the campaign itself is still able to run.

use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

/// Whether this replica leads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    /// Another replica leads, or none does yet.
    Following,
    /// This replica leads.
    Leading {
        /// Counts this process's terms, so work of an old term is never mistaken for the
        /// current one's.
        term: u64,
        /// Writes are allowed until then (`None`: always, without an election).
        until: Option<Instant>,
    },
}

impl Standing {
    /// Leading for good: an agent that takes part in no election.
    pub const ALWAYS: Standing = Standing::Leading {
        term: 0,
        until: None,
    };

    /// The term, if leading and its deadline has not passed.
    pub(crate) fn term_at(self, now: Instant) -> Option<u64> {
        match self {
            Standing::Leading { term, until } if until.is_none_or(|u| now < u) => Some(term),
            _ => None,
        }
    }
}

/// A view of this replica's standing, for the tasks that must write only while leading.
#[derive(Clone, Debug)]
pub struct Leadership {
    standing: watch::Receiver<Standing>,
}

impl Leadership {
    /// Follows `standing` (as the campaign publishes it).
    pub fn new(standing: watch::Receiver<Standing>) -> Leadership {
        Leadership { standing }
    }

    /// The current term, if this replica leads now.
    pub fn term(&self) -> Option<u64> {
        self.standing.borrow().term_at(Instant::now())
    }

    /// Waits until this replica leads; returns the term. Pending for good if the campaign is
    /// gone (the supervisor ends the agent then).
    pub async fn lead(&self) -> u64 {
        let mut standing = self.standing.clone();
        loop {
            let now = Instant::now();
            if let Some(term) = standing.borrow_and_update().term_at(now) {
                return term;
            }
            if standing.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// Completes when `term` is over: another standing was published, or the term's deadline
    /// passed without a renewal moving it.
    pub async fn deposed(&self, term: u64) {
        let mut standing = self.standing.clone();
        loop {
            let until = match *standing.borrow_and_update() {
                Standing::Leading { term: t, until } if t == term => until,
                _ => return,
            };
            let expiry = async {
                match until {
                    Some(until) => tokio::time::sleep_until(until).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = expiry => {
                    if standing.borrow().term_at(Instant::now()) != Some(term) {
                        return;
                    }
                }
                changed = standing.changed() => {
                    if changed.is_err() {
                        return;
                    }
                }
            }
        }
    }

    /// Sleeps `delay`; returns early (`false`) when `term` ends first.
    pub async fn sleep_in(&self, term: u64, delay: Duration) -> bool {
        tokio::select! {
            () = tokio::time::sleep(delay) => true,
            () = self.deposed(term) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_term_ends_at_its_deadline_unless_renewed() {
        let start = Instant::now();
        let (tx, rx) = watch::channel(Standing::Following);
        let leadership = Leadership::new(rx);
        assert_eq!(leadership.term(), None);
        let until = |secs| Some(start + Duration::from_secs(secs));
        tx.send_replace(Standing::Leading {
            term: 1,
            until: until(10),
        });
        assert_eq!(leadership.lead().await, 1);
        // Renewed at 5 s: the term goes on past 10 s, to 15 s.
        let renew = async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            tx.send_replace(Standing::Leading {
                term: 1,
                until: until(15),
            });
        };
        let ((), ()) = tokio::join!(leadership.deposed(1), renew);
        assert_eq!(start.elapsed(), Duration::from_secs(15));
        assert_eq!(leadership.term(), None, "past its deadline");
        // Another term is not this one.
        tx.send_replace(Standing::ALWAYS);
        leadership.deposed(1).await;
        assert_eq!(leadership.term(), Some(0));
    }
}
