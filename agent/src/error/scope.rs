//! A head whose content its channel's scope does not allow: the objects, and the rules they
//! break.

use std::fmt;

use cairn_state_format::ScopeViolation;

/// Offending objects a refusal lists by name (the rest are counted).
pub const LISTED_VIOLATIONS: usize = 5;

/// Generation `generation` of a channel holds objects its scope does not allow: nothing of it
/// is applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutOfScope {
    /// The refused generation.
    pub generation: u64,
    /// The first [`LISTED_VIOLATIONS`] offending objects, in object order.
    pub listed: Vec<ScopeViolation>,
    /// How many objects offend in all.
    pub total: usize,
}

impl OutOfScope {
    /// The refusal of `generation` for `violations` (at least one).
    pub fn new(generation: u64, mut violations: Vec<ScopeViolation>) -> OutOfScope {
        let total = violations.len();
        violations.truncate(LISTED_VIOLATIONS);
        OutOfScope {
            generation,
            listed: violations,
            total,
        }
    }

    /// The status record's message for one offender: `generation <n>: <rule>`.
    pub fn message(&self, violation: &ScopeViolation) -> String {
        format!("generation {}: {}", self.generation, violation.rule)
    }
}

impl fmt::Display for OutOfScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let objects = if self.total == 1 { "object" } else { "objects" };
        write!(
            f,
            "generation {}: {} {objects} outside the channel's scope: ",
            self.generation, self.total
        )?;
        let listed: Vec<String> = self.listed.iter().map(ToString::to_string).collect();
        f.write_str(&listed.join("; "))?;
        match self.total.saturating_sub(self.listed.len()) {
            0 => Ok(()),
            more => write!(f, "; and {more} more"),
        }
    }
}
