//! The counting front: a static file server over the local store's directory, with real ETags,
//! `If-None-Match` and `304 Not Modified`, that counts every request, every response status and
//! every byte on the wire in both directions (request and response heads included: the bytes are
//! counted on the socket). It runs on a thread of its own so its CPU time can be read apart from
//! the agents'.
//!
//! The front is also an edge cache, as a CDN in front of a bucket would be: it keeps in memory
//! what it served of the objects that never change ([`layout::is_immutable`]: blobs, index
//! nodes, snapshot roots, delta packs, log entries) and answers later requests for them without
//! reading the store, while every head request goes to the store (`Cache-Control: no-cache`).
//! Requests that read the store are counted apart as *origin* requests.

use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Instant, UNIX_EPOCH};

use std::collections::HashMap;
use std::sync::Mutex;

use bytes::Bytes;
use cairn_agent::StoreLocation;
use cairn_state_format::layout;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Seconds of per-second request counts kept (longer runs fold into the last bucket).
const SECONDS: usize = 4 * 3600;

/// What the front has counted so far; every field only grows.
#[derive(Debug)]
pub struct Counters {
    started: Instant,
    /// Requests answered.
    pub requests: AtomicU64,
    /// `200 OK` answers.
    pub ok: AtomicU64,
    /// `304 Not Modified` answers.
    pub not_modified: AtomicU64,
    /// `404 Not Found` answers.
    pub not_found: AtomicU64,
    /// Any other answer (errors).
    pub other: AtomicU64,
    /// Bytes received from clients.
    pub bytes_in: AtomicU64,
    /// Bytes sent to clients.
    pub bytes_out: AtomicU64,
    /// Connections accepted.
    pub connections: AtomicU64,
    /// Requests that read the store (edge cache misses and every mutable object).
    pub origin: AtomicU64,
    per_second: Vec<AtomicU64>,
    origin_per_second: Vec<AtomicU64>,
}

/// A copy of the counters at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// Requests answered.
    pub requests: u64,
    /// `200 OK` answers.
    pub ok: u64,
    /// `304 Not Modified` answers.
    pub not_modified: u64,
    /// `404 Not Found` answers.
    pub not_found: u64,
    /// Other answers.
    pub other: u64,
    /// Bytes received.
    pub bytes_in: u64,
    /// Bytes sent.
    pub bytes_out: u64,
    /// Connections accepted.
    pub connections: u64,
    /// Requests that read the store.
    pub origin: u64,
}

impl Tally {
    /// What was counted between `earlier` and `self`.
    pub fn since(&self, earlier: &Tally) -> Tally {
        Tally {
            requests: self.requests - earlier.requests,
            ok: self.ok - earlier.ok,
            not_modified: self.not_modified - earlier.not_modified,
            not_found: self.not_found - earlier.not_found,
            other: self.other - earlier.other,
            bytes_in: self.bytes_in - earlier.bytes_in,
            bytes_out: self.bytes_out - earlier.bytes_out,
            connections: self.connections - earlier.connections,
            origin: self.origin - earlier.origin,
        }
    }
}

impl super::proxy::ByteCounts for Counters {
    fn connections(&self) -> &AtomicU64 {
        &self.connections
    }
    fn bytes_in(&self) -> &AtomicU64 {
        &self.bytes_in
    }
    fn bytes_out(&self) -> &AtomicU64 {
        &self.bytes_out
    }
}

impl Default for Counters {
    fn default() -> Counters {
        Counters::new()
    }
}

