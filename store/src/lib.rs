//! Object stores by URL for cairn, with the operations hub and agent need and nothing else.
//!
//! ```no_run
//! # async fn demo() -> Result<(), cairn_store::Error> {
//! let store = cairn_store::Store::open("file:///tmp/cairn-store", &Default::default())?;
//! store.put("channels/prod/head", b"{}".to_vec()).await?;
//! let abilities = store.probe().await?;
//! println!("create-only puts: {}", abilities.create_only);
//! # Ok(()) }
//! ```
//!
//! URLs: `file:///path` or a plain path (created if missing), `memory://` (one process only), `s3://bucket/prefix`
//! (the standard `AWS_*` environment, plus any object_store S3 option as a query parameter, e.g.
//! `?endpoint=http://127.0.0.1:3900&region=garage`), `gs://bucket/prefix`, `az://container/prefix`.

mod answer;
mod bounded;
mod cloud;
mod counting;
mod error;
mod open;
mod options;
mod provider;

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use chrono::{DateTime, Utc};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{
    Attribute, Attributes, GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutMode, PutOptions,
    PutPayload, UpdateVersion,
};
use tokio::time::Instant;

pub use answer::Answer;
pub use bounded::{Bound, Limiter, MIN_READ_RATE, Refused};
pub use counting::{CountingStore, GetOutcome, RequestCounts};
pub use error::{Error, Result};
pub use options::StoreOptions;
pub use provider::Provider;

/// A store opened from a URL. Keys are relative to the URL's prefix.
#[derive(Clone, Debug)]
pub struct Store {
    inner: Arc<dyn ObjectStore>,
    url: String,
    provider: Provider,
    cache_control: Option<CacheControl>,
    read_limits: Option<ReadLimits>,
    read_timeout: Duration,
}

/// The `Cache-Control` value a write under a key carries (see [`Store::with_cache_control`]).
pub type CacheControl = fn(&str) -> &'static str;

/// The most bytes a read of a key may return (see [`Store::with_read_limits`]).
pub type ReadLimits = fn(&str) -> u64;

/// The limit of a read when no [`ReadLimits`] policy is set.
pub const DEFAULT_READ_LIMIT: u64 = 256 * 1024 * 1024;

/// A body being read, cut off at its bound and its deadline.
pub type ByteStream = BoxStream<'static, Result<Bytes>>;

/// An object opened for reading.
pub enum Opened {
    /// The object has not changed since the version offered.
    NotModified,
    /// There is no such object.
    NotFound,
    /// The object's body, as it arrives.
    Body {
        /// The body.
        stream: ByteStream,
        /// Its version tag.
        version: Version,
    },
}

/// An object read from the store.
#[derive(Clone, Debug)]
pub struct Fetched {
    /// Its bytes.
    pub bytes: Bytes,
    /// Its version tag, for conditional requests.
    pub version: Version,
}

/// What identifies one version of an object, for conditional reads and writes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Version {
    /// The ETag, if the store gives one.
    pub etag: Option<String>,
    /// The store's version id, if it has versioning.
    pub version: Option<String>,
}

/// The result of a conditional read.
#[derive(Clone, Debug)]
pub enum Conditional {
    /// The object has not changed since the version offered.
    NotModified,
    /// There is no such object.
    NotFound,
    /// The object, new or changed.
    Fetched(Fetched),
}

/// The result of a create-only write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Created {
    /// This write created the object.
    Created,
    /// The object existed already; nothing was written.
    AlreadyExists,
}

/// The result of a compare-and-swap write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Swapped {
    /// The object was at the expected version and was replaced.
    Swapped,
    /// The object changed (or vanished) since it was read; nothing was written.
    Conflict,
    /// The store cannot do compare-and-swap writes.
    Unsupported,
}

/// What a store can guarantee for concurrent writers, found by [`Store::probe`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Abilities {
    /// A create-only write fails when the object exists (the second of two such writes failed).
    pub create_only: bool,
    /// An ETag-conditional write fails when the object changed.
    pub compare_and_swap: bool,
}

/// One listed object.
#[derive(Clone, Debug)]
pub struct Listed {
    /// Key relative to the store's prefix.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// Last modification time.
    pub last_modified: DateTime<Utc>,
    /// Its version tag as the listing gives it: every store cairn supports gives an ETag (a
    /// local directory one made of inode, modification time and size), so a reader can tell a
    /// rewritten object from an unchanged one without reading it.
    pub version: Version,
}

/// An empty body, left behind once a read ended (dropping the real one closes the connection).
fn body_placeholder() -> BoxStream<'static, object_store::Result<Bytes>> {
    futures::stream::empty().boxed()
}

