//! One module per command; each prints text or JSON as asked.

mod common;
mod diff;
mod env;
mod export;
mod flag;
pub mod gc;
mod history;
mod import;
mod keygen;
mod promote;
pub mod publish;
mod revert;
pub mod rollout;
mod show;
pub mod status;

pub use diff::diff;
pub use env::env;
pub use export::export;
pub use flag::flag;
pub use gc::gc;
pub use history::history;
pub use import::import;
pub use keygen::keygen;
pub use promote::promote;
pub use publish::publish;
pub use revert::{refresh, revert};
pub use rollout::rollout;
pub use show::show;
pub use status::status;
