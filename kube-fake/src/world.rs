//! What the fake holds: the kinds it serves, the objects, their versions, the watchers, the
//! recorded requests and the faults to inject.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::mpsc::UnboundedSender;

use crate::rbac::Rbac;
use crate::select::{FieldSelector, LabelSelector};

/// One kind the fake serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Kind {
    /// API group (`""` for the core group).
    pub group: String,
    /// Version served.
    pub version: String,
    /// Kind.
    pub kind: String,
    /// Resource name (plural).
    pub plural: String,
    /// Whether objects live in a namespace.
    pub namespaced: bool,
}

impl Kind {
    /// A kind.
    pub fn new(group: &str, version: &str, kind: &str, plural: &str, namespaced: bool) -> Kind {
        Kind {
            group: group.into(),
            version: version.into(),
            kind: kind.into(),
            plural: plural.into(),
            namespaced,
        }
    }

    /// `apiVersion` as objects spell it.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

/// The built-in kinds the fake serves from the start.
pub fn builtin_kinds() -> Vec<Kind> {
    let k = Kind::new;
    vec![
        k("", "v1", "Namespace", "namespaces", false),
        k("", "v1", "ConfigMap", "configmaps", true),
        k("", "v1", "Secret", "secrets", true),
        k("", "v1", "Service", "services", true),
        k("", "v1", "ServiceAccount", "serviceaccounts", true),
        k(
            "",
            "v1",
            "PersistentVolumeClaim",
            "persistentvolumeclaims",
            true,
        ),
        k("apps", "v1", "Deployment", "deployments", true),
        k("apps", "v1", "StatefulSet", "statefulsets", true),
        k("apps", "v1", "DaemonSet", "daemonsets", true),
        k("batch", "v1", "Job", "jobs", true),
        k("batch", "v1", "CronJob", "cronjobs", true),
        k("networking.k8s.io", "v1", "Ingress", "ingresses", true),
        k(
            "networking.k8s.io",
            "v1",
            "NetworkPolicy",
            "networkpolicies",
            true,
        ),
        k(
            "policy",
            "v1",
            "PodDisruptionBudget",
            "poddisruptionbudgets",
            true,
        ),
        k(
            "autoscaling",
            "v2",
            "HorizontalPodAutoscaler",
            "horizontalpodautoscalers",
            true,
        ),
        k("rbac.authorization.k8s.io", "v1", "Role", "roles", true),
        k(
            "rbac.authorization.k8s.io",
            "v1",
            "RoleBinding",
            "rolebindings",
            true,
        ),
        k(
            "rbac.authorization.k8s.io",
            "v1",
            "ClusterRole",
            "clusterroles",
            false,
        ),
        k(
            "rbac.authorization.k8s.io",
            "v1",
            "ClusterRoleBinding",
            "clusterrolebindings",
            false,
        ),
        k("coordination.k8s.io", "v1", "Lease", "leases", true),
        k(
            "apiextensions.k8s.io",
            "v1",
            "CustomResourceDefinition",
            "customresourcedefinitions",
            false,
        ),
    ]
}

/// A recorded request.
#[derive(Clone, Debug)]
pub struct Seen {
    /// HTTP method.
    pub method: String,
    /// URL path.
    pub path: String,
    /// Query string, as sent.
    pub query: String,
    /// `Content-Type`.
    pub content_type: String,
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, `discovery` or `review`
    /// (a `SelfSubjectAccessReview` or `SelfSubjectRulesReview`).
    pub verb: String,
    /// A `dryRun=All` request (it changes nothing).
    pub dry_run: bool,
    /// The entry point it came through (`""` for the main one; see [`crate::FakeApi::door`]).
    pub door: String,
    /// The status it was answered with (200 for a watch, 0 for a request never answered).
    pub code: u16,
    /// When it was processed.
    pub at: chrono::DateTime<chrono::Utc>,
    /// The user it was sent as (`Impersonate-User`), if not the caller's own identity.
    pub impersonated: Option<String>,
}

impl Seen {
    /// The verb, with dry runs told apart (`patch (dry run)`): the key of [`crate::FakeApi::counts`].
    pub fn label(&self) -> String {
        if self.dry_run {
            format!("{} (dry run)", self.verb)
        } else {
            self.verb.clone()
        }
    }

