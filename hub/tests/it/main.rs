//! The hub's integration tests, as one test binary (`cargo test -p cairn-hub --test it`).

mod cli;
mod concurrency;
mod crash;
mod gc;
mod git_checkout;
mod layers;
mod patch;
mod publish_cache;
mod publish_cost;
mod snapshot_packs;
mod source_map;
mod support;
mod trust;
