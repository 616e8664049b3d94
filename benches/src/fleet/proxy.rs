//! A counting TCP proxy on loopback: connections and bytes in both directions, for servers this
//! tool does not write (the Git servers, an S3 server).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the proxy counted.
#[derive(Debug, Default)]
pub struct ProxyCounters {
    /// Connections accepted.
    pub connections: AtomicU64,
    /// Bytes from clients to the server.
    pub bytes_in: AtomicU64,
    /// Bytes from the server to clients.
    pub bytes_out: AtomicU64,
}

/// A running proxy.
#[derive(Debug)]
pub struct Proxy {
    /// Where clients connect.
    pub addr: SocketAddr,
    /// Its counts.
    pub counters: Arc<ProxyCounters>,
}

/// Where a proxy counts connections and bytes.
pub trait ByteCounts: Send + Sync + 'static {
    /// Connections accepted.
    fn connections(&self) -> &AtomicU64;
    /// Bytes from clients to the server.
    fn bytes_in(&self) -> &AtomicU64;
    /// Bytes from the server to clients.
    fn bytes_out(&self) -> &AtomicU64;
}

impl ByteCounts for ProxyCounters {
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

impl Proxy {
    /// Proxies a free loopback port to `127.0.0.1:port` (waiting up to 10 s for the server).
    pub async fn start(port: u16) -> crate::Result<Proxy> {
        let counters = Arc::new(ProxyCounters::default());
        let addr = forward(port, counters.clone()).await?;
        Ok(Proxy { addr, counters })
    }

    /// (connections, bytes in, bytes out) so far.
    pub fn tally(&self) -> (u64, u64, u64) {
        let c = &self.counters;
        (
            c.connections.load(Ordering::Relaxed),
            c.bytes_in.load(Ordering::Relaxed),
            c.bytes_out.load(Ordering::Relaxed),
        )
    }
}

/// Proxies a free loopback port to `127.0.0.1:port` (waiting up to 10 s for the server),
/// counting into `counters`; returns the port's address.
pub async fn forward(port: u16, counters: Arc<impl ByteCounts>) -> crate::Result<SocketAddr> {
    let upstream: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut ready = false;
    for _ in 0..100 {
        if TcpStream::connect(upstream).await.is_ok() {
            ready = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    if !ready {
        return Err(crate::Error::unexpected(
            "the proxied server",
            format!("no server came up on {upstream}"),
        ));
    }
    let bind = crate::Error::os("bind the proxy");
    let listener = TcpListener::bind("127.0.0.1:0").await.map_err(bind)?;
    let addr = listener
        .local_addr()
        .map_err(crate::Error::os("bind the proxy"))?;
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            counters.connections().fetch_add(1, Ordering::Relaxed);
            let counters = counters.clone();
            tokio::spawn(async move {
                if let Ok(server) = TcpStream::connect(upstream).await {
                    pipe(client, server, &*counters).await;
                }
            });
        }
    });
    Ok(addr)
}

async fn pipe(client: TcpStream, server: TcpStream, counters: &impl ByteCounts) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let up = copy(&mut client_read, &mut server_write, counters.bytes_in());
    let down = copy(&mut server_read, &mut client_write, counters.bytes_out());
    let _ = tokio::join!(up, down);
}

async fn copy(
    from: &mut tokio::net::tcp::OwnedReadHalf,
    to: &mut tokio::net::tcp::OwnedWriteHalf,
    counter: &AtomicU64,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                counter.fetch_add(n as u64, Ordering::Relaxed);
                if to.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown().await;
}
