//! The cold-start path: a snapshot whole from its snapshot pack (one request per shard), each
//! shard exactly as long as the signed head says, decoded as it streams in and checked against
//! the digest the head names; the shards together must rebuild to the snapshot digest. Blobs go
//! to the cache in batches, so memory holds the entries and one batch, whatever the pack's size.

use std::sync::Arc;

use cairn_state_format::{SnapshotPackAssembler, SnapshotPackRef, layout};

use super::Fetcher;
use super::body::{BodyReader, blocking, check_digest, decoded};
use super::sink::BlobSink;
use super::source::Bound;
use crate::error::{Error, Result};
use crate::fetch::tree::Tree;
use crate::metrics::RequestKind;

/// The snapshot `pack` holds, verified; its blobs are in the cache.
pub async fn fetch(at: Fetcher<'_>, pack: &SnapshotPackRef) -> Result<Arc<Tree>> {
    let mut assembler = SnapshotPackAssembler::new(pack.snapshot);
    for shard in &pack.shards {
        let key = layout::pack_key(&shard.digest);
        let what = format!("snapshot pack {key}");
        let body = at
            .remote
            .open(
                RequestKind::SnapshotPack,
                at.channel,
                &key,
                Bound::Exactly(shard.bytes),
            )
            .await
            .map_err(|e| e.in_pack(&what))?
            .ok_or_else(|| Error::Missing {
                key: key.clone(),
                referrer: format!("the head of channel {}", at.channel),
            })?;
        let (reader, sink) = (BodyReader::new(body), BlobSink::spilling(at.cache.clone()));
        let named = shard.digest;
        assembler = blocking("reading a snapshot pack", move || {
            let (mut reader, mut sink) = (reader, sink);
            let read = assembler.shard(&mut reader, &mut |digest, blob| {
                sink.take(digest, blob);
                Ok(())
            });
            decoded(&reader, read, &what)?;
            let got = reader.finish(&what)?;
            check_digest(&what, &named, got)?;
            sink.finish();
            Ok(assembler)
        })
        .await?;
    }
    let what = format!("snapshot pack of {}", pack.snapshot);
    let tree = blocking("building a snapshot", move || {
        let (snapshot, index, entries) = assembler
            .finish()
            .map_err(|source| Error::Corrupt { what, source })?;
        Ok(Tree::from_parts(snapshot, &index, entries))
    })
    .await?;
    Ok(at.trees.share(tree))
}
