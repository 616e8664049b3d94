//! The report as Markdown tables (the JSON is the [`Report`] itself).

use std::fmt::Write as _;

use super::stats::ratio;
use super::{Change, Report};

fn kib(bytes: f64) -> String {
    if bytes < 10_000.0 {
        format!("{bytes:.0} B")
    } else {
        format!("{:.1} KiB", bytes / 1024.0)
    }
}

fn change_row(out: &mut String, c: &Change) {
    let p = &c.propagation;
    let _ = writeln!(
        out,
        "| {} | {} | {} | {:.2} | {:.2} | {:.2} | {} | {:.2} ({:.2}) | {} / {} | {:.0} / {} | {:.0} / {} (N/T {:.0}) |",
        c.label,
        c.objects,
        c.agents,
        p.p50_s,
        p.p99_s,
        p.max_s,
        p.missed,
        c.requests_per_agent,
        c.origin_requests_per_agent,
        kib(c.bytes_in_per_agent),
        kib(c.bytes_out_per_agent),
        c.rate.mean_rps,
        c.rate.peak_rps,
        c.rate.origin_mean_rps,
        c.rate.origin_peak_rps,
        c.rate.expected_rps,
    );
}

/// The report as Markdown.
pub fn markdown(r: &Report) -> String {
    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(
        w,
        "N = {} agents, M = {} objects, T = {} s ± {:.0} %; store: {}; machine: {}\n",
        r.agents,
        r.objects,
        r.interval_s,
        r.jitter * 100.0,
        r.store,
        r.machine
    );
    idle_table(w, r);
    changes_table(w, r);
    publish_table(w, r);
    git_table(w, r);
    let _ = writeln!(w, "\nerrors: {} {:?}", r.errors, r.error_notes);
    if let Some(rss) = r.agent_rss_bytes {
        let _ = writeln!(
            w,
            "one `cairn-agent` process idle with {} objects: VmRSS {:.1} MiB",
            r.rss_objects,
            rss as f64 / 1048576.0
        );
    }
    let _ = writeln!(
        w,
        "this process (all {} agents and the front): peak RSS {:.0} MiB",
        r.agents,
        r.fleet_peak_rss_bytes as f64 / 1048576.0
    );
    out
}

/// Idle polling: requests, bytes and rates per poll.
fn idle_table(w: &mut String, r: &Report) {
    let i = &r.idle;
    let _ = writeln!(w, "| idle polling | cairn |");
    let _ = writeln!(w, "|---|---|");
    let _ = writeln!(w, "| polls | {} |", i.polls);
    let _ = writeln!(w, "| requests per poll | {:.3} |", i.requests_per_poll);
    let _ = writeln!(w, "| answered 304 | {} of {} |", i.not_modified, i.requests);
    let _ = writeln!(
        w,
        "| bytes per poll, agent → store / store → agent | {:.0} / {:.0} |",
        i.bytes_in_per_poll, i.bytes_out_per_poll
    );
    for (what, rate) in [
        ("requests/s", &i.rate),
        ("fleet restart requests/s over 1.5 T", &r.restart),
    ] {
        let _ = writeln!(
            w,
            "| {what} mean / peak, front · origin (N/T {:.1}) | {:.1} / {} · {:.1} / {} |",
            rate.expected_rps,
            rate.mean_rps,
            rate.peak_rps,
            rate.origin_mean_rps,
            rate.origin_peak_rps
        );
    }
    let cpu = i
        .server_cpu_s_per_1000
        .map_or("not measured (another process)".to_owned(), |s| {
            format!("{s:.4}")
        });
    let _ = writeln!(w, "| server CPU s per 1,000 polls | {cpu} |\n");
}

/// One row per change (and cold start): propagation and what it cost.
fn changes_table(w: &mut String, r: &Report) {
    let _ = writeln!(
        w,
        "| change | objects | agents | p50 s | p99 s | max s | missed | requests/agent (origin) | bytes/agent in / out | front req/s mean / peak | origin req/s mean / peak |"
    );
    let _ = writeln!(w, "|---|---|---|---|---|---|---|---|---|---|---|");
    for c in r.changes.iter().chain(r.cold.iter()) {
        change_row(w, c);
    }
}

/// One row per publish: wall, CPU and PUTs.
fn publish_table(w: &mut String, r: &Report) {
    let _ = writeln!(w, "\n| publish | changes | wall s | CPU s | PUTs |");
    let _ = writeln!(w, "|---|---|---|---|---|");
    for p in &r.publishes {
        let puts = if p.puts == 0 {
            "n/a".to_owned()
        } else {
            p.puts.to_string()
        };
        let _ = writeln!(
            w,
            "| {} | {} | {:.3} | {:.3} | {} |",
            p.label, p.changes, p.wall_s, p.cpu_s, puts
        );
    }
}

fn git_table(w: &mut String, r: &Report) {
    if r.git.is_empty() {
        return;
    }
    let i = &r.idle;
    let _ = writeln!(
        w,
        "\n| per poll / per change | cairn | {} |",
        r.git
            .iter()
            .map(|g| format!("git {} ({} clients) | ratio git/cairn", g.server, g.clients))
            .collect::<Vec<_>>()
            .join(" | ")
    );
    let _ = writeln!(w, "|---|---|{}", "---|---|".repeat(r.git.len()));
    let one = r.changes.first();
    type Pick = fn(&super::GitRow) -> f64;
    let rows: [(&str, f64, Pick); 7] = [
        ("requests per idle poll", i.requests_per_poll, |g| {
            g.requests_per_poll
        }),
        ("bytes per idle poll, in", i.bytes_in_per_poll, |g| {
            g.bytes_in_per_poll
        }),
        ("bytes per idle poll, out", i.bytes_out_per_poll, |g| {
            g.bytes_out_per_poll
        }),
        (
            "server CPU s per 1,000 polls",
            i.server_cpu_s_per_1000.unwrap_or(f64::NAN),
            |g| g.server_cpu_s_per_1000,
        ),
        (
            "bytes per 1-object change per client, out",
            one.map_or(0.0, |c| c.bytes_out_per_agent),
            |g| g.change.bytes_out_per_agent,
        ),
        (
            "propagation p99 s (1 object)",
            one.map_or(0.0, |c| c.propagation.p99_s),
            |g| g.change.propagation.p99_s,
        ),
        (
            "propagation max s (1 object)",
            one.map_or(0.0, |c| c.propagation.max_s),
            |g| g.change.propagation.max_s,
        ),
    ];
    for (label, cairn, pick) in rows {
        let cells: Vec<String> = r
            .git
            .iter()
            .map(|g| format!("{:.4} | {:.2}×", pick(g), ratio(pick(g), cairn)))
            .collect();
        let _ = writeln!(w, "| {label} | {cairn:.4} | {} |", cells.join(" | "));
    }
}
