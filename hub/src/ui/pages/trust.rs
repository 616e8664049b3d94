//! The trust page: the store's trust root (who may sign which channels, with what scope, and its
//! versions), read when asked, and the heads agents refused for scope, from the newest look.

use cairn_state_format::TrustRoot;
use maud::{Markup, html};

use super::super::html::{age, clusters_link, page};
use super::super::refusals::scope_refusals;
use super::super::state::View;
use super::Page;
use super::history::failed;
use crate::trust::{self, Chain, key_list, scope_text};

/// The trust page.
pub async fn trust(view: &View) -> Page {
    let chain = trust::load(&view.store).await.map_err(failed)?;
    let body = html! {
        h1 { "Trust" }
        @match &chain {
            None => p { "No trust root: agents trust keys given to them (--trust)." },
            Some(chain) => (root_section(chain)),
        }
        (refusals_section(view))
    };
    Ok(page(view, "trust", false, body))
}

fn root_section(chain: &Chain) -> Markup {
    let root = &chain.latest.root;
    html! {
        p {
            "Trust root version " (root.version) ", format " (root.format) ", digest "
            code { (chain.trusted.digest()) } "; published " (root.published_at.format("%Y-%m-%d %H:%M:%S UTC"))
            ", expires " (root.expires_at.format("%Y-%m-%d %H:%M:%S UTC")) "."
        }
        p { "Agents are installed with version 1: " code { "--trust-root-digest " (chain.first_digest()) } }
        p { "Root keys (" (root.root.threshold) " of them sign the next version): " (key_list(root, &root.root.keys)) }
        (delegations(root))
        h2 { "Versions" }
        table {
            tr { th.num { "version" } th { "digest" } th { "published" } th { "signed by" } }
            @for v in chain.versions.iter().rev() {
                tr {
                    td.num { (v.version) }
                    td { code { (v.digest) } }
                    td { (v.published_at.format("%Y-%m-%d %H:%M:%S UTC")) }
                    td { (v.signed_by.join(", ")) }
                }
            }
        }
    }
}

fn delegations(root: &TrustRoot) -> Markup {
    html! {
        h2 { "Delegations" }
        @if root.delegations.is_empty() {
            p { "None, so no key may sign any channel." }
        } @else {
            p { "For a channel, the first delegation whose pattern matches decides; root keys sign no channel." }
            table {
                tr { th { "delegation" } th { "channels" } th { "signers" } th.num { "threshold" } th { "scope" } }
                @for d in &root.delegations {
                    tr {
                        td { (d.name) }
                        td { (d.channels.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", ")) }
                        td { (key_list(root, &d.keys)) }
                        td.num { (d.threshold) }
                        td { code { (scope_text(d.scope.as_ref())) } }
                    }
                }
            }
        }
    }
}

fn refusals_section(view: &View) -> Markup {
    let look = view.look();
    let refusals = scope_refusals(&look);
    html! {
        h2 { "Heads refused for scope (" (refusals.len()) ")" }
        @if refusals.is_empty() {
            p { "None: no agent reports a head whose content its scope forbids." }
        } @else {
            table {
                tr { th { "cluster" } th { "channel" } th { "object" } th { "rule" } th { "when" } }
                @for r in &refusals {
                    tr {
                        td { (r.record.cluster) }
                        td { a href=(clusters_link(r.channel, &[("q", &r.record.cluster)])) { (r.channel) } }
                        td { (r.error.object.as_deref().unwrap_or("")) }
                        td { (r.error.message) }
                        td { (age(r.error.at)) " ago" }
                    }
                }
            }
        }
    }
}
