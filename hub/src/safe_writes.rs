//! Writes that stay safe with several writers: the probe that tells whether the store honours
//! create-only writes (and the refusal when it does not, unless the caller promised to be the
//! only writer), and create-once writes built on it. Log entries, proposals, trust root versions
//! and imported objects are written this way.

use cairn_store::{Abilities, Created, Store};

use crate::error::{Error, Result};

/// Probes the store and refuses to go on where concurrent publishers could lose updates, unless
/// the caller promised there is only one.
pub async fn safe_abilities(store: &Store, single_publisher: bool) -> Result<Abilities> {
    let abilities = store.probe().await?;
    if !abilities.create_only && !single_publisher {
        return Err(Error::Conflict(format!(
            "{} does not honour conditional writes: a second create-only PUT of a probe object succeeded \
             instead of failing (Garage and some other S3-compatible servers ignore If-None-Match). On \
             such a store two publishers racing for one generation would silently overwrite each other. \
             If only one publisher ever runs at a time (for example a CI job with a concurrency limit), \
             pass --single-publisher (or CAIRN_SINGLE_PUBLISHER=1)",
            store.url()
        )));
    }
    Ok(abilities)
}

/// Writes `bytes` at `key` unless an object is there already, and says whether it did: a
/// create-only write where the store honours one, else a check and a write (sound only with a
/// single publisher, which [`safe_abilities`] made the caller promise).
pub async fn create_once(
    store: &Store,
    key: &str,
    bytes: Vec<u8>,
    abilities: Abilities,
) -> Result<bool> {
    if abilities.create_only {
        return Ok(store.put_if_absent(key, bytes).await? == Created::Created);
    }
    if store.exists(key).await? {
        return Ok(false);
    }
    store.put(key, bytes).await?;
    Ok(true)
}
