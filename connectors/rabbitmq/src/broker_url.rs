//! The broker's address as `config.url` names it: `amqp://` or `amqps://`, host, port and
//! virtual host, and never credentials (those live in auth_config).

/// The plain AMQP port.
pub const AMQP_PORT: u16 = 5672;
/// The AMQP-over-TLS port.
pub const AMQPS_PORT: u16 = 5671;

/// Where the broker is: what `config.url` says, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerUrl {
    /// Whether the connection is TLS (`amqps://`).
    pub tls: bool,
    /// The host name or address, as written (IPv6 without brackets).
    pub host: String,
    /// The port; the scheme's default when the URL names none.
    pub port: u16,
    /// The virtual host, decoded (`/` when the URL has no path).
    pub vhost: String,
}

impl BrokerUrl {
    /// Parses `raw`, or says what is wrong with it (never quoting it: it might carry a password).
    pub fn parse(raw: &str) -> Result<BrokerUrl, String> {
        const SHAPE: &str = "must be an AMQP URL such as amqp://rabbit.example.com:5672/%2f or amqps://rabbit.example.com/prod";
        let url = url::Url::parse(raw.trim()).map_err(|_| SHAPE.to_string())?;
        let tls = match url.scheme() {
            "amqp" => false,
            "amqps" => true,
            _ => return Err(format!("{SHAPE} (the scheme must be amqp or amqps)")),
        };
        if !url.username().is_empty() || url.password().is_some() {
            return Err("must not carry credentials: set username and password in auth_config (the URL is stored and shown, auth_config is secret)".to_string());
        }
        let host = match url.host() {
            Some(url::Host::Domain(d)) if !d.is_empty() && !d.contains('%') => d.to_string(),
            Some(url::Host::Ipv4(a)) => a.to_string(),
            Some(url::Host::Ipv6(a)) => a.to_string(),
            _ => return Err(format!("{SHAPE} (the host is missing or not valid)")),
        };
        if url.query().is_some() || url.fragment().is_some() {
            return Err(
                "must not have a query or fragment: connection options are not taken from the URL"
                    .to_string(),
            );
        }
        let vhost = match url.path() {
            "" | "/" => "/".to_string(),
            path => {
                let encoded = &path[1..];
                if encoded.contains('/') {
                    return Err("must name the virtual host as one path segment: write a `/` in it as %2f (amqp://host/%2f is the default vhost `/`)".to_string());
                }
                percent_encoding::percent_decode_str(encoded)
                    .decode_utf8()
                    .map_err(|_| "has a virtual host that is not UTF-8 once decoded".to_string())?
                    .into_owned()
            }
        };
        if vhost.len() > 255 {
            return Err("has a virtual host longer than 255 bytes".to_string());
        }
        let port = url
            .port()
            .unwrap_or(if tls { AMQPS_PORT } else { AMQP_PORT });
        Ok(BrokerUrl {
            tls,
            host,
            port,
            vhost,
        })
    }

    /// `host:port` for messages (IPv6 in brackets).
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_scheme_host_port_and_vhost() {
        let u = BrokerUrl::parse("amqp://rabbit.example.com").unwrap();
        assert_eq!(
            (u.tls, u.host.as_str(), u.port, u.vhost.as_str()),
            (false, "rabbit.example.com", 5672, "/")
        );
        let u = BrokerUrl::parse("amqps://rabbit.example.com/prod").unwrap();
        assert_eq!((u.tls, u.port, u.vhost.as_str()), (true, 5671, "prod"));
        let u = BrokerUrl::parse("amqp://127.0.0.1:35672/%2f").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.vhost.as_str()),
            ("127.0.0.1", 35672, "/")
        );
        let u = BrokerUrl::parse("amqp://[::1]:5673/a%2Fb").unwrap();
        assert_eq!((u.host.as_str(), u.vhost.as_str()), ("::1", "a/b"));
        assert_eq!(u.authority(), "[::1]:5673");
    }

    #[test]
    fn refuses_credentials_other_schemes_and_options() {
        let e = BrokerUrl::parse("amqp://user:hunter2@rabbit.example.com/").unwrap_err();
        assert!(e.contains("auth_config") && !e.contains("hunter2"), "{e}");
        assert!(BrokerUrl::parse("amqp://user@rabbit.example.com/").is_err());
        assert!(BrokerUrl::parse("http://rabbit.example.com/").is_err());
        assert!(BrokerUrl::parse("rabbit.example.com:5672").is_err());
        assert!(BrokerUrl::parse("amqp://rabbit.example.com/?heartbeat=10").is_err());
        assert!(BrokerUrl::parse("amqp://rabbit.example.com/a/b").is_err());
        assert!(BrokerUrl::parse("amqp:///vhost").is_err());
    }
}
