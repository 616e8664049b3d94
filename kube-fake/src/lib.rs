//! An in-process fake of the Kubernetes API server, enough for kube's client and for what cairn
//! relies on, shared by the agent's tests and the `kube-requests` benchmark:
//!
//! - discovery, legacy (`/api`, `/apis`, per group-version) and aggregated
//!   (`apidiscovery.k8s.io/v2`);
//! - get, list (label selectors with every operator, `metadata.name`/`metadata.namespace` field
//!   selectors, `limit`/`continue` pagination, metadata-only answers), watch (events after a
//!   `resourceVersion`, then live), create, replace (resourceVersion-checked), delete (UID and
//!   resourceVersion preconditions);
//! - server-side apply with field ownership (`managedFields`: conflicts, force, released fields,
//!   dry runs, unchanged applies leave the resourceVersion alone) and merge patches by other
//!   managers;
//! - RBAC: the caller's own grants bound cluster-wide or per namespace (none: everything), 403 for
//!   anything else (a server-side apply that creates also needs `create`); `Impersonate-User` /
//!   `-Group` checked against the caller's `impersonate` grants and answered with the rights the
//!   stored Role/ClusterRole/RoleBinding/ClusterRoleBinding objects give that user; the
//!   escalation and bind checks on RBAC writes; the `SelfSubjectRulesReview` /
//!   `SelfSubjectAccessReview` answers that match, for whoever asks;
//! - a CRD becomes Established (and its kinds served) after a few reads; a Deployment's
//!   status is written as if its controller rolled it out (or stalls, as on a cluster without
//!   nodes);
//! - missing namespaces refuse writes into them; faults (a status, or a request that never
//!   answers) can be injected per method and name; every request is recorded with its API verb,
//!   the entry point it came through and its answer's status;
//! - more entry points to the same server (one per agent replica), each of which can be cut off
//!   ([`FakeApi::partition`]).
//!
//! ```no_run
//! # async fn demo() {
//! let fake = cairn_kube_fake::FakeApi::start().await;
//! let client = fake.client();
//! # let _ = client;
//! assert_eq!(fake.counts().get("list"), None);
//! # }
//! ```

mod discovery;
mod doors;
mod fields;
mod ops;
mod rbac;
mod route;
mod select;
mod ssa;
mod world;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::Value;

pub use rbac::Grant;
pub use world::{Kind, Seen};

use route::{Call, Reply};
use world::{Fault, World, key};

/// The fake server; it lives as long as the runtime that started it.
#[derive(Clone)]
pub struct FakeApi {
    world: Arc<Mutex<World>>,
    /// Where it listens (loopback).
    pub addr: SocketAddr,
}

type Body = BoxBody<Bytes, Infallible>;

impl FakeApi {
    /// Starts a fake serving the built-in kinds, allowing everything.
    pub async fn start() -> FakeApi {
        let world = Arc::new(Mutex::new(World::new()));
        let addr = listen(world.clone(), String::new()).await;
        FakeApi { world, addr }
    }

    /// Another entry point to the same server, whose requests are recorded with `name` and can
    /// be cut off alone ([`FakeApi::partition`]).
    pub async fn door(&self, name: &str) -> FakeApi {
        let addr = listen(self.world.clone(), name.to_owned()).await;
        FakeApi {
            world: self.world.clone(),
            addr,
        }
    }

    /// Cuts `door` off from the server: its requests (only those for resource `only`, a
    /// plural, when given) fail with 503, at once or after hanging until healed (`hang`).
    pub fn partition(&self, door: &str, hang: bool, only: Option<&str>) {
        let cut = world::Cut {
            hang,
            only: only.map(str::to_owned),
        };
        self.world().cuts.insert(door.to_owned(), cut);
    }

    /// Ends the partition of `door`.
    pub fn heal(&self, door: &str) {
        self.world().cuts.remove(door);
    }

    fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A client configuration naming the fake.
    pub fn config(&self) -> kube::Config {
        kube::Config::new(
            format!("http://{}", self.addr)
                .parse()
                .expect("a loopback URL parses"),
        )
    }

