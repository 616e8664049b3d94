//! A channel's feature flags with owner, expiry and age.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use maud::html;

use super::super::html::{age, page, tabs};
use super::super::server::Page;
use super::super::state::View;
use super::history::failed;
use crate::channel::Channel;
use crate::cli::{Output, StoreArgs};
use crate::commands::flag::FlagArgs;
use crate::commands::flag::snapshot_flags;

/// The flags page: `?namespace=&configmap=` name the flag document (default/feature-flags).
pub async fn flags(view: &View, name: &str, query: &HashMap<String, String>) -> Page {
    let at = FlagArgs {
        store: StoreArgs {
            store: view.store.url().to_owned(),
            output: Output::Text,
        },
        channel: name.to_owned(),
        namespace: query
            .get("namespace")
            .cloned()
            .unwrap_or_else(|| "default".into()),
        configmap: query
            .get("configmap")
            .cloned()
            .unwrap_or_else(|| "feature-flags".into()),
    };
    let latest = Channel::new(&view.store, name)
        .require_latest()
        .await
        .map_err(failed)?;
    let flags = snapshot_flags(&view.store, &latest.head.snapshot, &at)
        .await
        .map_err(failed)?;
    let today = Utc::now().date_naive().to_string();
    let body = html! {
        h1 { "Flags of " (name) }
        (tabs(name))
        p { "In " (at.namespace) "/" (at.configmap) " of generation " (latest.head.generation) "." }
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
