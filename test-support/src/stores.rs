//! The stores store-level tests run on: in memory, a local directory, and the servers the test
//! command starts on loopback (`scripts/test-servers.sh`). A server whose variable is not set is
//! skipped, and the test says so on stderr.

use std::path::Path;
use std::sync::Arc;

use cairn_env_vars::EnvVars;
use cairn_store::{CountingStore, Provider, Store};

/// A store server the test command starts.
#[derive(Clone, Copy, Debug)]
pub struct Server {
    /// Its name in test output.
    pub name: &'static str,
    /// The variable holding its store URL.
    pub var: &'static str,
}

/// The S3 servers: moto and Garage.
pub const S3_SERVERS: &[Server] = &[
    Server {
        name: "moto",
        var: EnvVars::CAIRN_TEST_S3_MOTO,
    },
    Server {
        name: "garage",
        var: EnvVars::CAIRN_TEST_S3_GARAGE,
    },
];

/// Every server: the S3 ones, Azurite (Azure Blob) and fake-gcs-server (GCS).
pub const ALL_SERVERS: &[Server] = &[
    S3_SERVERS[0],
    S3_SERVERS[1],
    Server {
        name: "azurite",
        var: EnvVars::CAIRN_TEST_AZURITE,
    },
    Server {
        name: "fake-gcs",
        var: EnvVars::CAIRN_TEST_GCS,
    },
];

/// An empty in-memory store, an empty directory store under `dir`, and an empty store (a fresh
/// random prefix) on each of `servers` that the test command started.
pub fn stores(dir: &Path, servers: &[Server]) -> Vec<(&'static str, Store)> {
    let mut out = vec![
        (
            "memory",
            Store::open("memory://", &Default::default()).unwrap(),
        ),
        (
            "file",
            Store::open(&format!("file://{}", dir.display()), &Default::default()).unwrap(),
        ),
    ];
    for (name, url) in server_urls(servers) {
        out.push((name, Store::open(&url, &Default::default()).unwrap()));
    }
    out
}

/// The URL of an empty store (a fresh random prefix) on each of `servers` that the test command
/// started, by server name.
pub fn server_urls(servers: &[Server]) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    for server in servers {
        match std::env::var(server.var) {
            Ok(url) => out.push((server.name, fresh_url(&url))),
            Err(_) => eprintln!(
                "skipped {}: {} is not set (run the suite with scripts/test)",
                server.name, server.var
            ),
        }
    }
    out
}

/// `url` (a bucket or container on a test server) under a new random prefix.
pub fn fresh_url(url: &str) -> String {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let prefix = format!("t{:016x}", rand::random::<u64>());
    format!("{}/{prefix}?{query}", base.trim_end_matches('/'))
}

/// The store at `url` (a bucket or container on a test server) under a new random prefix.
pub fn fresh_prefix(url: &str) -> Store {
    Store::open(&fresh_url(url), &Default::default()).unwrap()
}

/// A fresh in-memory store whose requests are counted, and the counter.
pub fn counting_memory() -> (Store, CountingStore) {
    let counting = CountingStore::new(Arc::new(object_store::memory::InMemory::new()));
    let store = Store::from_object_store(
        Arc::new(counting.clone()),
        Provider::Memory,
        "memory://counted",
    );
    (store, counting)
}
