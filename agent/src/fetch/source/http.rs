//! A read-only store over HTTP(S): any static web server or CDN serving the bucket layout.
//!
//! A read of known length asks for one byte past it (`Range`), and every body is streamed and
//! cut off at its bound, for servers that ignore ranges; a deadline covers the whole request.

use std::time::Duration;

use async_trait::async_trait;
use cairn_store::Limiter;
use futures::StreamExt;
use reqwest::StatusCode;
use reqwest::header::{ETAG, IF_NONE_MATCH, RANGE, RETRY_AFTER};
use tokio::time::Instant;

use super::{Body, Bound, Opened, Source};
use crate::error::ConfigError;
use crate::error::{Error, HttpProblem, Result};

/// A source that GETs `<base URL>/<key>`, with `If-None-Match` for conditional reads.
#[derive(Clone, Debug)]
pub struct HttpSource {
    client: reqwest::Client,
    base: String,
    timeout: Duration,
}

impl HttpSource {
    /// A source for the base URL; `timeout` bounds each request.
    pub fn new(base: &str, timeout: Duration) -> Result<HttpSource, ConfigError> {
        let client = crate::Shared::new().http(timeout)?;
        Ok(HttpSource::with_client(base, client, timeout))
    }

    /// A source for the base URL that sends its requests through `client` (clients pool
    /// connections and are meant to be shared); a read of `n` bytes may take
    /// `timeout + n / MIN_READ_RATE` in all.
    pub fn with_client(base: &str, client: reqwest::Client, timeout: Duration) -> HttpSource {
        let base = format!("{}/", base.trim_end_matches('/'));
        HttpSource {
            client,
            base,
            timeout,
        }
    }
}

/// `response`'s body, ending with an error once it passes `bound` or `until` passes.
fn limited(
    url: String,
    response: reqwest::Response,
    bound: Bound,
    until: Instant,
    deadline: Duration,
) -> Body {
    let fail = move |url: &str, problem: HttpProblem| Error::Http {
        url: url.to_owned(),
        problem,
    };
    let state = (Some(response.bytes_stream().boxed()), Limiter::new(bound));
    futures::stream::unfold(state, move |(body, mut limiter)| {
        let url = url.clone();
        async move {
            let mut body = body?;
            let ended = move |e: Error| Some((Err(e), (None, limiter)));
            match tokio::time::timeout_at(until, body.next()).await {
                Err(_) => ended(fail(&url, HttpProblem::Refused(limiter.late(deadline)))),
                Ok(None) => match limiter.finish() {
                    Ok(()) => None,
                    Err(refused) => ended(fail(&url, HttpProblem::Refused(refused))),
                },
                Ok(Some(Err(e))) => ended(fail(&url, e.into())),
                Ok(Some(Ok(chunk))) => match limiter.take(chunk.len()) {
                    Ok(()) => Some((Ok(chunk), (Some(body), limiter))),
                    Err(refused) => ended(fail(&url, HttpProblem::Refused(refused))),
                },
            }
        }
    })
    .boxed()
}

#[async_trait]
impl Source for HttpSource {
    fn url(&self) -> &str {
        &self.base
    }

    async fn open(&self, key: &str, etag: Option<&str>, bound: Bound) -> Result<Opened> {
        let url = format!("{}{key}", self.base);
        let fail = |problem: HttpProblem| Error::Http {
            url: url.clone(),
            problem,
        };
        let mut request = self.client.get(&url);
        if let Some(etag) = etag {
            request = request.header(IF_NONE_MATCH, etag);
        }
        if let Some(range) = bound.range() {
            request = request.header(RANGE, format!("bytes={}-{}", range.start, range.end - 1));
        }
        let deadline = bound.deadline(self.timeout);
        let until = Instant::now() + deadline;
        let response = match tokio::time::timeout_at(until, request.send()).await {
            Err(_) => {
                let late = Limiter::new(bound).late(deadline);
                return Err(fail(HttpProblem::Refused(late)));
            }
            Ok(sent) => sent.map_err(|e| fail(e.into()))?,
        };
        let status = response.status();
        match status {
            StatusCode::NOT_MODIFIED => Ok(Opened::NotModified),
            StatusCode::NOT_FOUND => Ok(Opened::NotFound),
            // A 200 to a ranged request (the server ignored the range) is cut off just the same.
            s if s.is_success() => {
                let etag = response
                    .headers()
                    .get(ETAG)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let body = limited(url.clone(), response, bound, until, deadline);
                Ok(Opened::Body { body, etag })
            }
            s => {
                let retry_after = response
                    .headers()
                    .get(RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(parse_retry_after);
                Err(fail(HttpProblem::Status {
                    status: s.as_u16(),
                    retry_after,
                }))
            }
        }
    }

    async fn list_channels(&self) -> Result<Vec<String>> {
        Err(ConfigError::invalid(
            "--store",
            format!(
                "{} is a read-only HTTP store and cannot list channels",
                self.base
            ),
        )
        .into())
    }
}

/// `Retry-After` is either seconds or an HTTP date.
fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let wait = at.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        assert_eq!(parse_retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }
}
