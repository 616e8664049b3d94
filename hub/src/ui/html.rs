//! The page frame and the small pieces pages share: bars, ages, links.

use chrono::{DateTime, Utc};
use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::state::View;
use crate::clock::now;

const CSS: &str = "
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d2433;background:#f6f7f9}
header{background:#1d2433;color:#fff;padding:.6em 1.2em;display:flex;gap:1.2em;align-items:baseline}
header a{color:#fff;font-weight:600;text-decoration:none}header .dim{color:#aab}
main{padding:1em 1.2em;max-width:1200px}
h1{font-size:1.4em;margin:.2em 0 .6em}h2{font-size:1.1em;margin:1.4em 0 .5em}
table{border-collapse:collapse;background:#fff;width:100%}
th,td{text-align:left;padding:.3em .6em;border-bottom:1px solid #e3e6ea;vertical-align:top}
th{background:#eef0f3;font-weight:600}
.num{text-align:right;font-variant-numeric:tabular-nums}
.bars{display:grid;grid-template-columns:14em 1fr 5em;gap:.25em .6em;align-items:center;max-width:720px}
.bar{height:1.1em;background:#3b82f6;border-radius:2px;min-width:1px}.bar.newest{background:#16a34a}
.pill{display:inline-block;padding:0 .5em;border-radius:1em;background:#e5e7eb;margin-right:.3em}
.converged{background:#dcfce7}.failed,.degraded{background:#fee2e2}.frozen{background:#e0e7ff}
.waiting,.pending,.progressing{background:#fef9c3}
.warn{background:#fff4e5;border:1px solid #f5c16c;padding:.5em .8em;margin:.5em 0}
.tiles{display:flex;gap:.8em;flex-wrap:wrap}.tile{background:#fff;padding:.6em 1em;border:1px solid #e3e6ea}
.tile b{display:block;font-size:1.5em}
pre{background:#fff;border:1px solid #e3e6ea;padding:.6em;overflow:auto;font-size:12px}
form{margin:.5em 0}input,select{font:inherit;padding:.15em .3em}
nav.pages a,nav.tabs a{margin-right:.8em}
";

/// The frame of every page. `refresh` makes the page reload itself (live pages).
pub fn page(view: &View, title: &str, refresh: bool, body: Markup) -> Markup {
    let look = view.look();
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                @if refresh {
                    meta http-equiv="refresh" content=(view.refresh.as_secs().max(1));
                }
                title { (title) " · cairn" }
                style { (PreEscaped(CSS)) }
            }
            body {
                header {
                    a href="/" { "cairn" }
                    a href="/trust" { "trust" }
                    span.dim { (view.store.url()) }
                    span.dim {
                        @match look.at {
                            Some(at) => { "looked " (age(at)) " ago" }
                            None => { "first look in progress…" }
                        }
                    }
                }
                main {
                    @if let Some(error) = &look.error {
                        div.warn { "The last look at the store failed (showing the one before): " (error) }
                    }
                    (body)
                }
            }
        }
    }
}

/// How long ago `at` was, to the second, in its two largest units.
pub fn age(at: DateTime<Utc>) -> String {
    let seconds = (now() - at).num_seconds().max(0);
    let (d, h, m, s) = (
        seconds / 86_400,
        seconds / 3600 % 24,
        seconds / 60 % 60,
        seconds % 60,
    );
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s}s"),
        (0, _, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

/// One horizontal bar per row: `(label, count, highlighted)`, scaled to the largest count.
pub fn bars(rows: &[(String, usize, bool)]) -> Markup {
    let most = rows.iter().map(|r| r.1).max().unwrap_or(0).max(1);
    html! {
        div.bars {
            @for (label, count, newest) in rows {
                span { (label) }
                div {
                    div.bar.newest[*newest] style=(format!("width:{:.2}%", *count as f64 * 100.0 / most as f64)) {}
                }
                span.num { (count) }
            }
        }
    }
}

/// A phase as a coloured pill.
pub fn phase_pill(phase: &str) -> Markup {
    html! { span class=(format!("pill {phase}")) { (phase) } }
}

/// A link to a channel's clusters page with these filters.
pub fn clusters_link(channel: &str, filters: &[(&str, &str)]) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in filters.iter().filter(|(_, v)| !v.is_empty()) {
        query.append_pair(k, v);
    }
    format!("/channels/{channel}/clusters?{}", query.finish())
}

/// The tabs of a channel's pages.
pub fn tabs(channel: &str) -> Markup {
    html! {
        nav.tabs {
            a href=(format!("/channels/{channel}")) { "overview" }
            a href=(clusters_link(channel, &[])) { "clusters" }
            a href=(format!("/channels/{channel}/history")) { "history" }
            a href=(format!("/channels/{channel}/flags")) { "flags" }
        }
    }
}
