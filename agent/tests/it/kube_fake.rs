//! An in-process fake of the Kubernetes API server, enough for kube's client: discovery
//! (`/api`, `/apis`, `/api/v1`, `/apis/<group>/<version>`), get, list (equality label
//! selectors), create, replace (resourceVersion-checked), server-side apply (`PATCH` with
//! `application/apply-patch+yaml`, dry runs included) and delete (UID preconditions). A CRD
//! becomes Established (and its kind discoverable) after a few reads; a Deployment's status is
//! filled in as if its controller rolled it out. Failures can be injected per method and name,
//! and every request is recorded.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

/// One kind the fake serves.
#[derive(Clone, Debug)]
pub struct Kind {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub plural: String,
    pub namespaced: bool,
}

fn kind(group: &str, version: &str, kind: &str, plural: &str, namespaced: bool) -> Kind {
    Kind {
        group: group.into(),
        version: version.into(),
        kind: kind.into(),
        plural: plural.into(),
        namespaced,
    }
}

/// A recorded request.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: String,
    pub content_type: String,
    /// The entry point it came through ("" for the main one; see [`FakeApi::door`]).
    pub door: String,
    /// The status it was answered with.
    pub code: u16,
    /// When it was processed.
    pub at: chrono::DateTime<chrono::Utc>,
}

#[derive(Clone, Debug)]
struct Failure {
    method: String,
    name: String,
    code: u16,
    retry_after: Option<u64>,
    times: u32,
}

#[derive(Debug, Default)]
struct World {
    kinds: Vec<Kind>,
    objects: BTreeMap<String, Value>,
    rv: u64,
    uid: u64,
    failures: Vec<Failure>,
    seen: Vec<Seen>,
    /// CRD name → reads left before it is Established.
    establishing: BTreeMap<String, u32>,
    /// Every change, for watches.
    events: Vec<Event>,
    /// Entry points cut off from the server (see [`FakeApi::partition`]).
    cuts: BTreeMap<String, Cut>,
}

/// The fake server; dropped with the test's runtime.
#[derive(Clone)]
pub struct FakeApi {
    world: Arc<Mutex<World>>,
    pub addr: SocketAddr,
}

fn status(code: u16, reason: &str, message: &str) -> (u16, Value) {
    (
        code,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": message, "reason": reason, "code": code}),
    )
}

fn key(group: &str, plural: &str, namespace: &str, name: &str) -> String {
    format!("{group}/{plural}/{namespace}/{name}")
}

impl FakeApi {
    /// Starts a fake serving the built-in kinds cairn's tests use.
    pub async fn start() -> FakeApi {
        let world = World {
            kinds: vec![
                kind("", "v1", "Namespace", "namespaces", false),
                kind("", "v1", "ConfigMap", "configmaps", true),
                kind("", "v1", "Service", "services", true),
                kind(
                    "",
                    "v1",
                    "PersistentVolumeClaim",
                    "persistentvolumeclaims",
                    true,
                ),
                kind("apps", "v1", "Deployment", "deployments", true),
                kind("apps", "v1", "StatefulSet", "statefulsets", true),
                kind("apps", "v1", "DaemonSet", "daemonsets", true),
                kind("batch", "v1", "Job", "jobs", true),
                kind("coordination.k8s.io", "v1", "Lease", "leases", true),
                kind(
                    "apiextensions.k8s.io",
                    "v1",
                    "CustomResourceDefinition",
                    "customresourcedefinitions",
                    false,
                ),
            ],
            ..World::default()
        };
        let world = Arc::new(Mutex::new(world));
        let addr = serve(world.clone(), String::new()).await;
        FakeApi { world, addr }
    }

    /// Another entry point to the same server, whose requests are recorded with `name` and can
    /// be cut off alone ([`FakeApi::partition`]): one per agent replica, as each reaches the
    /// API server over its own network path.
    pub async fn door(&self, name: &str) -> FakeApi {
        let addr = serve(self.world.clone(), name.to_owned()).await;
        FakeApi {
            world: self.world.clone(),
            addr,
        }
    }

    /// A kube client for the fake.
    /// A client configuration naming the fake.
    pub fn config(&self) -> kube::Config {
        kube::Config::new(format!("http://{}", self.addr).parse().unwrap())
    }

    /// A client for requests "by hand", around the agent's.
    pub fn client(&self) -> kube::Client {
        kube::Client::try_from(self.config()).unwrap()
    }