    /// A client for requests "by hand", around the agent's.
    pub fn client(&self) -> kube::Client {
        kube::Client::try_from(self.config()).expect("a client for a plain HTTP URL")
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
        std::fs::write(&path, text).expect("write the kubeconfig");
        path
    }

    /// Answers the next `times` requests `method` on objects named `name` with `code`.
    pub fn fail(&self, method: &str, name: &str, code: u16, retry_after: Option<u64>, times: u32) {
        self.world().faults.push(Fault {
            method: method.into(),
            name: name.into(),
            code: Some(code),
            retry_after,
            times,
        });
    }

    /// Never answers the next request `method` on objects named `name` (as an API server that
    /// stalls, or a process killed while waiting for it).
    pub fn hang(&self, method: &str, name: &str) {
        self.world().faults.push(Fault {
            method: method.into(),
            name: name.into(),
            code: None,
            retry_after: None,
            times: 1,
        });
    }

    /// Allows only what `grants` grant (replacing earlier grants); `None` allows everything.
    pub fn authorize(&self, grants: Option<Vec<Grant>>) {
        self.world().rbac.grants = grants;
    }

    /// How many reads a new CRD takes to become Established (2 by default: a list and the watch
    /// that follows it, or two gets).
    pub fn establish_after(&self, reads: u32) {
        self.world().establish_after = reads;
    }

    /// Keeps Deployments unavailable, as on a cluster without nodes.
    pub fn stall_rollouts(&self, stall: bool) {
        self.world().stall_rollouts = stall;
    }

    /// Serves one more kind.
    pub fn serve(&self, kind: Kind) {
        self.world().kinds.push(kind);
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.world().seen.clone()
    }

    /// Forgets the recorded requests.
    pub fn clear_seen(&self) {
        self.world().seen.clear();
    }

    /// Requests so far by API verb ([`Seen::label`]: `get`, `list`, `watch`, `patch`,
    /// `patch (dry run)`, `create`, `delete`, `discovery`, `review`, …).
    pub fn counts(&self) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for seen in &self.world().seen {
            *out.entry(seen.label()).or_default() += 1;
        }
        out
    }

    /// Requests so far that could change something.
    pub fn writes(&self) -> usize {
        self.world().seen.iter().filter(|s| s.writes()).count()
    }

    /// The stored object, if any (`group` "" for core).
    pub fn get(&self, group: &str, plural: &str, namespace: &str, name: &str) -> Option<Value> {
        self.world()
            .objects
            .get(&key(group, plural, namespace, name))
            .cloned()
    }

    /// Every stored object of `plural` in `group`.
    pub fn all(&self, group: &str, plural: &str) -> Vec<Value> {
        let prefix = format!("{group}/{plural}/");
        self.world()
            .objects
            .iter()
            .filter(|(k, _)| k.starts_with(&prefix))
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Stores (or, with `None`, removes) an object as someone editing by hand would
    /// (`kubectl-edit`): the fields it changes become theirs. An object without the live uid is
    /// a new object replacing the old one.
    pub fn put(
        &self,
        group: &str,
        plural: &str,
        namespace: &str,
        name: &str,
        object: Option<Value>,
    ) {
        self.put_as("kubectl-edit", group, plural, namespace, name, object);
    }

    /// [`FakeApi::put`] by field manager `manager`.
    pub fn put_as(
        &self,
        manager: &str,
        group: &str,
        plural: &str,
        namespace: &str,
        name: &str,
        object: Option<Value>,
    ) {
        let mut world = self.world();
        let k = key(group, plural, namespace, name);
        let kind = world
            .kinds
            .iter()
            .find(|kind| kind.group == group && kind.plural == plural)
            .cloned()
            .unwrap_or_else(|| Kind::new(group, "v1", "Unknown", plural, !namespace.is_empty()));
        let Some(object) = object else {
            world.commit(&kind, k, None);
            return;
        };
        let live = world.objects.get(&k).cloned();
        let same = live
            .as_ref()
            .is_some_and(|l| l["metadata"]["uid"] == object["metadata"]["uid"]);
        let previous = if same { live.as_ref() } else { None };
        let time = world.tick();
        let api_version = kind.api_version();
        let writer = ssa::Writer {
            manager,
            api_version: &api_version,
            time: &time,
        };
        let mut next = ssa::update(previous, object, &writer);
        ops::settle(&mut world, &kind, &mut next, previous);
        if !same {
            next["metadata"].as_object_mut().map(|m| m.remove("uid"));
        }
        world.stamp(&mut next, previous);
        world.commit(&kind, k, Some(next));
    }
}

