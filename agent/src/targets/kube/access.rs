//! Before the first write of a pass: may the agent do what the pass needs, and is the ApplySet
//! parent's record ready?
//!
//! Permissions are checked per kind and namespace the pass writes or prunes: `get`, `list`,
//! `create`, `patch` and `delete` (`watch` too on CRDs, which are awaited with a watch). One
//! `SelfSubjectRulesReview` per namespace answers for every namespaced kind in it; cluster-scoped
//! kinds take one `SelfSubjectAccessReview` per verb (a rules review cannot tell a
//! ClusterRoleBinding's rules from a RoleBinding's). Answers are kept for a few minutes, so a
//! steady stream of small changes costs no reviews. A pass that lacks anything is refused before
//! it writes, with every missing permission and the RBAC rules to add in one message. Then the
//! group-kinds and namespaces the pass writes are recorded in the channel's ApplySet parent
//! (the state ConfigMap), so that whatever the pass leaves behind, prune can find it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, ResourceRule, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
    SelfSubjectRulesReview, SelfSubjectRulesReviewSpec,
};
use kube::Client;
use kube::api::{Api, PostParams};
use serde_json::Value;
use tokio::time::Instant;

use super::discovery::Unresolved;
use super::scope::{Scope, effective};
use super::{Inner, claims};
use crate::error::{Error, Result};
use crate::targets::{MissingPermission, PassScope, TargetError};

/// How long a review's answer is trusted.
const KEEP: Duration = Duration::from_secs(300);

const WRITE_VERBS: [&str; 5] = ["get", "list", "create", "patch", "delete"];
/// The order verbs are named in, as RBAC rules usually list them.
const ORDER: [&str; 6] = ["get", "list", "watch", "create", "patch", "delete"];
const PRUNE_VERBS: [&str; 3] = ["get", "list", "delete"];

/// What a namespace's rules review said.
#[derive(Clone, Debug)]
struct Rules {
    rules: Vec<ResourceRule>,
    /// The authorizer could not list everything (a webhook): what the rules miss is asked one
    /// by one.
    incomplete: bool,
}

/// The reviews' answers, kept for [`KEEP`].
#[derive(Debug, Default)]
pub struct Access {
    /// By (user, namespace); the user is `""` for the agent's own identity.
    namespaces: Mutex<HashMap<(String, String), (Instant, Rules)>>,
    /// By user and review.
    cluster: Mutex<HashMap<(String, Review), (Instant, bool)>>,
}

/// A resource the pass touches: (group, plural, namespace or empty for cluster-scoped).
type Place = (String, String, String);

/// One access review: (group, plural, namespace or empty, verb).
type Review = (String, String, String, String);