impl Store {
    /// Wraps an existing object store of `provider` (what it keeps and how it behaves follow
    /// from that); `url` is only used in messages.
    pub fn from_object_store(inner: Arc<dyn ObjectStore>, provider: Provider, url: &str) -> Store {
        Store {
            inner,
            url: url.to_owned(),
            provider,
            cache_control: None,
            read_limits: None,
            read_timeout: Duration::from_secs(30),
        }
    }

    /// Every read of a key is bounded by what `policy` gives for it (the limit of the object's
    /// kind), unless the caller gives a bound of its own.
    pub fn with_read_limits(mut self, policy: ReadLimits) -> Store {
        self.read_limits = Some(policy);
        self
    }

    /// The base timeout of one read; a read of `n` bytes may take `timeout + n / MIN_READ_RATE`.
    pub fn with_read_timeout(mut self, timeout: Duration) -> Store {
        self.read_timeout = timeout;
        self
    }

    /// The bound of a read of `key` by the policy in force.
    pub fn bound_of(&self, key: &str) -> Bound {
        Bound::AtMost(
            self.read_limits
                .map_or(DEFAULT_READ_LIMIT, |policy| policy(key)),
        )
    }

    /// Every write under a key carries the `Cache-Control` that `policy` gives for it, so that a
    /// CDN in front of the bucket caches immutable objects for good and revalidates the rest.
    /// Ignored on stores that keep no attributes (a local directory: a web server in front of
    /// it sets its own headers).
    pub fn with_cache_control(mut self, policy: CacheControl) -> Store {
        self.cache_control = Some(policy);
        self
    }

    /// The options of a write of `key` in `mode`.
    fn put_options(&self, key: &str, mode: PutMode) -> PutOptions {
        let mut attributes = Attributes::new();
        if let (true, Some(policy)) = (self.provider.keeps_attributes(), self.cache_control) {
            attributes.insert(Attribute::CacheControl, policy(key).into());
        }
        PutOptions {
            mode,
            attributes,
            ..PutOptions::default()
        }
    }

    /// The URL the store was opened from (credentials masked).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The kind of store this is.
    pub fn provider(&self) -> Provider {
        self.provider
    }

    /// The underlying object store.
    pub fn object_store(&self) -> &Arc<dyn ObjectStore> {
        &self.inner
    }

    fn path(&self, key: &str) -> Result<Path> {
        Path::parse(key).map_err(|e| Error::Key {
            key: key.to_owned(),
            reason: e.to_string(),
        })
    }

