//! Reads that are bounded before they are read (TUF's defence against endless data): every read
//! has a limit or an exact length, the body is streamed and the read stops at the limit, and a
//! deadline covers the whole request, so a server that sends forever or trickles a byte a second
//! costs a bounded amount of memory and time.
//!
//! A read of known length also asks the server for no more (a ranged GET of one byte past the
//! length, so that a longer object is noticed); the limit is enforced on the body in any case,
//! for servers that ignore ranges.

use std::time::Duration;

/// Bytes per second a read must average beyond its base timeout: a read of `n` bytes gets
/// `timeout + n / MIN_READ_RATE` in all before it is abandoned.
pub const MIN_READ_RATE: u64 = 64 * 1024;

/// How many bytes a read may return.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bound {
    /// At most this many: the limit of the object's kind.
    AtMost(u64),
    /// Exactly this many: a length that a signed head or an index entry declares.
    Exactly(u64),
}

impl Bound {
    /// The most bytes the read may return.
    pub fn limit(self) -> u64 {
        match self {
            Bound::AtMost(n) | Bound::Exactly(n) => n,
        }
    }

    /// The range to ask for: one byte past a known length (so that a longer object shows), none
    /// for a mere limit (most objects are far below it, and the header would cost every poll).
    pub fn range(self) -> Option<std::ops::Range<u64>> {
        match self {
            Bound::Exactly(n) => Some(0..n.saturating_add(1)),
            Bound::AtMost(_) => None,
        }
    }

    /// How long the whole read may take, given the base `timeout` of one request.
    pub fn deadline(self, timeout: Duration) -> Duration {
        timeout + Duration::from_secs(self.limit() / MIN_READ_RATE)
    }
}

/// Why a read was cut off.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The object is larger than its kind allows.
    #[error("over the limit of {limit} bytes (stopped after {read} bytes)")]
    TooLarge {
        /// The limit.
        limit: u64,
        /// Bytes read when the read stopped.
        read: u64,
    },
    /// The object is longer than the length declared for it.
    #[error("longer than the {declared} bytes declared for it (stopped after {read} bytes)")]
    Longer {
        /// The declared length.
        declared: u64,
        /// Bytes read when the read stopped.
        read: u64,
    },
    /// The object is shorter than the length declared for it.
    #[error("{read} bytes, shorter than the {declared} bytes declared for it")]
    Shorter {
        /// The declared length.
        declared: u64,
        /// Bytes read.
        read: u64,
    },
    /// The whole read took longer than its deadline (a server that trickles or stalls).
    #[error("not read completely within {}s (stopped after {read} bytes)", .after.as_secs())]
    Deadline {
        /// The deadline.
        after: Duration,
        /// Bytes read when the read stopped.
        read: u64,
    },
}

impl Refused {
    /// Whether a later attempt may succeed: only a missed deadline (a slow network); an object
    /// of the wrong size stays wrong.
    pub fn is_transient(self) -> bool {
        matches!(self, Refused::Deadline { .. })
    }
}

/// Counts the bytes of a body as they arrive and says when they pass the bound.
#[derive(Clone, Copy, Debug)]
pub struct Limiter {
    bound: Bound,
    read: u64,
}

impl Limiter {
    /// A limiter for `bound`.
    pub fn new(bound: Bound) -> Limiter {
        Limiter { bound, read: 0 }
    }

    /// Bytes accepted so far.
    pub fn read(&self) -> u64 {
        self.read
    }

    /// Accepts `len` more bytes, or refuses the read when they pass the bound.
    pub fn take(&mut self, len: usize) -> Result<(), Refused> {
        self.read = self.read.saturating_add(len as u64);
        match self.bound {
            Bound::AtMost(limit) if self.read > limit => Err(Refused::TooLarge {
                limit,
                read: self.read,
            }),
            Bound::Exactly(declared) if self.read > declared => Err(Refused::Longer {
                declared,
                read: self.read,
            }),
            _ => Ok(()),
        }
    }

    /// Checks the body's end: a body of known length must have been that long.
    pub fn finish(&self) -> Result<(), Refused> {
        match self.bound {
            Bound::Exactly(declared) if self.read < declared => Err(Refused::Shorter {
                declared,
                read: self.read,
            }),
            _ => Ok(()),
        }
    }

    /// The refusal for a read that missed its deadline.
    pub fn late(&self, after: Duration) -> Refused {
        Refused::Deadline {
            after,
            read: self.read,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_and_lengths_are_enforced_as_bytes_arrive() {
        let mut at_most = Limiter::new(Bound::AtMost(10));
        at_most.take(6).unwrap();
        at_most.take(4).unwrap();
        at_most.finish().unwrap();
        assert_eq!(
            at_most.take(1),
            Err(Refused::TooLarge {
                limit: 10,
                read: 11
            })
        );
        let mut exact = Limiter::new(Bound::Exactly(5));
        exact.take(3).unwrap();
        assert_eq!(
            exact.finish(),
            Err(Refused::Shorter {
                declared: 5,
                read: 3
            })
        );
        assert_eq!(
            exact.take(3),
            Err(Refused::Longer {
                declared: 5,
                read: 6
            })
        );
        assert_eq!(Bound::Exactly(5).range(), Some(0..6));
        assert_eq!(Bound::AtMost(5).range(), None);
        assert_eq!(
            Bound::AtMost(MIN_READ_RATE * 3).deadline(Duration::from_secs(2)),
            Duration::from_secs(5)
        );
    }
}
