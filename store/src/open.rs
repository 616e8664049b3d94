//! Opening a store from its URL.

use std::sync::Arc;

use object_store::ObjectStore;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::prefix::PrefixStore;
use url::Url;

use crate::Store;
use crate::cloud;
use crate::error::{Error, Result};
use crate::options::StoreOptions;
use crate::provider::Provider;

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
        let provider = Provider::from_scheme(parsed.scheme()).ok_or_else(|| {
            bad(format!(
                "unsupported scheme {:?}; expected {}",
                parsed.scheme(),
                Provider::SCHEMES
            ))
        })?;
        let shown = redacted(&parsed);
        let inner: Arc<dyn ObjectStore> = match provider {
            Provider::Local => {
                let dir = parsed.to_file_path().map_err(|()| {
                    bad("not an absolute local path (file:///abs/path)".to_owned())
                })?;
                return Store::open_dir(&dir, url);
            }
            Provider::Memory => Arc::new(InMemory::new()),
            Provider::S3 | Provider::Gcs | Provider::Azure => {
                cloud::open(provider, host(&parsed, url)?, &parsed, options).map_err(|source| {
                    Error::Client {
                        url: shown.clone(),
                        source: Box::new(source),
                    }
                })?
            }
        };
        let prefix = parsed.path().trim_matches('/');
        let inner: Arc<dyn ObjectStore> = if prefix.is_empty() {
            inner
        } else {
            Arc::new(PrefixStore::new(inner, prefix))
        };
        Ok(Store::from_object_store(inner, provider, &shown))
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
        Ok(Store::from_object_store(
            Arc::new(local),
            Provider::Local,
            url,
        ))
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
    fn a_store_knows_its_provider() {
        let dir = std::env::temp_dir().join(format!("cairn-provider-{}", std::process::id()));
        let cases = [
            ("memory://".to_owned(), Provider::Memory),
            (format!("file://{}", dir.display()), Provider::Local),
            (dir.display().to_string(), Provider::Local),
            (
                "s3://b/p?endpoint=http://127.0.0.1:1&region=r&access_key_id=a&secret_access_key=s"
                    .to_owned(),
                Provider::S3,
            ),
            (
                "gs://b/p?base_url=http://127.0.0.1:1&skip_signature=true".to_owned(),
                Provider::Gcs,
            ),
            (
                "az://c/p?account_name=a&access_key=a2V5&endpoint=http://127.0.0.1:1/a".to_owned(),
                Provider::Azure,
            ),
        ];
        for (url, provider) in cases {
            let store = Store::open(&url, &StoreOptions::default()).unwrap();
            assert_eq!(store.provider(), provider, "{url}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_query_parameter_the_provider_does_not_know_is_refused_by_name() {
        let err = Store::open("gs://b/?no_such_key=1", &StoreOptions::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains("no_such_key"), "{err}");
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
