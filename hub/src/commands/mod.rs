//! One module per command; each prints text or JSON as asked.

mod common;
pub mod completion;
pub mod diff;
mod env;
pub mod flag;
pub mod gc;
pub mod history;
mod keygen;
pub mod promote;
pub mod publish;
mod revert;
pub mod rollout;
mod show;
pub mod status;
pub mod ui;

pub use completion::completion;
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
pub use ui::ui;
