//! A tiny static file server on 127.0.0.1 that serves a file:// store directory, answers
//! conditional GETs, and injects faults on demand.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use cairn_state_format::Digest;
use http_body_util::Full;
use hyper::body::Incoming;
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

#[derive(Debug, Default)]
pub struct Stats {
    pub requests: u64,
    pub not_modified: u64,
}

pub struct Server {
    pub addr: SocketAddr,
    mode: Arc<Mutex<Mode>>,
    stats: Arc<Mutex<Stats>>,
    task: tokio::task::JoinHandle<()>,
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
        let mode = Arc::new(Mutex::new(Mode::Ok));
        let stats = Arc::new(Mutex::new(Stats::default()));
        let (dir, m, s) = (dir.to_owned(), mode.clone(), stats.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (dir, m, s) = (dir.clone(), m.clone(), s.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |req: Request<Incoming>| {
                        let (dir, m, s) = (dir.clone(), m.clone(), s.clone());
                        async move { Ok::<_, Infallible>(handle(&dir, &m, &s, req).await) }
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
}

fn respond(status: StatusCode, body: Bytes) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(body));
    *r.status_mut() = status;
    r
}

async fn handle(
    dir: &Path,
    mode: &Mutex<Mode>,
    stats: &Mutex<Stats>,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    stats.lock().unwrap().requests += 1;
    let current = mode.lock().unwrap().clone();
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
    let path: PathBuf = dir.join(key);
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
        stats.lock().unwrap().not_modified += 1;
        respond(StatusCode::NOT_MODIFIED, Bytes::new())
    } else {
        respond(StatusCode::OK, Bytes::from(bytes))
    };
    r.headers_mut().insert("etag", etag.parse().unwrap());
    r
}
