//! State kept in memory and shared by the replicas of one simulated cluster (the fleet load
//! tester runs R replicas per cluster in one process): what a ConfigMap is to replicas in a
//! real cluster, without an API server.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;

use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::BoxStream;
use tokio::sync::watch;

use super::{Applied, StateBackend};
use crate::error::Result;

/// Every channel's state file, in memory; share it through an `Arc` between the replicas of
/// one cluster.
#[derive(Debug, Default)]
pub struct MemoryState {
    channels: Mutex<BTreeMap<String, watch::Sender<Option<Vec<u8>>>>>,
    trust: Mutex<Option<Vec<u8>>>,
}

impl MemoryState {
    /// No state yet.
    pub fn new() -> MemoryState {
        MemoryState::default()
    }

    /// Records `bytes` as `channel`'s state file, as a leader would (a library caller seeding
    /// replicas with a state one agent reached).
    pub fn put(&self, channel: &str, bytes: Vec<u8>) {
        self.channel(channel).send_replace(Some(bytes));
    }

    fn channel(&self, channel: &str) -> watch::Sender<Option<Vec<u8>>> {
        let mut channels = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        channels
            .entry(channel.to_owned())
            .or_insert_with(|| watch::Sender::new(None))
            .clone()
    }
}

#[async_trait]
impl StateBackend for MemoryState {
    fn locate(&self, channel: &str) -> PathBuf {
        PathBuf::from(format!("memory state of {channel}"))
    }

    async fn read(&self, channel: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.channel(channel).borrow().clone())
    }

    async fn write(&self, channel: &str, bytes: Vec<u8>, _applied: &Applied) -> Result<()> {
        self.channel(channel).send_replace(Some(bytes));
        Ok(())
    }

    async fn delete(&self, channel: &str) -> Result<()> {
        self.channel(channel).send_replace(None);
        Ok(())
    }

    async fn list(&self) -> Result<Vec<String>> {
        let channels = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        Ok(channels
            .iter()
            .filter(|(_, state)| state.borrow().is_some())
            .map(|(name, _)| name.clone())
            .collect())
    }

    fn locate_trust(&self) -> PathBuf {
        PathBuf::from("memory state of the trust chain")
    }

    async fn read_trust(&self) -> Result<Option<Vec<u8>>> {
        Ok(self.trust.lock().unwrap_or_else(|p| p.into_inner()).clone())
    }

    async fn write_trust(&self, bytes: Vec<u8>) -> Result<()> {
        *self.trust.lock().unwrap_or_else(|p| p.into_inner()) = Some(bytes);
        Ok(())
    }

    fn follow(&self, channel: &str) -> BoxStream<'static, Result<Option<Vec<u8>>>> {
        let mut receiver = self.channel(channel).subscribe();
        receiver.mark_changed();
        futures::stream::unfold(receiver, |mut receiver| async move {
            receiver.changed().await.ok()?;
            let state = receiver.borrow_and_update().clone();
            Some((Ok(state), receiver))
        })
        .boxed()
    }
}
