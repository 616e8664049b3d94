//! The cairn agent library.
