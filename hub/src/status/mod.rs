//! What the agents report: a channel's status records read in proportion to what changed
//! ([`read`], with the records last read kept on disk by [`cache`]), the fleet's summary per
//! channel ([`fleet`]) and where a rollout stands ([`rollout`]). Records are unsigned: anyone who
//! can write the bucket can write one, so they are decoded and checked like any input and never
//! trusted further.

pub mod cache;
pub mod fleet;
pub mod read;
pub mod rollout;
