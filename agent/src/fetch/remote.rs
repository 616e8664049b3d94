//! Metered access to the store: every request is counted by kind, every byte by channel, and
//! every read is bounded (by the limit of the key's kind, or an exact length given).

use std::sync::Arc;

use bytes::Bytes;
use cairn_state_format::layout;
use futures::StreamExt;

use crate::error::{Error, Result};
use crate::fetch::source::{Body, Bound, Conditional, Opened, Source};
use crate::metrics::{Metrics, RequestKind};

/// The store as the reconcile loop sees it.
#[derive(Clone, Debug)]
pub struct Remote {
    source: Arc<dyn Source>,
    metrics: Arc<Metrics>,
}

/// The bound of a read of `key` by the limit of its kind (docs/FORMAT.md, "Limits").
pub fn kind_limit(key: &str) -> Bound {
    Bound::AtMost(layout::read_limit(key))
}

impl Remote {
    /// Wraps a source, counting into `metrics`.
    pub fn new(source: Arc<dyn Source>, metrics: Arc<Metrics>) -> Remote {
        Remote { source, metrics }
    }

    /// A conditional read, bounded by the limit of the key's kind.
    pub async fn get_if_changed(
        &self,
        kind: RequestKind,
        channel: &str,
        key: &str,
        etag: Option<&str>,
    ) -> Result<Conditional> {
        let result = self.source.get_if_changed(key, etag, kind_limit(key)).await;
        let bytes = match &result {
            Ok(Conditional::Fetched { bytes, .. }) => bytes.len(),
            _ => 0,
        };
        self.metrics.request(kind, channel, bytes);
        result
    }

    /// A plain read bounded by the limit of the key's kind; `None` if the object does not exist.
    pub async fn get(&self, kind: RequestKind, channel: &str, key: &str) -> Result<Option<Bytes>> {
        self.get_bounded(kind, channel, key, kind_limit(key)).await
    }

    /// A plain read of an object something signed refers to: its absence is an error naming
    /// the object and `referrer` (what referred to it, `the head of channel prod`).
    pub async fn get_referenced(
        &self,
        kind: RequestKind,
        channel: &str,
        key: &str,
        referrer: impl FnOnce() -> String,
    ) -> Result<Bytes> {
        self.get(kind, channel, key)
            .await?
            .ok_or_else(|| Error::Missing {
                key: key.to_owned(),
                referrer: referrer(),
            })
    }

    /// A plain read of at most (or exactly) `bound` bytes; `None` if the object does not exist.
    pub async fn get_bounded(
        &self,
        kind: RequestKind,
        channel: &str,
        key: &str,
        bound: Bound,
    ) -> Result<Option<Bytes>> {
        let result = self.source.get(key, bound).await;
        let bytes = result
            .as_ref()
            .ok()
            .and_then(Option::as_ref)
            .map_or(0, Bytes::len);
        self.metrics.request(kind, channel, bytes);
        result
    }

    /// Opens `key` for reading as a stream of at most (or exactly) `bound` bytes; `None` if the
    /// object does not exist. Bytes are counted as they arrive.
    pub async fn open(
        &self,
        kind: RequestKind,
        channel: &str,
        key: &str,
        bound: Bound,
    ) -> Result<Option<Body>> {
        let opened = self.source.open(key, None, bound).await;
        self.metrics.request(kind, channel, 0);
        let body = match opened? {
            Opened::Body { body, .. } => body,
            Opened::NotFound => return Ok(None),
            Opened::NotModified => unreachable!("an unconditional read is never `not modified`"),
        };
        let (metrics, channel) = (self.metrics.clone(), channel.to_owned());
        Ok(Some(
            body.inspect(move |chunk| {
                if let Ok(chunk) = chunk {
                    metrics.fetched(&channel, chunk.len());
                }
            })
            .boxed(),
        ))
    }

    /// The channels in the store.
    pub async fn list_channels(&self) -> Result<Vec<String>> {
        let result = self.source.list_channels().await;
        self.metrics.request(RequestKind::List, "", 0);
        result
    }
}
