//! Where the blobs of a pack go while it is decoded on a blocking thread: kept in memory while
//! they are few (so that the checked pack can be shared with other agents of the process, see
//! [`crate::fetch::CheckedPacks`]), and written to the blob cache in batches beyond that, so a
//! large pack is never held whole.

use bytes::Bytes;
use cairn_state_format::Digest;
use tokio::runtime::Handle;

use crate::fetch::cache::BlobCache;

/// Blob bytes kept in memory before they spill to the cache.
const KEEP_BYTES: usize = 8 * 1024 * 1024;
/// Blob bytes written to the cache at once once spilling.
const BATCH_BYTES: usize = 1024 * 1024;

/// Takes a pack's checked blobs as they are decoded.
pub struct BlobSink {
    cache: BlobCache,
    handle: Handle,
    held: Vec<(Digest, Bytes)>,
    held_bytes: usize,
    spilled: bool,
}

impl BlobSink {
    /// A sink into `cache`; must be made on the runtime (it keeps its handle).
    pub fn new(cache: BlobCache) -> BlobSink {
        BlobSink {
            cache,
            handle: Handle::current(),
            held: Vec::new(),
            held_bytes: 0,
            spilled: false,
        }
    }

    /// A sink that writes everything to the cache, keeping nothing.
    pub fn spilling(cache: BlobCache) -> BlobSink {
        BlobSink {
            spilled: true,
            ..BlobSink::new(cache)
        }
    }

    /// Takes one checked blob (called on a blocking thread).
    pub fn take(&mut self, digest: Digest, blob: Vec<u8>) {
        self.held_bytes += blob.len();
        self.held.push((digest, Bytes::from(blob)));
        if !self.spilled && self.held_bytes > KEEP_BYTES {
            self.spilled = true;
        }
        if self.spilled && self.held_bytes >= BATCH_BYTES {
            self.flush();
        }
    }

    fn flush(&mut self) {
        let batch = std::mem::take(&mut self.held);
        self.held_bytes = 0;
        self.handle.block_on(self.cache.insert_all(batch));
    }

    /// The blobs kept in memory, or `None` when they spilled to the cache (then all of them
    /// are there, the last batch written now).
    pub fn finish(mut self) -> Option<Vec<(Digest, Bytes)>> {
        if self.spilled {
            self.flush();
            return None;
        }
        Some(self.held)
    }
}
