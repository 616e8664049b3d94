//! The HTTP status behind a failed store request, so that failures are classified by what the
//! server answered (429, 503 SlowDown, 403) and never by an error's text.
//!
//! object_store keeps the status of a failed request in an error type it does not export, so the
//! stores cairn opens send their requests through [`ObservingConnector`]: it notes the status and
//! `Retry-After` of every failure answer in a task-local slot that [`observed`] opens around each
//! store operation, and [`crate::Error::Store`] carries the last one.

use std::cell::Cell;
use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use object_store::ClientOptions;
use object_store::client::{
    HttpClient, HttpConnector, HttpError, HttpRequest, HttpResponse, HttpService, ReqwestConnector,
};

/// A failure answer from a store's server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// How long the server asked clients to wait (`Retry-After` in seconds), if it said.
    pub retry_after: Option<Duration>,
}

tokio::task_local! {
    static LAST: Cell<Option<Answer>>;
}

/// Runs one store operation with a slot for the failure answers its requests receive.
pub(crate) async fn observed<F: Future>(operation: F) -> F::Output {
    LAST.scope(Cell::new(None), operation).await
}

/// The last failure answer received by the operation running now, if any.
pub(crate) fn last() -> Option<Answer> {
    LAST.try_with(Cell::get).ok().flatten()
}

/// object_store's default connector, noting failure answers.
#[derive(Debug, Default)]
pub(crate) struct ObservingConnector;

impl HttpConnector for ObservingConnector {
    fn connect(&self, options: &ClientOptions) -> object_store::Result<HttpClient> {
        let inner = ReqwestConnector::default().connect(options)?;
        Ok(HttpClient::new(Observing { inner }))
    }
}

#[derive(Debug)]
struct Observing {
    inner: HttpClient,
}

#[async_trait]
impl HttpService for Observing {
    async fn call(&self, request: HttpRequest) -> Result<HttpResponse, HttpError> {
        let response = self.inner.execute(request).await?;
        let status = response.status();
        if status.is_client_error() || status.is_server_error() {
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let answer = Answer {
                status: status.as_u16(),
                retry_after,
            };
            // Outside `observed` (a caller using the object store directly) there is no slot.
            let _ = LAST.try_with(|slot| slot.set(Some(answer)));
        }
        Ok(response)
    }
}
