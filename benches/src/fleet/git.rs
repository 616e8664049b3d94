//! The Git baseline: a bare repository holding the same manifests, served on loopback by
//! `git daemon` and by `git http-backend` (smart HTTP, behind Python's CGI server), each behind a
//! counting TCP proxy, and clients doing what a Git-based GitOps agent does per interval:
//! `git ls-remote` of the branch, and on change `git fetch` + `git checkout`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinSet;

use super::proxy::Proxy;
use crate::error::{Error, Result};

pub use crate::git_command::git;

/// Runs a command to success, returning its stdout.
pub fn run(command: &mut Command) -> Result<String> {
    let line = format!("{command:?}");
    let failed = |message: String| Error::Command {
        command: line.clone(),
        message,
    };
    let out = command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| failed(e.to_string()))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        return Err(failed(format!("{}: {stderr}", out.status)));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The Git server side: a work tree that commits and pushes into `<root>/repo.git`.
#[derive(Debug)]
pub struct Repo {
    /// The work tree.
    pub work: PathBuf,
    /// The directory holding `repo.git`.
    pub root: PathBuf,
}

impl Repo {
    /// A work tree in `work` (already holding the manifests) and its bare remote under `root`.
    pub fn init(work: &Path, root: &Path) -> Result<Repo> {
        let repo = Repo {
            work: work.to_path_buf(),
            root: root.to_path_buf(),
        };
        run(git(None).args(["init", "-q", "-b", "main"]).arg(work))?;
        run(git(None)
            .args(["init", "-q", "--bare", "-b", "main"])
            .arg(root.join("repo.git")))?;
        repo.commit_and_push("initial")?;
        run(git(Some(&root.join("repo.git"))).args(["gc", "-q"]))?;
        Ok(repo)
    }

    /// Commits everything in the work tree and pushes it; returns the new commit.
    pub fn commit_and_push(&self, message: &str) -> Result<String> {
        run(git(Some(&self.work)).args(["add", "-A"]))?;
        run(git(Some(&self.work)).args(["commit", "-q", "--no-verify", "-m", message]))?;
        let url = format!("file://{}", self.root.join("repo.git").display());
        run(git(Some(&self.work)).args(["push", "-q", &url, "main"]))?;
        Ok(run(git(Some(&self.work)).args(["rev-parse", "HEAD"]))?
            .trim()
            .to_owned())
    }
}

/// A Git server process and the counting proxy in front of it.
#[derive(Debug)]
pub struct Server {
    /// `daemon` or `http`.
    pub kind: &'static str,
    /// The repository URL through the proxy.
    pub url: String,
    /// The proxy's counts.
    pub proxy: Proxy,
    child: Child,
    log: Option<PathBuf>,
}

impl Server {
    /// `git daemon` serving `root` on a free loopback port.
    pub async fn daemon(root: &Path) -> Result<Server> {
        let port = free_port()?;
        // `git-daemon` itself, not the `git daemon` wrapper: the wrapper waits for the daemon
        // without reaping it until the end, so the daemon's CPU (and its upload-packs') would
        // never show in the child's accounting.
        let exec_path = run(Command::new("git").arg("--exec-path"))?;
        let exec_path = exec_path.trim();
        let daemon = Path::new(exec_path).join("git-daemon");
        let child = Command::new(&daemon)
            .args(["--export-all", "--reuseaddr", "--listen=127.0.0.1"])
            .arg(format!("--port={port}"))
            .arg(format!("--base-path={}", root.display()))
            .arg(root)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| Error::Command {
                command: daemon.display().to_string(),
                message: e.to_string(),
            })?;
        let proxy = Proxy::start(port).await?;
        let url = format!("git://{}/repo.git", proxy.addr);
        Ok(Server {
            kind: "daemon",
            url,
            proxy,
            child,
            log: None,
        })
    }

    /// `git http-backend` as a CGI script of Python's `http.server` on a free loopback port.
    pub async fn http(root: &Path, dir: &Path) -> Result<Server> {
        let port = free_port()?;
        let cgi = dir.join("cgi-bin");
        std::fs::create_dir_all(&cgi).map_err(Error::io("create", &cgi))?;
        let script = cgi.join("git");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\nexport GIT_PROJECT_ROOT='{}' GIT_HTTP_EXPORT_ALL=1 GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=safe.directory GIT_CONFIG_VALUE_0='*'\nexec git http-backend\n",
                root.display()
            ),
        )
        .map_err(Error::io("write", &script))?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
            .map_err(Error::io("make executable", &script))?;
        let log = dir.join("http.log");
        let child = Command::new("python3")
            .arg("-c")
            .arg(format!(
                "import http.server as h\nclass H(h.CGIHTTPRequestHandler):\n    cgi_directories=['/cgi-bin']\nh.HTTPServer(('127.0.0.1',{port}),H).serve_forever()\n"
            ))
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).map_err(Error::io("create", &log))?)
            .spawn()
            .map_err(|e| Error::Command {
                command: "python3 -c <CGI server>".to_owned(),
                message: e.to_string(),
            })?;
        let proxy = Proxy::start(port).await?;
        let url = format!("http://{}/cgi-bin/git/repo.git", proxy.addr);
        Ok(Server {
            kind: "http",
            url,
            proxy,
            child,
            log: Some(log),
        })
    }

    /// CPU seconds of the server and every child it reaped (upload-pack, CGI scripts).
    pub fn cpu_s(&self) -> f64 {
        super::front::stat_cpu_s(&format!("/proc/{}/stat", self.child.id()), true)
    }

    /// HTTP requests the server logged (for `daemon`: connections, one request each).
    pub fn requests(&self) -> u64 {
        match &self.log {
            Some(log) => std::fs::read_to_string(log)
                .map(|t| {
                    t.lines()
                        .filter(|l| l.contains("\"GET ") || l.contains("\"POST "))
                        .count() as u64
                })
                .unwrap_or(0),
            None => self.proxy.counters.connections.load(Ordering::Relaxed),
        }
    }

    /// Stops the server (the process this tool started, by its id).
    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> Result<u16> {
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").map_err(Error::os("bind a loopback port"))?;
    Ok(listener
        .local_addr()
        .map_err(Error::os("bind a loopback port"))?
        .port())
}

