//! One module per command: its flags (an `*Args` struct, or a subcommand enum) next to its code,
//! and a `run` that resolves the flags into settings, does the work through the parts below
//! (`publish`, `trust`, `status`, …), and prints text or JSON as asked. The flag groups several
//! commands share are in [`args`], the helpers in [`common`]; a command uses no other command
//! (`env up` excepted: it publishes manifests as `publish` does).

pub mod args;
pub mod common;
pub mod completion;
pub mod diff;
pub mod env;
pub mod export;
pub mod flag;
pub mod gc;
pub mod history;
pub mod import;
pub mod keygen;
pub mod promote;
pub mod publish;
pub mod revert;
pub mod rollout;
pub mod show;
pub mod sign;
pub mod status;
pub mod trust;
pub mod ui;
