//! Guarded HTTP clients: what a tenant's config (or a URL a remote service hands back) names
//! cannot reach the operator's network. Names are resolved once through
//! [`courier_core::net::resolve_checked`] and only the checked addresses are dialled (so DNS
//! rebinding cannot slip past), addresses spelled in URLs are checked before each request (a
//! resolver never sees them), no redirect is followed, and no proxy is taken from the
//! environment.
//!
//! ```
//! use std::time::Duration;
//!
//! use courier_core::{ConnectorError, ErrorKind};
//! use courier_net::{body, check_url, guarded_builder, transport_error};
//!
//! // A client whose names resolve to public addresses only (`allow_private: false`).
//! let http = guarded_builder(false)
//!     .timeout(Duration::from_secs(30))
//!     .build()
//!     .expect("a client");
//!
//! // Addresses spelled in a URL never reach the resolver: check them before each request.
//! let refused = check_url("Example API", "http://10.0.0.1/items", false).unwrap_err();
//! assert_eq!(refused.kind, ErrorKind::InvalidConfig);
//! assert!(check_url("Example API", "https://api.example.com/items", false).is_ok());
//!
//! // A request: failures without an answer come back classified, bodies are read capped.
//! async fn items(http: &reqwest::Client, url: &str) -> Result<String, ConnectorError> {
//!     check_url("Example API", url, false)?;
//!     let response = http
//!         .get(url)
//!         .send()
//!         .await
//!         .map_err(|e| transport_error("Example API", e))?;
//!     let status = response.status().as_u16();
//!     if status != 200 {
//!         let text = body::error_text(response).await;
//!         let kind = ErrorKind::from_http_status(status);
//!         let message = format!("Example API answered HTTP {status}: {text}");
//!         return Err(ConnectorError::new(kind, message, "check the URL"));
//!     }
//!     body::json_text("Example API", "the item listing", response).await
//! }
//! ```

#![warn(missing_docs)]

pub mod body;
mod transport_error;

use std::sync::Arc;

pub use transport_error::transport_error;

use courier_core::net::{ResolveError, check_url_host, resolve_checked};
use courier_core::{ConnectorError, ErrorKind};

/// The resolver of a guarded client.
#[derive(Debug, Clone, Copy)]
struct Guard {
    allow_private: bool,
}

impl reqwest::dns::Resolve for Guard {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let addrs = resolve_checked(name.as_str(), 0, allow_private).await?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// A client builder with the guard in place; add timeouts and build. Unless `allow_private`,
/// nothing it sends reaches a loopback, private, link-local or otherwise non-public address.
pub fn guarded_builder(allow_private: bool) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .dns_resolver(Arc::new(Guard { allow_private }))
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
}

/// Refuses `url` before a request is made when its host is a literal non-public address
/// (unless `allow_private`), or it is not http(s). `service` names what was to be called.
pub fn check_url(service: &str, url: &str, allow_private: bool) -> Result<(), ConnectorError> {
    let parsed = url::Url::parse(url).map_err(|_| {
        ConnectorError::new(
            ErrorKind::Unavailable,
            format!("{service} gave a URL that cannot be used"),
            "the request is retried",
        )
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(ConnectorError::new(
            ErrorKind::InvalidConfig,
            format!("{service} gave a URL that is not http(s)"),
            "check the service's base URL",
        ));
    }
    check_url_host(&parsed, allow_private).map_err(|e| refused(service, &e))
}

/// A connection the guard refused, as a connector error (never retried: the answer will not
/// change by itself). The address a name resolved to is not named.
pub fn refused(service: &str, e: &ResolveError) -> ConnectorError {
    ConnectorError::new(
        ErrorKind::InvalidConfig,
        format!("{service}: {e}"),
        "use public endpoints: this server does not allow destinations on private networks",
    )
}

/// The guard's refusal behind a request error, if that is why it failed.
pub fn refusal(e: &reqwest::Error) -> Option<&ResolveError> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(err) = source {
        if let Some(r) = err.downcast_ref::<ResolveError>()
            && matches!(r, ResolveError::Refused { .. })
        {
            return Some(r);
        }
        source = err.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A listener on loopback that counts the connections it gets.
    async fn listener() -> (String, Arc<std::sync::atomic::AtomicUsize>) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let seen = hits.clone();
        tokio::spawn(async move {
            while let Ok((_s, _)) = l.accept().await {
                seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        });
        (format!("localhost:{port}"), hits)
    }

    #[tokio::test]
    async fn names_and_literals_of_private_hosts_are_refused_before_any_connection() {
        let (target, hits) = listener().await;
        let http = guarded_builder(false).build().unwrap();
        let e = http
            .get(format!("http://{target}/"))
            .send()
            .await
            .unwrap_err();
        let why = refusal(&e).expect("refused by the guard");
        assert!(why.to_string().contains("loopback"), "{why}");
        let port = target.rsplit(':').next().unwrap();
        for url in [
            format!("http://127.0.0.1:{port}/"),
            format!("http://2130706433:{port}/"),
            format!("http://[::ffff:127.0.0.1]:{port}/"),
        ] {
            let e = check_url("Graph", &url, false).unwrap_err();
            assert_eq!(e.kind, ErrorKind::InvalidConfig, "{url}");
        }
        assert!(check_url("Graph", "file:///etc/passwd", false).is_err());
        assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 0);
        // Allowed, the same name is reached.
        let open = guarded_builder(true).build().unwrap();
        let _ = open
            .get(format!("http://{target}/"))
            .timeout(std::time::Duration::from_millis(300))
            .send()
            .await;
        assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert!(check_url("Graph", &format!("http://127.0.0.1:{port}/"), true).is_ok());
    }
}