/// What the Git clients did, over all clients.
#[derive(Debug, Default)]
pub struct ClientCounts {
    /// `ls-remote` polls run.
    pub polls: AtomicU64,
    /// Polls or fetches that failed.
    pub errors: AtomicU64,
    /// Fetch + checkout rounds run.
    pub fetches: AtomicU64,
}

/// N Git clients, each a clone polling the server.
#[derive(Debug)]
pub struct Clients {
    /// Counts over all clients.
    pub counts: Arc<ClientCounts>,
    /// The commit each client has checked out, by client.
    pub checked_out: Vec<Arc<std::sync::Mutex<String>>>,
    shutdown: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl Clients {
    /// Clones the repository `n` times under `dir` (unmeasured), then starts polling every
    /// `interval` ± `jitter` with a random first offset in [0, interval).
    pub fn start(
        url: &str,
        dir: &Path,
        n: usize,
        interval: Duration,
        jitter: f64,
    ) -> Result<Clients> {
        let (shutdown, watch) = watch::channel(false);
        let counts = Arc::new(ClientCounts::default());
        let mut tasks = JoinSet::new();
        let mut checked_out = Vec::new();
        for id in 0..n {
            let clone = dir.join(format!("client-{id:04}"));
            let _ = std::fs::remove_dir_all(&clone);
            run(git(None).args(["clone", "-q", url]).arg(&clone))?;
            let head = run(git(Some(&clone)).args(["rev-parse", "HEAD"]))?;
            let current = Arc::new(std::sync::Mutex::new(head.trim().to_owned()));
            checked_out.push(current.clone());
            let (url, counts, mut watch) = (url.to_owned(), counts.clone(), watch.clone());
            tasks.spawn(async move {
                let mut wait = interval.mul_f64(rand::random::<f64>());
                loop {
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = watch.wait_for(|stop| *stop) => return,
                    }
                    poll_once(&url, &clone, &current, &counts).await;
                    let spread = 1.0 + jitter * (2.0 * rand::random::<f64>() - 1.0);
                    wait = interval.mul_f64(spread);
                }
            });
        }
        Ok(Clients {
            counts,
            checked_out,
            shutdown,
            tasks,
        })
    }

    /// How many clients have checked out `commit`.
    pub fn at(&self, commit: &str) -> usize {
        self.checked_out
            .iter()
            .filter(|c| c.lock().map(|c| *c == commit).unwrap_or(false))
            .count()
    }

    /// Seconds from `since` until each client checked out `commit` (sampled every 100 ms).
    pub async fn propagation(
        &self,
        commit: &str,
        since: Instant,
        deadline: Duration,
    ) -> Vec<Option<f64>> {
        let mut seen: Vec<Option<f64>> = vec![None; self.checked_out.len()];
        while since.elapsed() < deadline && seen.iter().any(Option::is_none) {
            let now = since.elapsed().as_secs_f64();
            for (c, at) in self.checked_out.iter().zip(seen.iter_mut()) {
                if at.is_none() && c.lock().map(|c| *c == commit).unwrap_or(false) {
                    *at = Some(now);
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        seen
    }

    /// Stops every client.
    pub async fn stop(mut self) {
        let _ = self.shutdown.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(60), async {
            while self.tasks.join_next().await.is_some() {}
        })
        .await;
        self.tasks.abort_all();
    }
}

/// One interval of a Git GitOps agent: `ls-remote`; on a new commit, `fetch` and `checkout`.
async fn poll_once(
    url: &str,
    clone: &Path,
    current: &std::sync::Mutex<String>,
    counts: &ClientCounts,
) {
    counts.polls.fetch_add(1, Ordering::Relaxed);
    let listed = tokio_run(git(None).args(["ls-remote", url, "refs/heads/main"])).await;
    let Some(remote) = listed
        .as_deref()
        .and_then(|l| l.split_whitespace().next())
        .map(str::to_owned)
    else {
        counts.errors.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let known = current.lock().map(|c| c.clone()).unwrap_or_default();
    if remote == known {
        return;
    }
    counts.fetches.fetch_add(1, Ordering::Relaxed);
    let fetched = tokio_run(git(Some(clone)).args(["fetch", "-q", "origin", "main"])).await;
    let checked = match fetched {
        Some(_) => tokio_run(git(Some(clone)).args(["checkout", "-q", "--detach", &remote])).await,
        None => None,
    };
    match checked {
        Some(_) => {
            if let Ok(mut c) = current.lock() {
                *c = remote;
            }
        }
        None => {
            counts.errors.fetch_add(1, Ordering::Relaxed);
        }
    }
}

async fn tokio_run(command: &mut Command) -> Option<String> {
    let mut command = tokio::process::Command::from(std::mem::replace(command, Command::new("")));
    let out = command.stdin(Stdio::null()).output().await.ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}
