//! A read-only store over HTTP(S): any static web server or CDN serving the bucket layout.

use std::time::Duration;

use async_trait::async_trait;
use reqwest::StatusCode;
use reqwest::header::{ETAG, IF_NONE_MATCH, RETRY_AFTER};

use super::{Conditional, Source};
use crate::config::ConfigError;
use crate::error::{Error, HttpProblem, Result};

/// A source that GETs `<base URL>/<key>`, with `If-None-Match` for conditional reads.
#[derive(Clone, Debug)]
pub struct HttpSource {
    client: reqwest::Client,
    base: String,
}

impl HttpSource {
    /// A source for the base URL; `timeout` bounds each request.
    pub fn new(base: &str, timeout: Duration) -> Result<HttpSource, ConfigError> {
        let client = crate::Shared::new().http(timeout)?;
        Ok(HttpSource::with_client(base, client))
    }

    /// A source for the base URL that sends its requests through `client` (clients pool
    /// connections and are meant to be shared).
    pub fn with_client(base: &str, client: reqwest::Client) -> HttpSource {
        let base = format!("{}/", base.trim_end_matches('/'));
        HttpSource { client, base }
    }
}

#[async_trait]
impl Source for HttpSource {
    fn url(&self) -> &str {
        &self.base
    }

    async fn get_if_changed(&self, key: &str, etag: Option<&str>) -> Result<Conditional> {
        let url = format!("{}{key}", self.base);
        let fail = |problem: HttpProblem| Error::Http {
            url: url.clone(),
            problem,
        };
        let mut request = self.client.get(&url);
        if let Some(etag) = etag {
            request = request.header(IF_NONE_MATCH, etag);
        }
        let response = request.send().await.map_err(|e| fail(e.into()))?;
        let status = response.status();
        match status {
            StatusCode::NOT_MODIFIED => Ok(Conditional::NotModified),
            StatusCode::NOT_FOUND => Ok(Conditional::NotFound),
            s if s.is_success() => {
                let etag = response
                    .headers()
                    .get(ETAG)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let bytes = response.bytes().await.map_err(|e| fail(e.into()))?;
                Ok(Conditional::Fetched { bytes, etag })
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
