//! Small statistics over measured samples.

use serde::Serialize;

/// Propagation delays: percentiles over agents that applied, and how many never did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Spread {
    /// Median seconds.
    pub p50_s: f64,
    /// 99th percentile seconds.
    pub p99_s: f64,
    /// Slowest seconds.
    pub max_s: f64,
    /// Agents (or clients) that had not applied by the deadline.
    pub missed: usize,
}

impl Spread {
    /// The spread of `seen` (`None` = never applied).
    pub fn of(seen: &[Option<f64>]) -> Spread {
        let mut done: Vec<f64> = seen.iter().flatten().copied().collect();
        done.sort_by(f64::total_cmp);
        Spread {
            p50_s: percentile(&done, 0.50),
            p99_s: percentile(&done, 0.99),
            max_s: done.last().copied().unwrap_or(0.0),
            missed: seen.len() - done.len(),
        }
    }
}

/// The `q` quantile of sorted values (nearest rank); zero if empty.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Requests per second over whole seconds: (mean, peak).
pub fn rate(per_second: &[u64]) -> (f64, u64) {
    let mean = if per_second.is_empty() {
        0.0
    } else {
        per_second.iter().sum::<u64>() as f64 / per_second.len() as f64
    };
    (mean, per_second.iter().copied().max().unwrap_or(0))
}

/// `a / b`, zero when `b` is zero.
pub fn ratio(a: f64, b: f64) -> f64 {
    if b == 0.0 { 0.0 } else { a / b }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let seen: Vec<Option<f64>> = (1..=100).map(|i| Some(i as f64)).chain([None]).collect();
        let s = Spread::of(&seen);
        assert_eq!(
            (s.p50_s, s.p99_s, s.max_s, s.missed),
            (50.0, 99.0, 100.0, 1)
        );
        assert_eq!(rate(&[1, 3]), (2.0, 3));
    }
}
