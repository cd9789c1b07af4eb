//! The operator's rules every destination obeys: no private networks unless the operator
//! allows them (endpoint URLs by address, and by what their host names resolve to), and no
//! borrowing the server's own cloud credentials unless allowed.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

/// The addresses a name resolves to, in time.
type Resolving = Pin<Box<dyn Future<Output = Vec<IpAddr>> + Send>>;

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
                    .map(|addrs| addrs.map(|a| a.ip()).collect())
                    .unwrap_or_default()
            })
        }))
    }

    /// Answers from `f` (tests).
    pub fn with(f: impl Fn(&str) -> Vec<IpAddr> + Send + Sync + 'static) -> Self {
        Resolver(Arc::new(move |host: String| {
            let addrs = f(&host);
            Box::pin(async move { addrs })
        }))
    }
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Resolver")
    }
}

/// How long a name gets to resolve; one that does not is left to the connection test.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(2);

/// The operator's rules every destination obeys, checked when it is saved and again whenever
/// it is built (the operator may have tightened them since).
#[derive(Debug, Clone)]
pub struct ServerRules {
    pub allow_private_destinations: bool,
    pub allow_ambient_credentials: bool,
    /// Connector type → the auth_config field without which it uses the server's own
    /// credentials, as each connector declares it.
    pub ambient_fields: Vec<(&'static str, &'static str)>,
    pub resolver: Resolver,
}

impl ServerRules {
    pub fn of(config: &crate::config::ServerConfig, catalog: &courier_catalog::Catalog) -> Self {
        let ambient_fields = catalog
            .types()
            .filter_map(|t| {
                let field = catalog
                    .get(t)
                    .ok()?
                    .metadata()
                    .capabilities
                    .ambient_credentials?;
                Some((t, field))
            })
            .collect();
        ServerRules {
            allow_private_destinations: config.allow_private_destinations,
            allow_ambient_credentials: config.allow_ambient_credentials,
            ambient_fields,
            resolver: Resolver::system(),
        }
    }

    /// [`ServerRules::check`], and endpoints named by a host name that resolves, now, to a
    /// private address are refused like the address itself. A name can resolve elsewhere
    /// later: the server checks again whenever it builds the destination.
    pub async fn check_resolved(
        &self,
        destination_type: &str,
        config: &Value,
        auth: &Value,
    ) -> Vec<courier_core::FieldError> {
        let mut errors = self.check(destination_type, config, auth);
        if self.allow_private_destinations {
            return errors;
        }
        for (path, url) in endpoints(config, auth) {
            if errors.iter().any(|e| e.path == path) {
                continue;
            }
            let Some(host) = domain(url) else { continue };
            let resolved = tokio::time::timeout(RESOLVE_TIMEOUT, (self.resolver.0)(host.clone()))
                .await
                .unwrap_or_default();
            if let Some(ip) = resolved.into_iter().find(|ip| private_ip(*ip)) {
                errors.push(courier_core::FieldError::new(
                    path,
                    format!("names {host}, which resolves to the loopback or private address {ip}; this server does not allow those (start it with --allow-private-destinations)"),
                ));
            }
        }
        errors
    }

    /// Every rule `destination_type` with `config` and `auth` breaks, at its path, from the
    /// values alone (no name is resolved).
    pub fn check(
        &self,
        destination_type: &str,
        config: &Value,
        auth: &Value,
    ) -> Vec<courier_core::FieldError> {
        let mut errors = Vec::new();
        if config.get("allow_private_network") == Some(&Value::Bool(true))
            && !self.allow_private_destinations
        {
            errors.push(courier_core::FieldError::new(
                "/config/allow_private_network",
                "this server does not allow destinations on private networks (start it with --allow-private-destinations)",
            ));
        }
        if !self.allow_private_destinations {
            for (path, url) in endpoints(config, auth) {
                if private_host(url) {
                    errors.push(courier_core::FieldError::new(
                        path,
                        "points at a loopback or private address, which this server does not allow (start it with --allow-private-destinations)",
                    ));
                }
            }
        }
        let ambient_field = self
            .ambient_fields
            .iter()
            .find(|(t, _)| *t == destination_type)
            .map(|(_, field)| *field);
        if let (Some(field), false) = (ambient_field, self.allow_ambient_credentials)
            && auth
                .get(field)
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
        {
            errors.push(courier_core::FieldError::new(
                format!("/auth_config/{}", courier_core::spec::pointer_segment(field)),
                "is required: this server does not let destinations use its own credentials (allow_ambient_credentials)",
            ));
        }
        errors
    }
}

/// The endpoint URLs (`*_url`, `endpoint`) of a config and auth_config, at their JSON paths.
fn endpoints<'a>(config: &'a Value, auth: &'a Value) -> Vec<(String, &'a str)> {
    [("config", config), ("auth_config", auth)]
        .into_iter()
        .flat_map(|(section, values)| {
            values
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(key, _)| key.ends_with("_url") || key.as_str() == "endpoint")
                .filter_map(move |(key, value)| {
                    let path = format!("/{section}/{}", courier_core::spec::pointer_segment(key));
                    value.as_str().map(|url| (path, url))
                })
        })
        .collect()
}

