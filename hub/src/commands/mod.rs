//! One module per command; each prints text or JSON as asked.

pub(crate) mod common;
mod diff;
mod env;
mod flag;
pub mod gc;
mod history;
mod keygen;
mod promote;
pub mod publish;
mod revert;
pub mod rollout;
mod show;
pub mod sign;
pub mod status;
pub mod trust;

pub use diff::diff;
pub use env::env;
pub use flag::flag;
pub use gc::gc;
pub use history::history;
pub use keygen::keygen;
pub use promote::promote;
pub use publish::publish;
pub use revert::{refresh, revert};
pub use rollout::rollout;
pub use show::show;
pub use status::status;
