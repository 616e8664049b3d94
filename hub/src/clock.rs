//! The hub's clock: heads, trust root versions, flags and status ages are all dated with it.

use chrono::{DateTime, Utc};

/// The current time, to the second (heads carry whole seconds).
pub fn now() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp(now.timestamp(), 0).unwrap_or(now)
}