    /// A connection as the agent makes one (no rate limit).
    pub fn cluster(&self) -> std::sync::Arc<cairn_agent::Cluster> {
        std::sync::Arc::new(cairn_agent::Cluster::with_config(self.config(), 0.0, 1))
    }

    /// Writes a kubeconfig file naming the fake, for code that connects by itself.
    pub fn kubeconfig(&self, dir: &std::path::Path) -> std::path::PathBuf {
        let path = dir.join("kubeconfig");
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: http://{}\n\
             contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\n\
             current-context: fake\nusers:\n- name: fake\n  user: {{}}\n",
            self.addr
        );
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Answers the next `times` requests `method` on objects named `name` with `code`.
    pub fn fail(&self, method: &str, name: &str, code: u16, retry_after: Option<u64>, times: u32) {
        self.world.lock().unwrap().failures.push(Failure {
            method: method.into(),
            name: name.into(),
            code,
            retry_after,
            times,
        });
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.world.lock().unwrap().seen.clone()
    }

    /// Forgets the recorded requests.
    pub fn clear_seen(&self) {
        self.world.lock().unwrap().seen.clear();
    }

    /// The stored object, if any (`group` "" for core).
    pub fn get(&self, group: &str, plural: &str, namespace: &str, name: &str) -> Option<Value> {
        self.world
            .lock()
            .unwrap()
            .objects
            .get(&key(group, plural, namespace, name))
            .cloned()
    }

    /// Stores (or, with `None`, removes) an object as someone else would, bumping its version.
    pub fn put(
        &self,
        group: &str,
        plural: &str,
        namespace: &str,
        name: &str,
        object: Option<Value>,
    ) {
        let mut world = self.world.lock().unwrap();
        let k = key(group, plural, namespace, name);
        match object {
            Some(mut object) => {
                world.rv += 1;
                world.uid += 1;
                let (rv, uid) = (world.rv, world.uid);
                let meta = &mut object["metadata"];
                meta["resourceVersion"] = rv.to_string().into();
                if meta.get("uid").is_none() {
                    meta["uid"] = format!("uid-{uid}").into();
                }
                world.objects.insert(k.clone(), object.clone());
                push_event(&mut world, "MODIFIED", &k, object);
            }
            None => {
                if let Some(object) = world.objects.remove(&k) {
                    world.rv += 1;
                    push_event(&mut world, "DELETED", &k, object);
                }
            }
        }
    }
}

