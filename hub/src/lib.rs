//! The cairn hub: the library behind the `cairn` CLI. It publishes signed, content-addressed
//! snapshots of Kubernetes manifests to an object store, and reads back what agents report.
//!
//! `main.rs` parses the command line and calls [`run`]; tests drive the same code.
//!
//! ```no_run
//! # async fn demo() -> cairn_hub::Result<()> {
//! use clap::Parser;
//! let cli = cairn_hub::Cli::parse_from(["cairn", "history", "--channel", "prod", "--store", "/tmp/store"]);
//! cairn_hub::run(cli).await
//! # }
//! ```
//!
//! # Module map
//!
//! Modules are layered: each imports only from layers below its own, never from its own or a
//! higher one, and the modules inside a folder import each other without a cycle
//! (`tests/it/layers.rs` checks every `crate::` and `super::` path against this table). Errors
//! are at the bottom, then helpers and plain data, then the store as the hub reads and writes
//! it, then the parts, then the commands, then the command line.
//!
//! | layer | module | what | invariant |
//! |---|---|---|---|
//! | 0 | `error` | [`Error`], the trust root's refusals ([`TrustError`]), the exit codes ([`exit`]) | every error says what failed and keeps its source; the exit code is decided by variant |
//! | 1 | `clock` | [`now`], to the second | heads, roots and flags are dated by it alone |
//! | 1 | `failpoint` | `CAIRN_FAILPOINT=<step>` aborts the process at that step (debug builds only) | compiled out of release builds |
//! | 1 | `files` | this machine's files: written whole (`atomic`), cache files (`cache`), key files ([`keys`]) | a file is written whole or not at all; a missing or damaged cache reads as empty, never as an error; a secret key others can read is refused |
//! | 2 | `safe_writes` | the store's abilities probed, create-once writes | nothing is written where concurrent writers could silently lose an update, unless the caller promised to be the only one |
//! | 2 | `objects` | content-addressed objects: snapshot roots and index nodes ([`RemoteNodes`]), one entry patched along its path ([`upsert`]), snapshot diffs, blobs, packs | every object read is checked against the digest that names it; reads follow only the index paths that differ |
//! | 3 | `channel` | a channel's log and head (`commit`, `latest`, `catch_up_head`), its proposals ([`proposal`]) | the create-only write of the log entry is the commit; the head only moves forward |
//! | 4 | [`trust`] | the store's trust root: the chain read and verified, the next version edited, signed and appended, the publish gate | verified from version 1 on every read; a version or head agents would refuse is never written |
//! | 5 | `publish` | the publishing pipeline, scan → check → prepare → upload → packs → commit ([`publish()`]) | nothing is uploaded before the inputs passed every check and the keys the trust root; nothing a channel names is missing when its log entry is written |
//! | 5 | `bundle` | the `cairn export` file ([`Bundle`]) and its trust root checks | a bundle is proven whole before an import writes one object |
//! | 5 | `status` | agents' status records: read by what changed ([`StatusReader`]), cached on disk, summarized per channel ([`Fleet`]), a rollout's progress | a look costs a listing plus the records that changed; a record is trusted no further than its decode checks |
//! | 5 | `flags` | the flagd flag document and reading it from a snapshot | read and changed along one index path |
//! | 6 | `ui` | `cairn ui`'s web view: one task looks at the store, a server renders pages | read-only (GET and HEAD, no script); viewers never add store reads |
//! | 7 | `commands` | [`cli::Command`] and its dispatch; one module per command (flags and `run`), the flag groups they share (`args`), their helpers (`common`) | a command uses the parts, never another command (`env up` uses `publish`'s request) |
//! | 8 | [`cli`] | [`Cli`]: the whole command line, with the exit codes in its help | nothing but [`run`] uses it |

mod bundle;
mod channel;
pub mod cli;
mod clock;
mod commands;
mod error;
mod failpoint;
mod files;
mod flags;
mod objects;
mod publish;
mod safe_writes;
mod status;
pub mod trust;
mod ui;

pub use bundle::Bundle;
pub use channel::proposal;
pub use cli::Cli;
pub use clock::now;
pub use commands::gc::{Collected, collect_at};
pub use error::{Error, Result, TrustError, exit};
pub use files::keys;
pub use objects::nodes::RemoteNodes;
pub use objects::patch::upsert;
pub use publish::publish;
pub use publish::published::{Proposed, Published};
pub use publish::request::{Content, Publication, Settings};
pub use publish::scan::Scan;
pub use publish::scan_cache::CacheFile;
pub use status::fleet::{ChannelStatus, Fleet};
pub use status::read::StatusReader;

/// Runs one command.
pub async fn run(cli: Cli) -> Result<()> {
    cli.run().await
}
