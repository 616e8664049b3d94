//! A channel's feature flags with owner, expiry and age.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use maud::html;

use super::super::html::{age, page, tabs};
use super::super::state::View;
use super::Page;
use super::history::failed;
use crate::channel::Channel;
use crate::clock::now;
use crate::flags::stored::{configmap_id, snapshot_flags};

/// The flags page: `?namespace=&configmap=` name the flag document (default/feature-flags).
pub async fn flags(view: &View, name: &str, query: &HashMap<String, String>) -> Page {
    let namespace = query.get("namespace").map_or("default", String::as_str);
    let configmap = query
        .get("configmap")
        .map_or("feature-flags", String::as_str);
    let id = configmap_id(namespace, configmap);
    let latest = Channel::new(&view.store, name)
        .require_latest()
        .await
        .map_err(failed)?;
    let flags = snapshot_flags(&view.store, &latest.head.snapshot, &id)
        .await
        .map_err(failed)?;
    let today = now().date_naive().to_string();
    let body = html! {
        h1 { "Flags of " (name) }
        (tabs(name))
        p { "In " (namespace) "/" (configmap) " of generation " (latest.head.generation) "." }
        @if flags.is_empty() { p { "No flags." } }
        table {
            tr { th { "flag" } th { "value" } th { "owner" } th { "expires" } th { "last changed" } }
            @for f in &flags {
                tr {
                    td { (f.name) }
                    td { code { (f.value.to_string()) } }
                    td { (f.owner.as_deref().unwrap_or("-")) }
                    td {
                        (f.expires.as_deref().unwrap_or("-"))
                        @if f.expires.as_deref().is_some_and(|e| e < today.as_str()) { " " span.pill.failed { "expired" } }
                    }
                    td {
                        @match f.updated.as_deref().and_then(|u| u.parse::<DateTime<Utc>>().ok()) {
                            Some(at) => { (age(at)) " ago" }
                            None => { (f.updated.as_deref().unwrap_or("-")) }
                        }
                    }
                }
            }
        }
    };
    Ok(page(view, &format!("flags of {name}"), false, body))
}
