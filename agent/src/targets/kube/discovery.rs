//! Which API resource serves each kind: discovered per group-version on first use, cached, and
//! refreshed when a kind is unknown (so CRDs applied in the same snapshot resolve once
//! Established).

use std::collections::HashMap;
use std::sync::Mutex;

use kube::Client;
use kube::core::{ApiResource, GroupVersion};
use kube::discovery::{self, ApiCapabilities, Scope};

/// How to reach one kind.
#[derive(Clone, Debug)]
pub struct Resolved {
    /// Group, version, kind and plural.
    pub resource: ApiResource,
    /// Whether objects of the kind live in a namespace.
    pub namespaced: bool,
}

impl Resolved {
    fn new((resource, caps): (ApiResource, ApiCapabilities)) -> Resolved {
        Resolved {
            resource,
            namespaced: caps.scope == Scope::Namespaced,
        }
    }
}

/// Why a kind could not be resolved.
#[derive(Debug)]
pub enum Unresolved {
    /// The API server does not serve the kind (its CRD may be missing or not Established).
    Unknown(String),
    /// Discovery itself failed.
    Failed(kube::Error),
}

/// The discovery cache of one target.
#[derive(Debug, Default)]
pub struct Kinds {
    /// (apiVersion, kind) → resource.
    by_version: Mutex<HashMap<(String, String), Resolved>>,
    /// (group, kind) → the resource last resolved for it (deletes know no version).
    by_group: Mutex<HashMap<(String, String), Resolved>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the lock leaves only a cache behind: keep using it.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Kinds {
    fn remember(&self, resolved: &Resolved) {
        let r = &resolved.resource;
        lock(&self.by_version).insert((r.api_version.clone(), r.kind.clone()), resolved.clone());
        lock(&self.by_group).insert((r.group.clone(), r.kind.clone()), resolved.clone());
    }

    /// The resource serving `kind` at `api_version`: cached, else one request for the whole
    /// group-version (`/api/v1`, `/apis/<group>/<version>`), every kind of which is cached.
    pub async fn for_object(
        &self,
        client: &Client,
        api_version: &str,
        kind: &str,
    ) -> Result<Resolved, Unresolved> {
        let key = (api_version.to_owned(), kind.to_owned());
        if let Some(hit) = lock(&self.by_version).get(&key) {
            return Ok(hit.clone());
        }
        let gv: GroupVersion = api_version
            .parse()
            .map_err(|_| Unresolved::Unknown(format!("apiVersion {api_version:?} is malformed")))?;
        let group = match discovery::pinned_group(client, &gv).await {
            Ok(group) => group,
            Err(e) if is_not_found(&e) => {
                return Err(Unresolved::Unknown(format!(
                    "{api_version} is not served by the API server"
                )));
            }
            Err(e) => return Err(Unresolved::Failed(e)),
        };
        for found in group.versioned_resources(&gv.version) {
            self.remember(&Resolved::new(found));
        }
        lock(&self.by_version).get(&key).cloned().ok_or_else(|| {
            Unresolved::Unknown(format!("kind {kind} is not served at {api_version}"))
        })
    }

    /// The resource serving `kind` of `group` at any version: cached, else the group's
    /// preferred version.
    pub async fn for_group_kind(
        &self,
        client: &Client,
        group: &str,
        kind: &str,
    ) -> Result<Resolved, Unresolved> {
        let key = (group.to_owned(), kind.to_owned());
        if let Some(hit) = lock(&self.by_group).get(&key) {
            return Ok(hit.clone());
        }
        let found = match discovery::group(client, group).await {
            Ok(api_group) => api_group.recommended_kind(kind),
            Err(kube::Error::Discovery(_)) => None,
            Err(e) if is_not_found(&e) => None,
            Err(e) => return Err(Unresolved::Failed(e)),
        };
        let resolved = found.map(Resolved::new).ok_or_else(|| {
            Unresolved::Unknown(format!("kind {kind} of group {group:?} is not served"))
        })?;
        self.remember(&resolved);
        Ok(resolved)
    }

    /// Forgets every kind of a group-version (after a CRD for it was applied).
    pub fn forget_group(&self, group: &str) {
        lock(&self.by_group).retain(|(g, _), _| g != group);
        lock(&self.by_version).retain(|_, r| r.resource.group != group);
    }
}

/// Whether `e` is the API server answering 404.
fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(status) if status.code == 404)
}
