//! Files on this machine: written whole or not at all ([`atomic`]), cache files read forgivingly
//! ([`cache`]), and key files ([`keys`]).

pub mod atomic;
pub mod cache;
pub mod keys;
