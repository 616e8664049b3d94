//! Trust that can be rotated, delegated and revoked over the wire: a signed, versioned root
//! document in the store names the keys that sign its next version and which keys may sign which
//! channels (with thresholds); agents walk its versions forward from the one they were installed
//! with and check heads under the newest.

mod authorize;
mod chain;
mod root;
mod rules;
mod tally;

pub use authorize::{Authorized, HeadCheck, Verified, verify_head_under};
pub use chain::{RootRefusal, SIMPLE_DELEGATION, TrustedRoot, Walked};
pub use root::{Delegation, KeyEntry, MAX_LABEL_CHARS, Role, SignedRoot, TrustRoot};
pub use rules::RootInvalid;
