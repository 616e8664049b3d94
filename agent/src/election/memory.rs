//! A lease kept in memory, for replicas that run in one process (the fleet load tester runs R
//! replicas per simulated cluster this way). Same semantics as a Lease object: versions grow
//! with every write, a write naming an old version is lost.

use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::BoxStream;
use tokio::sync::watch;

use super::lock::{LeaseLock, LeaseRecord, LockError, Taken, Versioned};

/// A lease in memory; clone the `Arc` it is shared through to give every replica the same one.
#[derive(Debug)]
pub struct MemoryLease {
    name: String,
    current: watch::Sender<Option<Versioned>>,
}

impl MemoryLease {
    /// An empty lease called `name` (for messages).
    pub fn new(name: &str) -> MemoryLease {
        MemoryLease {
            name: name.to_owned(),
            current: watch::Sender::new(None),
        }
    }

    /// Writes `record` if the current version is `expected` (`None`: no lease yet).
    fn write(&self, record: &LeaseRecord, expected: Option<&str>) -> Taken {
        let mut taken = Taken::Lost;
        self.current.send_if_modified(|current| {
            let version = current.as_ref().map(|v| v.version.as_str());
            if version != expected {
                return false;
            }
            let next = version.and_then(|v| v.parse::<u64>().ok()).unwrap_or(0) + 1;
            let written = Versioned {
                record: record.clone(),
                version: next.to_string(),
            };
            *current = Some(written.clone());
            taken = Taken::Written(written);
            true
        });
        taken
    }
}

#[async_trait]
impl LeaseLock for MemoryLease {
    fn describe(&self) -> String {
        format!("memory lease {}", self.name)
    }

    async fn get(&self) -> Result<Option<Versioned>, LockError> {
        Ok(self.current.borrow().clone())
    }

    async fn create(&self, record: &LeaseRecord) -> Result<Taken, LockError> {
        Ok(self.write(record, None))
    }

    async fn replace(&self, record: &LeaseRecord, version: &str) -> Result<Taken, LockError> {
        Ok(self.write(record, Some(version)))
    }

    fn watch(&self) -> BoxStream<'static, Result<Option<Versioned>, LockError>> {
        let mut receiver = self.current.subscribe();
        receiver.mark_changed();
        futures::stream::unfold(receiver, |mut receiver| async move {
            receiver.changed().await.ok()?;
            let current = receiver.borrow_and_update().clone();
            Some((Ok(current), receiver))
        })
        .boxed()
    }
}