/// The host name of `url`, when it names one (not an address).
fn domain(url: &str) -> Option<String> {
    match url::Url::parse(url).ok()?.host()? {
        url::Host::Domain(d) => Some(d.trim_end_matches('.').to_ascii_lowercase()),
        _ => None,
    }
}

/// Whether `url` names a loopback, private, link-local or unspecified address (by IP literal or
/// `localhost`); other names are resolved by [`ServerRules::check_resolved`].
fn private_host(url: &str) -> bool {
    let Ok(url) = url::Url::parse(url) else {
        return false;
    };
    let ip = match url.host() {
        Some(url::Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            return d == "localhost" || d.ends_with(".localhost");
        }
        Some(url::Host::Ipv4(v4)) => IpAddr::V4(v4),
        Some(url::Host::Ipv6(v6)) => IpAddr::V6(v6),
        None => return false,
    };
    private_ip(ip)
}

/// Loopback, private, shared (CGNAT), link-local (cloud metadata), unspecified, "this network"
/// and benchmarking addresses, and IPv6's loopback, unique-local and link-local ones, also as
/// IPv4-mapped addresses.
fn private_ip(ip: IpAddr) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    };
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || a == 0
                || (a == 100 && (b & 0xc0) == 64)
                || (a == 198 && (b & 0xfe) == 18)
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn endpoints_on_private_networks_need_the_operators_consent() {
        for url in [
            "http://127.0.0.1:9/token",
            "http://localhost/x",
            "https://api.localhost/",
            "http://10.1.2.3/",
            "http://192.168.0.1/",
            "http://169.254.169.254/latest",
            "http://100.64.0.1/",
            "http://[::1]/",
            "http://[fd00::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://0.0.0.0/",
            "http://0.1.2.3/",
            "http://198.18.0.1/",
        ] {
            assert!(private_host(url), "{url}");
        }
        for url in [
            "https://graph.microsoft.com/v1.0",
            "https://8.8.8.8/",
            "not a url",
        ] {
            assert!(!private_host(url), "{url}");
        }
        let strict = ServerRules {
            allow_private_destinations: false,
            allow_ambient_credentials: true,
            ambient_fields: vec![("s3", "access_key_id")],
            resolver: Resolver::with(|_| Vec::new()),
        };
        let config = json!({"graph_base_url": "http://127.0.0.1:1/v1.0", "folder_path": "x"});
        let auth = json!({"token_url": "http://10.0.0.1/token", "client_id": "c"});
        let paths: Vec<String> = strict
            .check("onedrive", &config, &auth)
            .into_iter()
            .map(|e| e.path)
            .collect();
        assert_eq!(paths, ["/config/graph_base_url", "/auth_config/token_url"]);
        let open = ServerRules {
            allow_private_destinations: true,
            ..strict.clone()
        };
        assert!(open.check("onedrive", &config, &auth).is_empty());
        let no_ambient = ServerRules {
            allow_ambient_credentials: false,
            ..open
        };
        let paths: Vec<String> = no_ambient
            .check("s3", &json!({}), &json!({}))
            .into_iter()
            .map(|e| e.path)
            .collect();
        assert_eq!(paths, ["/auth_config/access_key_id"]);
        assert!(no_ambient.check("onedrive", &config, &auth).is_empty());
    }

    #[tokio::test]
    async fn names_that_resolve_to_private_addresses_are_refused_like_the_addresses() {
        let rules = ServerRules {
            allow_private_destinations: false,
            allow_ambient_credentials: true,
            ambient_fields: Vec::new(),
            resolver: Resolver::with(|host| match host {
                "metadata.example.test" => vec!["169.254.169.254".parse().unwrap()],
                "mixed.example.test" => vec![
                    "93.184.216.34".parse().unwrap(),
                    "::ffff:10.0.0.7".parse().unwrap(),
                ],
                "public.example.test" => vec!["93.184.216.34".parse().unwrap()],
                _ => Vec::new(),
            }),
        };
        let config = json!({
            "endpoint_url": "http://metadata.example.test/latest",
            "endpoint": "https://mixed.example.test:8443",
            "graph_base_url": "https://public.example.test/v1.0",
            "api_base_url": "https://unknown.example.test/",
            "bucket": "b",
        });
        let auth = json!({"token_url": "http://127.0.0.1/token"});
        let errors = rules.check_resolved("s3", &config, &auth).await;
        let found: Vec<(&str, bool)> = errors
            .iter()
            .map(|e| (e.path.as_str(), e.message.contains("resolves to")))
            .collect();
        // Unresolvable names are left to the connection test; a literal is named once.
        assert_eq!(
            found,
            [
                ("/auth_config/token_url", false),
                ("/config/endpoint_url", true),
                ("/config/endpoint", true),
            ]
        );
        assert!(errors[1].message.contains("169.254.169.254"), "{errors:?}");
        let open = ServerRules {
            allow_private_destinations: true,
            ..rules
        };
        assert!(open.check_resolved("s3", &config, &auth).await.is_empty());
    }
}