    /// Whether the request could change anything.
    pub fn writes(&self) -> bool {
        !self.dry_run && matches!(self.verb.as_str(), "create" | "update" | "patch" | "delete")
    }
}

/// A fault to inject into requests of one method on objects of one name.
#[derive(Clone, Debug)]
pub struct Fault {
    pub method: String,
    pub name: String,
    /// The status to answer; `None` hangs the request for good.
    pub code: Option<u16>,
    pub retry_after: Option<u64>,
    pub times: u32,
}

/// A watch in progress.
pub struct Watcher {
    pub group: String,
    pub plural: String,
    /// Empty: every namespace.
    pub namespace: String,
    pub labels: LabelSelector,
    pub fields: FieldSelector,
    pub tx: UnboundedSender<Bytes>,
}

/// One change, as watchers see it.
#[derive(Clone, Debug)]
pub struct Event {
    pub rv: u64,
    pub kind: &'static str,
    pub group: String,
    pub plural: String,
    pub object: Value,
}

/// Everything the fake knows.
#[derive(Default)]
pub struct World {
    pub kinds: Vec<Kind>,
    pub objects: BTreeMap<String, Value>,
    pub rv: u64,
    pub uid: u64,
    /// Seconds since the fake's epoch, for `managedFields` times.
    pub clock: u64,
    pub faults: Vec<Fault>,
    pub seen: Vec<Seen>,
    /// CRD name → reads left before it is Established.
    pub establishing: BTreeMap<String, u32>,
    /// Reads a new CRD takes to become Established.
    pub establish_after: u32,
    /// Whether Deployments stay unavailable (a cluster without nodes).
    pub stall_rollouts: bool,
    pub rbac: Rbac,
    pub watchers: Vec<Watcher>,
    pub events: Vec<Event>,
    /// Entry points cut off from the server, by door (see [`crate::FakeApi::partition`]).
    pub cuts: BTreeMap<String, Cut>,
}

/// How an entry point (a door) is cut off from the server: plain state kept in the world; what
/// a cut does to requests is `doors`'s job.
#[derive(Clone, Debug)]
pub struct Cut {
    /// Requests hang (until healed, at most 30 s, then fail) instead of failing at once.
    pub hang: bool,
    /// Only requests for this resource (a plural, e.g. `leases`) are cut.
    pub only: Option<String>,
}

/// Most events kept for watches that start from an older version.
const EVENTS_KEPT: usize = 50_000;

/// The key of an object in [`World::objects`].
pub fn key(group: &str, plural: &str, namespace: &str, name: &str) -> String {
    format!("{group}/{plural}/{namespace}/{name}")
}

impl World {
    /// A world serving the built-in kinds.
    pub fn new() -> World {
        World {
            kinds: builtin_kinds(),
            establish_after: 2,
            ..World::default()
        }
    }

    /// The next `managedFields` time.
    pub fn tick(&mut self) -> String {
        self.clock += 1;
        let (h, m, s) = (self.clock / 3600, self.clock / 60 % 60, self.clock % 60);
        format!("2026-01-01T{:02}:{m:02}:{s:02}Z", h % 24)
    }

    /// Gives `object` a new resourceVersion (and, when new, a uid and creation time).
    pub fn stamp(&mut self, object: &mut Value, previous: Option<&Value>) {
        self.rv += 1;
        let meta = &mut object["metadata"];
        meta["resourceVersion"] = self.rv.to_string().into();
        match previous {
            Some(p) => {
                meta["uid"] = p["metadata"]["uid"].clone();
                meta["creationTimestamp"] = p["metadata"]["creationTimestamp"].clone();
            }
            None => {
                self.uid += 1;
                if meta.get("uid").is_none_or(|u| !u.is_string()) {
                    meta["uid"] = format!("uid-{}", self.uid).into();
                }
                meta["creationTimestamp"] = "2026-01-01T00:00:00Z".into();
            }
        }
    }

