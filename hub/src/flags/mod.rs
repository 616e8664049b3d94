//! Feature flags: the flagd flag document ([`document`]) and reading it out of a stored snapshot
//! along its index path ([`stored`]), so that neither a flip nor a look reads the rest of the
//! snapshot.

pub mod document;
pub mod stored;
