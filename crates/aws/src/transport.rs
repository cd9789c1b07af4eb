//! The AWS SDKs' HTTP client, guarded: names are resolved through
//! [`courier_core::net::resolve_checked`] and only the checked addresses are dialled; no proxy
//! is taken from the environment; the SDK follows no redirects. An endpoint spelled as an
//! address is checked by [`check_endpoint`] (a resolver never sees it). Answers are read with a
//! cap, so an endpoint cannot make a destination hold an endless body in memory.

use std::error::Error;

use aws_smithy_http_client::tls;
use aws_smithy_runtime_api::client::dns::{DnsFuture, ResolveDns, ResolveDnsError};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use courier_core::net::{ResolveError, check_url_host, resolve_checked};
use courier_core::{ConnectorError, ErrorKind};

#[derive(Debug, Clone, Copy)]
struct Guard {
    allow_private: bool,
}

impl ResolveDns for Guard {
    fn resolve_dns<'a>(&'a self, name: &'a str) -> DnsFuture<'a> {
        let allow_private = self.allow_private;
        DnsFuture::new(async move {
            resolve_checked(name, 0, allow_private)
                .await
                .map(|addrs| addrs.into_iter().map(|a| a.ip()).collect())
                .map_err(ResolveDnsError::new)
        })
    }
}

/// The most of an answer's body read. The largest answers Courier asks for (a listing of a
/// thousand keys, a Kinesis batch's 500 results) are well under a megabyte.
pub const RESPONSE_BODY_CAP: usize = 8 * 1024 * 1024;

/// The HTTP client every AWS request of a destination goes through.
pub fn guarded_http_client(allow_private: bool) -> SharedHttpClient {
    let guarded = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ))
        .build_with_resolver(Guard { allow_private });
    SharedHttpClient::new(Capped(guarded))
}

/// A client whose answers' bodies end in an error past [`RESPONSE_BODY_CAP`].
#[derive(Debug)]
struct Capped(SharedHttpClient);

impl HttpClient for Capped {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(CappedConnector(self.0.http_connector(settings, components)))
    }

    fn connector_metadata(
        &self,
    ) -> Option<aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata> {
        self.0.connector_metadata()
    }
}

#[derive(Debug)]
struct CappedConnector(SharedHttpConnector);

impl HttpConnector for CappedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let answer = self.0.call(request);
        HttpConnectorFuture::new(async move {
            let response = answer.await?;
            Ok(response.map(|body| {
                SdkBody::from_body_1_x(http_body_util::Limited::new(body, RESPONSE_BODY_CAP))
            }))
        })
    }
}

/// Refuses an `endpoint_url` whose host is a literal non-public address (unless allowed).
pub fn check_endpoint(
    endpoint_url: Option<&str>,
    allow_private: bool,
) -> Result<(), ConnectorError> {
    let Some(url) = endpoint_url.and_then(|u| url::Url::parse(u).ok()) else {
        return Ok(());
    };
    check_url_host(&url, allow_private).map_err(|e| refused(&e))
}

fn refused(e: &ResolveError) -> ConnectorError {
    ConnectorError::new(
        ErrorKind::InvalidConfig,
        format!("the AWS endpoint {e}"),
        "use a public endpoint: this server does not allow destinations on private networks",
    )
}

/// The guard's refusal behind an SDK error, as a connector error (not retried).
pub fn refusal(err: &(dyn Error + 'static)) -> Option<ConnectorError> {
    let mut source = Some(err);
    while let Some(e) = source {
        if let Some(r) = e.downcast_ref::<ResolveError>()
            && matches!(r, ResolveError::Refused { .. })
        {
            return Some(refused(r));
        }
        source = e.source();
    }
    None
}
