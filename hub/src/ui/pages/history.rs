//! A channel's history, newest first, and the diff between two of its generations.

use std::collections::HashMap;

use hyper::StatusCode;
use maud::html;

use super::super::html::{age, page, tabs};
use super::super::state::View;
use super::Page;
use crate::channel::Channel;
use crate::error::Error;
use crate::objects::compare::compare;
use cairn_state_format::validate_channel_name;

/// Generations per history page.
const PAGE_SIZE: usize = 20;

/// A store error as a page: not found is a 404, the rest a 502 (the store failed us).
pub fn failed(error: Error) -> (StatusCode, String) {
    let status = match error {
        Error::NoChannel { .. } | Error::NoGeneration { .. } | Error::Missing { .. } => {
            StatusCode::NOT_FOUND
        }
        _ => StatusCode::BAD_GATEWAY,
    };
    (status, error.to_string())
}

fn checked(name: &str) -> Result<(), (StatusCode, String)> {
    validate_channel_name(name).map_err(|e| (StatusCode::NOT_FOUND, e.to_string()))
}

/// The history page: one listing of the log, then the heads of the generations shown.
pub async fn history(view: &View, name: &str, query: &HashMap<String, String>) -> Page {
    checked(name)?;
    let channel = Channel::new(&view.store, name);
    let generations = channel.log_generations().await.map_err(failed)?;
    let current = channel
        .head()
        .await
        .map_err(failed)?
        .map(|h| h.head.generation);
    let pages = generations.len().div_ceil(PAGE_SIZE).max(1);
    let page_no: usize = query.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
    let page_no = page_no.clamp(1, pages);
    let mut heads = Vec::new();
    for &g in generations
        .iter()
        .rev()
        .skip((page_no - 1) * PAGE_SIZE)
        .take(PAGE_SIZE)
    {
        heads.push(channel.require_generation(g).await.map_err(failed)?.head);
    }
    let body = html! {
        h1 { "History of " (name) }
        (tabs(name))
        p { (generations.len()) " generations; page " (page_no) " of " (pages) "." }
        table {
            tr { th.num { "generation" } th { "snapshot" } th { "published" } th { "source" } th { "rollout" } th { "diff" } }
            @for head in &heads {
                tr {
                    td.num { (head.generation) @if Some(head.generation) == current { " (head)" } }
                    td { code { (head.snapshot.to_string()[..19]) "…" } }
                    td { (head.published_at.format("%Y-%m-%d %H:%M:%S UTC")) " (" (age(head.published_at)) " ago)" }
                    td { @for (k, v) in &head.source { span.pill { (k) "=" (v) } } }
                    td { @if let Some(r) = &head.rollout { (r.steps.iter().map(|s| format!("{}%", s.percent)).collect::<Vec<_>>().join(" → ")) } }
                    td { @if head.generation > 1 {
                        a href=(format!("/channels/{name}/diff?from={}&to={}", head.generation - 1, head.generation)) { "from " (head.generation - 1) }
                    } }
                }
            }
        }
        nav.pages {
            @if page_no > 1 { a href=(format!("/channels/{name}/history?page={}", page_no - 1)) { "← newer" } }
            @if page_no < pages { a href=(format!("/channels/{name}/history?page={}", page_no + 1)) { "older →" } }
        }
    };
    Ok(page(view, &format!("history of {name}"), false, body))
}

fn generation(query: &HashMap<String, String>, key: &str) -> Result<u64, (StatusCode, String)> {
    query
        .get(key)
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or_else(|| {
            (
                StatusCode::BAD_REQUEST,
                format!("?{key}= must be a generation number"),
            )
        })
}

/// The diff page: `?from=A&to=B`, two generations of the channel.
pub async fn diff(view: &View, name: &str, query: &HashMap<String, String>) -> Page {
    checked(name)?;
    let (from, to) = (generation(query, "from")?, generation(query, "to")?);
    let channel = Channel::new(&view.store, name);
    let a = channel
        .require_generation(from)
        .await
        .map_err(failed)?
        .head
        .snapshot;
    let b = channel
        .require_generation(to)
        .await
        .map_err(failed)?
        .head
        .snapshot;
    let rows = compare(
        &view.store,
        (&a, &from.to_string()),
        (&b, &to.to_string()),
        false,
    )
    .await
    .map_err(failed)?;
    let body = html! {
        h1 { (name) ": generation " (from) " → " (to) }
        (tabs(name))
        @if rows.is_empty() { p { "Same content (" (b) ")." } }
        table {
            @for row in &rows { tr { td { (row.change) } td { (row.object) } } }
        }
        @for row in &rows {
            @if let Some(diff) = &row.diff { pre { (diff) } }
        }
    };
    Ok(page(view, &format!("{name} {from}→{to}"), false, body))
}