impl Counters {
    /// Nothing counted yet; seconds count from now.
    pub fn new() -> Counters {
        Counters {
            started: Instant::now(),
            requests: AtomicU64::new(0),
            ok: AtomicU64::new(0),
            not_modified: AtomicU64::new(0),
            not_found: AtomicU64::new(0),
            other: AtomicU64::new(0),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            origin: AtomicU64::new(0),
            per_second: (0..SECONDS).map(|_| AtomicU64::new(0)).collect(),
            origin_per_second: (0..SECONDS).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// The counters now.
    pub fn tally(&self) -> Tally {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Tally {
            requests: get(&self.requests),
            ok: get(&self.ok),
            not_modified: get(&self.not_modified),
            not_found: get(&self.not_found),
            other: get(&self.other),
            bytes_in: get(&self.bytes_in),
            bytes_out: get(&self.bytes_out),
            connections: get(&self.connections),
            origin: get(&self.origin),
        }
    }

    /// Seconds since the front started.
    pub fn second(&self) -> usize {
        (self.started.elapsed().as_secs() as usize).min(SECONDS - 1)
    }

    /// Requests answered in each whole second of `[from, to)` (seconds since the front started).
    pub fn per_second(&self, from: usize, to: usize) -> Vec<u64> {
        window(&self.per_second, from, to)
    }

    /// Of them, the requests that read the store, per second.
    pub fn origin_per_second(&self, from: usize, to: usize) -> Vec<u64> {
        window(&self.origin_per_second, from, to)
    }

    /// Counts a request that reached the origin.
    pub fn count_origin(&self) {
        self.origin.fetch_add(1, Ordering::Relaxed);
        self.origin_per_second[self.second()].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an answer.
    pub fn count(&self, status: StatusCode) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.per_second[self.second()].fetch_add(1, Ordering::Relaxed);
        let field = match status {
            StatusCode::OK => &self.ok,
            StatusCode::NOT_MODIFIED => &self.not_modified,
            StatusCode::NOT_FOUND => &self.not_found,
            _ => &self.other,
        };
        field.fetch_add(1, Ordering::Relaxed);
    }
}

fn window(per_second: &[AtomicU64], from: usize, to: usize) -> Vec<u64> {
    (from.min(SECONDS)..to.min(SECONDS))
        .map(|s| per_second[s].load(Ordering::Relaxed))
        .collect()
}

/// The edge cache: immutable objects served before, with their ETags. Unbounded: a run's
/// immutable objects (every snapshot's blobs, nodes and packs) take a few MB.
#[derive(Debug, Default)]
struct Edge {
    kept: Mutex<HashMap<String, (Bytes, String)>>,
}

impl Edge {
    fn get(&self, key: &str) -> Option<(Bytes, String)> {
        self.lock().get(key).cloned()
    }

    fn keep(&self, key: &str, bytes: Bytes, etag: String) {
        self.lock().insert(key.to_owned(), (bytes, etag));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Bytes, String)>> {
        // Single inserts: a panic while holding the lock leaves the map consistent.
        self.kept.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running front: where the agents read, and what was counted there.
#[derive(Debug)]
pub struct Front {
    /// What the agents read from: the front's base URL (`http://127.0.0.1:PORT`), or an opened
    /// store whose requests are counted (`--store`).
    pub source: StoreLocation,
    /// What it counted.
    pub counters: Arc<Counters>,
    /// The id of its thread (for its CPU time in `/proc/self/task/<tid>/stat`); `None` when the
    /// server is another process.
    pub tid: Option<u32>,
}

impl Front {
    /// CPU seconds the front has used so far (0 when the server is another process).
    pub fn cpu_s(&self) -> f64 {
        self.tid.map_or(0.0, thread_cpu_s)
    }
}

/// Starts a front serving `root` on a loopback port, on a thread of its own that lives as long
/// as the process.
pub fn start(root: &Path) -> crate::Result<Front> {
    let bind = crate::Error::os;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(bind("bind the front"))?;
    listener
        .set_nonblocking(true)
        .map_err(bind("bind the front"))?;
    let url = format!(
        "http://{}",
        listener.local_addr().map_err(bind("bind the front"))?
    );
    let counters = Arc::new(Counters::new());
    let (tid_tx, tid_rx) = std::sync::mpsc::channel();
    let root = root.to_path_buf();
    let shared = counters.clone();
    std::thread::Builder::new()
        .name("fleet-front".into())
        .spawn(move || {
            let tid = std::fs::read_link("/proc/thread-self")
                .ok()
                .and_then(|p| p.file_name()?.to_str()?.parse::<u32>().ok())
                .unwrap_or(0);
            let _ = tid_tx.send(tid);
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(e) => return eprintln!("front: cannot start a runtime: {e}"),
            };
            runtime.block_on(serve(listener, root, shared));
        })
        .map_err(bind("start the front's thread"))?;
    let tid = tid_rx
        .recv()
        .map_err(|_| crate::Error::unexpected("the front", "its thread ended at start"))?;
    Ok(Front {
        source: StoreLocation::Url(url),
        counters,
        tid: Some(tid),
    })
}

async fn serve(listener: std::net::TcpListener, root: PathBuf, counters: Arc<Counters>) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(e) => return eprintln!("front: cannot listen: {e}"),
    };
    let root = Arc::new(root);
    let edge = Arc::new(Edge::default());
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        counters.connections.fetch_add(1, Ordering::Relaxed);
        let io = TokioIo::new(Counted {
            inner: stream,
            counters: counters.clone(),
        });
        let (root, counters, edge) = (root.clone(), counters.clone(), edge.clone());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let answer = answer(&root, &edge, &counters, &request);
                counters.count(answer.status());
                async move { Ok::<_, std::convert::Infallible>(answer) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, service)
                .await;
        });
    }
}

