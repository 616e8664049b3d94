//! Reading a store's body from a blocking thread: the pack decoders of the format crate read
//! `std::io::Read`, and a pack is decoded as it streams in (never held whole). The reader hashes
//! what it reads, so a pack named by a signed digest is checked over exactly the bytes decoded;
//! a failure of the store while reading is kept with its type, so it is not mistaken for a
//! corrupt pack.

use std::io::Read;
use std::sync::{Arc, Mutex};

use cairn_state_format::Digest;
use futures::TryStreamExt;
use sha2::{Digest as _, Sha256};
use tokio_util::io::{StreamReader, SyncIoBridge};

use crate::error::{Error, Result};
use crate::fetch::source::Body;

type Bridge = SyncIoBridge<
    StreamReader<futures::stream::BoxStream<'static, std::io::Result<bytes::Bytes>>, bytes::Bytes>,
>;

/// A body read synchronously, hashed as it goes.
pub struct BodyReader {
    inner: Bridge,
    hasher: Sha256,
    failure: Arc<Mutex<Option<Error>>>,
}

impl BodyReader {
    /// Wraps `body`; must be called on the runtime, and read on a blocking thread.
    pub fn new(body: Body) -> BodyReader {
        let failure = Arc::new(Mutex::new(None));
        let slot = failure.clone();
        let stream: futures::stream::BoxStream<'static, std::io::Result<bytes::Bytes>> =
            Box::pin(body.map_err(move |e| {
                let io = std::io::Error::other(e.to_string());
                *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                io
            }));
        BodyReader {
            inner: SyncIoBridge::new(StreamReader::new(stream)),
            hasher: Sha256::new(),
            failure,
        }
    }

    /// Reads what is left (the decoder may stop before the end), and returns the digest of
    /// everything read.
    pub fn finish(mut self, what: &str) -> Result<Digest> {
        let drained = std::io::copy(&mut self, &mut std::io::sink());
        if let Some(failure) = self.take_failure() {
            return Err(failure.in_pack(what));
        }
        drained.map_err(|e| Error::Task {
            task: "reading a pack",
            why: e.to_string(),
        })?;
        Ok(Digest::from_bytes(self.hasher.finalize().into()))
    }

    /// The store's failure behind a read error, if one happened.
    pub fn take_failure(&self) -> Option<Error> {
        self.failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// A decoder's result, or the store's failure that caused it to fail.
pub fn decoded<T>(
    reader: &BodyReader,
    result: std::result::Result<T, cairn_state_format::Error>,
    what: &str,
) -> Result<T> {
    result.map_err(|source| match reader.take_failure() {
        Some(failure) => failure.in_pack(what),
        None => Error::Corrupt {
            what: what.to_owned(),
            source,
        },
    })
}

/// Runs CPU-bound work on a blocking thread, so the runtime keeps polling on time.
pub async fn blocking<T: Send + 'static>(
    task: &'static str,
    work: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::Task {
            task,
            why: e.to_string(),
        })?
}

/// A check of `got` against the digest a signed head named for the pack `what`.
pub fn check_digest(what: &str, named: &Digest, got: Digest) -> Result<()> {
    if got == *named {
        return Ok(());
    }
    Err(Error::Corrupt {
        what: what.to_owned(),
        source: cairn_state_format::Error::DigestMismatch {
            what: "what the store served".to_owned(),
            expected: *named,
            actual: got,
        },
    })
}
