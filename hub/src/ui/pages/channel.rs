//! A channel: tiles, clusters per generation and phase, the rollout with its cohorts, gates and
//! progress over time, and the clusters that need a look.

use cairn_state_format::{POSITIONS, Rollout, cohort_position};
use maud::{Markup, html};

use super::super::html::{age, clusters_link, page, phase_pill, tabs};
use super::super::refusals::is_scope_refusal;
use super::super::state::{ChannelLook, Sample, View};
use super::{Page, generation_bars, lookup};
use crate::clock::now;
use crate::status::fleet::phase_name;
use crate::status::rollout::standing;

/// Problems and stale clusters named on the channel page before linking to the full list.
const SHOWN: usize = 10;

/// The channel page.
pub fn channel(view: &View, name: &str) -> Page {
    let look = view.look();
    let c = lookup(&look, name)?;
    let s = &c.summary;
    let drifted_objects: u64 = s.drifted.iter().map(|d| d.count).sum();
    let refused = c
        .records
        .iter()
        .filter(|r| r.errors.last().is_some_and(is_scope_refusal))
        .count();
    let body = html! {
        h1 { "Channel " (name) }
        (tabs(name))
        div.tiles {
            div.tile { b { (c.head.as_ref().map_or("removed".to_owned(), |h| h.generation.to_string())) } "newest generation" }
            div.tile { b { (s.clusters) } "clusters reporting" }
            div.tile { b { (s.on_latest) } "on the newest" }
            div.tile { b { a href=(clusters_link(name, &[("show", "problems")])) { (s.problems.len()) } } "problems" }
            div.tile { b { a href=(clusters_link(name, &[("show", "stale")])) { (s.stale.len()) } } "stale" }
            div.tile { b { a href=(clusters_link(name, &[("show", "drifted")])) { (s.drifted.len()) } } "drifted (" (drifted_objects) " objects)" }
            @if refused > 0 {
                div.tile { b { a href="/trust" { (refused) } } "refused a head for scope" }
            }
        }
        h2 { "Clusters per generation" }
        (generation_bars(c, 8))
        h2 { "Clusters by phase" }
        p {
            @for (phase, n) in &s.by_phase {
                a href=(clusters_link(name, &[("phase", phase)])) { (phase_pill(phase)) } (n) " "
            }
        }
        (rollout_section(c, name))
        (problems_section(c, name))
    };
    Ok(page(view, &format!("channel {name}"), true, body))
}

fn rollout_section(c: &ChannelLook, name: &str) -> Markup {
    let (Some(head), Some(p)) = (&c.head, &c.progress) else {
        return html! {};
    };
    html! {
        h2 { "Rollout of generation " (head.generation) }
        @match &head.rollout {
            None => p { "No rollout: every cluster may apply generation " (head.generation) " (" (head.snapshot) ")." },
            Some(rollout) => (steps(c, name, rollout)),
        }
        p {
            (format!("{:.1}", p.open * 100.0)) "% open: " (p.admitted) " of " (p.clusters)
            " clusters admitted; " (p.on_new) " on the new content (" (p.healthy_on_new) " healthy, "
            (p.failed_on_new) " failed or degraded)."
        }
        (gates(p.failed_on_new, p.on_new, p.healthy_on_new, p.admitted))
        h2 { "Progress over time" }
        (progress_chart(&c.samples))
    }
}

/// One row per step: its share, whether it is open, and how its cohort is doing.
fn steps(c: &ChannelLook, name: &str, rollout: &Rollout) -> Markup {
    let clock = rollout.paused_at.map_or(now(), |p| p.min(now()));
    let head = c.head.as_ref();
    let started = c.started.unwrap_or(0);
    let cohort = |percent: u32| {
        let limit = percent * (POSITIONS / 100);
        let mut counts = (0usize, 0usize, 0usize, 0usize);
        for r in c
            .records
            .iter()
            .filter(|r| cohort_position(&r.cluster, name) < limit)
        {
            counts.0 += 1;
            if let Some(head) = head {
                let (on_new, healthy, failing) = standing(r, head, started);
                counts.1 += usize::from(on_new);
                counts.2 += usize::from(healthy);
                counts.3 += usize::from(on_new && failing);
            }
        }
        counts
    };
    html! {
        @if let Some(paused) = rollout.paused_at { p.warn { "Paused " (age(paused)) " ago." } }
        table {
            tr { th { "step" } th { "state" } th { "opens" } th.num { "cohort (reporting)" }
                 th.num { "on new content" } th.num { "healthy" } th.num { "failed" } }
            @for step in &rollout.steps {
                @let (size, on_new, healthy, failed) = cohort(step.percent);
                tr {
                    td { (step.percent) "%" }
                    td { @if step.not_before <= clock { "open" } @else { "closed" } }
                    td { (step.not_before.format("%Y-%m-%d %H:%M:%S UTC")) }
                    td.num { (size) } td.num { (on_new) } td.num { (healthy) } td.num { (failed) }
                }
            }
        }
    }
}

