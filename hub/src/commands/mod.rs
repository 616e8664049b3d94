//! One module per command; each prints text or JSON as asked.

mod common;
mod diff;
pub mod gc;
mod history;
mod keygen;
mod publish;
mod revert;
mod show;
pub mod status;

pub use diff::diff;
pub use gc::gc;
pub use history::history;
pub use keygen::keygen;
pub use publish::publish;
pub use revert::{refresh, revert};
pub use show::show;
pub use status::status;
