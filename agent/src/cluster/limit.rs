//! A client-side rate limit under the Kubernetes client: a token bucket (QPS and burst, as
//! client-go's flags describe it) as a tower layer, so that no request (apply, list, lease,
//! state) can bypass it.
//!
//! The bucket is consulted in `poll_ready`, before the request is handed to the layer below; the
//! kube client drives its service from one buffer, so waiting requests are served in order.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::{Instant, Sleep};
use tower::{Layer, Service};

/// Sustained `qps` requests per second, with up to `burst` at once after an idle spell.
#[derive(Debug)]
struct Bucket {
    qps: f64,
    burst: f64,
    /// Tokens available, as of the instant beside them.
    state: Mutex<(f64, Instant)>,
}

impl Bucket {
    /// Takes a token, or says how long until one is available.
    fn take(&self) -> Result<(), Duration> {
        // A panic while holding the lock cannot leave the two numbers inconsistent.
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let (tokens, at) = &mut *state;
        let now = Instant::now();
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * self.qps).min(self.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - *tokens) / self.qps))
        }
    }
}

/// The layer: one bucket shared by every service it wraps. A `qps` of zero or less means no limit.
#[derive(Clone, Debug)]
pub struct RateLimitLayer {
    bucket: Option<Arc<Bucket>>,
}

impl RateLimitLayer {
    /// A full bucket of `burst` tokens refilled at `qps` per second.
    pub fn new(qps: f64, burst: u32) -> RateLimitLayer {
        let burst = f64::from(burst.max(1));
        let bucket = (qps > 0.0).then(|| {
            Arc::new(Bucket {
                qps,
                burst,
                state: Mutex::new((burst, Instant::now())),
            })
        });
        RateLimitLayer { bucket }
    }
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = RateLimited<S>;

    fn layer(&self, inner: S) -> RateLimited<S> {
        RateLimited {
            inner,
            bucket: self.bucket.clone(),
            holding: false,
            sleep: None,
        }
    }
}

/// A service that sends a request only with a token from the bucket.
#[derive(Debug)]
pub struct RateLimited<S> {
    inner: S,
    bucket: Option<Arc<Bucket>>,
    /// Whether a token was taken for the next call.
    holding: bool,
    sleep: Option<Pin<Box<Sleep>>>,
}

impl<S, R> Service<R> for RateLimited<S>
where
    S: Service<R>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        if let Some(bucket) = &self.bucket {
            while !self.holding {
                if let Some(sleep) = &mut self.sleep {
                    if sleep.as_mut().poll(cx).is_pending() {
                        return Poll::Pending;
                    }
                    self.sleep = None;
                }
                match bucket.take() {
                    Ok(()) => self.holding = true,
                    Err(wait) => self.sleep = Some(Box::pin(tokio::time::sleep(wait))),
                }
            }
        }
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> S::Future {
        self.holding = false;
        self.inner.call(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    /// Counts calls.
    #[derive(Clone, Default)]
    struct Echo(Arc<Mutex<u32>>);

    impl Service<()> for Echo {
        type Response = ();
        type Error = std::convert::Infallible;
        type Future = std::future::Ready<Result<(), Self::Error>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, (): ()) -> Self::Future {
            *self.0.lock().unwrap() += 1;
            std::future::ready(Ok(()))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn bursts_then_paces() {
        let layer = RateLimitLayer::new(100.0, 3);
        let mut service = layer.layer(Echo::default());
        let start = Instant::now();
        for _ in 0..3 {
            service.ready().await.unwrap().call(()).await.unwrap();
        }
        // The burst went out at once (the clock is paused: no time passed).
        assert_eq!(start.elapsed(), Duration::ZERO);
        for _ in 0..5 {
            service.ready().await.unwrap().call(()).await.unwrap();
        }
        // Five more at 100 per second waited for their tokens: 50 ms of (virtual) time.
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_millis(49) && waited <= Duration::from_millis(51),
            "{waited:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn services_of_one_layer_share_the_bucket() {
        let layer = RateLimitLayer::new(10.0, 1);
        let (mut a, mut b) = (layer.layer(Echo::default()), layer.layer(Echo::default()));
        let start = Instant::now();
        a.ready().await.unwrap().call(()).await.unwrap();
        b.ready().await.unwrap().call(()).await.unwrap();
        assert!(
            start.elapsed() >= Duration::from_millis(99),
            "{:?}",
            start.elapsed()
        );
        let mut unlimited = RateLimitLayer::new(0.0, 1).layer(Echo::default());
        for _ in 0..100 {
            unlimited.ready().await.unwrap().call(()).await.unwrap();
        }
        assert!(start.elapsed() < Duration::from_millis(101));
    }
}
