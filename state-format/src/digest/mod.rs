//! Content digests: `sha256:<64 lowercase hex>`.
//!
//! The value type sits below the crate's errors (which name digests); reading a digest from text
//! and checking bytes against one, which fail with those errors, live in `checked`.

mod checked;

use std::fmt;

use serde::{Serialize, Serializer};
use sha2::{Digest as _, Sha256};

const PREFIX: &str = "sha256:";

/// The sha256 of some canonical bytes. Displayed and serialized as `sha256:<hex>`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Digest([u8; 32]);

impl Digest {
    /// Hashes `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Digest(Sha256::digest(bytes).into())
    }

    /// Wraps raw digest bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Digest(bytes)
    }

    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The 64 lowercase hex characters, without the `sha256:` prefix (as used in object keys).
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The 4-bit digit at `depth` (0 = the high nibble of the first byte), used by the index.
    pub(crate) fn nibble(&self, depth: usize) -> usize {
        let byte = self.0[depth / 2];
        usize::from(if depth.is_multiple_of(2) {
            byte >> 4
        } else {
            byte & 0x0f
        })
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PREFIX}{}", self.hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_through_text() {
        let d = Digest::of(b"hello");
        assert_eq!(
            d.to_string(),
            "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(d.to_string().parse::<Digest>().unwrap(), d);
        assert_eq!(Digest::from_hex(&d.hex()).unwrap(), d);
    }

    #[test]
    fn refuses_malformed_text() {
        for bad in [
            "sha256:",
            "sha256:zz",
            "md5:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
            "sha256:2CF24DBA5FB0A30E26E83B2AC5B9E29E1B161E5C1FA7425E73043362938B9824",
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
        ] {
            assert!(bad.parse::<Digest>().is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn verify_names_the_object() {
        let err = Digest::of(b"a").verify("blob x", b"b").unwrap_err();
        assert!(err.to_string().contains("blob x"), "{err}");
    }
}