/// Answers one GET: an immutable object from the edge cache when it was served before, anything
/// else from the directory (synchronously: the files are small and on a tmpfs, and the work stays
/// on the front's thread, where its CPU time is counted).
fn answer(
    root: &Path,
    edge: &Edge,
    counters: &Counters,
    request: &Request<Incoming>,
) -> Response<Full<Bytes>> {
    let key = request.uri().path().trim_start_matches('/');
    if request.method() != hyper::Method::GET || key.split('/').any(|p| p == ".." || p.is_empty()) {
        return respond(StatusCode::BAD_REQUEST, Bytes::new());
    }
    let matches = |etag: &str| {
        request
            .headers()
            .get(hyper::header::IF_NONE_MATCH)
            .is_some_and(|v| v.as_bytes() == etag.as_bytes())
    };
    let immutable = layout::is_immutable(key);
    let kept = if immutable { edge.get(key) } else { None };
    let (body, etag) = match kept {
        Some((bytes, etag)) => (Some(bytes), etag),
        None => {
            counters.count_origin();
            let path = root.join(key);
            let Some(etag) = etag_of(&path) else {
                return respond(StatusCode::NOT_FOUND, Bytes::new());
            };
            // A head that did not change is answered from its metadata alone.
            let body = if matches(&etag) && !immutable {
                None
            } else {
                let Ok(bytes) = std::fs::read(&path) else {
                    return respond(StatusCode::NOT_FOUND, Bytes::new());
                };
                let bytes = Bytes::from(bytes);
                if immutable {
                    edge.keep(key, bytes.clone(), etag.clone());
                }
                Some(bytes)
            };
            (body, etag)
        }
    };
    let mut response = match body {
        Some(bytes) if !matches(&etag) => respond(StatusCode::OK, bytes),
        _ => respond(StatusCode::NOT_MODIFIED, Bytes::new()),
    };
    let headers = response.headers_mut();
    // One connection per request: 10,000 kept-alive agents would need 20,000 descriptors in this
    // one process (agents and front), past the usual limit; clusters polling every 30 s across
    // the internet rarely keep a connection that long anyway.
    headers.insert(
        hyper::header::CONNECTION,
        hyper::header::HeaderValue::from_static("close"),
    );
    headers.insert(
        hyper::header::CACHE_CONTROL,
        hyper::header::HeaderValue::from_static(layout::cache_control(key)),
    );
    if let Ok(value) = hyper::header::HeaderValue::from_str(&etag) {
        headers.insert(hyper::header::ETAG, value);
    }
    response
}

fn respond(status: StatusCode, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response
}

/// A file's ETag: nginx's, with nanoseconds (modification time and length).
fn etag_of(path: &Path) -> Option<String> {
    let meta = std::fs::metadata(path).ok()?;
    let modified = meta
        .modified()
        .ok()
        .and_then(|m| m.duration_since(UNIX_EPOCH).ok())
        .unwrap_or_default();
    Some(format!(
        "\"{:x}.{:x}-{:x}\"",
        modified.as_secs(),
        modified.subsec_nanos(),
        meta.len()
    ))
}

/// A socket that counts the bytes through it.
struct Counted {
    inner: tokio::net::TcpStream,
    counters: Arc<Counters>,
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        let read = buf.filled().len() - before;
        self.counters
            .bytes_in
            .fetch_add(read as u64, Ordering::Relaxed);
        polled
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &polled {
            self.counters
                .bytes_out
                .fetch_add(*n as u64, Ordering::Relaxed);
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// CPU seconds (user + system) of one thread of this process.
pub fn thread_cpu_s(tid: u32) -> f64 {
    stat_cpu_s(&format!("/proc/self/task/{tid}/stat"), false)
}

/// CPU seconds (user + system) of a process, with `children` also of the children it reaped.
pub fn stat_cpu_s(path: &str, children: bool) -> f64 {
    let Ok(text) = std::fs::read_to_string(path) else {
        return 0.0;
    };
    // Fields after the command name (which may hold spaces) start at field 3.
    let Some(rest) = text.rsplit_once(')').map(|(_, r)| r) else {
        return 0.0;
    };
    let fields: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(4)
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    let ticks: u64 = if children {
        fields.iter().sum()
    } else {
        fields.iter().take(2).sum()
    };
    ticks as f64 / clock_ticks()
}

fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok()?.trim().parse().ok())
            .unwrap_or(100.0)
    })
}
