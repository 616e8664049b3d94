//! The clients of the cloud providers, each built with object_store's own builder for that cloud
//! and its config keys (every query parameter of a store URL is one of them), with the client and
//! retry options [`StoreOptions::for_provider`] gives it.

use std::str::FromStr;
use std::sync::Arc;

use object_store::ObjectStore;
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
use url::Url;

use crate::answer::ObservingConnector;
use crate::options::{ProviderOptions, StoreOptions};
use crate::provider::Provider;

/// The client of bucket (or container) `name` of cloud `provider`, configured by `url`'s query.
pub(crate) fn open(
    provider: Provider,
    name: String,
    url: &Url,
    options: &StoreOptions,
) -> object_store::Result<Arc<dyn ObjectStore>> {
    match provider {
        Provider::S3 => build(
            AmazonS3Builder::from_env().with_bucket_name(name),
            provider,
            url,
            options,
        ),
        Provider::Gcs => build(
            GoogleCloudStorageBuilder::from_env().with_bucket_name(name),
            provider,
            url,
            options,
        ),
        Provider::Azure => build(
            MicrosoftAzureBuilder::from_env().with_container_name(name),
            provider,
            url,
            options,
        ),
        Provider::Local | Provider::Memory => Err(object_store::Error::NotSupported {
            source: format!("{provider} is not a cloud store").into(),
        }),
    }
}

/// What cairn asks of a cloud's client builder (object_store's three share no trait).
trait CloudBuilder: Sized {
    /// The builder's config keys.
    type Key: FromStr<Err = object_store::Error>;
    /// The key of the endpoint, when it is not the cloud's own.
    const ENDPOINT: Self::Key;
    fn with_key(self, key: Self::Key, value: String) -> Self;
    fn value_of(&self, key: &Self::Key) -> Option<String>;
    fn finish(self, own: ProviderOptions) -> object_store::Result<Arc<dyn ObjectStore>>;
}

/// `builder` configured by `url`'s query, with the options `options` gives `provider`.
fn build<B: CloudBuilder>(
    mut builder: B,
    provider: Provider,
    url: &Url,
    options: &StoreOptions,
) -> object_store::Result<Arc<dyn ObjectStore>> {
    for (key, value) in url.query_pairs() {
        builder = builder.with_key(key.parse()?, value.into_owned());
    }
    let endpoint = builder.value_of(&B::ENDPOINT);
    builder.finish(options.for_provider(provider, endpoint.as_deref()))
}

macro_rules! cloud_builder {
    ($builder:ty, $key:ty, $endpoint:expr) => {
        impl CloudBuilder for $builder {
            type Key = $key;
            const ENDPOINT: $key = $endpoint;
            fn with_key(self, key: $key, value: String) -> Self {
                self.with_config(key, value)
            }
            fn value_of(&self, key: &$key) -> Option<String> {
                self.get_config_value(key)
            }
            fn finish(self, own: ProviderOptions) -> object_store::Result<Arc<dyn ObjectStore>> {
                let store = self
                    .with_http_connector(ObservingConnector)
                    .with_client_options(own.client)
                    .with_retry(own.retry)
                    .build()?;
                Ok(Arc::new(store))
            }
        }
    };
}

cloud_builder!(
    AmazonS3Builder,
    AmazonS3ConfigKey,
    AmazonS3ConfigKey::Endpoint
);
cloud_builder!(
    GoogleCloudStorageBuilder,
    GoogleConfigKey,
    GoogleConfigKey::BaseUrl
);
cloud_builder!(
    MicrosoftAzureBuilder,
    AzureConfigKey,
    AzureConfigKey::Endpoint
);
