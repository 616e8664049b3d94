//! A tiny static file server on 127.0.0.1 that serves a file:// store directory, answers
//! conditional and ranged GETs, and injects faults on demand: error statuses, hangs, and the
//! attacks of a hostile store on chosen keys (oversized, endless or trickling bodies, other
//! bytes in place of an object, ranges ignored).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use cairn_state_format::Digest;
use futures::StreamExt;
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

/// What the server does with the next requests.
#[derive(Clone, Debug, PartialEq)]
pub enum Mode {
    /// Serve files.
    Ok,
    /// Answer every request with this status (and `Retry-After` seconds, if given).
    Status(u16, Option<u64>),
    /// Wait this long before answering (longer than the client's timeout: a timeout).
    Hang(Duration),
}

/// What a hostile store serves for the keys an attack names.
#[derive(Clone, Debug, PartialEq)]
pub enum Attack {
    /// This many bytes, made up as they are sent (never held by the server).
    Oversize(u64),
    /// A body that never ends.
    Endless,
    /// One byte every so often, forever.
    Trickle(Duration),
    /// These bytes instead of the object.
    Replace(Bytes),
}

/// Chunk size of made-up bodies.
const CHUNK: usize = 64 * 1024;

#[derive(Debug, Default)]
pub struct Stats {
    pub requests: u64,
    pub not_modified: u64,
    /// Requests that asked for a range.
    pub ranged: u64,
    /// Body bytes the client took (a made-up body counts what was pulled from it).
    pub bytes: u64,
}

#[derive(Debug, Default)]
struct Rules {
    /// Attacks by key prefix: the first that matches decides.
    attacks: Vec<(String, Attack)>,
    ignore_ranges: bool,
}

pub struct Server {
    pub addr: SocketAddr,
    mode: Arc<Mutex<Mode>>,
    rules: Arc<Mutex<Rules>>,
    stats: Arc<Mutex<Stats>>,
    task: tokio::task::JoinHandle<()>,
}

type Answer = Response<BoxBody<Bytes, Infallible>>;

