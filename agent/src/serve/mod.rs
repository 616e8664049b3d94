//! What the agent serves: `/metrics` (Prometheus, [`crate::metrics`]), `/healthz` and `/readyz`
//! (from [`Readiness`], which the supervisor keeps), on a minimal HTTP server.

mod readiness;

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::CONTENT_TYPE;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub(crate) use readiness::Readiness;

use crate::metrics::Metrics;

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Serves until shutdown.
pub(crate) async fn serve(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    ready: Arc<Readiness>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.changed() => return,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::debug!(error = %e, "metrics accept failed");
                continue;
            }
        };
        let (metrics, ready) = (metrics.clone(), ready.clone());
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<Incoming>| {
                let response = route(request.uri().path(), &metrics, &ready);
                async move { Ok::<_, Infallible>(response) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn route(path: &str, metrics: &Metrics, ready: &Readiness) -> Response<Full<Bytes>> {
    let (status, content_type, body) = match (path, ready.check()) {
        ("/metrics", _) => (StatusCode::OK, OPENMETRICS, metrics.encode()),
        ("/healthz", _) => (StatusCode::OK, "text/plain", "ok\n".to_owned()),
        ("/readyz", Ok(())) => (StatusCode::OK, "text/plain", "ready\n".to_owned()),
        ("/readyz", Err(waiting)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain",
            format!(
                "not ready: no pass finished yet for channel(s) {}\n",
                waiting.join(", ")
            ),
        ),
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found\n".to_owned(),
        ),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if let Ok(value) = content_type.parse() {
        response.headers_mut().insert(CONTENT_TYPE, value);
    }
    response
}
