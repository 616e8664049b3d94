//! The soak's results: the lines fitted after the warm-up, a Markdown summary, a CSV of every
//! sample and the SVG plot.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::plot::{self, Panel, Series};
use super::slope::fit;
use super::{Config, FLOOR_WINDOWS, Growth, Report, Sample};
use crate::error::{Error, Result};

const MIB: f64 = 1024.0 * 1024.0;

/// Per process, the growth of its memory over the samples after the warm-up (in time and in
/// generations applied by every agent).
pub fn growth(config: &Config, samples: &[Sample]) -> Vec<Growth> {
    let warm = |s: &&Sample| {
        s.at_s >= config.warm_up.as_secs_f64()
            && s.agents
                .iter()
                .map(|a| a.applied)
                .min()
                .unwrap_or(s.published)
                >= config.warm_up_generations
    };
    let after: Vec<&Sample> = samples.iter().filter(warm).collect();
    let Some(first) = after.first() else {
        return Vec::new();
    };
    first
        .processes
        .iter()
        .enumerate()
        .map(|(i, process)| {
            let rss = |s: &Sample| s.processes[i].rss_bytes as f64;
            // An agent's progress is what it applied; the hub's is what was published.
            let generation = |s: &Sample| s.agents.get(i).map_or(s.published, |a| a.applied) as f64;
            let hours: Vec<(f64, f64)> = after
                .iter()
                .map(|s| (s.at_s / 3600.0, rss(s) / MIB))
                .collect();
            let generations: Vec<(f64, f64)> = after
                .iter()
                .map(|s| (generation(s), rss(s) / 1024.0))
                .collect();
            let fds: Vec<u64> = after.iter().map(|s| s.processes[i].fds).collect();
            let floor: Vec<(f64, f64)> = after
                .chunks(after.len().div_ceil(FLOOR_WINDOWS).max(1))
                .filter_map(|window| {
                    let low = window.iter().min_by_key(|s| s.processes[i].rss_bytes)?;
                    Some((generation(low), rss(low) / 1024.0))
                })
                .collect();
            let last = after.last().unwrap_or(first);
            Growth {
                name: process.name.clone(),
                per_hour: fit(&hours),
                per_generation: fit(&generations),
                floor_per_generation: fit(&floor),
                rss_mib: (
                    rss(first) / MIB,
                    rss(last) / MIB,
                    after.iter().map(|s| rss(s)).fold(0.0, f64::max) / MIB,
                ),
                fds: (
                    fds[0],
                    fds[fds.len() - 1],
                    fds.iter().copied().max().unwrap_or(0),
                ),
            }
        })
        .collect()
}

/// The summary as Markdown: settings, what ran, and one row per process.
pub fn markdown(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Settings: {}.\n", report.settings);
    let (first, last) = (report.samples.first(), report.samples.last());
    if let (Some(first), Some(last)) = (first, last) {
        let t = &report.ticks;
        let errors: u64 = last.agents.iter().map(|a| a.errors).sum();
        let state_max = report
            .samples
            .iter()
            .flat_map(|s| s.agents.iter().map(|a| a.state_bytes))
            .max()
            .unwrap_or(0);
        let _ = writeln!(
            out,
            "{:.0} minutes, generations {} to {} ({} single changes, {} bursts, {} large changes, \
             {} drifts, {} gc runs); applied by every agent: {}; errors: {errors}; missed: {}; \
             state dir at most {:.1} MiB per agent; store {} → {} objects; web view pages {} ({} not 200).\n",
            (last.at_s - first.at_s) / 60.0,
            first.published,
            last.published,
            t.single,
            t.bursts,
            t.large,
            t.drifts,
            t.gcs,
            last.agents.iter().map(|a| a.applied).min().unwrap_or(0),
            report.missed,
            state_max as f64 / MIB,
            first.store_objects,
            last.store_objects,
            report.ui_pages.0,
            report.ui_pages.1,
        );
    }
    out.push_str(
        "| process | RSS after warm-up, first → last (max) | slope, MiB/hour | slope, KiB/generation | floor, KiB/generation | fds first → last (max) |\n\
         |---|---:|---:|---:|---:|---:|\n",
    );
    for g in &report.growth {
        let line = |f: Option<super::slope::Fit>, digits: usize| {
            f.map_or("–".to_owned(), |f| {
                format!("{:+.digits$} ± {:.digits$}", f.slope, f.slope_error)
            })
        };
        let _ = writeln!(
            out,
            "| {} | {:.1} → {:.1} ({:.1}) MiB | {} | {} | {} | {} → {} ({}) |",
            g.name,
            g.rss_mib.0,
            g.rss_mib.1,
            g.rss_mib.2,
            line(g.per_hour, 2),
            line(g.per_generation, 3),
            line(g.floor_per_generation, 3),
            g.fds.0,
            g.fds.1,
            g.fds.2
        );
    }
    out
}

