//! Metered access to the store: every request is counted by kind, every byte by channel.

use std::sync::Arc;

use bytes::Bytes;

use crate::error::Result;
use crate::fetch::source::{Conditional, Source};
use crate::serve::metrics::{Metrics, RequestKind};

/// The store as the reconcile loop sees it.
#[derive(Clone, Debug)]
pub struct Remote {
    source: Arc<dyn Source>,
    metrics: Arc<Metrics>,
}

impl Remote {
    /// Wraps a source, counting into `metrics`.
    pub fn new(source: Arc<dyn Source>, metrics: Arc<Metrics>) -> Remote {
        Remote { source, metrics }
    }

    /// A conditional read.
    pub async fn get_if_changed(
        &self,
        kind: RequestKind,
        channel: &str,
        key: &str,
        etag: Option<&str>,
    ) -> Result<Conditional> {
        let result = self.source.get_if_changed(key, etag).await;
        let bytes = match &result {
            Ok(Conditional::Fetched { bytes, .. }) => bytes.len(),
            _ => 0,
        };
        self.metrics.request(kind, channel, bytes);
        result
    }

    /// A plain read; `None` if the object does not exist.
    pub async fn get(&self, kind: RequestKind, channel: &str, key: &str) -> Result<Option<Bytes>> {
        let result = self.source.get(key).await;
        let bytes = result
            .as_ref()
            .ok()
            .and_then(Option::as_ref)
            .map_or(0, Bytes::len);
        self.metrics.request(kind, channel, bytes);
        result
    }

    /// The channels in the store.
    pub async fn list_channels(&self) -> Result<Vec<String>> {
        let result = self.source.list_channels().await;
        self.metrics.request(RequestKind::List, "", 0);
        result
    }
}