    fn fail(&self, op: &'static str, key: &str) -> impl FnOnce(object_store::Error) -> Error + '_ {
        let key = key.to_owned();
        move |source| Error::Store {
            op,
            key,
            url: self.url.clone(),
            answer: answer::last(),
            source: Box::new(source),
        }
    }

    /// Reads an object, bounded by its kind's limit; `None` if it does not exist.
    pub async fn get(&self, key: &str) -> Result<Option<Fetched>> {
        self.get_bounded(key, self.bound_of(key)).await
    }

    /// Reads an object of at most (or exactly) `bound` bytes; `None` if it does not exist.
    pub async fn get_bounded(&self, key: &str, bound: Bound) -> Result<Option<Fetched>> {
        match self.get_if_changed_bounded(key, None, bound).await? {
            Conditional::Fetched(f) => Ok(Some(f)),
            Conditional::NotFound => Ok(None),
            Conditional::NotModified => {
                unreachable!("an unconditional read is never `not modified`")
            }
        }
    }

    /// Reads an object unless its ETag is still `etag` (HTTP `If-None-Match`), bounded by its
    /// kind's limit.
    pub async fn get_if_changed(&self, key: &str, etag: Option<&str>) -> Result<Conditional> {
        self.get_if_changed_bounded(key, etag, self.bound_of(key))
            .await
    }

    /// Reads an object unless its ETag is still `etag`, taking at most (or exactly) `bound`
    /// bytes of it.
    pub async fn get_if_changed_bounded(
        &self,
        key: &str,
        etag: Option<&str>,
        bound: Bound,
    ) -> Result<Conditional> {
        let (mut stream, version) = match self.open_read(key, etag, bound).await? {
            Opened::NotModified => return Ok(Conditional::NotModified),
            Opened::NotFound => return Ok(Conditional::NotFound),
            Opened::Body { stream, version } => (stream, version),
        };
        // Grown as bytes arrive, never reserved from a length the server claims.
        let mut bytes = BytesMut::new();
        while let Some(chunk) = stream.next().await {
            bytes.extend_from_slice(&chunk?);
        }
        Ok(Conditional::Fetched(Fetched {
            bytes: bytes.freeze(),
            version,
        }))
    }

    /// Opens an object for reading as a stream of at most (or exactly) `bound` bytes, unless
    /// its ETag is still `etag`. The stream ends with an error at the bound or the deadline.
    pub async fn open_read(&self, key: &str, etag: Option<&str>, bound: Bound) -> Result<Opened> {
        let deadline = bound.deadline(self.read_timeout);
        let until = Instant::now() + deadline;
        let request = answer::observed(async move {
            let path = self.path(key)?;
            let options = GetOptions {
                if_none_match: etag.map(str::to_owned),
                range: bound.range().map(GetRange::Bounded),
                ..Default::default()
            };
            match self.inner.get_opts(&path, options).await {
                Ok(result) => Ok(Some(result)),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(object_store::Error::NotModified { .. }) => Err(None),
                Err(e) => Err(Some(self.fail("get", key)(e))),
            }
        });
        let result = match tokio::time::timeout_at(until, request).await {
            Err(_) => return Err(self.refused(key, Limiter::new(bound).late(deadline))),
            Ok(Ok(Some(result))) => result,
            Ok(Ok(None)) => return Ok(Opened::NotFound),
            Ok(Err(None)) => return Ok(Opened::NotModified),
            Ok(Err(Some(e))) => return Err(e),
        };
        let version = Version {
            etag: result.meta.e_tag.clone(),
            version: result.meta.version.clone(),
        };
        if etag.is_some() && version.etag.as_deref() == etag {
            // Stores that ignore If-None-Match still let us skip the work.
            return Ok(Opened::NotModified);
        }
        let stream = self.limited(key, result.into_stream(), bound, until, deadline);
        Ok(Opened::Body { stream, version })
    }

    /// `body`, ending with an error once it passes `bound` or `until` passes.
    fn limited(
        &self,
        key: &str,
        body: BoxStream<'static, object_store::Result<Bytes>>,
        bound: Bound,
        until: Instant,
        deadline: Duration,
    ) -> ByteStream {
        let store = self.clone();
        let key = key.to_owned();
        let state = (body, Limiter::new(bound), false);
        futures::stream::unfold(state, move |(mut body, mut limiter, done)| {
            let (store, key) = (store.clone(), key.clone());
            async move {
                if done {
                    return None;
                }
                let failed = move |e: Error| Some((Err(e), (body_placeholder(), limiter, true)));
                match tokio::time::timeout_at(until, body.next()).await {
                    Err(_) => failed(store.refused(&key, limiter.late(deadline))),
                    Ok(None) => match limiter.finish() {
                        Ok(()) => None,
                        Err(refused) => failed(store.refused(&key, refused)),
                    },
                    Ok(Some(Err(e))) => failed(store.fail("get", &key)(e)),
                    Ok(Some(Ok(chunk))) => match limiter.take(chunk.len()) {
                        Ok(()) => Some((Ok(chunk), (body, limiter, false))),
                        Err(refused) => failed(store.refused(&key, refused)),
                    },
                }
            }
        })
        .boxed()
    }

    fn refused(&self, key: &str, refused: Refused) -> Error {
        Error::Refused {
            key: key.to_owned(),
            url: self.url.clone(),
            refused,
        }
    }

    /// Whether an object exists (a HEAD request).
    pub async fn exists(&self, key: &str) -> Result<bool> {
        answer::observed(async move {
            match self.inner.head(&self.path(key)?).await {
                Ok(_) => Ok(true),
                Err(object_store::Error::NotFound { .. }) => Ok(false),
                Err(e) => Err(self.fail("head", key)(e)),
            }
        })
        .await
    }

    /// Writes an object, replacing any existing one.
    pub async fn put(&self, key: &str, bytes: impl Into<Bytes>) -> Result<Version> {
        answer::observed(async move {
            let result = self
                .inner
                .put_opts(
                    &self.path(key)?,
                    PutPayload::from(bytes.into()),
                    self.put_options(key, PutMode::Overwrite),
                )
                .await
                .map_err(self.fail("put", key))?;
            Ok(Version {
                etag: result.e_tag,
                version: result.version,
            })
        })
        .await
    }

    /// Writes an object only if none exists under `key` (HTTP `If-None-Match: *`). On stores that
    /// ignore the condition this silently overwrites: check [`Store::probe`] first.
    pub async fn put_if_absent(&self, key: &str, bytes: impl Into<Bytes>) -> Result<Created> {
        answer::observed(async move {
            let options = self.put_options(key, PutMode::Create);
            match self
                .inner
                .put_opts(&self.path(key)?, PutPayload::from(bytes.into()), options)
                .await
            {
                Ok(_) => Ok(Created::Created),
                Err(object_store::Error::AlreadyExists { .. }) => Ok(Created::AlreadyExists),
                Err(object_store::Error::Precondition { .. }) => Ok(Created::AlreadyExists),
                Err(e) => Err(self.fail("create-only put", key)(e)),
            }
        })
        .await
    }

    /// Replaces an object only if it is still at `expected` (HTTP `If-Match`).
    pub async fn put_if_match(
        &self,
        key: &str,
        bytes: impl Into<Bytes>,
        expected: &Version,
    ) -> Result<Swapped> {
        answer::observed(async move {
            let version = UpdateVersion {
                e_tag: expected.etag.clone(),
                version: expected.version.clone(),
            };
            let options = self.put_options(key, PutMode::Update(version));
            match self
                .inner
                .put_opts(&self.path(key)?, PutPayload::from(bytes.into()), options)
                .await
            {
                Ok(_) => Ok(Swapped::Swapped),
                Err(
                    object_store::Error::Precondition { .. } | object_store::Error::NotFound { .. },
                ) => Ok(Swapped::Conflict),
                Err(
                    object_store::Error::NotImplemented { .. }
                    | object_store::Error::NotSupported { .. },
                ) => Ok(Swapped::Unsupported),
                Err(e) => Err(self.fail("conditional put", key)(e)),
            }
        })
        .await
    }

    /// Deletes an object; deleting a missing object is not an error.
    pub async fn delete(&self, key: &str) -> Result<()> {
        answer::observed(async move {
            match self.inner.delete(&self.path(key)?).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(self.fail("delete", key)(e)),
            }
        })
        .await
    }

