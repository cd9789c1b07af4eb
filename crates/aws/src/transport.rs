//! The AWS SDKs' HTTP client, guarded: names are resolved through
//! [`courier_core::net::resolve_checked`] and only the checked addresses are dialled; no proxy
//! is taken from the environment; the SDK follows no redirects. An endpoint spelled as an
//! address is checked by [`check_endpoint`] (a resolver never sees it).

use std::error::Error;

use aws_smithy_http_client::tls;
use aws_smithy_runtime_api::client::dns::{DnsFuture, ResolveDns, ResolveDnsError};
use aws_smithy_runtime_api::client::http::SharedHttpClient;
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

/// The HTTP client every AWS request of a destination goes through.
pub fn guarded_http_client(allow_private: bool) -> SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ))
        .build_with_resolver(Guard { allow_private })
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
