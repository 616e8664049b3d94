//! A wrapper that counts requests by kind, so tests and benchmarks can assert how many PUTs and
//! GETs an operation really issued.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, Result,
};

/// Request counts so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RequestCounts {
    /// Writes (including multipart starts).
    pub puts: u64,
    /// Reads (GET and HEAD).
    pub gets: u64,
    /// Deletes.
    pub deletes: u64,
    /// List calls.
    pub lists: u64,
    /// Copies.
    pub copies: u64,
}

#[derive(Default, Debug)]
struct Counters {
    puts: AtomicU64,
    gets: AtomicU64,
    deletes: AtomicU64,
    lists: AtomicU64,
    copies: AtomicU64,
}

/// How a GET through a [`CountingStore`] ended, for [`CountingStore::observe_gets`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GetOutcome {
    /// The object came back.
    Found,
    /// `304 Not Modified` (a conditional GET whose object did not change).
    NotModified,
    /// There is no such object.
    NotFound,
    /// Any other error.
    Failed,
}

type GetObserver = Arc<dyn Fn(GetOutcome) + Send + Sync>;

/// Counts every request made through it, then forwards it to the wrapped store.
#[derive(Clone)]
pub struct CountingStore {
    inner: Arc<dyn ObjectStore>,
    counters: Arc<Counters>,
    observer: Option<GetObserver>,
}

impl fmt::Debug for CountingStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CountingStore")
            .field("inner", &self.inner)
            .field("counters", &self.counters)
            .field("observed", &self.observer.is_some())
            .finish()
    }
}

impl CountingStore {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn ObjectStore>) -> CountingStore {
        CountingStore {
            inner,
            counters: Arc::default(),
            observer: None,
        }
    }

    /// Also tells `observer` how each GET ended (a load tester counts answers per second).
    pub fn observe_gets(mut self, observer: impl Fn(GetOutcome) + Send + Sync + 'static) -> Self {
        self.observer = Some(Arc::new(observer));
        self
    }

    /// The counts so far.
    pub fn counts(&self) -> RequestCounts {
        let c = &self.counters;
        RequestCounts {
            puts: c.puts.load(Ordering::Relaxed),
            gets: c.gets.load(Ordering::Relaxed),
            deletes: c.deletes.load(Ordering::Relaxed),
            lists: c.lists.load(Ordering::Relaxed),
            copies: c.copies.load(Ordering::Relaxed),
        }
    }

    fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

impl fmt::Display for CountingStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Counting({})", self.inner)
    }
}

#[async_trait]
impl ObjectStore for CountingStore {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        Self::bump(&self.counters.puts);
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        Self::bump(&self.counters.puts);
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        Self::bump(&self.counters.gets);
        let result = self.inner.get_opts(location, options).await;
        if let Some(observer) = &self.observer {
            observer(match &result {
                Ok(_) => GetOutcome::Found,
                Err(object_store::Error::NotModified { .. }) => GetOutcome::NotModified,
                Err(object_store::Error::NotFound { .. }) => GetOutcome::NotFound,
                Err(_) => GetOutcome::Failed,
            });
        }
        result
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        let counters = Arc::clone(&self.counters);
        let counted = locations
            .inspect(move |_| Self::bump(&counters.deletes))
            .boxed();
        self.inner.delete_stream(counted)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        Self::bump(&self.counters.lists);
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        Self::bump(&self.counters.lists);
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        Self::bump(&self.counters.copies);
        self.inner.copy_opts(from, to, options).await
    }
}
