//! The HTTP side: GET and HEAD only, one route per page.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use maud::Markup;
use tokio::net::TcpListener;

use super::pages;
use super::state::View;

/// No script, no remote anything: styles and inline SVG only.
const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; frame-ancestors 'none'";

/// Serves pages, forever.
pub async fn serve(listener: TcpListener, view: Arc<View>) {
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                // Per-connection trouble (a client gone, descriptors short for a moment).
                tracing::warn!(%error, "accepting a connection failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let view = Arc::clone(&view);
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<Incoming>| {
                let view = Arc::clone(&view);
                async move { Ok::<_, Infallible>(respond(&view, &request).await) }
            });
            if let Err(error) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(%error, "connection ended with an error");
            }
        });
    }
}

async fn respond(view: &View, request: &Request<Incoming>) -> Response<Full<Bytes>> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return plain(StatusCode::METHOD_NOT_ALLOWED, "this view is read-only\n");
    }
    let query: HashMap<String, String> = request
        .uri()
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    let segments: Vec<&str> = request
        .uri()
        .path()
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let page = match segments.as_slice() {
        [] => Ok(pages::overview(view)),
        ["trust"] => pages::trust(view).await,
        ["channels", name] => pages::channel(view, name),
        ["channels", name, "clusters"] => pages::clusters(view, name, &query),
        ["channels", name, "history"] => pages::history(view, name, &query).await,
        ["channels", name, "diff"] => pages::diff(view, name, &query).await,
        ["channels", name, "flags"] => pages::flags(view, name, &query).await,
        _ => Err((StatusCode::NOT_FOUND, "no such page".to_owned())),
    };
    match page {
        Ok(markup) => html(StatusCode::OK, markup),
        Err((status, message)) => html(status, pages::error(view, status, &message)),
    }
}

fn html(status: StatusCode, markup: Markup) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(markup.into_string())));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert("content-security-policy", HeaderValue::from_static(CSP));
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    response
}

fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    response
        .headers_mut()
        .insert("allow", HeaderValue::from_static("GET, HEAD"));
    response
}
