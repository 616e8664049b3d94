//! Smoke tests that keep the benchmarks and the fleet tool from rotting, as one test binary
//! (`cargo test -p cairn-benches --test it`): small runs against the debug binaries, checking
//! what was counted, never how long anything took.

mod fleet_replicas_smoke;
mod fleet_smoke;
mod kube_requests;
mod smoke;
mod soak_smoke;
mod status_scale;