impl Access {
    /// Forgets every answer (after a write was forbidden all the same).
    pub fn forget(&self) {
        lock(&self.namespaces).clear();
        lock(&self.cluster).clear();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Readies `channel` for a pass that writes and removes what `scope` says: checks permissions,
/// then records the pass's group-kinds and namespaces in the ApplySet parent.
///
/// `client` acts as `user` (the channel's ServiceAccount) when given: the permissions checked are
/// that account's, and a refusal names it.
pub async fn prepare(
    inner: &Inner,
    client: &Client,
    user: Option<&str>,
    channel: &str,
    scope: &PassScope,
) -> Result<()> {
    inner.ledger.with(channel, |book| {
        book.fresh.clear();
        claims::forget(&mut book.seen);
    });
    let fail = |e: TargetError| Error::target("kube", e);
    let (needs, ids) = needs(inner, client, scope).await.map_err(fail)?;
    let missing = missing(inner, client, user.unwrap_or_default(), &needs)
        .await
        .map_err(fail)?;
    if !missing.is_empty() {
        return Err(fail(match user {
            Some(user) => TargetError::ForbiddenAs {
                user: user.to_owned(),
                missing,
            },
            None => TargetError::Forbidden(missing),
        }));
    }
    inner.parent.record(channel, &Scope::of(ids.iter())).await
}

/// The verbs each place needs, and the objects as the API server names them.
async fn needs(
    inner: &Inner,
    client: &Client,
    scope: &PassScope,
) -> Result<
    (
        BTreeMap<Place, BTreeSet<&'static str>>,
        Vec<cairn_state_format::ResourceId>,
    ),
    TargetError,
> {
    let defined = definitions(&scope.definitions);
    let mut needs: BTreeMap<Place, BTreeSet<&'static str>> = BTreeMap::new();
    let mut ids = Vec::new();
    let touched = scope
        .writes
        .iter()
        .map(|id| (id, &WRITE_VERBS[..]))
        .chain(scope.deletes.iter().map(|id| (id, &PRUNE_VERBS[..])));
    for (id, verbs) in touched {
        let (plural, namespaced) = match inner
            .kinds
            .for_group_kind(client, &id.group, &id.kind)
            .await
        {
            Ok(resolved) => (resolved.resource.plural, resolved.namespaced),
            Err(Unresolved::Failed(e)) => return Err(TargetError::Discovery(e)),
            Err(Unresolved::Unknown(_)) => {
                match defined.get(&(id.group.clone(), id.kind.clone())) {
                    Some(found) => found.clone(),
                    // Neither served nor defined by this pass: its write fails on its own.
                    None => continue,
                }
            }
        };
        let id = effective(id, namespaced);
        let place = (id.group.clone(), plural, id.namespace.clone());
        needs
            .entry(place)
            .or_default()
            .extend(verbs.iter().copied());
        if id.group == "apiextensions.k8s.io" && id.kind == "CustomResourceDefinition" {
            needs
                .entry((
                    id.group.clone(),
                    "customresourcedefinitions".into(),
                    String::new(),
                ))
                .or_default()
                .insert("watch");
        }
        ids.push(id);
    }
    Ok((needs, ids))
}

/// (group, kind) → (plural, namespaced) of the CRDs the pass writes (their kinds are not served
/// yet).
pub(super) fn definitions(crds: &[bytes::Bytes]) -> HashMap<(String, String), (String, bool)> {
    crds.iter()
        .filter_map(|bytes| serde_json::from_slice::<Value>(bytes).ok())
        .filter_map(|crd| {
            let spec = &crd["spec"];
            let text = |p: &str| spec.pointer(p).and_then(Value::as_str).map(str::to_owned);
            Some((
                (text("/group")?, text("/names/kind")?),
                (text("/names/plural")?, spec["scope"] == "Namespaced"),
            ))
        })
        .collect()
}

/// Every permission of `needs` that `user` (`""`: the agent) lacks.
async fn missing(
    inner: &Inner,
    client: &Client,
    user: &str,
    needs: &BTreeMap<Place, BTreeSet<&'static str>>,
) -> Result<Vec<MissingPermission>, TargetError> {
    let mut out = Vec::new();
    for ((group, resource, namespace), verbs) in needs {
        let mut verbs: Vec<&str> = verbs.iter().copied().collect();
        verbs.sort_by_key(|v| ORDER.iter().position(|o| o == v));
        let rules = if namespace.is_empty() {
            None
        } else {
            rules_in(inner, client, user, namespace).await
        };
        let mut lacking = Vec::new();
        for verb in &verbs {
            let granted = match &rules {
                Some(r) if allows(&r.rules, verb, group, resource) => true,
                Some(r) if !r.incomplete => false,
                _ => access_review(inner, client, user, (group, resource, namespace, verb)).await?,
            };
            if !granted {
                lacking.push((*verb).to_owned());
            }
        }
        if !lacking.is_empty() {
            out.push(MissingPermission {
                group: group.clone(),
                resource: resource.clone(),
                namespace: (!namespace.is_empty()).then(|| namespace.clone()),
                verbs: lacking,
                needed: verbs.iter().map(|v| (*v).to_owned()).collect(),
            });
        }
    }
    Ok(out)
}

/// Whether `rules` allow `verb` on `resource` of `group` (rules limited to some names do not).
fn allows(rules: &[ResourceRule], verb: &str, group: &str, resource: &str) -> bool {
    let has = |list: &Option<Vec<String>>, item: &str| {
        list.as_ref()
            .is_some_and(|l| l.iter().any(|x| x == "*" || x == item))
    };
    rules.iter().any(|r| {
        r.verbs.iter().any(|v| v == "*" || v == verb)
            && has(&r.api_groups, group)
            && has(&r.resources, resource)
            && r.resource_names.as_ref().is_none_or(Vec::is_empty)
    })
}

/// The rules that apply in `namespace` (cached), or `None` when they cannot be read (then
/// every verb is asked alone).
async fn rules_in(inner: &Inner, client: &Client, user: &str, namespace: &str) -> Option<Rules> {
    let cached = (user.to_owned(), namespace.to_owned());
    if let Some((at, rules)) = lock(&inner.access.namespaces).get(&cached)
        && at.elapsed() < KEEP
    {
        return Some(rules.clone());
    }
    let review = SelfSubjectRulesReview {
        spec: SelfSubjectRulesReviewSpec {
            namespace: Some(namespace.to_owned()),
        },
        ..Default::default()
    };
    let api: Api<SelfSubjectRulesReview> = Api::all(client.clone());
    let answer = match api.create(&PostParams::default(), &review).await {
        Ok(answer) => answer,
        Err(error) => {
            tracing::debug!(%error, namespace, "cannot review the rules; asking verb by verb");
            return None;
        }
    };
    let status = answer.status.unwrap_or_default();
    let rules = Rules {
        rules: status.resource_rules,
        incomplete: status.incomplete,
    };
    lock(&inner.access.namespaces).insert(cached, (Instant::now(), rules.clone()));
    Some(rules)
}

/// Whether `user` may `verb` `resource` of `group` in `namespace` (cached).
async fn access_review(
    inner: &Inner,
    client: &Client,
    user: &str,
    (group, resource, namespace, verb): (&str, &str, &str, &str),
) -> Result<bool, TargetError> {
    let key = (
        user.to_owned(),
        (
            group.to_owned(),
            resource.to_owned(),
            namespace.to_owned(),
            verb.to_owned(),
        ),
    );
    if let Some((at, allowed)) = lock(&inner.access.cluster).get(&key)
        && at.elapsed() < KEEP
    {
        return Ok(*allowed);
    }
    let review = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                group: Some(group.to_owned()),
                resource: Some(resource.to_owned()),
                namespace: (!namespace.is_empty()).then(|| namespace.to_owned()),
                verb: Some(verb.to_owned()),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    let api: Api<SelfSubjectAccessReview> = Api::all(client.clone());
    let answer = api
        .create(&PostParams::default(), &review)
        .await
        .map_err(TargetError::Api)?;
    let allowed = answer.status.is_some_and(|s| s.allowed);
    lock(&inner.access.cluster).insert(key, (Instant::now(), allowed));
    Ok(allowed)
}