/// Every sample as CSV: one row per sample, columns per process and agent.
pub fn csv(report: &Report) -> String {
    let mut out = String::from("seconds,published,store_objects,store_bytes");
    let Some(first) = report.samples.first() else {
        return out + "\n";
    };
    for p in &first.processes {
        let _ = write!(out, ",{0} rss_bytes,{0} fds", p.name);
    }
    for n in 1..=first.agents.len() {
        let _ = write!(
            out,
            ",agent-{n} applied,agent-{n} errors,agent-{n} polls,agent-{n} state_files,agent-{n} state_bytes"
        );
    }
    out.push('\n');
    for s in &report.samples {
        let _ = write!(
            out,
            "{:.1},{},{},{}",
            s.at_s, s.published, s.store_objects, s.store_bytes
        );
        for p in &s.processes {
            let _ = write!(out, ",{},{}", p.rss_bytes, p.fds);
        }
        for a in &s.agents {
            let _ = write!(
                out,
                ",{},{},{},{},{}",
                a.applied, a.errors, a.polls, a.state_files, a.state_bytes
            );
        }
        out.push('\n');
    }
    out
}

/// The plot: RSS, file descriptors, state dirs and the store over time.
pub fn svg(report: &Report) -> String {
    let minutes = |s: &Sample| s.at_s / 60.0;
    let names: Vec<String> = report
        .samples
        .first()
        .map(|s| s.processes.iter().map(|p| p.name.clone()).collect())
        .unwrap_or_default();
    let per_process = |value: &dyn Fn(&Sample, usize) -> f64| -> Vec<Series> {
        names
            .iter()
            .enumerate()
            .map(|(i, name)| Series {
                name: name.clone(),
                points: report
                    .samples
                    .iter()
                    .map(|s| (minutes(s), value(s, i)))
                    .collect(),
            })
            .collect()
    };
    let agents = report.samples.first().map_or(0, |s| s.agents.len());
    let state = (0..agents)
        .map(|i| Series {
            name: format!("agent-{}", i + 1),
            points: report
                .samples
                .iter()
                .map(|s| (minutes(s), s.agents[i].state_bytes as f64 / MIB))
                .collect(),
        })
        .collect();
    let store = vec![Series {
        name: "store objects".into(),
        points: report
            .samples
            .iter()
            .map(|s| (minutes(s), s.store_objects as f64))
            .collect(),
    }];
    plot::svg(
        &format!("Soak: {}", report.settings),
        &[
            Panel {
                title: "Resident memory (MiB)".into(),
                series: per_process(&|s, i| s.processes[i].rss_bytes as f64 / MIB),
            },
            Panel {
                title: "Open file descriptors".into(),
                series: per_process(&|s, i| s.processes[i].fds as f64),
            },
            Panel {
                title: "State directory (MiB)".into(),
                series: state,
            },
            Panel {
                title: "Objects in the store".into(),
                series: store,
            },
        ],
    )
}

/// Writes `soak.md`, `soak.csv`, `soak.svg` and `soak.json` into `dir`; returns their paths.
pub fn write(report: &Report, dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).map_err(Error::io("create", dir))?;
    let json = serde_json::to_string_pretty(report)
        .map_err(|e| Error::unexpected("the soak report", format!("not JSON: {e}")))?;
    let files = [
        ("soak.md", markdown(report)),
        ("soak.csv", csv(report)),
        ("soak.svg", svg(report)),
        ("soak.json", json),
    ];
    files
        .into_iter()
        .map(|(name, text)| {
            let path = dir.join(name);
            std::fs::write(&path, text).map_err(Error::io("write", &path))?;
            Ok(path)
        })
        .collect()
}
