//! Which API resource serves each kind. Discovery runs whole, with aggregated discovery (two
//! requests: `/api` and `/apis`), on first use and again only when a kind is unknown and the
//! cache may be stale (a CRD became Established, or a new pass started since the last run): at
//! most once per pass. Servers without aggregated discovery (before Kubernetes 1.26) are asked
//! per group-version instead.

use std::collections::HashMap;
use std::sync::Mutex;

use kube::Client;
use kube::core::{ApiResource, GroupVersion};
use kube::discovery::{self, ApiCapabilities, Discovery, Scope, verbs};

/// How to reach one kind.
#[derive(Clone, Debug)]
pub struct Resolved {
    /// Group, version, kind and plural.
    pub resource: ApiResource,
    /// Whether objects of the kind live in a namespace.
    pub namespaced: bool,
    /// Whether the kind can be listed (and so searched for the channel's objects).
    pub listable: bool,
}

impl Resolved {
    fn new((resource, caps): (ApiResource, ApiCapabilities)) -> Resolved {
        Resolved {
            listable: caps.supports_operation(verbs::LIST),
            namespaced: caps.scope == Scope::Namespaced,
            resource,
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

#[derive(Debug, Default)]
struct Cache {
    /// (apiVersion, kind) → resource.
    by_version: HashMap<(String, String), Resolved>,
    /// (group, kind) → the group's preferred resource for it (deletes and lists know no version).
    by_group: HashMap<(String, String), Resolved>,
    /// Whether the whole cache came from one discovery run.
    complete: bool,
    /// Whether the cache may miss kinds served now.
    stale: bool,
    /// Whether the server lacks aggregated discovery (asked per group-version instead).
    legacy: bool,
}

/// The discovery cache of one target.
#[derive(Debug, Default)]
pub struct Kinds {
    cache: Mutex<Cache>,
}

impl Kinds {
    fn cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        // A panic while holding the lock leaves only a cache behind: keep using it.
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Marks the cache possibly stale: the next unknown kind runs discovery again.
    pub fn mark_stale(&self) {
        self.cache().stale = true;
    }

    /// The resource serving `kind` at `api_version`.
    pub async fn for_object(
        &self,
        client: &Client,
        api_version: &str,
        kind: &str,
    ) -> Result<Resolved, Unresolved> {
        let key = (api_version.to_owned(), kind.to_owned());
        if let Some(hit) = self.lookup(|c| c.by_version.get(&key).cloned()) {
            return Ok(hit);
        }
        let gv: GroupVersion = api_version
            .parse()
            .map_err(|_| Unresolved::Unknown(format!("apiVersion {api_version:?} is malformed")))?;
        self.refresh(client, Some(&gv)).await?;
        self.cache().by_version.get(&key).cloned().ok_or_else(|| {
            Unresolved::Unknown(format!("kind {kind} is not served at {api_version}"))
        })
    }

    /// The resource serving `kind` of `group` at the group's preferred version.
    pub async fn for_group_kind(
        &self,
        client: &Client,
        group: &str,
        kind: &str,
    ) -> Result<Resolved, Unresolved> {
        let key = (group.to_owned(), kind.to_owned());
        if let Some(hit) = self.lookup(|c| c.by_group.get(&key).cloned()) {
            return Ok(hit);
        }
        self.refresh(client, None).await?;
        if let Some(hit) = self.cache().by_group.get(&key).cloned() {
            return Ok(hit);
        }
        // An aggregated run saw every kind: the kind is not served (yet). Without aggregated
        // discovery, ask the group itself.
        if !self.cache().legacy {
            return Err(Unresolved::Unknown(format!(
                "kind {kind} of group {group:?} is not served"
            )));
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
        self.remember(&resolved, true);
        Ok(resolved)
    }

    /// Every kind served, as of a whole discovery run (made when the cache is not whole).
    pub async fn all(&self, client: &Client) -> Result<Vec<Resolved>, Unresolved> {
        if !self.cache().complete {
            self.cache().stale = true;
            self.refresh(client, None).await?;
        }
        if !self.cache().complete {
            // A server without aggregated discovery: every group-version, one request each.
            let found = Discovery::new(client.clone())
                .run()
                .await
                .map_err(Unresolved::Failed)?;
            let legacy = self.cache().legacy;
            *self.cache() = Cache {
                legacy,
                ..Cache::of(&found)
            };
        }
        Ok(self.cache().by_group.values().cloned().collect())
    }

    /// A cache hit.
    fn lookup<T>(&self, find: impl FnOnce(&Cache) -> Option<T>) -> Option<T> {
        find(&self.cache())
    }

    fn remember(&self, resolved: &Resolved, preferred: bool) {
        let mut cache = self.cache();
        cache.insert(resolved, preferred);
    }

    /// Runs discovery when the cache was never filled or may be stale: aggregated (every kind),
    /// else (older servers) the group-version `gv` alone.
    async fn refresh(&self, client: &Client, gv: Option<&GroupVersion>) -> Result<(), Unresolved> {
        let legacy = {
            let cache = self.cache();
            if cache.complete && !cache.stale {
                return Ok(());
            }
            cache.legacy
        };
        if !legacy {
            match Discovery::new(client.clone()).run_aggregated().await {
                Ok(found) => {
                    *self.cache() = Cache::of(&found);
                    return Ok(());
                }
                Err(e) if is_unsupported(&e) => self.cache().legacy = true,
                Err(e) => return Err(Unresolved::Failed(e)),
            }
        }
        self.refresh_group_version(client, gv).await
    }

    async fn refresh_group_version(
        &self,
        client: &Client,
        gv: Option<&GroupVersion>,
    ) -> Result<(), Unresolved> {
        let Some(gv) = gv else {
            return Ok(());
        };
        let group = match discovery::pinned_group(client, gv).await {
            Ok(group) => group,
            Err(e) if is_not_found(&e) => {
                return Err(Unresolved::Unknown(format!(
                    "{} is not served by the API server",
                    gv.api_version()
                )));
            }
            Err(e) => return Err(Unresolved::Failed(e)),
        };
        for found in group.versioned_resources(&gv.version) {
            self.remember(&Resolved::new(found), true);
        }
        Ok(())
    }
}

impl Cache {
    /// The cache of a whole discovery run.
    fn of(found: &Discovery) -> Cache {
        let mut cache = Cache {
            complete: true,
            ..Cache::default()
        };
        for group in found.groups() {
            for version in group.versions() {
                for resolved in group.versioned_resources(version) {
                    cache.insert(&Resolved::new(resolved), false);
                }
            }
            for resolved in group.recommended_resources() {
                cache.insert(&Resolved::new(resolved), true);
            }
        }
        cache
    }

    fn insert(&mut self, resolved: &Resolved, preferred: bool) {
        let r = &resolved.resource;
        self.by_version
            .insert((r.api_version.clone(), r.kind.clone()), resolved.clone());
        if preferred {
            self.by_group
                .insert((r.group.clone(), r.kind.clone()), resolved.clone());
        }
    }
}

/// Whether `e` is the API server answering 404.
fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(status) if status.code == 404)
}

/// Whether `e` says the server does not do aggregated discovery (it answered the legacy
/// documents, which do not parse as a discovery list, or refused the media type).
fn is_unsupported(e: &kube::Error) -> bool {
    matches!(e, kube::Error::SerdeError(_) | kube::Error::Discovery(_))
        || matches!(e, kube::Error::Api(status) if matches!(status.code, 404 | 406 | 415))
}
