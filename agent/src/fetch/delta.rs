//! The delta path: one object from the applied snapshot to the new one.

use bytes::Buf;
use cairn_state_format::{Digest, EntrySet, apply_delta, layout};

use super::Base;
use crate::cache::BlobCache;
use crate::error::{Error, Result};
use crate::metrics::RequestKind;
use crate::remote::Remote;

/// The new entries from the pack `base → to`; `None` when the hub wrote no such pack. Blobs the
/// pack carries go to the cache.
pub async fn fetch(
    remote: &Remote,
    cache: &BlobCache,
    channel: &str,
    base: Base<'_>,
    to: &Digest,
) -> Result<Option<EntrySet>> {
    let key = layout::delta_key(base.snapshot, to);
    let pack = match remote.get(RequestKind::Delta, channel, &key).await {
        Ok(Some(pack)) => pack,
        Ok(None) => return Ok(None),
        // A CDN in front of a private bucket answers 403 for objects that do not exist; a missing
        // pack is expected, so that answer means "walk the index" rather than "fail".
        Err(Error::Http {
            status: Some(403), ..
        }) => return Ok(None),
        Err(e) => return Err(e),
    };
    let what = format!("delta pack {key}");
    let applied = apply_delta(base.entries, base.snapshot, pack.reader()).map_err(|source| {
        Error::Corrupt {
            what: what.clone(),
            source,
        }
    })?;
    // apply_delta checked the result against the pack's own `to`; the pack must also lead to
    // the snapshot the signed head names.
    let produced = applied.snapshot.digest();
    if produced != *to {
        return Err(Error::Corrupt {
            what,
            source: cairn_state_format::Error::DigestMismatch {
                what: "snapshot produced by the pack".to_owned(),
                expected: *to,
                actual: produced,
            },
        });
    }
    for (digest, blob) in applied.blobs {
        cache.insert(digest, blob.into()).await;
    }
    Ok(Some(applied.entries))
}