    /// Stores `object` (or removes it) and tells watchers.
    pub fn commit(&mut self, kind: &Kind, k: String, object: Option<Value>) {
        let (event, value) = match object {
            Some(object) => {
                let event = if self.objects.contains_key(&k) {
                    "MODIFIED"
                } else {
                    "ADDED"
                };
                self.objects.insert(k, object.clone());
                (event, object)
            }
            None => match self.objects.remove(&k) {
                Some(mut gone) => {
                    self.rv += 1;
                    gone["metadata"]["resourceVersion"] = self.rv.to_string().into();
                    ("DELETED", gone)
                }
                None => return,
            },
        };
        self.emit(kind, event, value);
    }

    /// Sends an event to the watchers of its kind and keeps it for later watches.
    pub fn emit(&mut self, kind: &Kind, event: &'static str, object: Value) {
        let line = json!({"type": event, "object": object});
        let mut bytes = line.to_string().into_bytes();
        bytes.push(b'\n');
        let bytes = Bytes::from(bytes);
        let namespace = object["metadata"]["namespace"].as_str().unwrap_or_default();
        self.watchers.retain(|w| {
            let matches = w.group == kind.group
                && w.plural == kind.plural
                && (w.namespace.is_empty() || w.namespace == namespace)
                && w.labels.matches(&object)
                && w.fields.matches(&object);
            !matches || w.tx.send(bytes.clone()).is_ok()
        });
        let rv = object["metadata"]["resourceVersion"]
            .as_str()
            .and_then(|v| v.parse().ok())
            .unwrap_or(self.rv);
        self.events.push(Event {
            rv,
            kind: event,
            group: kind.group.clone(),
            plural: kind.plural.clone(),
            object,
        });
        if self.events.len() > EVENTS_KEPT {
            self.events.drain(..EVENTS_KEPT / 10);
        }
    }

    /// The kind serving `plural` at `group`/`version`.
    pub fn kind(&self, group: &str, version: &str, plural: &str) -> Option<Kind> {
        self.kinds
            .iter()
            .find(|k| k.group == group && k.version == version && k.plural == plural)
            .cloned()
    }

    /// Whether namespace `name` exists.
    pub fn has_namespace(&self, name: &str) -> bool {
        self.objects.contains_key(&key("", "namespaces", "", name))
    }

    /// Counts a read of CRD `name`; marks it Established (serving its kinds) after enough.
    pub fn read_crd(&mut self, name: &str) {
        let Some(left) = self.establishing.get_mut(name) else {
            return;
        };
        *left = left.saturating_sub(1);
        if *left > 0 {
            return;
        }
        self.establishing.remove(name);
        let k = key(
            "apiextensions.k8s.io",
            "customresourcedefinitions",
            "",
            name,
        );
        let Some(mut crd) = self.objects.get(&k).cloned() else {
            return;
        };
        let time = self.tick();
        let status = json!({"conditions": [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts"},
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted"}]});
        crate::ssa::write_status(
            &mut crd,
            status,
            &crate::ssa::Writer {
                manager: "kube-apiserver",
                api_version: "apiextensions.k8s.io/v1",
                time: &time,
            },
        );
        let spec = crd["spec"].clone();
        for version in spec["versions"].as_array().into_iter().flatten() {
            let served = Kind::new(
                spec["group"].as_str().unwrap_or_default(),
                version["name"].as_str().unwrap_or_default(),
                spec["names"]["kind"].as_str().unwrap_or_default(),
                spec["names"]["plural"].as_str().unwrap_or_default(),
                spec["scope"] == "Namespaced",
            );
            if !self.kinds.contains(&served) {
                self.kinds.push(served);
            }
        }
        let before = crd.clone();
        self.stamp(&mut crd, Some(&before));
        let kind = self
            .kinds
            .iter()
            .find(|k| k.kind == "CustomResourceDefinition")
            .cloned()
            .expect("CRDs are built in");
        self.commit(&kind, k, Some(crd));
    }
}