/// Serves `world` on a new loopback port, recording requests as coming through `door`.
async fn serve(world: Arc<Mutex<World>>, door: String) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (world, door) = (world.clone(), door.clone());
            tokio::spawn(async move {
                let service = service_fn(move |req: Request<Incoming>| {
                    let (world, door) = (world.clone(), door.clone());
                    async move { Ok::<_, Infallible>(handle(&world, &door, req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

type Body = BoxBody<Bytes, Infallible>;

async fn handle(world: &Arc<Mutex<World>>, door: &str, req: Request<Incoming>) -> Response<Body> {
    let method = req.method().to_string();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or_default().to_owned();
    let content_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    if let Some(response) = cut_off(world, door, &path).await {
        return response;
    }
    if method == "GET" && is_watch(&query) {
        return watch(world, door, &path, &query);
    }
    let mut world = world.lock().unwrap();
    let deleted = deleted_object(&world, &method, &path);
    let rv_before = world.rv;
    let name = path.rsplit('/').next().unwrap_or_default().to_owned();
    let mut retry_after = None;
    let injected = world
        .failures
        .iter_mut()
        .find(|f| f.times > 0 && f.method == method && f.name == name)
        .map(|f| {
            f.times -= 1;
            retry_after = f.retry_after;
            f.code
        });
    let (code, value) = match injected {
        Some(code) => status(code, "Injected", &format!("injected failure {code}")),
        None => route(&mut world, &method, &path, &query, &content_type, &body),
    };
    world.seen.push(Seen {
        method: method.clone(),
        path: path.clone(),
        query: query.clone(),
        content_type: content_type.clone(),
        door: door.to_owned(),
        code,
        at: chrono::Utc::now(),
    });
    record_event(&mut world, &method, &path, rv_before, &value, deleted);
    let mut response = Response::new(Full::new(Bytes::from(value.to_string())).boxed());
    *response.status_mut() = hyper::StatusCode::from_u16(code).unwrap();
    response
        .headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    if let Some(secs) = retry_after {
        response
            .headers_mut()
            .insert("retry-after", secs.to_string().parse().unwrap());
    }
    response
}

/// What a resource path names.
struct Target {
    kind: Kind,
    namespace: String,
    name: Option<String>,
}

fn parse(world: &World, path: &str) -> Option<Target> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match parts.as_slice() {
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return None,
    };
    let (namespace, plural, name) = match rest {
        ["namespaces", ns, plural, name] => (*ns, *plural, Some(*name)),
        ["namespaces", ns, plural] => (*ns, *plural, None),
        [plural, name] => ("", *plural, Some(*name)),
        [plural] => ("", *plural, None),
        _ => return None,
    };
    let kind = world
        .kinds
        .iter()
        .find(|k| k.group == group && k.version == version && k.plural == plural)?
        .clone();
    Some(Target {
        kind,
        namespace: namespace.to_owned(),
        name: name.map(str::to_owned),
    })
}

fn route(
    world: &mut World,
    method: &str,
    path: &str,
    query: &str,
    content_type: &str,
    body: &[u8],
) -> (u16, Value) {
    if method == "GET"
        && let Some(answer) = discovery(world, path)
    {
        return (200, answer);
    }
    let Some(target) = parse(world, path) else {
        return status(
            404,
            "NotFound",
            &format!("the server could not find the requested resource {path}"),
        );
    };
    let body: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    match (method, target.name.clone()) {
        ("GET", Some(name)) => get(world, &target, &name),
        ("GET", None) => list(world, &target, query),
        ("POST", None) => create(world, &target, body),
        ("PUT", Some(name)) => replace(world, &target, &name, body),
        ("PATCH", Some(name)) => apply(world, &target, &name, query, content_type, body),
        ("DELETE", Some(name)) => delete(world, &target, &name, &body),
        _ => status(405, "MethodNotAllowed", method),
    }
}

fn discovery(world: &World, path: &str) -> Option<Value> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let resources = |group: &str, version: &str| {
        let list: Vec<Value> = world
            .kinds
            .iter()
            .filter(|k| k.group == group && k.version == version)
            .map(|k| json!({"name": k.plural, "singularName": k.kind.to_lowercase(), "namespaced": k.namespaced,
                            "kind": k.kind, "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]}))
            .collect();
        let gv = if group.is_empty() {
            version.to_owned()
        } else {
            format!("{group}/{version}")
        };
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": list})
    };
    match parts.as_slice() {
        ["api"] => Some(
            json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}),
        ),
        ["api", "v1"] => Some(resources("", "v1")),
        ["apis"] => {
            let mut groups: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
            for k in world.kinds.iter().filter(|k| !k.group.is_empty()) {
                let versions = groups.entry(&k.group).or_default();
                if !versions.contains(&k.version.as_str()) {
                    versions.push(&k.version);
                }
            }
            let groups: Vec<Value> = groups
                .into_iter()
                .map(|(g, vs)| {
                    let versions: Vec<Value> = vs
                        .iter()
                        .map(|v| json!({"groupVersion": format!("{g}/{v}"), "version": v}))
                        .collect();
                    json!({"name": g, "versions": versions, "preferredVersion": versions[0]})
                })
                .collect();
            Some(json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}))
        }
        ["apis", g, v] if world.kinds.iter().any(|k| k.group == *g && k.version == *v) => {
            Some(resources(g, v))
        }
        _ => None,
    }
}

fn object_key(target: &Target, name: &str) -> String {
    key(
        &target.kind.group,
        &target.kind.plural,
        &target.namespace,
        name,
    )
}

fn get(world: &mut World, target: &Target, name: &str) -> (u16, Value) {
    let k = object_key(target, name);
    if target.kind.kind == "CustomResourceDefinition"
        && let Some(left) = world.establishing.get_mut(name)
    {
        if *left == 0 {
            world.establishing.remove(name);
            establish(world, &k);
        } else {
            *left -= 1;
        }
    }
    match world.objects.get(&k) {
        Some(object) => (200, object.clone()),
        None => status(
            404,
            "NotFound",
            &format!("{} \"{name}\" not found", target.kind.plural),
        ),
    }
}

/// Marks a CRD Established and serves its kind.
fn establish(world: &mut World, k: &str) {
    let Some(crd) = world.objects.get_mut(k) else {
        return;
    };
    crd["status"] = json!({"conditions": [{"type": "NamesAccepted", "status": "True"}, {"type": "Established", "status": "True"}]});
    let spec = crd["spec"].clone();
    for version in spec["versions"].as_array().into_iter().flatten() {
        world.kinds.push(kind(
            spec["group"].as_str().unwrap_or_default(),
            version["name"].as_str().unwrap_or_default(),
            spec["names"]["kind"].as_str().unwrap_or_default(),
            spec["names"]["plural"].as_str().unwrap_or_default(),
            spec["scope"] == "Namespaced",
        ));
    }
}

fn list(world: &World, target: &Target, query: &str) -> (u16, Value) {
    let selector: Vec<(String, String)> = query
        .split('&')
        .filter_map(|p| p.strip_prefix("labelSelector="))
        .flat_map(|s| s.split("%2C").map(str::to_owned).collect::<Vec<_>>())
        .filter_map(|s| {
            let s = s.replace("%3D", "=").replace("%2F", "/");
            s.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned()))
        })
        .collect();
    let prefix = format!(
        "{}/{}/{}/",
        target.kind.group, target.kind.plural, target.namespace
    );
    let items: Vec<Value> = world
        .objects
        .iter()
        .filter(|(k, _)| k.starts_with(&prefix))
        .map(|(_, v)| v.clone())
        .filter(|v| {
            selector
                .iter()
                .all(|(k, want)| v["metadata"]["labels"][k] == *want.as_str())
        })
        .filter(|v| field_selected(query, v))
        .collect();
    (
        200,
        json!({"kind": format!("{}List", target.kind.kind), "apiVersion": "v1",
                 "metadata": {"resourceVersion": world.rv.to_string()}, "items": items}),
    )
}

fn stamp(world: &mut World, object: &mut Value, previous: Option<&Value>) {
    world.rv += 1;
    let meta = &mut object["metadata"];
    meta["resourceVersion"] = world.rv.to_string().into();
    match previous {
        Some(p) => {
            meta["uid"] = p["metadata"]["uid"].clone();
            meta["creationTimestamp"] = p["metadata"]["creationTimestamp"].clone();
        }
        None => {
            world.uid += 1;
            meta["uid"] = format!("uid-{}", world.uid).into();
            meta["creationTimestamp"] = "2026-01-01T00:00:00Z".into();
        }
    }
}

fn create(world: &mut World, target: &Target, mut body: Value) -> (u16, Value) {
    let name = body["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let k = object_key(target, &name);
    if world.objects.contains_key(&k) {
        return status(
            409,
            "AlreadyExists",
            &format!("{} \"{name}\" already exists", target.kind.plural),
        );
    }
    stamp(world, &mut body, None);
    world.objects.insert(k, body.clone());
    (201, body)
}

fn replace(world: &mut World, target: &Target, name: &str, mut body: Value) -> (u16, Value) {
    let k = object_key(target, name);
    let Some(live) = world.objects.get(&k).cloned() else {
        return status(404, "NotFound", name);
    };
    if body["metadata"]["resourceVersion"] != live["metadata"]["resourceVersion"] {
        return status(
            409,
            "Conflict",
            "the object has been modified; please apply your changes to the latest version",
        );
    }
    stamp(world, &mut body, Some(&live));
    world.objects.insert(k, body.clone());
    (200, body)
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-.".contains(&b))
}

/// Server-side apply, simplified: the applied configuration replaces the object's content;
/// identity, status and fields of other managers' annotations are kept.
fn apply(
    world: &mut World,
    target: &Target,
    name: &str,
    query: &str,
    content_type: &str,
    body: Value,
) -> (u16, Value) {
    if content_type != "application/apply-patch+yaml" {
        return status(415, "UnsupportedMediaType", content_type);
    }
    let params: BTreeMap<&str, &str> = query.split('&').filter_map(|p| p.split_once('=')).collect();
    if params.get("fieldManager").is_none_or(|m| m.is_empty()) {
        return status(
            422,
            "Invalid",
            "fieldManager is required for apply requests",
        );
    }
    if !valid_name(name) {
        return status(
            422,
            "Invalid",
            &format!(
                "metadata.name: Invalid value: \"{name}\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters"
            ),
        );
    }
    if target.kind.namespaced
        && !world
            .objects
            .contains_key(&key("", "namespaces", "", &target.namespace))
    {
        return status(
            404,
            "NotFound",
            &format!("namespaces \"{}\" not found", target.namespace),
        );
    }
    let k = object_key(target, name);
    let live = world.objects.get(&k).cloned();
    let force = params.get("force") == Some(&"true");
    if let Some(live) = &live
        && !force
        && live["metadata"]["annotations"]["fake/other-manager"].is_string()
    {
        return status(
            409,
            "Conflict",
            "Apply failed with 1 conflict: conflict with \"kubectl-edit\": .data.k",
        );
    }
    let mut next = body;
    if let Some(live) = &live {
        next["status"] = live["status"].clone();
        if next["status"].is_null() {
            next.as_object_mut().unwrap().remove("status");
        }
        next["metadata"]["resourceVersion"] = live["metadata"]["resourceVersion"].clone();
        next["metadata"]["uid"] = live["metadata"]["uid"].clone();
        next["metadata"]["creationTimestamp"] = live["metadata"]["creationTimestamp"].clone();
    }
    if target.kind.kind == "Deployment" {
        let replicas = next["spec"]["replicas"].as_i64().unwrap_or(1);
        next["status"] = json!({"observedGeneration": 1, "replicas": replicas, "updatedReplicas": replicas,
                                "readyReplicas": replicas, "availableReplicas": replicas});
        next["metadata"]["generation"] = 1.into();
    }
    if live.as_ref() == Some(&next) {
        return (200, next);
    }
    if params.get("dryRun") == Some(&"All") {
        return (200, next);
    }
    stamp(world, &mut next, live.as_ref());
    if target.kind.kind == "CustomResourceDefinition" && live.is_none() {
        world.establishing.insert(name.to_owned(), 1);
    }
    world.objects.insert(k, next.clone());
    (if live.is_some() { 200 } else { 201 }, next)
}

fn delete(world: &mut World, target: &Target, name: &str, body: &Value) -> (u16, Value) {
    let k = object_key(target, name);
    let Some(live) = world.objects.get(&k) else {
        return status(
            404,
            "NotFound",
            &format!("{} \"{name}\" not found", target.kind.plural),
        );
    };
    if let Some(uid) = body["preconditions"]["uid"].as_str()
        && live["metadata"]["uid"] != uid
    {
        return status(
            409,
            "Conflict",
            "Precondition failed: UID in precondition does not match UID in object",
        );
    }
    world.objects.remove(&k);
    (
        200,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 200}),
    )
}

/// One change to an object, as a watch delivers it.
#[derive(Clone, Debug)]
struct Event {
    rv: u64,
    kind: &'static str,
    key: String,
    object: Value,
}

/// How an entry point is cut off from the server.
#[derive(Clone, Debug)]
struct Cut {
    /// Requests hang (until healed, then are dropped unprocessed) instead of failing at once.
    hang: bool,
    /// Only requests for this resource (a plural, e.g. `leases`) are cut.
    only: Option<String>,
}

impl FakeApi {
    /// Cuts entry point `door` off: its requests (only those for resource `only`, if given)
    /// hang, or fail with 503, and are never processed; its watches deliver nothing. A network
    /// partition, or an API server that cannot serve one replica.
    pub fn partition(&self, door: &str, hang: bool, only: Option<&str>) {
        let cut = Cut {
            hang,
            only: only.map(str::to_owned),
        };
        self.world.lock().unwrap().cuts.insert(door.to_owned(), cut);
    }

    /// Ends the partition of `door`.
    pub fn heal(&self, door: &str) {
        self.world.lock().unwrap().cuts.remove(door);
    }
}

/// Whether a request for `path` through `door` is cut off.
fn is_cut(world: &World, door: &str, path: &str) -> bool {
    world.cuts.get(door).is_some_and(|cut| {
        cut.only
            .as_ref()
            .is_none_or(|only| path.split('/').any(|part| part == only))
    })
}

/// The answer to a request that is cut off: after hanging until healed (at most 30 s), or at
/// once, a 503; the request itself is never processed.
async fn cut_off(world: &Arc<Mutex<World>>, door: &str, path: &str) -> Option<Response<Body>> {
    let hang = {
        let world = world.lock().unwrap();
        if !is_cut(&world, door, path) {
            return None;
        }
        world.cuts[door].hang
    };
    if hang {
        for _ in 0..3000 {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            if !is_cut(&world.lock().unwrap(), door, path) {
                break;
            }
        }
    }
    let (code, value) = status(503, "ServiceUnavailable", "cut off from the API server");
    let mut response = Response::new(Full::new(Bytes::from(value.to_string())).boxed());
    *response.status_mut() = hyper::StatusCode::from_u16(code).unwrap();
    Some(response)
}

fn param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query
        .split('&')
        .find_map(|p| p.strip_prefix(name)?.strip_prefix('='))
}

