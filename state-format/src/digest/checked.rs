//! The fallible side of digests: reading one from text and checking bytes against one. Above
//! the crate's errors, which name digests in their variants.

use std::str::FromStr;

use serde::{Deserialize, Deserializer};

use super::{Digest, PREFIX};
use crate::error::{Error, Result};

impl Digest {
    /// Parses 64 hex characters without prefix, as found in object keys.
    pub fn from_hex(hex_str: &str) -> Result<Self> {
        let bad = || Error::BadDigest {
            value: hex_str.to_owned(),
        };
        if hex_str.len() != 64 || hex_str.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(bad());
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(hex_str, &mut out).map_err(|_| bad())?;
        Ok(Digest(out))
    }

    /// Checks that `bytes` hash to this digest; `what` names the object in the error.
    pub fn verify(&self, what: &str, bytes: &[u8]) -> Result<()> {
        let actual = Digest::of(bytes);
        if actual == *self {
            Ok(())
        } else {
            Err(Error::DigestMismatch {
                what: what.to_owned(),
                expected: *self,
                actual,
            })
        }
    }
}

impl FromStr for Digest {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        s.strip_prefix(PREFIX)
            .and_then(|hex_str| Digest::from_hex(hex_str).ok())
            .ok_or_else(|| Error::BadDigest {
                value: s.to_owned(),
            })
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}
