//! Counting every request to the API server by verb, as a tower layer under the client (beside
//! the rate limit), so that nothing the agent sends goes uncounted: the reconcile reports the
//! requests of each pass, by verb, as a metric.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use tower::{Layer, Service};

/// The verbs requests are counted by.
pub const VERBS: [&str; 10] = [
    "discovery",
    "get",
    "list",
    "watch",
    "create",
    "update",
    "patch",
    "patch-dry-run",
    "delete",
    "other",
];

/// Requests sent so far, by verb.
#[derive(Debug, Default)]
pub struct RequestCounts([AtomicU64; VERBS.len()]);

/// Requests by verb, as of one moment (verbs without requests left out).
pub type Tally = std::collections::BTreeMap<&'static str, u64>;

impl RequestCounts {
    /// The counts now.
    pub fn tally(&self) -> Tally {
        VERBS
            .iter()
            .zip(&self.0)
            .map(|(verb, n)| (*verb, n.load(Ordering::Relaxed)))
            .filter(|(_, n)| *n > 0)
            .collect()
    }

    fn count<B>(&self, request: &hyper::Request<B>) {
        let verb = verb(
            request.method().as_str(),
            request.uri().path(),
            request.uri().query(),
        );
        let i = VERBS
            .iter()
            .position(|v| *v == verb)
            .unwrap_or(VERBS.len() - 1);
        self.0[i].fetch_add(1, Ordering::Relaxed);
    }
}

/// The verb of a request, from its method, path and query, as the API server would name it.
pub fn verb(method: &str, path: &str, query: Option<&str>) -> &'static str {
    let param = |name: &str| {
        query.unwrap_or_default().split('&').any(|p| {
            p == format!("{name}=true") || p == format!("{name}=1") || p == format!("{name}=All")
        })
    };
    let parts: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|p| !p.is_empty())
        .collect();
    let rest = match parts.as_slice() {
        ["api"] | ["apis"] | ["api", _] | ["apis", _] | ["apis", _, _] => return "discovery",
        ["api", _, rest @ ..] => rest,
        ["apis", _, _, rest @ ..] => rest,
        _ => return "other",
    };
    // A collection is `<plural>` or `namespaces/<ns>/<plural>`; anything longer names an object.
    let collection = rest.len() == 1 || (rest.len() == 3 && rest[0] == "namespaces");
    match method {
        "GET" if param("watch") => "watch",
        "GET" if collection => "list",
        "GET" => "get",
        "POST" => "create",
        "PUT" => "update",
        "PATCH" if param("dryRun") => "patch-dry-run",
        "PATCH" => "patch",
        "DELETE" => "delete",
        _ => "other",
    }
}

/// The layer: counts into one shared [`RequestCounts`].
#[derive(Clone, Debug)]
pub struct CountLayer(pub Arc<RequestCounts>);

impl<S> Layer<S> for CountLayer {
    type Service = Counted<S>;

    fn layer(&self, inner: S) -> Counted<S> {
        Counted {
            inner,
            counts: self.0.clone(),
        }
    }
}

/// A service that counts the requests it passes on.
#[derive(Clone, Debug)]
pub struct Counted<S> {
    inner: S,
    counts: Arc<RequestCounts>,
}

impl<S, B> Service<hyper::Request<B>> for Counted<S>
where
    S: Service<hyper::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: hyper::Request<B>) -> S::Future {
        self.counts.count(&request);
        self.inner.call(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbs_follow_the_api_servers_paths() {
        let cases = [
            ("GET", "/apis", None, "discovery"),
            ("GET", "/apis/apps/v1", None, "discovery"),
            ("GET", "/api/v1/namespaces", None, "list"),
            ("GET", "/api/v1/namespaces/app", None, "get"),
            (
                "GET",
                "/api/v1/namespaces/app/configmaps",
                Some("labelSelector=a%3Db"),
                "list",
            ),
            (
                "GET",
                "/apis/apps/v1/deployments",
                Some("watch=true&resourceVersion=1"),
                "watch",
            ),
            (
                "GET",
                "/apis/apps/v1/namespaces/app/deployments/web",
                None,
                "get",
            ),
            (
                "PATCH",
                "/api/v1/namespaces/app/configmaps/a",
                Some("fieldManager=cairn&dryRun=All"),
                "patch-dry-run",
            ),
            (
                "PATCH",
                "/api/v1/namespaces/app/configmaps/a",
                Some("fieldManager=cairn"),
                "patch",
            ),
            (
                "DELETE",
                "/api/v1/namespaces/app/configmaps/a",
                None,
                "delete",
            ),
            (
                "POST",
                "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews",
                None,
                "create",
            ),
        ];
        for (method, path, query, expected) in cases {
            assert_eq!(verb(method, path, query), expected, "{method} {path}");
        }
    }
}
