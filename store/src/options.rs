//! How patient a store's client is, and the options each cloud provider's client is given.

use std::time::Duration;

use object_store::{BackoffConfig, ClientOptions, RetryConfig};

use crate::provider::Provider;

/// How patient the store client is. The agent keeps retries short because its own loop backs
/// off with jitter; the hub can afford the defaults. Each cloud provider's client is given its
/// own options made from these (`StoreOptions::for_provider`).
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

/// What a provider's client is given besides its config keys.
pub(crate) struct ProviderOptions {
    /// HTTP client options.
    pub client: ClientOptions,
    /// How failed requests are retried.
    pub retry: RetryConfig,
}

impl StoreOptions {
    /// The options of `provider`'s client, whose endpoint (from the URL or the environment) is
    /// `endpoint` when it is not the cloud's own. The home of any rule that holds for one cloud
    /// only; none does yet.
    pub(crate) fn for_provider(
        &self,
        provider: Provider,
        endpoint: Option<&str>,
    ) -> ProviderOptions {
        debug_assert!(provider.is_cloud(), "{provider} has no HTTP client");
        // A test server or emulator on loopback speaks plain HTTP; a cloud's own endpoint never
        // does. (allow_http lives on the ClientOptions: with_client_options replaces an earlier
        // with_allow_http, and the options from the environment.)
        let plain_http = endpoint.is_some_and(|e| e.starts_with("http://"));
        let client = ClientOptions::new()
            .with_allow_http(plain_http)
            .with_timeout(self.request_timeout)
            .with_connect_timeout(self.connect_timeout);
        // Every cloud answers overload and transient failures with 429 and 5xx, which
        // object_store retries alike: the three share one policy.
        let retry = RetryConfig {
            backoff: BackoffConfig::default(),
            max_retries: self.max_retries,
            retry_timeout: self.retry_timeout,
        };
        ProviderOptions { client, retry }
    }
}
