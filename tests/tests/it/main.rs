//! The end-to-end tests of the real `cairn` and `cairn-agent` binaries, as one test binary
//! (`cargo test -p cairn-tests --test it`).

mod bundle;
mod bundle_trust;
mod delivery;
mod demo;
mod fleet;
mod image;
mod input;
mod monitoring;
mod status_reads;
mod trust;
mod trust_drill;
mod ui;
