//! Ed25519 keys in cairn's one-line text forms.
//!
//! ```text
//! cairn-ed25519-public <base64 of the 32-byte public key>
//! cairn-ed25519-secret <base64 of the 32-byte seed>
//! ```
//!
//! A key is named in signatures by its id: the first 8 bytes of the sha256 of the public key, in hex.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};

use crate::digest::Digest;
use crate::error::{Error, Result};

const PUBLIC_TAG: &str = "cairn-ed25519-public";
const SECRET_TAG: &str = "cairn-ed25519-secret";

/// A public key agents trust.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

/// A publisher's signing key.
pub struct SecretKey(SigningKey);

impl SecretKey {
    /// The key for a 32-byte seed (the caller supplies randomness: this crate does no I/O).
    pub fn from_seed(seed: [u8; 32]) -> SecretKey {
        SecretKey(SigningKey::from_bytes(&seed))
    }

    /// The matching public key.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    /// Signs `message`, returning the base64 signature.
    pub fn sign(&self, message: &[u8]) -> String {
        STANDARD.encode(self.0.sign(message).to_bytes())
    }

    /// The one-line text form (keep it secret).
    pub fn to_text(&self) -> String {
        format!("{SECRET_TAG} {}\n", STANDARD.encode(self.0.to_bytes()))
    }
}

impl FromStr for SecretKey {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        Ok(SecretKey(SigningKey::from_bytes(&decode_tagged(
            text, SECRET_TAG,
        )?)))
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey({})", self.public().id())
    }
}

impl PublicKey {
    /// The key id used in signatures.
    pub fn id(&self) -> String {
        hex::encode(&Digest::of(self.0.as_bytes()).as_bytes()[..8])
    }

    /// Whether `signature` (base64) is this key's signature of `message`.
    pub fn verifies(&self, message: &[u8], signature: &str) -> bool {
        let Ok(bytes) = STANDARD.decode(signature) else {
            return false;
        };
        let Ok(signature) = Signature::from_slice(&bytes) else {
            return false;
        };
        self.0.verify(message, &signature).is_ok()
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PUBLIC_TAG} {}", STANDARD.encode(self.0.as_bytes()))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.id())
    }
}

impl FromStr for PublicKey {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        let bytes = decode_tagged(text, PUBLIC_TAG)?;
        VerifyingKey::from_bytes(&bytes)
            .map(PublicKey)
            .map_err(|_| Error::Key("the public key is not a valid ed25519 point".to_owned()))
    }
}

/// Written as its one-line text form (`cairn-ed25519-public <base64>`), as in trust roots.
impl serde::Serialize for PublicKey {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for PublicKey {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

fn decode_tagged(text: &str, tag: &str) -> Result<[u8; 32]> {
    let text = text.trim();
    let body = text
        .strip_prefix(tag)
        .map(str::trim_start)
        .ok_or_else(|| Error::Key(format!("expected a line starting with {tag:?}")))?;
    let bytes = STANDARD
        .decode(body)
        .map_err(|e| Error::Key(format!("{tag}: bad base64: {e}")))?;
    bytes
        .try_into()
        .map_err(|_| Error::Key(format!("{tag}: expected 32 bytes")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_forms_round_trip_and_sign() {
        let secret = SecretKey::from_seed([7; 32]);
        let again: SecretKey = secret.to_text().parse().unwrap();
        let public: PublicKey = secret.public().to_string().parse().unwrap();
        let sig = again.sign(b"m");
        assert!(public.verifies(b"m", &sig));
        assert!(!public.verifies(b"n", &sig));
        assert!("cairn-ed25519-public abc".parse::<PublicKey>().is_err());
        assert!(secret.to_text().parse::<PublicKey>().is_err());
    }
}
