//! Readiness: the agent is ready while every channel it follows has a follower that finished a
//! pass since it (re)started. A follower that died drops readiness until its replacement is
//! through its first pass.

use std::collections::BTreeSet;
use std::sync::Mutex;

/// Channels whose follower has not finished a pass since it started.
#[derive(Debug, Default)]
pub struct Readiness {
    waiting: Mutex<BTreeSet<String>>,
}

impl Readiness {
    fn waiting(&self) -> std::sync::MutexGuard<'_, BTreeSet<String>> {
        // Single inserts and removals: a panic while holding the lock leaves the set consistent.
        self.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A follower of `channel` is starting (or restarting): not ready until its first pass.
    pub fn starting(&self, channel: &str) {
        self.waiting().insert(channel.to_owned());
    }

    /// The follower of `channel` finished a pass.
    pub fn followed(&self, channel: &str) {
        self.waiting().remove(channel);
    }

    /// `channel` is no longer followed on purpose (torn down).
    pub fn forget(&self, channel: &str) {
        self.waiting().remove(channel);
    }

    /// `Ok` when ready, else the channels not followed yet.
    pub fn check(&self) -> Result<(), Vec<String>> {
        let waiting = self.waiting();
        if waiting.is_empty() {
            Ok(())
        } else {
            Err(waiting.iter().cloned().collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_once_every_started_follower_passed_once() {
        let readiness = Readiness::default();
        assert!(readiness.check().is_ok());
        readiness.starting("a");
        readiness.starting("b");
        readiness.followed("a");
        assert_eq!(readiness.check(), Err(vec!["b".to_owned()]));
        readiness.followed("b");
        assert!(readiness.check().is_ok());
        readiness.starting("a");
        assert!(readiness.check().is_err());
        readiness.forget("a");
        assert!(readiness.check().is_ok());
    }
}
