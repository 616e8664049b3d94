//! The cairn hub library.
