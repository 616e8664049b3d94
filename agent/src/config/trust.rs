//! Which root of trust an agent starts from: keys given on its command line (the simple mode),
//! or a version of the store's trust root, from which it walks forward.

use std::path::Path;

use cairn_state_format::{Digest, PublicKey, TrustedRoot};

use super::scopes::{self, ScopedChannels};
use crate::error::ConfigError;

/// What the agent trusts at install.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TrustSpec {
    /// Any of these keys may sign any channel (`--trust`); the store's trust root is not read.
    Keys(Vec<PublicKey>),
    /// Any of these keys may sign the channels `scopes` names, each holding to its entry's
    /// scope (`--trust` with `--scopes`); other channels are refused as not delegated.
    ScopedKeys {
        /// The keys.
        keys: Vec<PublicKey>,
        /// Channel patterns and their scopes; the first entry matching a channel decides.
        scopes: ScopedChannels,
    },
    /// A version of the store's trust root given as a file (`--trust-root`), checked to be signed
    /// by a threshold of its own root keys (and pinned, when a digest was given too). The agent
    /// walks the store's later versions forward from it.
    Root(TrustedRoot),
    /// Version 1 of the store's trust root, which must have this digest
    /// (`--trust-root-digest` alone): fetched from the store on the first poll.
    Pinned(Digest),
}

impl TrustSpec {
    /// The specification the trust flags describe: keys (with a scopes file or not), or a root
    /// file and/or its digest.
    pub fn from_flags(
        keys: Vec<PublicKey>,
        scopes_file: Option<&Path>,
        root_file: Option<&Path>,
        digest: Option<&str>,
    ) -> Result<TrustSpec, ConfigError> {
        let digest = digest
            .map(|d| {
                d.trim().parse::<Digest>().map_err(|e| {
                    ConfigError::invalid(
                        "--trust-root-digest",
                        format!("{e}: give version 1's digest as `cairn trust show` prints it"),
                    )
                })
            })
            .transpose()?;
        let root = root_file.is_some() || digest.is_some();
        if let Some(path) = scopes_file {
            if keys.is_empty() {
                return Err(ConfigError::invalid(
                    "--scopes",
                    "applies to --trust keys only: a trust root's delegations carry their own scopes",
                ));
            }
            if !root {
                let scopes = scopes::read(path)?;
                return Ok(TrustSpec::ScopedKeys { keys, scopes });
            }
        }
        match (keys.is_empty(), root) {
            (false, true) => Err(ConfigError::invalid(
                "--trust",
                "give either --trust keys (the simple mode) or a trust root (--trust-root, --trust-root-digest), not both",
            )),
            (false, false) => Ok(TrustSpec::Keys(keys)),
            (true, false) => Err(ConfigError::invalid(
                "--trust",
                "no key and no trust root given: the agent applies only signed heads",
            )),
            (true, true) => match root_file {
                Some(path) => anchor_file(path, digest.as_ref()).map(TrustSpec::Root),
                None => Ok(TrustSpec::Pinned(digest.expect("a digest, since `root`"))),
            },
        }
    }
}

/// The root in `path`, checked as an install anchor.
fn anchor_file(path: &Path, pinned: Option<&Digest>) -> Result<TrustedRoot, ConfigError> {
    let bytes = std::fs::read(path).map_err(|source| ConfigError::Unreadable {
        setting: "--trust-root",
        path: path.to_owned(),
        source,
    })?;
    TrustedRoot::anchor(&bytes, pinned).map_err(|refusal| {
        ConfigError::invalid("--trust-root", format!("{}: {refusal}", path.display()))
    })
}

#[cfg(test)]
mod tests {
    use cairn_state_format::{SecretKey, SignedRoot, TrustRoot};
    use chrono::{Duration, Utc};

    use super::*;

    fn root_file(dir: &Path) -> (std::path::PathBuf, Digest) {
        let admin = SecretKey::from_seed([7; 32]);
        let now = Utc::now();
        let root = TrustRoot::first(&[(admin.public(), None)], 1, now, now + Duration::days(1));
        let signed = SignedRoot::sign(&root, &[&admin]);
        let path = dir.join("root.json");
        std::fs::write(&path, signed.encode()).unwrap();
        (path, signed.digest())
    }

    #[test]
    fn keys_or_a_root_but_not_both_and_not_neither() {
        let dir = tempfile::tempdir().unwrap();
        let (path, digest) = root_file(dir.path());
        let key = SecretKey::from_seed([1; 32]).public();
        assert_eq!(
            TrustSpec::from_flags(vec![key], None, None, None).unwrap(),
            TrustSpec::Keys(vec![key])
        );
        let both = TrustSpec::from_flags(vec![key], None, Some(&path), None).unwrap_err();
        assert!(both.to_string().contains("not both"), "{both}");
        let neither = TrustSpec::from_flags(vec![], None, None, None).unwrap_err();
        assert!(
            neither.to_string().contains("no key and no trust root"),
            "{neither}"
        );
        let text = digest.to_string();
        assert!(matches!(
            TrustSpec::from_flags(vec![], None, Some(&path), Some(&text)).unwrap(),
            TrustSpec::Root(r) if r.digest() == digest
        ));
        assert_eq!(
            TrustSpec::from_flags(vec![], None, None, Some(&text)).unwrap(),
            TrustSpec::Pinned(digest)
        );
    }

    #[test]
    fn a_root_file_that_is_not_the_pinned_one_or_not_a_root_is_refused_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let (path, _) = root_file(dir.path());
        let other = Digest::of(b"another root").to_string();
        let wrong = TrustSpec::from_flags(vec![], None, Some(&path), Some(&other)).unwrap_err();
        assert!(wrong.to_string().contains("not the pinned"), "{wrong}");
        assert!(wrong.to_string().contains("root.json"), "{wrong}");
        let junk = dir.path().join("junk.json");
        std::fs::write(&junk, b"{\"format\": 1}").unwrap();
        let junk = TrustSpec::from_flags(vec![], None, Some(&junk), None).unwrap_err();
        assert!(junk.to_string().contains("junk.json"), "{junk}");
        let bad = TrustSpec::from_flags(vec![], None, None, Some("sha256:xyz")).unwrap_err();
        assert!(bad.to_string().contains("--trust-root-digest"), "{bad}");
    }
}
