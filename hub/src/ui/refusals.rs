//! Heads agents refused for scope, found in their status records by structure: a `verify` error
//! that names an object is a scope refusal (the agent's contract; its message is
//! `generation <n>: <rule>`). Other `verify` errors (a bad signature, an unknown key) name none.

use cairn_state_format::{StatusError, StatusRecord};

use super::state::Look;

/// The class agents give to errors verifying a head.
const VERIFY: &str = "verify";

/// Whether `error` is an agent's refusal of a head for its scope.
pub fn is_scope_refusal(error: &StatusError) -> bool {
    error.class == VERIFY && error.object.is_some()
}

/// One refusal as the trust page lists it.
pub struct Refusal<'a> {
    /// The channel whose head was refused.
    pub channel: &'a str,
    /// The record that reports it.
    pub record: &'a StatusRecord,
    /// The refusal itself.
    pub error: &'a StatusError,
}

/// Every scope refusal in the look's status records, by channel and cluster, newest last.
pub fn scope_refusals(look: &Look) -> Vec<Refusal<'_>> {
    look.channels
        .iter()
        .flat_map(|(channel, c)| {
            c.records.iter().flat_map(move |record| {
                record
                    .errors
                    .iter()
                    .filter(|e| is_scope_refusal(e))
                    .map(move |error| Refusal {
                        channel,
                        record,
                        error,
                    })
            })
        })
        .collect()
}
