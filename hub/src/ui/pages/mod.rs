//! The pages. Live pages (overview, channel, clusters) render from the newest look and reload
//! themselves; history, diffs, flags and the trust root read the store when asked (immutable objects, a few
//! requests each).

mod channel;
mod clusters;
mod flags;
mod history;
mod trust;

use hyper::StatusCode;
use maud::{Markup, html};

use super::html::{age, bars, page};
use super::state::{ChannelLook, Look, View};
use cairn_state_format::validate_channel_name;

/// A page, or why there is none.
pub type Page = std::result::Result<Markup, (StatusCode, String)>;

pub use channel::channel;
pub use clusters::clusters;
pub use flags::flags;
pub use history::{diff, history};
pub use trust::trust;

/// The front page: every channel, its newest generation and clusters per generation.
pub fn overview(view: &View) -> Markup {
    let look = view.look();
    let body = html! {
        h1 { "Channels" }
        @if look.channels.is_empty() {
            p { "No channel and no status record in this store yet." }
        }
        table {
            tr { th { "channel" } th.num { "newest" } th.num { "clusters" } th.num { "on newest" }
                 th.num { "problems" } th.num { "stale" } th { "clusters per generation" } }
            @for (name, c) in &look.channels {
                tr {
                    td { a href=(format!("/channels/{name}")) { (name) } }
                    td.num { (c.head.as_ref().map_or("removed".to_owned(), |h| h.generation.to_string())) }
                    td.num { (c.summary.clusters) }
                    td.num { (c.summary.on_latest) }
                    td.num { (c.summary.problems.len()) }
                    td.num { (c.summary.stale.len()) }
                    td { (generation_bars(c, 4)) }
                }
            }
        }
    };
    page(view, "channels", true, body)
}

/// Bars of clusters per applied generation, newest first; past `limit` generations the rest are
/// summed into one bar.
pub fn generation_bars(c: &ChannelLook, limit: usize) -> Markup {
    let newest = c.head.as_ref().map(|h| h.generation);
    let mut numbered: Vec<(u64, usize)> = c
        .summary
        .by_generation
        .iter()
        .filter_map(|(g, n)| Some((g.parse().ok()?, *n)))
        .collect();
    numbered.sort_by_key(|&(g, _)| std::cmp::Reverse(g));
    let mut rows: Vec<(String, usize, bool)> = numbered
        .iter()
        .take(limit)
        .map(|&(g, n)| {
            let label = if Some(g) == newest {
                format!("generation {g} (newest)")
            } else {
                format!("generation {g}")
            };
            (label, n, Some(g) == newest)
        })
        .collect();
    let older: usize = numbered.iter().skip(limit).map(|(_, n)| n).sum();
    if older > 0 {
        rows.push(("older".to_owned(), older, false));
    }
    if let Some(&none) = c.summary.by_generation.get("none") {
        rows.push(("nothing applied".to_owned(), none, false));
    }
    bars(&rows)
}

/// The live look at `name`, or a 404.
pub fn lookup<'a>(look: &'a Look, name: &str) -> Result<&'a ChannelLook, (StatusCode, String)> {
    validate_channel_name(name)
        .ok()
        .and_then(|()| look.channels.get(name))
        .ok_or_else(|| {
            let when = look
                .at
                .map_or("yet".to_owned(), |at| format!("as of {} ago", age(at)));
            (
                StatusCode::NOT_FOUND,
                format!("no channel {name:?} in this store {when}"),
            )
        })
}

/// A page saying what went wrong.
pub fn error(view: &View, status: StatusCode, message: &str) -> Markup {
    let body = html! {
        h1 { (status.as_u16()) " " (status.canonical_reason().unwrap_or("")) }
        p { (message) }
        p { a href="/" { "back to the channels" } }
    };
    page(view, "error", false, body)
}
