//! The long-running processes of a soak: agents, `cairn ui` and `cairn status --watch`, each
//! started with its output in a log file and stopped with SIGTERM when dropped.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::Config;
use crate::error::{Error, Result};
use crate::measure::describe;
use crate::scaling::cairn::CHANNEL;

/// A process the soak watches.
pub struct Watched {
    /// What the samples call it.
    pub name: String,
    child: Child,
    /// Where it serves HTTP (an agent's metrics, the web view).
    pub addr: SocketAddr,
    /// An agent's state and target directories.
    pub dirs: Option<(PathBuf, PathBuf)>,
}

impl Watched {
    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Watched {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

/// Agent `n` (from 1): a `dir` target, its own state dir, metrics on a loopback port.
pub fn agent(config: &Config, n: usize, store: &Path, trust: &Path) -> Result<Watched> {
    let work = &config.work;
    let (state, target) = (
        work.join(format!("state-{n}")),
        work.join(format!("target-{n}")),
    );
    let addr = loopback()?;
    let mut command = Command::new(&config.cairn_agent);
    command
        .args(["run", "--channel", CHANNEL, "--cluster-id"])
        .arg(format!("soak-{n}"))
        .arg("--store")
        .arg(format!("file://{}", store.display()))
        .arg("--trust")
        .arg(trust)
        .arg("--target")
        .arg(format!("dir:{}", target.display()))
        .arg("--state-dir")
        .arg(&state)
        .args([
            "--interval",
            &humantime::format_duration(config.interval).to_string(),
        ])
        .args([
            "--resync",
            &humantime::format_duration(config.resync).to_string(),
        ])
        .args(["--metrics-addr", &addr.to_string()]);
    let mut watched = spawn(command, &work.join(format!("agent-{n}.log")), addr)?;
    watched.name = format!("agent-{n}");
    watched.dirs = Some((state, target));
    Ok(watched)
}

/// `cairn ui` on the store, refreshing every 2 s.
pub fn ui(config: &Config, store: &Path) -> Result<Watched> {
    let addr = loopback()?;
    let mut command = Command::new(&config.cairn);
    command
        .args([
            "ui",
            "--refresh",
            "2s",
            "--addr",
            &addr.to_string(),
            "--store",
        ])
        .arg(store)
        .arg("--cache-dir")
        .arg(config.work.join("ui-cache"));
    let mut watched = spawn(command, &config.work.join("ui.log"), addr)?;
    watched.name = "cairn ui".to_owned();
    Ok(watched)
}

/// `cairn status --watch` of the channel, every 2 s (its output is thrown away).
pub fn status_watch(config: &Config, store: &Path) -> Result<Watched> {
    let mut command = Command::new(&config.cairn);
    command
        .args(["status", "--watch", "--every", "2s", "--channel", CHANNEL])
        .arg("--store")
        .arg(store)
        .arg("--cache-dir")
        .arg(config.work.join("status-cache"));
    let mut watched = spawn(command, &config.work.join("status-watch.log"), loopback()?)?;
    watched.name = "cairn status --watch".to_owned();
    Ok(watched)
}

fn spawn(mut command: Command, log: &Path, addr: SocketAddr) -> Result<Watched> {
    let stderr = std::fs::File::create(log).map_err(Error::io("create", log))?;
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .map_err(|e| Error::Command {
            command: describe(&command),
            message: format!("cannot start: {e}"),
        })?;
    Ok(Watched {
        name: String::new(),
        child,
        addr,
        dirs: None,
    })
}

/// A free loopback address.
fn loopback() -> Result<SocketAddr> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(Error::os("bind a loopback port"))
}

/// The status code of `GET path` at `addr`, or `None` if it does not answer.
pub fn get(addr: SocketAddr, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).ok()?;
    let head = String::from_utf8_lossy(&response[..response.len().min(64)]).into_owned();
    head.split_whitespace().nth(1)?.parse().ok()
}