fn is_watch(query: &str) -> bool {
    matches!(param(query, "watch"), Some("true" | "1"))
}

/// Whether `object` matches the query's `fieldSelector` (only `metadata.name=` is known).
fn field_selected(query: &str, object: &Value) -> bool {
    let Some(selector) = param(query, "fieldSelector") else {
        return true;
    };
    let selector = selector.replace("%3D", "=");
    match selector.strip_prefix("metadata.name=") {
        Some(name) => object["metadata"]["name"] == name,
        None => true,
    }
}

/// The store key of the object a request for `path` names (`POST`: the name in `body`).
fn event_key(world: &World, path: &str, body: &Value) -> Option<String> {
    let target = parse(world, path)?;
    let name = match target.name.clone() {
        Some(name) => name,
        None => body["metadata"]["name"].as_str()?.to_owned(),
    };
    Some(object_key(&target, &name))
}

/// The object a `DELETE` is about to remove.
fn deleted_object(world: &World, method: &str, path: &str) -> Option<(String, Value)> {
    if method != "DELETE" {
        return None;
    }
    let key = event_key(world, path, &Value::Null)?;
    world.objects.get(&key).map(|o| (key, o.clone()))
}

fn push_event(world: &mut World, kind: &'static str, key: &str, mut object: Value) {
    object["metadata"]["resourceVersion"] = world.rv.to_string().into();
    let rv = world.rv;
    world.events.push(Event {
        rv,
        kind,
        key: key.to_owned(),
        object,
    });
}

