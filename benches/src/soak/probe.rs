//! What a soak samples from outside a process: its resident memory and open file descriptors
//! (from `/proc`), the size of a directory, and the agent's own metrics (Prometheus text).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

/// Resident set size of process `pid` in bytes (`VmRSS` of `/proc/<pid>/status`), or `None` once
/// it has exited.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Open file descriptors of process `pid` (entries of `/proc/<pid>/fd`), or `None` once it has
/// exited.
pub fn open_fds(pid: u32) -> Option<u64> {
    let entries = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?;
    Some(entries.count() as u64)
}

/// Files under `dir` and their total size in bytes (0 and 0 if it does not exist). Files that
/// vanish while walking (a cache sweep, a journal folded) are skipped.
pub fn dir_usage(dir: &Path) -> (u64, u64) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return (0, 0);
    };
    let (mut files, mut bytes) = (0, 0);
    for entry in entries.flatten() {
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_dir() {
            let (f, b) = dir_usage(&entry.path());
            files += f;
            bytes += b;
        } else {
            files += 1;
            bytes += meta.len();
        }
    }
    (files, bytes)
}

/// Scrapes `/metrics` at `addr`: `name{labels}` → value, for the metrics whose names start
/// with `prefix`. `None` if the endpoint does not answer.
pub fn metrics(addr: SocketAddr, prefix: &str) -> Option<BTreeMap<String, f64>> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    stream
        .write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .ok()?;
    let mut body = String::new();
    stream.read_to_string(&mut body).ok()?;
    Some(parse_metrics(&body, prefix))
}

/// The samples of Prometheus text `body` whose names start with `prefix`.
pub fn parse_metrics(body: &str, prefix: &str) -> BTreeMap<String, f64> {
    body.lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| {
            let (key, value) = l.rsplit_once(' ')?;
            Some((key.to_owned(), value.parse().ok()?))
        })
        .collect()
}

/// Sum of a metric over all its label sets.
pub fn total(metrics: &BTreeMap<String, f64>, name: &str) -> f64 {
    metrics
        .iter()
        .filter(|(k, _)| k.split('{').next() == Some(name))
        .map(|(_, v)| v)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_measured() {
        let pid = std::process::id();
        assert!(rss_bytes(pid).is_some_and(|b| b > 0));
        assert!(open_fds(pid).is_some_and(|n| n >= 3));
    }

    #[test]
    fn metrics_are_parsed_and_summed() {
        let body = "# HELP x\ncairn_agent_errors_total{class=\"verify\"} 2\n\
                    cairn_agent_errors_total{class=\"store\"} 3\nother 9\n";
        let parsed = parse_metrics(body, "cairn_agent_");
        assert_eq!(parsed.len(), 2);
        assert_eq!(total(&parsed, "cairn_agent_errors_total"), 5.0);
    }

    #[test]
    fn a_directory_is_counted() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("a")).unwrap();
        std::fs::write(dir.path().join("a/b"), b"12345").unwrap();
        std::fs::write(dir.path().join("c"), b"1").unwrap();
        assert_eq!(dir_usage(dir.path()), (2, 6));
        assert_eq!(dir_usage(&dir.path().join("missing")), (0, 0));
    }
}
