//! What each channel may do on the cluster: the scope the reconcile sets before each pass (kept
//! for the parts that send the channel's requests), and where objects land as discovery places
//! them (what that scope is checked against).

use std::collections::HashMap;
use std::sync::Mutex;

use bytes::Bytes;
use cairn_state_format::{ResourceId, Scope};
use kube::Client;

use super::Inner;
use super::access::definitions;
use super::discovery::Unresolved;
use super::scope::effective;
use crate::targets::{Landing, TargetError};

/// The scope of each channel, as last set (a channel without one may do anything).
#[derive(Debug, Default)]
pub struct ChannelScopes {
    by_channel: Mutex<HashMap<String, Scope>>,
}

impl ChannelScopes {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Scope>> {
        // A panic while holding the lock leaves a map of plain values behind: keep using it.
        self.by_channel.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sets what `channel` may do from now on.
    pub fn set(&self, channel: &str, scope: Option<&Scope>) {
        let mut scopes = self.lock();
        match scope {
            Some(scope) => {
                scopes.insert(channel.to_owned(), scope.clone());
            }
            None => {
                scopes.remove(channel);
            }
        }
    }

    /// What `channel` may do (`None`: anything), e.g. the ServiceAccount its requests act as.
    pub fn get(&self, channel: &str) -> Option<Scope> {
        self.lock().get(channel).cloned()
    }
}

/// Where each of `ids` lands: discovery says whether its kind is namespaced (or, for a kind not
/// served yet, the CRD among `crds` that defines it); a namespaced object that names no
/// namespace lands where the API server puts it ([`effective`]). A kind neither served nor
/// defined is placed by what the object names (its write fails on its own).
pub async fn landings(
    inner: &Inner,
    client: &Client,
    ids: &[&ResourceId],
    crds: &[Bytes],
) -> Result<Vec<Landing>, TargetError> {
    let defined = definitions(crds);
    let mut namespaced: HashMap<(&str, &str), Option<bool>> = HashMap::new();
    for id in ids {
        let key = (id.group.as_str(), id.kind.as_str());
        if namespaced.contains_key(&key) {
            continue;
        }
        let found = match inner.kinds.for_group_kind(client, key.0, key.1).await {
            Ok(resolved) => Some(resolved.namespaced),
            Err(Unresolved::Failed(e)) => return Err(TargetError::Discovery(e)),
            Err(Unresolved::Unknown(_)) => defined
                .get(&(id.group.clone(), id.kind.clone()))
                .map(|(_, namespaced)| *namespaced),
        };
        namespaced.insert(key, found);
    }
    Ok(ids
        .iter()
        .map(
            |id| match namespaced[&(id.group.as_str(), id.kind.as_str())] {
                Some(true) => Landing::Namespace(effective(id, true).namespace),
                Some(false) => Landing::Cluster,
                None => Landing::named(id),
            },
        )
        .collect())
}
