//! The Git baseline scenario: the same manifests in a bare repository, clients polling it with
//! `ls-remote` through a counting proxy, idle and then one one-object change.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::git::{Clients, Repo, Server};
use super::scenarios::write_manifests;
use super::stats::{Spread, ratio};
use super::{Change, Config, GitRow, Rate};

/// Runs the baseline against one server kind (`daemon` or `http`).
pub async fn git_baseline(config: &Config, kind: &str) -> crate::Result<GitRow> {
    let dir = config.work.join(format!("git-{kind}"));
    let _ = std::fs::remove_dir_all(&dir);
    let work = dir.join("work");
    // The same manifests as the fleet's initial snapshot.
    write_manifests(&work, config.objects, &[], 0)?;
    let repo = Repo::init(&work, &dir.join("served"))?;
    let server = match kind {
        "daemon" => Server::daemon(&repo.root).await?,
        _ => Server::http(&repo.root, &dir).await?,
    };
    let n = config.git_clients;
    let clients = Clients::start(
        &server.url,
        &dir.join("clients"),
        n,
        config.t(),
        config.jitter,
    )?;
    // Let the first polls spread out, as for the fleet, then measure an idle window.
    tokio::time::sleep(config.t()).await;
    let window = config.t().mul_f64(f64::from(config.idle_intervals));
    let idle = IdleWindow::measure(&server, &clients, window).await;
    let per_poll = |x: u64| ratio(x as f64, idle.polls as f64);
    // One object changes.
    let revision = 1;
    write_manifests(&work, config.objects, &[0], revision)?;
    let (_, in2, out2) = server.proxy.tally();
    let commit = repo.commit_and_push("change 1 object")?;
    let pushed = Instant::now();
    let seen = clients
        .propagation(&commit, pushed, config.deadline())
        .await;
    let (_, in3, out3) = server.proxy.tally();
    let errors = clients.counts.errors.load(Ordering::Relaxed);
    let per_client = |x: u64| ratio(x as f64, n as f64);
    let secs = window.as_secs_f64();
    let row = GitRow {
        server: server.kind.to_owned(),
        clients: n,
        polls: idle.polls,
        requests_per_poll: per_poll(idle.requests),
        bytes_in_per_poll: per_poll(idle.bytes_in),
        bytes_out_per_poll: per_poll(idle.bytes_out),
        server_cpu_s_per_1000: ratio(idle.cpu_s * 1000.0, idle.polls as f64),
        rate: Rate {
            mean_rps: ratio(idle.polls as f64, secs),
            peak_rps: 0,
            expected_rps: n as f64 / config.interval,
            seconds: secs as usize,
            ..Rate::default()
        },
        change: Change {
            label: "1 object".to_owned(),
            objects: 1,
            generation: 0,
            agents: n,
            propagation: Spread::of(&seen),
            requests_per_agent: 0.0,
            origin_requests_per_agent: 0.0,
            bytes_in_per_agent: per_client(in3 - in2),
            bytes_out_per_agent: per_client(out3 - out2),
            rate: Rate::default(),
        },
        errors,
    };
    clients.stop().await;
    server.stop();
    let _ = std::fs::remove_dir_all(dir.join("clients"));
    tokio::time::sleep(Duration::from_millis(10)).await;
    Ok(row)
}

/// What the Git server saw while its clients polled with nothing to fetch.
struct IdleWindow {
    polls: u64,
    requests: u64,
    bytes_in: u64,
    bytes_out: u64,
    cpu_s: f64,
}

impl IdleWindow {
    /// Counts over `window`, from the counters' values before and after it.
    async fn measure(server: &Server, clients: &Clients, window: Duration) -> IdleWindow {
        let polls0 = clients.counts.polls.load(Ordering::Relaxed);
        let (requests0, (_, in0, out0), cpu0) =
            (server.requests(), server.proxy.tally(), server.cpu_s());
        tokio::time::sleep(window).await;
        let (_, in1, out1) = server.proxy.tally();
        IdleWindow {
            polls: clients.counts.polls.load(Ordering::Relaxed) - polls0,
            requests: server.requests() - requests0,
            bytes_in: in1 - in0,
            bytes_out: out1 - out0,
            cpu_s: server.cpu_s() - cpu0,
        }
    }
}
