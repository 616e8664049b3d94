//! A TCP proxy on loopback that counts HTTP requests, for measuring how many requests a client
//! really sends a server (every page of a listing included). It reads each request's head to
//! tell listings from GETs; it assumes requests without bodies, which is all a reader sends.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Longest request head kept while looking for its end.
const MAX_HEAD: usize = 64 * 1024;

#[derive(Debug, Default)]
struct Counts {
    requests: AtomicU64,
    gets: AtomicU64,
    bytes_out: AtomicU64,
}

/// A running proxy.
#[derive(Debug)]
pub struct RequestProxy {
    /// Where clients connect.
    pub addr: SocketAddr,
    counts: Arc<Counts>,
}

impl RequestProxy {
    /// Proxies a free loopback port to `127.0.0.1:port`.
    pub async fn start(port: u16) -> crate::Result<RequestProxy> {
        let upstream: SocketAddr = ([127, 0, 0, 1], port).into();
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(crate::Error::os("bind the request proxy"))?;
        let addr = listener
            .local_addr()
            .map_err(crate::Error::os("bind the request proxy"))?;
        let counts = Arc::new(Counts::default());
        let shared = Arc::clone(&counts);
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let counts = Arc::clone(&shared);
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(upstream).await {
                        pipe(client, server, &counts).await;
                    }
                });
            }
        });
        Ok(RequestProxy { addr, counts })
    }

    /// Requests so far.
    pub fn requests(&self) -> u64 {
        self.counts.requests.load(Ordering::Relaxed)
    }

    /// Bytes from the server to clients (answers, headers included).
    pub fn bytes_out(&self) -> u64 {
        self.counts.bytes_out.load(Ordering::Relaxed)
    }

    /// Of those, GETs of one object (not listings).
    pub fn gets(&self) -> u64 {
        self.counts.gets.load(Ordering::Relaxed)
    }
}

async fn pipe(client: TcpStream, server: TcpStream, counts: &Counts) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let up = async {
        let mut buf = vec![0u8; 16 * 1024];
        let mut head = Vec::new();
        loop {
            let n = match client_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            head.extend_from_slice(&buf[..n]);
            count_heads(&mut head, counts);
            if server_write.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = server_write.shutdown().await;
    };
    let down = async {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match server_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            counts.bytes_out.fetch_add(n as u64, Ordering::Relaxed);
            if client_write.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = client_write.shutdown().await;
    };
    tokio::join!(up, down);
}

/// Counts every complete request head in `pending` and keeps what follows the last one.
fn count_heads(pending: &mut Vec<u8>, counts: &Counts) {
    while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
        let line_end = pending.iter().position(|&b| b == b'\r').unwrap_or(end);
        let line = String::from_utf8_lossy(&pending[..line_end]);
        counts.requests.fetch_add(1, Ordering::Relaxed);
        // S3 lists with ?list-type=2, Azure with comp=list; a plain GET reads one object.
        if line.starts_with("GET ") && !line.contains("list-type=") && !line.contains("comp=list") {
            counts.gets.fetch_add(1, Ordering::Relaxed);
        }
        pending.drain(..end + 4);
    }
    if pending.len() > MAX_HEAD {
        pending.clear();
    }
}
