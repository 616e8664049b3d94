//! Which kind of store a URL names. Everything that differs between kinds of store (the client
//! and its options, whether objects keep HTTP attributes) is decided from this type, never from
//! URL text.

use std::fmt;

/// The kind of store a [`crate::Store`] talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Provider {
    /// A local directory (`file:///path` or a plain path).
    Local,
    /// Memory of this process (`memory://`).
    Memory,
    /// Amazon S3 or an S3-compatible server (`s3://bucket/prefix`).
    S3,
    /// Google Cloud Storage (`gs://bucket/prefix`).
    Gcs,
    /// Azure Blob Storage (`az://container/prefix`, or `azure://`).
    Azure,
}

impl Provider {
    /// The URL schemes [`Provider::from_scheme`] knows, as error messages list them.
    pub const SCHEMES: &'static str = "file, s3, gs, az or memory";

    /// The provider a URL scheme names.
    pub fn from_scheme(scheme: &str) -> Option<Provider> {
        match scheme {
            "file" => Some(Provider::Local),
            "memory" => Some(Provider::Memory),
            "s3" => Some(Provider::S3),
            "gs" => Some(Provider::Gcs),
            "az" | "azure" => Some(Provider::Azure),
            _ => None,
        }
    }

    /// Whether objects keep the HTTP attributes they were written with (`Cache-Control`): every
    /// provider but a local directory, which has nowhere to keep them.
    pub fn keeps_attributes(self) -> bool {
        self != Provider::Local
    }

    /// Whether the store is a cloud object store reached over HTTP.
    pub fn is_cloud(self) -> bool {
        matches!(self, Provider::S3 | Provider::Gcs | Provider::Azure)
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Provider::Local => "local directory",
            Provider::Memory => "memory",
            Provider::S3 => "S3",
            Provider::Gcs => "Google Cloud Storage",
            Provider::Azure => "Azure Blob Storage",
        })
    }
}
