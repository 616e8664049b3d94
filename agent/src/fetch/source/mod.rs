//! Where the agent reads from: one small trait over object stores and read-only HTTP stores.
//!
//! Every read is bounded before it is read ([`Bound`]): the limit of the object's kind, or the
//! exact length a signed head declares. Bodies are streamed and cut off at the bound, and a
//! deadline covers the whole request, so what a store serves cannot make the agent's memory or
//! time grow past the bound.

mod http;
mod object;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use futures::stream::BoxStream;

pub use cairn_store::Bound;
pub use http::HttpSource;
pub use object::ObjectSource;

use crate::config::StoreLocation;
use crate::error::ConfigError;
use crate::error::Result;

/// The result of a conditional read.
#[derive(Clone, Debug)]
pub enum Conditional {
    /// Unchanged since the offered ETag (HTTP 304).
    NotModified,
    /// No such object.
    NotFound,
    /// The object, with its ETag when the store gives one.
    Fetched {
        /// Its bytes.
        bytes: Bytes,
        /// Its ETag.
        etag: Option<String>,
    },
}

/// A body being read, cut off at its bound and its deadline.
pub type Body = BoxStream<'static, Result<Bytes>>;

/// An object opened for reading.
pub enum Opened {
    /// Unchanged since the offered ETag (HTTP 304).
    NotModified,
    /// No such object.
    NotFound,
    /// The object's body, with its ETag when the store gives one.
    Body {
        /// The body, as it arrives.
        body: Body,
        /// Its ETag.
        etag: Option<String>,
    },
}

/// Reads objects by key, relative to the store's prefix.
#[async_trait]
pub trait Source: Send + Sync + fmt::Debug {
    /// The store's URL, for messages.
    fn url(&self) -> &str;

    /// Opens `key` for reading unless its ETag is still `etag` (`If-None-Match`); the body
    /// ends with an error once it passes `bound` or the deadline for that many bytes.
    async fn open(&self, key: &str, etag: Option<&str>, bound: Bound) -> Result<Opened>;

    /// Reads `key` (at most, or exactly, `bound` bytes) unless its ETag is still `etag`.
    async fn get_if_changed(
        &self,
        key: &str,
        etag: Option<&str>,
        bound: Bound,
    ) -> Result<Conditional> {
        let (mut body, etag) = match self.open(key, etag, bound).await? {
            Opened::NotModified => return Ok(Conditional::NotModified),
            Opened::NotFound => return Ok(Conditional::NotFound),
            Opened::Body { body, etag } => (body, etag),
        };
        // Grown as bytes arrive, never reserved from a length the server claims.
        let mut bytes = BytesMut::new();
        while let Some(chunk) = body.next().await {
            bytes.extend_from_slice(&chunk?);
        }
        Ok(Conditional::Fetched {
            bytes: bytes.freeze(),
            etag,
        })
    }

    /// Names of the channels that exist (the distinct `channels/<name>/` prefixes). Read-only
    /// HTTP stores cannot list and return a configuration error.
    async fn list_channels(&self) -> Result<Vec<String>>;

    /// Reads `key` (at most, or exactly, `bound` bytes); `None` if it does not exist.
    async fn get(&self, key: &str, bound: Bound) -> Result<Option<Bytes>> {
        match self.get_if_changed(key, None, bound).await? {
            Conditional::Fetched { bytes, .. } => Ok(Some(bytes)),
            Conditional::NotFound => Ok(None),
            Conditional::NotModified => Err(ConfigError::invalid(
                "--store",
                format!(
                    "{} answered 304 Not Modified to an unconditional GET of {key}",
                    self.url()
                ),
            )
            .into()),
        }
    }
}

/// Opens the source a location names; `timeout` bounds each request. HTTP clients come from
/// `shared`.
pub fn open(
    location: &StoreLocation,
    timeout: Duration,
    shared: &crate::Shared,
) -> Result<Arc<dyn Source>> {
    Ok(match location {
        StoreLocation::Url(url) if location.is_http() => {
            Arc::new(HttpSource::with_client(url, shared.http(timeout)?, timeout))
        }
        StoreLocation::Url(url) => Arc::new(ObjectSource::new(cairn_store::Store::open(
            url,
            &store_options(timeout),
        )?)),
        StoreLocation::Opened(store) => {
            Arc::new(ObjectSource::new(store.clone().with_read_timeout(timeout)))
        }
    })
}

/// Opens a store that status records can be written to.
pub fn open_writable(location: &StoreLocation, timeout: Duration) -> Result<cairn_store::Store> {
    match location {
        StoreLocation::Url(url) if location.is_http() => Err(ConfigError::invalid(
            "--status-store",
            format!(
                "{url}: an HTTP store is read-only; give an s3://, gs://, az:// or file:// URL"
            ),
        )
        .into()),
        StoreLocation::Url(url) => Ok(cairn_store::Store::open(url, &store_options(timeout))?),
        StoreLocation::Opened(store) => Ok(store.clone()),
    }
}

/// The agent keeps the object store client's own retries short: its loop backs off with jitter.
fn store_options(timeout: Duration) -> cairn_store::StoreOptions {
    cairn_store::StoreOptions {
        max_retries: 2,
        retry_timeout: timeout,
        request_timeout: timeout,
        connect_timeout: timeout.min(Duration::from_secs(5)),
    }
}