    /// Every object under `prefix` (a key prefix ending in `/`, or empty for all).
    pub async fn list(&self, prefix: &str) -> Result<Vec<Listed>> {
        answer::observed(async move {
            let path = if prefix.is_empty() {
                None
            } else {
                Some(self.path(prefix.trim_end_matches('/'))?)
            };
            let metas: Vec<_> = self
                .inner
                .list(path.as_ref())
                .try_collect()
                .await
                .map_err(self.fail("list", prefix))?;
            Ok(metas
                .into_iter()
                .map(|m| Listed {
                    key: m.location.to_string(),
                    size: m.size,
                    last_modified: m.last_modified,
                    version: Version {
                        etag: m.e_tag,
                        version: m.version,
                    },
                })
                .collect())
        })
        .await
    }

    /// The names directly under `prefix` (a key prefix ending in `/`) that have objects below
    /// them: one delimited listing (`channels/` → every channel name), not every object.
    pub async fn list_names(&self, prefix: &str) -> Result<Vec<String>> {
        answer::observed(async move {
            let path = self.path(prefix.trim_end_matches('/'))?;
            let listed = self
                .inner
                .list_with_delimiter(Some(&path))
                .await
                .map_err(self.fail("list", prefix))?;
            let mut names: Vec<String> = listed
                .common_prefixes
                .iter()
                .filter_map(|p| p.filename().map(str::to_owned))
                .collect();
            names.sort();
            names.dedup();
            Ok(names)
        })
        .await
    }

    /// Finds out, by trying, whether the store honours create-only and compare-and-swap writes.
    /// Some S3-compatible servers (Garage among them) ignore the conditions and overwrite while
    /// answering success, so asking or trusting documentation is not enough.
    pub async fn probe(&self) -> Result<Abilities> {
        let key = format!("_cairn/probe/{:016x}", rand::random::<u64>());
        let first = self.put_if_absent(&key, Bytes::from_static(b"1")).await?;
        let second = self.put_if_absent(&key, Bytes::from_static(b"2")).await?;
        let create_only = first == Created::Created && second == Created::AlreadyExists;
        let compare_and_swap = if create_only {
            // A real version, as the store gives it, that a rewrite makes stale: made-up tags
            // would not do, as some providers condition on a version of their own shape (GCS on
            // a generation number, not an ETag).
            let first = self.get(&key).await?.map(|f| f.version).unwrap_or_default();
            let accepted = self
                .put_if_match(&key, Bytes::from_static(b"3"), &first)
                .await?
                == Swapped::Swapped;
            let refused = self
                .put_if_match(&key, Bytes::from_static(b"4"), &first)
                .await?
                == Swapped::Conflict;
            accepted && refused
        } else {
            false
        };
        self.delete(&key).await?;
        Ok(Abilities {
            create_only,
            compare_and_swap,
        })
    }
}
