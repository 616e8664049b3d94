//! Opening a store from its URL.

use std::sync::Arc;
use std::time::Duration;

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::prefix::PrefixStore;
use object_store::{BackoffConfig, ClientOptions, ObjectStore, RetryConfig};
use url::Url;

use crate::Store;
use crate::error::{Error, Result};

/// How patient the store client is. The agent keeps retries short because its own loop backs
/// off with jitter; the hub can afford the defaults.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// Retries of a failed request inside the client.
    pub max_retries: usize,
    /// Longest time spent retrying one request.
    pub retry_timeout: Duration,
    /// Timeout of one request.
    pub request_timeout: Duration,
    /// Timeout to connect.
    pub connect_timeout: Duration,
}

impl Default for StoreOptions {
    /// Three retries within 30 s, 30 s per request, 5 s to connect.
    fn default() -> Self {
        StoreOptions {
            max_retries: 3,
            retry_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
        }
    }
}

impl StoreOptions {
    fn client(&self, url: &Url) -> ClientOptions {
        let endpoint_is_http = url
            .query_pairs()
            .any(|(k, v)| k.contains("endpoint") && v.starts_with("http://"))
            || ["AWS_ENDPOINT", "AWS_ENDPOINT_URL"]
                .iter()
                .any(|k| std::env::var(k).is_ok_and(|v| v.starts_with("http://")));
        // allow_http lives on the ClientOptions: with_client_options replaces an earlier with_allow_http.
        ClientOptions::new()
            .with_allow_http(endpoint_is_http)
            .with_timeout(self.request_timeout)
            .with_connect_timeout(self.connect_timeout)
    }

    fn retry(&self) -> RetryConfig {
        RetryConfig {
            backoff: BackoffConfig::default(),
            max_retries: self.max_retries,
            retry_timeout: self.retry_timeout,
        }
    }
}

impl Store {
    /// Opens the store a URL names. See the crate docs for the URL forms.
    pub fn open(url: &str, options: &StoreOptions) -> Result<Store> {
        Store::open_url(url, options).map(|s| s.with_read_timeout(options.request_timeout))
    }

    fn open_url(url: &str, options: &StoreOptions) -> Result<Store> {
        let bad = |reason: String| Error::Url {
            url: url.to_owned(),
            reason,
        };
        if !url.contains("://") {
            return Store::open_dir(std::path::Path::new(url), url);
        }
        let parsed = Url::parse(url).map_err(|e| {
            bad(format!(
                "{e}; expected file:///path, s3://bucket/prefix, gs://…, az://… or memory://"
            ))
        })?;
        let prefix = parsed.path().trim_matches('/').to_owned();
        // The cloud builders share no trait, but take options the same way: every query
        // parameter is one of the builder's config keys.
        macro_rules! cloud {
            ($builder:expr, $key:ty) => {{
                let mut builder = $builder;
                for (key, value) in parsed.query_pairs() {
                    let key: $key = key
                        .parse()
                        .map_err(|e| bad(format!("query parameter {key}: {e}")))?;
                    builder = builder.with_config(key, value);
                }
                let store = builder
                    .with_http_connector(crate::answer::ObservingConnector)
                    .with_client_options(options.client(&parsed))
                    .with_retry(options.retry())
                    .build();
                Arc::new(store.map_err(|e| bad(e.to_string()))?)
            }};
        }
        let inner: Arc<dyn ObjectStore> = match parsed.scheme() {
            "file" => {
                let dir = parsed.to_file_path().map_err(|()| {
                    bad("not an absolute local path (file:///abs/path)".to_owned())
                })?;
                return Store::open_dir(&dir, url);
            }
            "memory" => return Ok(Store::from_object_store(Arc::new(InMemory::new()), url)),
            "s3" => cloud!(
                AmazonS3Builder::from_env().with_bucket_name(host(&parsed, url)?),
                AmazonS3ConfigKey
            ),
            "gs" => cloud!(
                GoogleCloudStorageBuilder::from_env().with_bucket_name(host(&parsed, url)?),
                GoogleConfigKey
            ),
            "az" | "azure" => {
                cloud!(
                    MicrosoftAzureBuilder::from_env().with_container_name(host(&parsed, url)?),
                    AzureConfigKey
                )
            }
            other => {
                return Err(bad(format!(
                    "unsupported scheme {other:?}; expected file, s3, gs, az or memory"
                )));
            }
        };
        let inner = if prefix.is_empty() {
            inner
        } else {
            Arc::new(PrefixStore::new(inner, prefix.as_str()))
        };
        Ok(Store::from_object_store(inner, &redacted(&parsed)))
    }
}

impl Store {
    /// A local directory as a store (created if missing).
    fn open_dir(dir: &std::path::Path, url: &str) -> Result<Store> {
        let bad = |reason: String| Error::Url {
            url: url.to_owned(),
            reason,
        };
        std::fs::create_dir_all(dir)
            .map_err(|e| bad(format!("cannot create {}: {e}", dir.display())))?;
        let dir = dir
            .canonicalize()
            .map_err(|e| bad(format!("{}: {e}", dir.display())))?;
        let local = LocalFileSystem::new_with_prefix(&dir).map_err(|e| bad(e.to_string()))?;
        Ok(Store {
            keeps_attributes: false,
            ..Store::from_object_store(Arc::new(local), url)
        })
    }
}

/// The URL as shown in messages: credentials given as query parameters are masked.
fn redacted(url: &Url) -> String {
    let secret = |key: &str| {
        ["secret", "token", "password", "sas", "key"]
            .iter()
            .any(|s| key.contains(s))
            && !key.ends_with("key_id")
    };
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let value = if secret(&k) {
                "***".to_owned()
            } else {
                v.into_owned()
            };
            (k.into_owned(), value)
        })
        .collect();
    let mut shown = url.clone();
    if pairs.is_empty() {
        shown.set_query(None);
    } else {
        shown.query_pairs_mut().clear().extend_pairs(pairs);
    }
    shown.to_string()
}

fn host(parsed: &Url, url: &str) -> Result<String> {
    parsed
        .host_str()
        .filter(|h| !h.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| Error::Url {
            url: url.to_owned(),
            reason: "the bucket name is missing".to_owned(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_never_show_in_messages() {
        let url = Url::parse(
            "s3://b/p?endpoint=http://h:1&access_key_id=AK&secret_access_key=SECRET&token=T",
        )
        .unwrap();
        let shown = redacted(&url);
        assert!(
            !shown.contains("SECRET") && !shown.contains("=T"),
            "{shown}"
        );
        assert!(
            shown.contains("access_key_id=AK") && shown.contains("endpoint=http"),
            "{shown}"
        );
    }

    #[test]
    fn bad_urls_say_what_is_expected() {
        let err = Store::open("ftp://x/y", &StoreOptions::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("unsupported scheme") && err.contains("s3"),
            "{err}"
        );
        let err = Store::open("s3:///prefix", &StoreOptions::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("bucket"), "{err}");
    }
}
