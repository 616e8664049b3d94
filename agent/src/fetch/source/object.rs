//! Reading through `cairn-store` (file, memory, S3, GCS, Azure).

use async_trait::async_trait;
use futures::TryStreamExt;

use super::{Bound, Opened, Source};
use crate::error::{Error, Result};

/// A source over an object store.
#[derive(Clone, Debug)]
pub struct ObjectSource {
    store: cairn_store::Store,
}

impl ObjectSource {
    /// Wraps an opened store.
    pub fn new(store: cairn_store::Store) -> ObjectSource {
        ObjectSource { store }
    }
}

#[async_trait]
impl Source for ObjectSource {
    fn url(&self) -> &str {
        self.store.url()
    }

    async fn open(&self, key: &str, etag: Option<&str>, bound: Bound) -> Result<Opened> {
        Ok(match self.store.open_read(key, etag, bound).await? {
            cairn_store::Opened::NotModified => Opened::NotModified,
            cairn_store::Opened::NotFound => Opened::NotFound,
            cairn_store::Opened::Body { stream, version } => Opened::Body {
                body: Box::pin(stream.map_err(Error::from)),
                etag: version.etag,
            },
        })
    }

    async fn list_channels(&self) -> Result<Vec<String>> {
        // One delimited list: the channel prefixes, not every log entry below them.
        Ok(self.store.list_names("channels/").await?)
    }
}
