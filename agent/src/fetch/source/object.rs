//! Reading through `cairn-store` (file, memory, S3, GCS, Azure).

use async_trait::async_trait;

use super::{Conditional, Source};
use crate::error::Result;

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

    async fn get_if_changed(&self, key: &str, etag: Option<&str>) -> Result<Conditional> {
        Ok(match self.store.get_if_changed(key, etag).await? {
            cairn_store::Conditional::NotModified => Conditional::NotModified,
            cairn_store::Conditional::NotFound => Conditional::NotFound,
            cairn_store::Conditional::Fetched(f) => Conditional::Fetched {
                bytes: f.bytes,
                etag: f.version.etag,
            },
        })
    }

    async fn list_channels(&self) -> Result<Vec<String>> {
        // One delimited list: the channel prefixes, not every log entry below them.
        Ok(self.store.list_names("channels/").await?)
    }
}
