//! The transport every Azure request of a destination goes through: the guarded client from
//! courier-net (names resolved once and checked, no proxies, no redirects), with each answer's
//! body cut at [`RESPONSE_BODY_CAP`] so an endpoint cannot make the destination hold an endless
//! body in memory.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use azure_core::error::ErrorKind as AzureErrorKind;
use azure_core::http::{AsyncRawResponse, AsyncResponseBody, HttpClient, Request, Transport};
use bytes::Bytes;
use courier_core::ConnectorError;
use futures::Stream;

/// The most of an answer's body read: blob service answers to what Courier asks (block lists,
/// a one-item listing, errors) are a few kilobytes.
pub const RESPONSE_BODY_CAP: usize = 8 * 1024 * 1024;

/// The guarded, capped transport (`allow_private`: the host's policy).
pub fn guarded_transport(allow_private: bool) -> Result<Transport, ConnectorError> {
    let http = courier_net::guarded_builder(allow_private)
        .build()
        .map_err(|e| ConnectorError::internal("could not build the HTTP client").with_source(e))?;
    Ok(Transport::new(Arc::new(Capped(Arc::new(http)))))
}

#[derive(Debug)]
struct Capped(Arc<dyn HttpClient>);

#[async_trait::async_trait]
impl HttpClient for Capped {
    async fn execute_request(&self, request: &Request) -> azure_core::Result<AsyncRawResponse> {
        let (status, headers, body) = self.0.execute_request(request).await?.deconstruct();
        let body = CappedBody {
            inner: Box::pin(body),
            read: 0,
        };
        Ok(AsyncRawResponse::new(status, headers, Box::pin(body)))
    }
}

struct CappedBody {
    inner: Pin<Box<AsyncResponseBody>>,
    read: usize,
}

impl Stream for CappedBody {
    type Item = azure_core::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.read > RESPONSE_BODY_CAP {
            return Poll::Ready(None);
        }
        match self.inner.as_mut().poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                self.read += chunk.len();
                if self.read > RESPONSE_BODY_CAP {
                    return Poll::Ready(Some(Err(azure_core::Error::with_message(
                        AzureErrorKind::Io,
                        format!(
                            "the answer is longer than {} MiB; the rest is not read",
                            RESPONSE_BODY_CAP >> 20
                        ),
                    ))));
                }
                Poll::Ready(Some(Ok(chunk)))
            }
            other => other,
        }
    }
}
