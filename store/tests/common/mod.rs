//! The stores the store crate's tests run on: in-memory, a local directory, and the servers the
//! test command starts on loopback (`scripts/test-servers.sh`): moto and Garage for S3, Azurite
//! for Azure Blob. A server whose variable is not set is skipped, and the test says so.

use cairn_env_vars::EnvVars;
use cairn_store::Store;

/// The servers the test command starts, by name and the variable holding each one's store URL.
const SERVERS: [(&str, &str); 3] = [
    ("moto", EnvVars::CAIRN_TEST_S3_MOTO),
    ("garage", EnvVars::CAIRN_TEST_S3_GARAGE),
    ("azurite", EnvVars::CAIRN_TEST_AZURITE),
];

/// Every store the suite runs on, each empty: server stores get a fresh random prefix.
pub fn stores(dir: &tempfile::TempDir) -> Vec<(&'static str, Store)> {
    let mut out = vec![
        (
            "memory",
            Store::open("memory://", &Default::default()).unwrap(),
        ),
        (
            "file",
            Store::open(
                &format!("file://{}", dir.path().display()),
                &Default::default(),
            )
            .unwrap(),
        ),
    ];
    for (name, var) in SERVERS {
        match std::env::var(var) {
            Ok(url) => out.push((name, fresh_prefix(&url))),
            Err(_) => {
                eprintln!("skipped {name}: {var} is not set (run the suite with scripts/test)")
            }
        }
    }
    out
}

/// The store at `url` (a bucket or container on a test server) under a new random prefix.
pub fn fresh_prefix(url: &str) -> Store {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let prefix = format!("t{:016x}", rand::random::<u64>());
    let url = format!("{}/{prefix}?{query}", base.trim_end_matches('/'));
    Store::open(&url, &Default::default()).unwrap()
}
