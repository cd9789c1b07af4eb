//! The resolver the server's rules look host names up with: the system's, or a test's.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;

/// The addresses a name resolves to, in time (`None`: it did not resolve).
type Resolving = Pin<Box<dyn Future<Output = Option<Vec<IpAddr>>> + Send>>;

/// Resolves a host name to its addresses: the system's resolver, or a test's.
#[derive(Clone)]
pub struct Resolver(Arc<dyn Fn(String) -> Resolving + Send + Sync>);

impl Resolver {
    /// The system's resolver (getaddrinfo on a blocking thread, through tokio).
    pub fn system() -> Self {
        Resolver(Arc::new(|host: String| {
            Box::pin(async move {
                tokio::net::lookup_host((host.as_str(), 0))
                    .await
                    .ok()
                    .map(|addrs| addrs.map(|a| a.ip()).collect())
            })
        }))
    }

    /// Answers from `f` (tests).
    pub fn with(f: impl Fn(&str) -> Option<Vec<IpAddr>> + Send + Sync + 'static) -> Self {
        Resolver(Arc::new(move |host: String| {
            let addrs = f(&host);
            Box::pin(async move { addrs })
        }))
    }

    pub async fn resolve(&self, host: &str) -> Option<Vec<IpAddr>> {
        (self.0)(host.to_string()).await
    }
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Resolver")
    }
}
