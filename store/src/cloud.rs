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
use crate::options::StoreOptions;
use crate::provider::Provider;

/// The client of bucket (or container) `name` of cloud `provider`, configured by `url`'s query.
pub(crate) fn open(
    provider: Provider,
    name: String,
    url: &Url,
    options: &StoreOptions,
) -> object_store::Result<Arc<dyn ObjectStore>> {
    match provider {
        Provider::S3 => {
            let mut builder = AmazonS3Builder::from_env().with_bucket_name(name);
            for (key, value) in config::<AmazonS3ConfigKey>(url)? {
                builder = builder.with_config(key, value);
            }
            let endpoint = builder.get_config_value(&AmazonS3ConfigKey::Endpoint);
            let own = options.for_provider(provider, endpoint.as_deref());
            builder
                .with_http_connector(ObservingConnector)
                .with_client_options(own.client)
                .with_retry(own.retry)
                .build()
                .map(|s| Arc::new(s) as _)
        }
        Provider::Gcs => {
            let mut builder = GoogleCloudStorageBuilder::from_env().with_bucket_name(name);
            for (key, value) in config::<GoogleConfigKey>(url)? {
                builder = builder.with_config(key, value);
            }
            let endpoint = builder.get_config_value(&GoogleConfigKey::BaseUrl);
            let own = options.for_provider(provider, endpoint.as_deref());
            builder
                .with_http_connector(ObservingConnector)
                .with_client_options(own.client)
                .with_retry(own.retry)
                .build()
                .map(|s| Arc::new(s) as _)
        }
        Provider::Azure => {
            let mut builder = MicrosoftAzureBuilder::from_env().with_container_name(name);
            for (key, value) in config::<AzureConfigKey>(url)? {
                builder = builder.with_config(key, value);
            }
            let endpoint = builder.get_config_value(&AzureConfigKey::Endpoint);
            let own = options.for_provider(provider, endpoint.as_deref());
            builder
                .with_http_connector(ObservingConnector)
                .with_client_options(own.client)
                .with_retry(own.retry)
                .build()
                .map(|s| Arc::new(s) as _)
        }
        Provider::Local | Provider::Memory => Err(object_store::Error::NotSupported {
            source: format!("{provider} is not a cloud store").into(),
        }),
    }
}

/// The URL's query parameters as config keys of one provider's builder.
fn config<K: FromStr<Err = object_store::Error>>(
    url: &Url,
) -> object_store::Result<Vec<(K, String)>> {
    url.query_pairs()
        .map(|(key, value)| Ok((key.parse()?, value.into_owned())))
        .collect()
}