/// The figures `cairn rollout watch` gates on, against its default thresholds.
fn gates(failed: usize, on_new: usize, healthy: usize, admitted: usize) -> Markup {
    let share = |a: usize, b: usize| {
        if b == 0 {
            0.0
        } else {
            a as f64 * 100.0 / b as f64
        }
    };
    html! {
        table {
            tr { th { "gate of rollout watch" } th.num { "now" } th { "default threshold" } }
            tr { td { "failed share of clusters on the new content" }
                 td.num { (format!("{:.1}% ({failed} of {on_new})", share(failed, on_new))) }
                 td { "aborts above --max-failed 2%" } }
            tr { td { "healthy share of the open cohort" }
                 td.num { (format!("{:.1}% ({healthy} of {admitted})", share(healthy, admitted))) }
                 td { "advances early at --min-reporting 90%" } }
        }
    }
}

/// Clusters on the new content, healthy and failed, as sampled by this view since it started.
fn progress_chart(samples: &[Sample]) -> Markup {
    if samples.len() < 2 {
        return html! { p { "Sampled every refresh while this view runs; the chart appears from the second look." } };
    }
    let (width, height) = (600.0, 120.0);
    let most = samples.iter().map(|s| s.clusters).max().unwrap_or(1).max(1) as f64;
    let line = |pick: fn(&Sample) -> usize| {
        samples
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let x = i as f64 * width / (samples.len() - 1) as f64;
                let y = height - pick(s) as f64 * height / most;
                format!("{x:.1},{y:.1}")
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    let (first, last) = (&samples[0], &samples[samples.len() - 1]);
    html! {
        svg width="600" height="130" viewBox="0 -5 600 130" role="img" aria-label="rollout progress" {
            polyline fill="none" stroke="#3b82f6" stroke-width="2" points=(line(|s| s.on_new)) {}
            polyline fill="none" stroke="#16a34a" stroke-width="2" points=(line(|s| s.healthy)) {}
            polyline fill="none" stroke="#dc2626" stroke-width="2" points=(line(|s| s.failed)) {}
        }
        p { "From " (age(first.at)) " ago to " (age(last.at)) " ago (" (samples.len()) " looks): blue on the new content ("
            (last.on_new) "), green healthy (" (last.healthy) "), red failed (" (last.failed) "), of "
            (last.clusters) " clusters; generation " (first.generation) " → " (last.generation) "." }
    }
}

fn problems_section(c: &ChannelLook, name: &str) -> Markup {
    let s = &c.summary;
    html! {
        h2 { "Problems (" (s.problems.len()) ")" }
        @if s.problems.is_empty() { p { "None: no cluster is failed, degraded or frozen." } }
        table {
            @for p in s.problems.iter().take(SHOWN) {
                tr {
                    td { (p.cluster) }
                    td { (phase_pill(&phase_name(p.phase))) }
                    td { (p.reason.as_deref().unwrap_or("-")) }
                    td { (p.last_error.as_deref().unwrap_or("")) }
                }
            }
        }
        @if s.problems.len() > SHOWN {
            p { a href=(clusters_link(name, &[("show", "problems")])) { "all " (s.problems.len()) " problems →" } }
        }
        h2 { "Stale clusters (" (s.stale.len()) ")" }
        p {
            @for cluster in s.stale.iter().take(SHOWN) { span.pill { (cluster) } }
            @if s.stale.len() > SHOWN {
                a href=(clusters_link(name, &[("show", "stale")])) { "all " (s.stale.len()) " →" }
            }
        }
    }
}
