//! What the hub's, the agent's, the store's and the end-to-end tests share, so that no test
//! binary carries its own copy: the stores every store-level test runs on (`stores`), stores
//! that count requests (`counting_memory`), the workspace's binaries (`binary`) and how `cairn`
//! runs in a test (`cairn_command`, `publish_args`), a signing key, manifests, and bounded waiting.
//!
//! A dev-only crate: nothing in the binaries depends on it.

mod binaries;
mod cli;
mod stores;
mod wait;

pub use binaries::binary;
pub use cli::{cairn_command, publish_args, succeeded};
pub use stores::{
    ALL_SERVERS, S3_SERVERS, Server, counting_memory, fresh_prefix, fresh_url, server_urls, stores,
};
pub use wait::{eventually, wait_until};

use cairn_state_format::SecretKey;

/// The tests' signing key: the same on every run, so a failure reproduces.
pub fn key() -> SecretKey {
    SecretKey::from_seed([42; 32])
}

/// `n` ConfigMaps in 7 namespaces, as one YAML stream; `variant` changes the data of the first
/// `changed` of them, so two variants differ in exactly `changed` objects.
pub fn configmaps(n: usize, changed: usize, variant: u32) -> String {
    (0..n)
        .map(|i| {
            let value = if i < changed {
                format!("v{variant}")
            } else {
                "v0".to_owned()
            };
            format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cm-{i}, namespace: team-{}}}\ndata: {{key: {value}, index: '{i}'}}\n",
                i % 7
            )
        })
        .collect::<Vec<_>>()
        .join("---\n")
}