/// Records what a processed request changed, for watches.
fn record_event(
    world: &mut World,
    method: &str,
    path: &str,
    rv_before: u64,
    answer: &Value,
    deleted: Option<(String, Value)>,
) {
    if let Some((key, object)) = deleted {
        if !world.objects.contains_key(&key) {
            world.rv += 1;
            push_event(world, "DELETED", &key, object);
        }
        return;
    }
    if world.rv == rv_before || !matches!(method, "POST" | "PUT" | "PATCH") {
        return;
    }
    if let Some(key) = event_key(world, path, answer) {
        let kind = if method == "POST" {
            "ADDED"
        } else {
            "MODIFIED"
        };
        push_event(world, kind, &key, answer.clone());
    }
}

/// A watch: every change after the requested resourceVersion to objects under the path (and
/// its field selector), as JSON lines, until `timeoutSeconds`. A cut-off entry point's watch
/// delivers nothing while cut.
fn watch(world: &Arc<Mutex<World>>, door: &str, path: &str, query: &str) -> Response<Body> {
    let prefix = {
        let world = world.lock().unwrap();
        parse(&world, path).map(|t| format!("{}/{}/{}/", t.kind.group, t.kind.plural, t.namespace))
    };
    let Some(prefix) = prefix else {
        let (_, value) = status(404, "NotFound", path);
        let mut response = Response::new(Full::new(Bytes::from(value.to_string())).boxed());
        *response.status_mut() = hyper::StatusCode::NOT_FOUND;
        return response;
    };
    let from: u64 = param(query, "resourceVersion")
        .and_then(|rv| rv.parse().ok())
        .unwrap_or(0);
    let seconds: u64 = param(query, "timeoutSeconds")
        .and_then(|s| s.parse().ok())
        .unwrap_or(290);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(seconds);
    let (world, door, path, query) = (
        world.clone(),
        door.to_owned(),
        path.to_owned(),
        query.to_owned(),
    );
    let events = futures::stream::unfold(from, move |last| {
        let (world, door, path, query, prefix) = (
            world.clone(),
            door.clone(),
            path.clone(),
            query.clone(),
            prefix.clone(),
        );
        async move {
            while tokio::time::Instant::now() < deadline {
                let next = {
                    let world = world.lock().unwrap();
                    let open = !is_cut(&world, &door, &path);
                    let mut events = world.events.iter().filter(|e| open && e.rv > last);
                    events
                        .find(|e| e.key.starts_with(&prefix) && field_selected(&query, &e.object))
                        .cloned()
                };
                if let Some(event) = next {
                    let line = json!({"type": event.kind, "object": event.object}).to_string();
                    let frame = hyper::body::Frame::data(Bytes::from(line + "\n"));
                    return Some((Ok::<_, Infallible>(frame), event.rv));
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            None
        }
    });
    let mut response = Response::new(BodyExt::boxed(StreamBody::new(events)));
    response
        .headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    response
}
