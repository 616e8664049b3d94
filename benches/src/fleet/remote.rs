//! The fleet against a store URL (`--store`: an S3 server on loopback such as Garage, or any S3
//! endpoint) instead of the counting front over a local directory. The agents share one opened
//! store whose GETs are counted as they end (200, 304, 404, errors; every one reaches the
//! origin: there is no edge cache here); when the URL's `endpoint` is on loopback, the agents
//! reach it through a counting TCP proxy, so bytes on the wire (request and response heads
//! included) are counted too. Elsewhere bytes are not counted (reported as 0).

use std::sync::Arc;

use cairn_agent::StoreLocation;
use cairn_store::{CountingStore, GetOutcome, Store};
use hyper::StatusCode;
use url::Url;

use super::front::{Counters, Front};
use super::proxy;
use crate::error::{Error, Result};

/// Opens `url` for the agents, counted, through a proxy when its endpoint is on loopback.
pub async fn open(url: &str) -> Result<Front> {
    let counters = Arc::new(Counters::new());
    let agents_url = match loopback_endpoint(url)? {
        Some((parsed, port)) => {
            let proxy = proxy::forward(port, counters.clone()).await?;
            with_endpoint(parsed, &format!("http://{proxy}"))
        }
        None => url.to_owned(),
    };
    let store = Store::open(&agents_url, &Default::default())?;
    let observed = counters.clone();
    let counted = CountingStore::new(store.object_store().clone()).observe_gets(move |outcome| {
        observed.count_origin();
        observed.count(match outcome {
            GetOutcome::Found => StatusCode::OK,
            GetOutcome::NotModified => StatusCode::NOT_MODIFIED,
            GetOutcome::NotFound => StatusCode::NOT_FOUND,
            GetOutcome::Failed => StatusCode::BAD_GATEWAY,
        });
    });
    let shown = store.url().to_owned();
    Ok(Front {
        source: StoreLocation::Opened(Store::from_object_store(
            Arc::new(counted),
            store.provider(),
            &shown,
        )),
        counters,
        tid: None,
    })
}

/// The URL and the port of its `endpoint` query parameter, when that is `http://` on loopback.
fn loopback_endpoint(url: &str) -> Result<Option<(Url, u16)>> {
    let parsed =
        Url::parse(url).map_err(|e| Error::unexpected("--store", format!("{url:?}: {e}")))?;
    let endpoint = parsed
        .query_pairs()
        .find(|(k, _)| k == "endpoint" || k == "aws_endpoint")
        .and_then(|(_, v)| Url::parse(&v).ok());
    Ok(endpoint.and_then(|e| {
        let loopback = matches!(e.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
        (e.scheme() == "http" && loopback)
            .then(|| e.port())
            .flatten()
            .map(|port| (parsed, port))
    }))
}

/// `url` with its `endpoint` query parameter replaced by `endpoint`.
fn with_endpoint(mut url: Url, endpoint: &str) -> String {
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            if k == "endpoint" || k == "aws_endpoint" {
                (k.into_owned(), endpoint.to_owned())
            } else {
                (k.into_owned(), v.into_owned())
            }
        })
        .collect();
    url.query_pairs_mut().clear().extend_pairs(pairs);
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_loopback_http_endpoint_is_proxied() {
        let url = "s3://b/p?endpoint=http://127.0.0.1:3900&region=garage&access_key_id=k";
        let (parsed, port) = loopback_endpoint(url).unwrap().unwrap();
        assert_eq!(port, 3900);
        let rewritten = with_endpoint(parsed, "http://127.0.0.1:4000");
        let (_, port) = loopback_endpoint(&rewritten).unwrap().unwrap();
        assert_eq!(port, 4000);
        assert!(rewritten.contains("region=garage") && rewritten.contains("access_key_id=k"));
        for other in [
            "s3://b/p?endpoint=https://s3.example.com",
            "s3://b/p?region=eu-west-1",
            "s3://b/p?endpoint=http://10.0.0.1:3900",
        ] {
            assert!(loopback_endpoint(other).unwrap().is_none(), "{other}");
        }
    }
}
