//! A client-side rate limit: a token bucket (QPS and burst) in front of every API request, as
//! client-go's flags describe it.

use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

/// Sustained `qps` requests per second, with up to `burst` at once after an idle spell.
#[derive(Debug)]
pub struct RateLimit {
    qps: f64,
    burst: f64,
    bucket: Mutex<(f64, Instant)>,
}

impl RateLimit {
    /// A full bucket. A `qps` of zero or less means no limit.
    pub fn new(qps: f64, burst: u32) -> RateLimit {
        let burst = f64::from(burst.max(1));
        RateLimit {
            qps,
            burst,
            bucket: Mutex::new((burst, Instant::now())),
        }
    }

    /// Waits until one request may be sent.
    pub async fn acquire(&self) {
        if self.qps <= 0.0 {
            return;
        }
        // The lock is held while waiting, so waiters are served in order.
        let mut bucket = self.bucket.lock().await;
        let (tokens, at) = &mut *bucket;
        let now = Instant::now();
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * self.qps).min(self.burst);
        *at = now;
        if *tokens < 1.0 {
            let wait = Duration::from_secs_f64((1.0 - *tokens) / self.qps);
            tokio::time::sleep(wait).await;
            *tokens = 1.0;
            *at = Instant::now();
        }
        *tokens -= 1.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bursts_then_paces() {
        let limit = RateLimit::new(100.0, 3);
        let start = Instant::now();
        for _ in 0..3 {
            limit.acquire().await;
        }
        assert!(start.elapsed() < Duration::from_millis(20));
        for _ in 0..5 {
            limit.acquire().await;
        }
        // Five more at 100 per second wait for their tokens: at least about 50 ms.
        assert!(
            start.elapsed() >= Duration::from_millis(45),
            "{:?}",
            start.elapsed()
        );
    }
}
