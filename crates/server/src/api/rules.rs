//! The operator's rules every destination obeys: no private networks unless the operator
//! allows them (every host the connector declares its config and auth contact, by address and
//! by what names resolve to), and no borrowing the server's own cloud credentials unless
//! allowed. These are checks of the config when a destination is saved, tested or built; they
//! do not follow a name that resolves elsewhere later (the webhook connector alone checks the
//! address it connects to).

use std::time::Duration;

use courier_catalog::Catalog;
use courier_core::{DestinationSpec, Endpoint, FieldError, Host};
use serde_json::Value;

pub use super::resolver::Resolver;

/// How long a name gets to resolve.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(2);

/// What a name that does not resolve (in time) means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unresolved {
    /// Refused: a destination being saved or tested must name hosts that resolve, so they can
    /// be checked.
    Refuse,
    /// Let through: a destination being built for delivery fails to connect anyway, and a
    /// passing DNS outage must not fail its deliveries for good.
    Allow,
}

const PRIVATE_HINT: &str =
    "this server does not allow those (start it with --allow-private-destinations)";

/// The operator's rules every destination obeys, checked when it is saved or tested and when it
/// is built for delivery (the operator may have tightened them since).
#[derive(Debug, Clone)]
pub struct ServerRules {
    pub allow_private_destinations: bool,
    pub allow_ambient_credentials: bool,
    /// Connector type → the auth_config field without which it uses the server's own
    /// credentials, as each connector declares it.
    pub ambient_fields: Vec<(&'static str, &'static str)>,
    pub resolver: Resolver,
    /// Where each connector says a destination's hosts are.
    pub catalog: Catalog,
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
            catalog: catalog.clone(),
        }
    }

    /// The hosts `destination_type` with `config` and `auth` contacts, as its connector
    /// declares them; none when the connector is unknown or the values do not validate
    /// (validation reports those).
    pub fn endpoints(&self, destination_type: &str, config: &Value, auth: &Value) -> Vec<Endpoint> {
        let Ok(connector) = self.catalog.get(destination_type) else {
            return Vec::new();
        };
        let spec = DestinationSpec {
            config: config.clone(),
            auth_config: auth.clone(),
            ..DestinationSpec::default()
        };
        connector.endpoints(&spec).unwrap_or_default()
    }

    /// Every rule `destination_type` with `config` and `auth` breaks, at its path: the values
    /// themselves, then the hosts of endpoint fields named by a name, resolved now.
    pub async fn check(
        &self,
        destination_type: &str,
        config: &Value,
        auth: &Value,
        unresolved: Unresolved,
    ) -> Vec<FieldError> {
        let endpoints = self.endpoints(destination_type, config, auth);
        let mut errors = self.check_values(destination_type, config, auth, &endpoints);
        if self.allow_private_destinations {
            return errors;
        }
        let mut names: Vec<(String, String)> = endpoints
            .into_iter()
            .filter_map(|e| match e.host {
                Host::Name(name) => Some((e.path, name)),
                Host::Ip(_) => None,
            })
            .collect();
        names.dedup();
        for (path, name) in names {
            if errors.iter().any(|e| e.path == path) {
                continue;
            }
            let resolved = tokio::time::timeout(RESOLVE_TIMEOUT, self.resolver.resolve(&name))
                .await
                .ok()
                .flatten();
            // The address itself is not repeated: it would map the operator's network.
            let error = match resolved {
                Some(addrs) => addrs
                    .into_iter()
                    .find_map(|ip| courier_core::net::check_ip(ip).err())
                    .map(|kind| format!("names {name}, which resolves to {kind}; {PRIVATE_HINT}")),
                None if unresolved == Unresolved::Refuse => Some(format!(
                    "names {name}, which does not resolve, so it cannot be checked to be public"
                )),
                None => None,
            };
            errors.extend(error.map(|message| FieldError::new(path, message)));
        }
        errors
    }

    /// The rules the values break by themselves (no name is resolved).
    fn check_values(
        &self,
        destination_type: &str,
        config: &Value,
        auth: &Value,
        endpoints: &[Endpoint],
    ) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if config.get("allow_private_network") == Some(&Value::Bool(true))
            && !self.allow_private_destinations
        {
            errors.push(FieldError::new(
                "/config/allow_private_network",
                "this server does not allow destinations on private networks (start it with --allow-private-destinations)",
            ));
        }
        if !self.allow_private_destinations {
            for e in endpoints {
                if let Some(kind) = private_host(&e.host)
                    && !errors.iter().any(|x| x.path == e.path)
                {
                    errors.push(FieldError::new(
                        &e.path,
                        format!("points at {kind}; {PRIVATE_HINT}"),
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
            errors.push(FieldError::new(
                format!("/auth_config/{}", courier_core::spec::pointer_segment(field)),
                "is required: this server does not let destinations use its own credentials (allow_ambient_credentials)",
            ));
        }
        errors
    }
}

/// What kind of non-public host `host` is by itself: an address that is not public, or
/// `localhost`; `None` for public addresses and other names.
fn private_host(host: &Host) -> Option<&'static str> {
    match host {
        Host::Ip(ip) => courier_core::net::check_ip(*ip).err(),
        Host::Name(_) if host.is_localhost() => Some("localhost"),
        Host::Name(_) => None,
    }
}

/// Whether `url` points at a non-public host by itself (tests).
#[cfg(test)]
fn private_url(url: &str) -> bool {
    Host::of_url(url).is_some_and(|h| private_host(&h).is_some())
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
            assert!(private_url(url), "{url}");
        }
        for url in [
            "https://graph.microsoft.com/v1.0",
            "https://8.8.8.8/",
            "not a url",
        ] {
            assert!(!private_url(url), "{url}");
        }
        let strict = ServerRules {
            allow_private_destinations: false,
            allow_ambient_credentials: true,
            ambient_fields: vec![("s3", "access_key_id")],
            resolver: Resolver::with(|_| None),
            catalog: Catalog::builtin(),
        };
        let config = json!({"graph_base_url": "http://127.0.0.1:1/v1.0", "folder_path": "x"});
        let auth = json!({"token_url": "http://10.0.0.1/token", "client_id": "c"});
        let paths = |rules: &ServerRules, t: &str, config: &Value, auth: &Value| {
            let endpoints = rules.endpoints(t, config, auth);
            rules
                .check_values(t, config, auth, &endpoints)
                .into_iter()
                .map(|e| e.path)
                .collect::<Vec<String>>()
        };
        assert_eq!(
            paths(&strict, "onedrive", &config, &auth),
            ["/config/graph_base_url", "/auth_config/token_url"]
        );
        // Hosts the server would have missed by reading field names: an S3 bucket's virtual
        // host under its endpoint, Azure's emulator and endpoint suffix.
        let s3 = json!({"bucket": "bkt", "region": "us-east-1", "endpoint_url": "http://localhost:9000"});
        let keys = json!({"access_key_id": "a", "secret_access_key": "s"});
        assert_eq!(
            strict
                .endpoints("s3", &s3, &keys)
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>(),
            ["localhost:9000", "bkt.localhost:9000"]
        );
        assert_eq!(paths(&strict, "s3", &s3, &keys), ["/config/endpoint_url"]);
        let azure = json!({"account": "devstoreaccount1", "container": "courier"});
        for cs in [
            "UseDevelopmentStorage=true",
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;EndpointSuffix=x@10.0.0.5:8080",
        ] {
            let auth = json!({"connection_string": cs});
            assert_eq!(
                paths(&strict, "azure_blob", &azure, &auth),
                ["/auth_config/connection_string"],
                "{cs}"
            );
        }
        let open = ServerRules {
            allow_private_destinations: true,
            ..strict.clone()
        };
        assert!(paths(&open, "onedrive", &config, &auth).is_empty());
        let no_ambient = ServerRules {
            allow_ambient_credentials: false,
            ..open
        };
        let s3_alone = json!({"bucket": "bkt", "region": "us-east-1"});
        assert_eq!(
            paths(&no_ambient, "s3", &s3_alone, &json!({})),
            ["/auth_config/access_key_id"]
        );
        assert!(paths(&no_ambient, "onedrive", &config, &auth).is_empty());
    }

    #[tokio::test]
    async fn names_that_resolve_to_private_addresses_are_refused_like_the_addresses() {
        let rules = ServerRules {
            allow_private_destinations: false,
            allow_ambient_credentials: true,
            ambient_fields: Vec::new(),
            catalog: Catalog::builtin(),
            resolver: Resolver::with(|host| match host {
                "metadata.example.test" => Some(vec!["169.254.169.254".parse().unwrap()]),
                "mixed.example.test" => Some(vec![
                    "93.184.216.34".parse().unwrap(),
                    "::ffff:10.0.0.7".parse().unwrap(),
                ]),
                "public.example.test" => Some(vec!["93.184.216.34".parse().unwrap()]),
                "evil.public.example.test" => Some(vec!["127.0.0.1".parse().unwrap()]),
                _ => None,
            }),
        };
        let config = json!({
            "endpoint_url": "http://metadata.example.test/latest",
            "bucket": "bkt",
            "region": "us-east-1",
        });
        let auth = json!({"access_key_id": "a", "secret_access_key": "s"});
        let azure = json!({"account": "acme", "container": "courier", "endpoint": "https://mixed.example.test:8443"});
        let azure_auth = json!({"tenant_id": "t", "client_id": "c", "client_secret": "s", "authority_host": "https://unknown.example.test/"});
        let drive = json!({"api_base_url": "https://public.example.test/"});
        let drive_auth =
            json!({"client_id": "c", "client_secret": "s", "token_url": "http://127.0.0.1/token"});
        let mut errors = rules.check("s3", &config, &auth, Unresolved::Allow).await;
        errors.extend(
            rules
                .check("azure_blob", &azure, &azure_auth, Unresolved::Allow)
                .await,
        );
        errors.extend(
            rules
                .check("google_drive", &drive, &drive_auth, Unresolved::Allow)
                .await,
        );
        let found: Vec<(&str, bool)> = errors
            .iter()
            .map(|e| (e.path.as_str(), e.message.contains("resolves to")))
            .collect();
        // A name that does not resolve passes when building for delivery; a literal is
        // named once.
        assert_eq!(
            found,
            [
                ("/config/endpoint_url", true),
                ("/config/endpoint", true),
                ("/auth_config/token_url", false),
            ]
        );
        assert!(errors[0].message.contains("link-local"), "{errors:?}");
        assert!(
            errors.iter().all(|e| !e.message.contains("169.254")),
            "resolved addresses are not repeated: {errors:?}"
        );
        // A bucket's virtual host is a name of its own.
        let virtual_host = json!({"bucket": "evil", "region": "us-east-1", "endpoint_url": "https://public.example.test"});
        let errors = rules
            .check("s3", &virtual_host, &auth, Unresolved::Allow)
            .await;
        assert!(
            errors.len() == 1
                && errors[0].path == "/config/endpoint_url"
                && errors[0].message.contains("evil.public.example.test"),
            "{errors:?}"
        );
        // Saving or testing a destination needs its names to resolve.
        let saving = rules
            .check("azure_blob", &azure, &azure_auth, Unresolved::Refuse)
            .await;
        assert!(
            saving
                .iter()
                .any(|e| e.path == "/auth_config/authority_host"
                    && e.message.contains("does not resolve")),
            "{saving:?}"
        );
        let open = ServerRules {
            allow_private_destinations: true,
            ..rules
        };
        assert!(
            open.check("s3", &config, &auth, Unresolved::Refuse)
                .await
                .is_empty()
        );
    }
}
