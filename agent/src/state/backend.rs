//! Somewhere other than the state directory that keeps each channel's state file: memory shared
//! by replicas of one process ([`super::MemoryState`]), or the cluster (the Kubernetes target's
//! state ConfigMaps).

use std::path::PathBuf;

use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::BoxStream;

use super::Applied;
use crate::error::Result;

/// Somewhere other than the state directory that keeps each channel's state file.
#[async_trait]
pub trait StateBackend: Send + Sync + std::fmt::Debug {
    /// Where `channel`'s state lives, for messages.
    fn locate(&self, channel: &str) -> PathBuf;
    /// The state file of `channel`, if any.
    async fn read(&self, channel: &str) -> Result<Option<Vec<u8>>>;
    /// Replaces the state file of `channel` (`applied` is what it encodes).
    async fn write(&self, channel: &str, bytes: Vec<u8>, applied: &Applied) -> Result<()>;
    /// Forgets `channel`.
    async fn delete(&self, channel: &str) -> Result<()>;
    /// Channels with state.
    async fn list(&self) -> Result<Vec<String>>;
    /// Where the accepted trust root versions are kept, for messages.
    fn locate_trust(&self) -> PathBuf;
    /// The record of accepted trust root versions, if any (see `trust_chain`).
    async fn read_trust(&self) -> Result<Option<Vec<u8>>>;
    /// Replaces the record of accepted trust root versions.
    async fn write_trust(&self, bytes: Vec<u8>) -> Result<()>;
    /// The state file of `channel` now and after every change (`None`: none), for replicas
    /// that follow a leader; errors are reported and the stream goes on. By default nothing is
    /// ever reported (such a backend's followers take the state when they lead).
    fn follow(&self, _channel: &str) -> BoxStream<'static, Result<Option<Vec<u8>>>> {
        futures::stream::pending().boxed()
    }
}
