//! A channel's clusters: filtered by phase, problem, staleness or drift, searched by cluster id
//! or label selector, one page of rows at a time.

use std::collections::HashMap;

use cairn_state_format::{ClusterSelector, Phase, StatusRecord};
use hyper::StatusCode;
use maud::{Markup, html};

use super::super::html::{age, clusters_link, page, phase_pill, tabs};
use super::super::refusals::is_scope_refusal;
use super::super::state::View;
use super::{Page, lookup};
use crate::clock::now;
use crate::status::fleet::phase_name;

/// Rows per page.
const PAGE_SIZE: usize = 50;
/// Unhealthy objects named per row.
const UNHEALTHY_SHOWN: usize = 3;

/// What the clusters page was asked to show.
struct Filter {
    q: String,
    phase: String,
    show: String,
    page: usize,
    selector: Option<ClusterSelector>,
}

impl Filter {
    fn from_query(query: &HashMap<String, String>) -> Result<Filter, (StatusCode, String)> {
        let get = |k: &str| {
            query
                .get(k)
                .map(|v| v.trim().to_owned())
                .unwrap_or_default()
        };
        let q = get("q");
        // A search with `=`, `!` or `(` is a label selector (`region=eu,tier in (1,2)`).
        let selector = if q.contains(['=', '!', '(']) {
            Some(q.parse::<ClusterSelector>().map_err(|e| {
                (
                    StatusCode::BAD_REQUEST,
                    format!("{q:?} is not a label selector: {e}"),
                )
            })?)
        } else {
            None
        };
        Ok(Filter {
            page: get("page").parse().unwrap_or(1).max(1),
            phase: get("phase"),
            show: get("show"),
            q,
            selector,
        })
    }

    fn keeps(&self, r: &StatusRecord, stale_before: chrono::DateTime<chrono::Utc>) -> bool {
        let search = match &self.selector {
            Some(selector) => selector.matches(&r.labels),
            None => r.cluster.contains(&self.q),
        };
        let shown = match self.show.as_str() {
            "problems" => matches!(r.phase, Phase::Failed | Phase::Degraded | Phase::Frozen),
            "stale" => r.updated_at < stale_before,
            "drifted" => r.counts.drifted > 0,
            _ => true,
        };
        search && shown && (self.phase.is_empty() || phase_name(r.phase) == self.phase)
    }

    fn link(&self, channel: &str, page: usize) -> String {
        let page = page.to_string();
        let filters = [
            ("q", self.q.as_str()),
            ("phase", self.phase.as_str()),
            ("show", self.show.as_str()),
            ("page", page.as_str()),
        ];
        clusters_link(channel, &filters)
    }
}

/// The clusters page.
pub fn clusters(view: &View, name: &str, query: &HashMap<String, String>) -> Page {
    let look = view.look();
    let c = lookup(&look, name)?;
    let filter = Filter::from_query(query)?;
    let stale_before =
        now() - chrono::Duration::from_std(view.stale_after).unwrap_or(chrono::Duration::MAX);
    let matching: Vec<&StatusRecord> = c
        .records
        .iter()
        .map(|r| r.as_ref())
        .filter(|r| filter.keeps(r, stale_before))
        .collect();
    let pages = matching.len().div_ceil(PAGE_SIZE).max(1);
    let current = filter.page.min(pages);
    let rows = matching
        .iter()
        .skip((current - 1) * PAGE_SIZE)
        .take(PAGE_SIZE);
    let body = html! {
        h1 { "Clusters of " (name) }
        (tabs(name))
        (form(&filter, c.summary.by_phase.keys()))
        p { (matching.len()) " of " (c.records.len()) " clusters match; page " (current) " of " (pages) "." }
        table {
            tr { th { "cluster" } th { "phase" } th.num { "applied" } th.num { "seen" } th { "labels" }
                 th { "reported" } th.num { "drifted" } th { "reason, newest error, unhealthy objects" } }
            @for r in rows { (row(r, stale_before)) }
        }
        nav.pages {
            @if current > 1 { a href=(filter.link(name, current - 1)) { "← previous" } }
            @if current < pages { a href=(filter.link(name, current + 1)) { "next →" } }
        }
    };
    Ok(page(view, &format!("clusters of {name}"), true, body))
}

fn form<'a>(filter: &Filter, phases: impl Iterator<Item = &'a String>) -> Markup {
    html! {
        form method="get" {
            input type="search" name="q" value=(filter.q) placeholder="cluster id, or labels: region=eu,tier in (1,2)" size="40";
            " "
            select name="phase" {
                option value="" { "any phase" }
                @for p in phases { option value=(p) selected[*p == filter.phase] { (p) } }
            }
            " "
            select name="show" {
                @for (value, label) in [("", "all"), ("problems", "problems"), ("stale", "stale"), ("drifted", "drifted")] {
                    option value=(value) selected[value == filter.show] { (label) }
                }
            }
            " "
            input type="submit" value="filter";
        }
    }
}

fn row(r: &StatusRecord, stale_before: chrono::DateTime<chrono::Utc>) -> Markup {
    let labels: Vec<String> = r.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let newest_error = r.errors.last();
    html! {
        tr {
            td { (r.cluster) }
            td { (phase_pill(&phase_name(r.phase))) }
            td.num { (r.applied.as_ref().map_or("-".to_owned(), |a| a.generation.to_string())) }
            td.num { (r.observed_generation.map_or("-".to_owned(), |g| g.to_string())) }
            td { (labels.join(", ")) }
            td {
                (age(r.updated_at)) " ago"
                @if r.updated_at < stale_before { " " span.pill.failed { "stale" } }
            }
            td.num { (r.counts.drifted) }
            td {
                @if let Some(reason) = &r.reason { div { (reason) } }
                @if let Some(e) = newest_error {
                    div {
                        @if is_scope_refusal(e) {
                            a.pill.failed href="/trust" { "refused for scope" } (e.object.as_deref().unwrap_or("")) ": "
                        }
                        "[" (e.class) "] " (e.message)
                    }
                }
                @if !r.unhealthy.is_empty() {
                    div { "unhealthy: " (r.unhealthy.iter().take(UNHEALTHY_SHOWN).cloned().collect::<Vec<_>>().join(", "))
                          @if r.unhealthy.len() > UNHEALTHY_SHOWN { " and " (r.unhealthy.len() - UNHEALTHY_SHOWN) " more" } }
                }
            }
        }
    }
}
