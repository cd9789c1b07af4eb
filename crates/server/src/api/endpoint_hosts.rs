//! Where a destination's config sends requests: the hosts named by its endpoint fields (URLs in
//! `*_url`, `endpoint` and `authority_host`, a bare `host`, the endpoints of an Azure
//! `connection_string`, the `token_uri` of a service-account key), at their JSON paths, and the
//! resolver the server's rules look names up with.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;

use serde_json::Value;

/// A host as a config names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Ip(IpAddr),
    /// A name, lower case, without a trailing dot.
    Name(String),
}

impl Host {
    fn of_url(url: &str) -> Option<Host> {
        match url::Url::parse(url).ok()?.host()? {
            url::Host::Ipv4(a) => Some(Host::Ip(IpAddr::V4(a))),
            url::Host::Ipv6(a) => Some(Host::Ip(IpAddr::V6(a))),
            url::Host::Domain(d) => Some(Host::name(d)),
        }
    }

    fn of_bare(host: &str) -> Option<Host> {
        let host = host.trim();
        let unbracketed = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = unbracketed.parse() {
            return Some(Host::Ip(ip));
        }
        // The URL parser's host rules also read `2130706433` and `127.1` as addresses.
        Host::of_url(&format!("http://{host}/")).or_else(|| Some(Host::name(host)))
    }

    fn name(d: &str) -> Host {
        Host::Name(d.trim_end_matches('.').to_ascii_lowercase())
    }
}

/// The hosts `config` and `auth` send requests to, each at the JSON path of its field.
pub fn endpoint_hosts(config: &Value, auth: &Value) -> Vec<(String, Host)> {
    let mut hosts = Vec::new();
    for (section, values) in [("config", config), ("auth_config", auth)] {
        for (key, value) in values.as_object().into_iter().flatten() {
            let Some(text) = value.as_str() else { continue };
            let path = format!("/{section}/{}", courier_core::spec::pointer_segment(key));
            let found: Vec<Host> = match key.as_str() {
                k if k.ends_with("_url") || k == "endpoint" || k == "authority_host" => {
                    Host::of_url(text).into_iter().collect()
                }
                "host" => Host::of_bare(text).into_iter().collect(),
                "connection_string" => text
                    .split(';')
                    .filter_map(|part| part.split_once('='))
                    .filter(|(k, _)| k.trim().ends_with("Endpoint"))
                    .filter_map(|(_, url)| Host::of_url(url.trim()))
                    .collect(),
                "service_account_json" => serde_json::from_str::<Value>(text)
                    .ok()
                    .and_then(|key| key["token_uri"].as_str().and_then(Host::of_url))
                    .into_iter()
                    .collect(),
                _ => Vec::new(),
            };
            hosts.extend(found.into_iter().map(|h| (path.clone(), h)));
        }
    }
    hosts
}

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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn every_field_that_names_a_host_is_found() {
        let config = json!({
            "endpoint_url": "http://2130706433:9000",
            "endpoint": "https://Blob.Example.TEST./x",
            "host": "[::1]",
            "bucket": "not-a-host",
            "authority_host": "https://login.example.test/",
        });
        let auth = json!({
            "connection_string": "DefaultEndpointsProtocol=http;AccountName=a;BlobEndpoint=http://10.0.0.9:10000/a;EndpointSuffix=core.windows.net",
            "service_account_json": json!({"type": "service_account", "token_uri": "http://169.254.169.254/token"}).to_string(),
            "token_url": 7,
        });
        let found = endpoint_hosts(&config, &auth);
        let ip = |s: &str| Host::Ip(s.parse().unwrap());
        assert_eq!(
            found,
            [
                ("/config/endpoint_url".to_string(), ip("127.0.0.1")),
                (
                    "/config/endpoint".to_string(),
                    Host::Name("blob.example.test".into())
                ),
                ("/config/host".to_string(), ip("::1")),
                (
                    "/config/authority_host".to_string(),
                    Host::Name("login.example.test".into())
                ),
                ("/auth_config/connection_string".to_string(), ip("10.0.0.9")),
                (
                    "/auth_config/service_account_json".to_string(),
                    ip("169.254.169.254")
                ),
            ]
        );
        assert_eq!(Host::of_bare("127.1"), Some(ip("127.0.0.1")));
        assert_eq!(
            Host::of_bare("sftp.example.test"),
            Some(Host::Name("sftp.example.test".into()))
        );
    }
}
