//! cairn's benchmark tools: realistic synthetic manifests, measured command runs, and the publish
//! scaling benchmark that compares the real `cairn publish` with Git on the same changes.
//!
//! Criterion micro benchmarks of the wire format live in `benches/format.rs`
//! (`cargo bench -p cairn-benches`); the binaries in `src/bin/` are thin wrappers over the modules
//! here, so the smoke test drives the same code. Results are recorded in `BENCHMARKS.md`.
//!
//! ```
//! use cairn_benches::manifests::manifest;
//! let deployment = manifest(0, 0);
//! assert!(deployment.path.ends_with("-deployment.yaml"));
//! ```

pub mod criterion_table;
pub mod error;
pub mod fleet;
pub mod git_command;
pub mod kube;
pub mod manifests;
pub mod measure;
pub mod request_proxy;
pub mod scaling;
pub mod sizing;
pub mod soak;
pub mod status_scale;

pub use error::{Error, Result};
