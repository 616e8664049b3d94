//! Getting blobs for a plan: from the cache, else from the store, always digest-checked.

use bytes::Bytes;
use cairn_state_format::{Digest, layout};
use futures::{StreamExt, TryStreamExt};

use super::Fetcher;
use crate::error::{Error, Result};
use crate::fetch::remote::Remote;
use crate::metrics::RequestKind;

/// Blobs fetched at once.
const CONCURRENCY: usize = 8;

impl Fetcher<'_> {
    /// Makes sure every blob in `digests` is cached, fetching the missing ones. Fails before
    /// anything is applied if one is missing or corrupt. Returns how many were fetched.
    pub async fn prefetch(&self, digests: impl IntoIterator<Item = Digest>) -> Result<usize> {
        let mut missing = Vec::new();
        for digest in digests {
            if !self.cache.contains(&digest).await {
                missing.push(digest);
            }
        }
        let fetched = missing.len();
        futures::stream::iter(missing)
            .map(|digest| async move {
                let bytes = fetch(self.remote, self.channel, &digest).await?;
                self.cache.insert(digest, bytes).await;
                Ok::<_, Error>(())
            })
            .buffer_unordered(CONCURRENCY)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(fetched)
    }

    /// One blob, from the cache or the store.
    pub async fn blob(&self, digest: &Digest) -> Result<Bytes> {
        if let Some(bytes) = self.cache.get(digest).await {
            return Ok(bytes);
        }
        let bytes = fetch(self.remote, self.channel, digest).await?;
        self.cache.insert(*digest, bytes.clone()).await;
        Ok(bytes)
    }
}

async fn fetch(remote: &Remote, channel: &str, digest: &Digest) -> Result<Bytes> {
    let key = layout::blob_key(digest);
    let referrer = || format!("the snapshot of channel {channel}");
    let bytes = remote
        .get_referenced(RequestKind::Blob, channel, &key, referrer)
        .await?;
    digest
        .verify(&format!("blob {key}"), &bytes)
        .map_err(|source| Error::Corrupt {
            what: format!("blob {key}"),
            source,
        })?;
    Ok(bytes)
}