/// What one request sees of the server's state.
#[derive(Clone)]
struct Shared {
    dir: PathBuf,
    mode: Arc<Mutex<Mode>>,
    rules: Arc<Mutex<Rules>>,
    stats: Arc<Mutex<Stats>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    /// Serves `dir` on a free loopback port (or on `addr` when given).
    pub async fn start(dir: &Path, addr: Option<SocketAddr>) -> Server {
        let listener =
            tokio::net::TcpListener::bind(addr.unwrap_or_else(|| "127.0.0.1:0".parse().unwrap()))
                .await
                .unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Shared {
            dir: dir.to_owned(),
            mode: Arc::new(Mutex::new(Mode::Ok)),
            rules: Arc::default(),
            stats: Arc::default(),
        };
        let (mode, rules, stats) = (
            shared.mode.clone(),
            shared.rules.clone(),
            shared.stats.clone(),
        );
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let shared = shared.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req: Request<Incoming>| {
                        let shared = shared.clone();
                        async move { Ok::<_, Infallible>(handle(&shared, req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Server {
            addr,
            mode,
            rules,
            stats,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    pub fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }

    pub fn requests(&self) -> u64 {
        self.stats.lock().unwrap().requests
    }

    pub fn not_modified(&self) -> u64 {
        self.stats.lock().unwrap().not_modified
    }

    /// Requests that asked for a range.
    pub fn ranged(&self) -> u64 {
        self.stats.lock().unwrap().ranged
    }

    /// Body bytes the clients took.
    pub fn bytes(&self) -> u64 {
        self.stats.lock().unwrap().bytes
    }

    /// Serves `attack` for every key starting with `prefix` (before the attacks set earlier).
    pub fn attack(&self, prefix: &str, attack: Attack) {
        let mut rules = self.rules.lock().unwrap();
        rules.attacks.insert(0, (prefix.to_owned(), attack));
    }

    /// Serves every key as stored again.
    pub fn clear_attacks(&self) {
        self.rules.lock().unwrap().attacks.clear();
    }

    /// Answers ranged GETs with the whole object, as some servers do.
    pub fn ignore_ranges(&self, ignore: bool) {
        self.rules.lock().unwrap().ignore_ranges = ignore;
    }
}

fn respond(status: StatusCode, body: Bytes) -> Answer {
    let mut r = Response::new(Full::new(body).boxed());
    *r.status_mut() = status;
    r
}

/// A body made of `chunks`, counting what the client pulls into `stats`.
fn streamed(
    chunks: impl futures::Stream<Item = Bytes> + Send + Sync + 'static,
    stats: Arc<Mutex<Stats>>,
) -> Answer {
    let frames = chunks.map(move |chunk| {
        stats.lock().unwrap().bytes += chunk.len() as u64;
        Ok::<_, Infallible>(Frame::data(chunk))
    });
    Response::new(BodyExt::boxed(StreamBody::new(frames)))
}

/// The body of an attack.
fn attacked(attack: Attack, stats: Arc<Mutex<Stats>>) -> Answer {
    let junk = Bytes::from(vec![b'x'; CHUNK]);
    match attack {
        Attack::Oversize(n) => {
            let chunks = (0..n.div_ceil(CHUNK as u64)).map(move |i| {
                let len = (n - i * CHUNK as u64).min(CHUNK as u64) as usize;
                junk.slice(..len)
            });
            streamed(futures::stream::iter(chunks), stats)
        }
        Attack::Endless => streamed(futures::stream::repeat(junk), stats),
        Attack::Trickle(every) => {
            let ticks = futures::stream::unfold((), move |()| async move {
                tokio::time::sleep(every).await;
                Some((Bytes::from_static(b"x"), ()))
            });
            streamed(ticks, stats)
        }
        Attack::Replace(bytes) => {
            stats.lock().unwrap().bytes += bytes.len() as u64;
            respond(StatusCode::OK, bytes)
        }
    }
}

/// The part of `bytes` a `Range: bytes=A-B` header asks for, if any.
fn range(req: &Request<Incoming>, len: usize) -> Option<std::ops::Range<usize>> {
    let spec = req.headers().get("range")?.to_str().ok()?;
    let (start, end) = spec.strip_prefix("bytes=")?.split_once('-')?;
    let start: usize = start.parse().ok()?;
    let end = end.parse::<usize>().map_or(len, |e| (e + 1).min(len));
    (start <= end).then_some(start..end)
}

async fn handle(shared: &Shared, req: Request<Incoming>) -> Answer {
    shared.stats.lock().unwrap().requests += 1;
    if req.headers().contains_key("range") {
        shared.stats.lock().unwrap().ranged += 1;
    }
    let current = shared.mode.lock().unwrap().clone();
    match current {
        Mode::Ok => {}
        Mode::Hang(d) => tokio::time::sleep(d).await,
        Mode::Status(code, retry_after) => {
            let mut r = respond(
                StatusCode::from_u16(code).unwrap(),
                Bytes::from_static(b"fault"),
            );
            if let Some(s) = retry_after {
                r.headers_mut()
                    .insert("retry-after", s.to_string().parse().unwrap());
            }
            return r;
        }
    }
    let key = req.uri().path().trim_start_matches('/');
    if key.split('/').any(|part| part == ".." || part.is_empty()) {
        return respond(StatusCode::BAD_REQUEST, Bytes::new());
    }
    let (attack, ignore_ranges) = {
        let rules = shared.rules.lock().unwrap();
        let attack = rules
            .attacks
            .iter()
            .find(|(p, _)| key.starts_with(p.as_str()));
        (attack.map(|(_, a)| a.clone()), rules.ignore_ranges)
    };
    if let Some(attack) = attack {
        return attacked(attack, shared.stats.clone());
    }
    let path: PathBuf = shared.dir.join(key);
    let Ok(bytes) = tokio::fs::read(&path).await else {
        return respond(StatusCode::NOT_FOUND, Bytes::new());
    };
    let etag = format!("\"{}\"", &Digest::of(&bytes).hex()[..16]);
    let unchanged = req
        .headers()
        .get("if-none-match")
        .and_then(|v| v.to_str().ok())
        == Some(etag.as_str());
    let mut r = if unchanged {
        shared.stats.lock().unwrap().not_modified += 1;
        respond(StatusCode::NOT_MODIFIED, Bytes::new())
    } else if let Some(part) = range(&req, bytes.len()).filter(|_| !ignore_ranges) {
        let body = Bytes::from(bytes).slice(part);
        shared.stats.lock().unwrap().bytes += body.len() as u64;
        respond(StatusCode::PARTIAL_CONTENT, body)
    } else {
        shared.stats.lock().unwrap().bytes += bytes.len() as u64;
        respond(StatusCode::OK, Bytes::from(bytes))
    };
    r.headers_mut().insert("etag", etag.parse().unwrap());
    r
}