/// Serves `world` on a new loopback port, recording requests as coming through `door`.
async fn listen(world: Arc<Mutex<World>>, door: String) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a loopback port");
    let addr = listener.local_addr().expect("a bound address");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (world, door) = (world.clone(), door.clone());
            tokio::spawn(async move {
                let service = service_fn(move |req: Request<Incoming>| {
                    let (world, door) = (world.clone(), door.clone());
                    async move { Ok::<_, Infallible>(serve(&world, &door, req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

/// Serves one request that came through `door`.
async fn serve(world: &Arc<Mutex<World>>, door: &str, req: Request<Incoming>) -> Response<Body> {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let (content_type, accept) = (header("content-type"), header("accept"));
    let impersonation = rbac::impersonation::Impersonation {
        user: Some(header("impersonate-user")).filter(|u| !u.is_empty()),
        groups: (req.headers().get_all("impersonate-group").iter())
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect(),
    };
    let (method, path) = (req.method().to_string(), req.uri().path().to_owned());
    let query = req.uri().query().unwrap_or_default().to_owned();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let call = Call {
        method,
        path,
        query,
        content_type,
        accept,
        body,
        impersonation,
    };
    if doors::cut_off(world, door, &call.path).await {
        let body = serde_json::json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
            "reason": "ServiceUnavailable", "message": "cut off from the API server", "code": 503});
        return json_response(503, &body, None);
    }
    let reply = {
        let mut world = world.lock().unwrap_or_else(|p| p.into_inner());
        let reply = route::handle(&mut world, &call, door);
        if let Some(seen) = world.seen.last_mut() {
            seen.code = match &reply {
                Reply::Json { code, .. } => *code,
                Reply::Stream { .. } => 200,
                Reply::Hang => 0,
            };
        }
        reply
    };
    let held = (world.clone(), door.to_owned(), call.path.clone());
    respond_held(reply, held).await
}

/// The response to `reply`; a watch's lines are held while its door is cut off.
async fn respond_held(reply: Reply, held: (Arc<Mutex<World>>, String, String)) -> Response<Body> {
    match reply {
        Reply::Stream { lines, timeout } => {
            let ended = tokio::time::sleep(timeout);
            let stream = futures::stream::unfold(lines, move |mut lines| {
                let (world, door, path) = held.clone();
                async move {
                    let line = lines.recv().await?;
                    doors::wait_healed(&world, &door, &path, timeout).await;
                    Some((line, lines))
                }
            })
            .take_until(ended)
            .map(|line| Ok::<_, Infallible>(Frame::data(line)));
            let mut response = Response::new(BodyExt::boxed(StreamBody::new(stream)));
            response.headers_mut().insert(
                "content-type",
                hyper::header::HeaderValue::from_static("application/json"),
            );
            response
        }
        Reply::Json {
            code,
            body,
            retry_after,
        } => json_response(code, &body, retry_after),
        Reply::Hang => std::future::pending().await,
    }
}

/// The response to a JSON answer.
fn json_response(code: u16, body: &serde_json::Value, retry_after: Option<u64>) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())).boxed());
    *response.status_mut() =
        hyper::StatusCode::from_u16(code).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(
        "content-type",
        hyper::header::HeaderValue::from_static("application/json"),
    );
    if let Some(secs) = retry_after {
        headers.insert("retry-after", secs.into());
    }
    response
}
