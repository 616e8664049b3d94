//! A channel's epoch: a random name fixed at the channel's first generation and carried, signed,
//! by every head after it. A channel deleted and published afresh (or a cluster pointed at
//! another bucket with the same channel name) starts a new epoch, so an agent tells "re-created"
//! apart from "rolled back" instead of refusing the new channel's low generations as replays.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{Error, Result};

/// 128 random bits, written as 32 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Epoch([u8; 16]);

impl Epoch {
    /// The epoch of these random bytes (the caller draws them: this crate has no randomness).
    pub const fn from_bytes(bytes: [u8; 16]) -> Epoch {
        Epoch(bytes)
    }

    /// The epoch's bytes.
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl fmt::Display for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Epoch({self})")
    }
}

impl FromStr for Epoch {
    type Err = Error;

    fn from_str(text: &str) -> Result<Epoch> {
        let bad = || Error::Malformed {
            what: format!("epoch {text:?}"),
            message: "expected 32 lowercase hex digits".to_owned(),
        };
        if text.len() != 32 || !text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(bad());
        }
        let mut bytes = [0; 16];
        hex::decode_to_slice(text, &mut bytes).map_err(|_| bad())?;
        Ok(Epoch(bytes))
    }
}

impl Serialize for Epoch {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Epoch {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Epoch, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_as_lowercase_hex_only() {
        let epoch = Epoch::from_bytes([0xab; 16]);
        assert_eq!(epoch.to_string(), "ab".repeat(16));
        assert_eq!(epoch.to_string().parse::<Epoch>().unwrap(), epoch);
        for bad in [
            "AB".repeat(16),
            "ab".repeat(15),
            "zz".repeat(16),
            String::new(),
        ] {
            assert!(bad.parse::<Epoch>().is_err(), "{bad:?}");
        }
    }
}
