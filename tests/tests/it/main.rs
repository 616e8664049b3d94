//! End-to-end tests of the real `cairn` and `cairn-agent` binaries, in one binary.

mod bundle;
mod delivery;
mod fleet;
mod input;
mod monitoring;
mod status_reads;
mod trust;
mod ui;
