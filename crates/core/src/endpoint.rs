//! Where a destination sends requests: each connector declares the hosts its config and auth
//! will contact (derived ones too, such as an S3 virtual host), each at the JSON path of the
//! field it comes from, so hosts check them against the operator's network rules and bind
//! stored credentials to them.

use std::fmt;
use std::net::IpAddr;

/// A host as a config names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Host {
    /// An IP address, however the config spelled it.
    Ip(IpAddr),
    /// A name, lower case, without a trailing dot.
    Name(String),
}

impl Host {
    /// The host of an absolute URL, in any spelling the URL standard accepts (`2130706433`,
    /// `127.1` and `0x7f000001` are all 127.0.0.1).
    pub fn of_url(url: &str) -> Option<Host> {
        Self::of_parsed(&url::Url::parse(url.trim()).ok()?)
    }

    fn of_parsed(url: &url::Url) -> Option<Host> {
        match url.host()? {
            url::Host::Ipv4(a) => Some(Host::Ip(IpAddr::V4(a))),
            url::Host::Ipv6(a) => Some(Host::Ip(IpAddr::V6(a))),
            url::Host::Domain(d) => Some(Host::name(d)),
        }
    }

    /// A bare host (`sftp.example.com`, `10.0.0.1`, `[::1]`), read as a URL's host would be.
    pub fn of_bare(host: &str) -> Option<Host> {
        let host = host.trim();
        if host.is_empty() {
            return None;
        }
        let unbracketed = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = unbracketed.parse() {
            return Some(Host::Ip(ip));
        }
        Host::of_url(&format!("http://{host}/")).or_else(|| Some(Host::name(host)))
    }

    fn name(d: &str) -> Host {
        Host::Name(d.trim_end_matches('.').to_ascii_lowercase())
    }

    /// `localhost` and names under `.localhost`, which resolve to loopback by definition.
    pub fn is_localhost(&self) -> bool {
        matches!(self, Host::Name(d) if d == "localhost" || d.ends_with(".localhost"))
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Ip(IpAddr::V6(a)) => write!(f, "[{a}]"),
            Host::Ip(a) => write!(f, "{a}"),
            Host::Name(d) => f.write_str(d),
        }
    }
}

/// One place a destination sends requests to, and the field that says so.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Endpoint {
    /// The JSON pointer of the field it comes from (`/config/url`, `/auth_config/token_url`).
    pub path: String,
    /// The host contacted.
    pub host: Host,
    /// The port contacted; `None` when the field names no port and no scheme default applies.
    pub port: Option<u16>,
}

impl Endpoint {
    /// The endpoint an absolute URL names (its scheme's default port when it names none);
    /// `None` when the value is not such a URL (validation reports that).
    pub fn url(path: impl Into<String>, url: &str) -> Option<Endpoint> {
        let parsed = url::Url::parse(url.trim()).ok()?;
        Some(Endpoint {
            path: path.into(),
            host: Host::of_parsed(&parsed)?,
            port: parsed.port_or_known_default(),
        })
    }

    /// The endpoint a bare host and port name.
    pub fn host(path: impl Into<String>, host: &str, port: Option<u16>) -> Option<Endpoint> {
        Some(Endpoint {
            path: path.into(),
            host: Host::of_bare(host)?,
            port,
        })
    }

    /// A derived endpoint: `label` prefixed to the host of `url` (an S3 virtual-hosted bucket
    /// `{bucket}.{endpoint host}`); `None` for an address, which has no subdomains.
    pub fn subdomain(path: impl Into<String>, label: &str, url: &str) -> Option<Endpoint> {
        let base = Endpoint::url(path, url)?;
        match &base.host {
            Host::Name(d) => Some(Endpoint {
                host: Host::name(&format!("{label}.{d}")),
                ..base
            }),
            Host::Ip(_) => None,
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(port) => write!(f, "{}:{port}", self.host),
            None => write!(f, "{}", self.host),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_read_in_every_spelling() {
        let ip = |s: &str| Host::Ip(s.parse().unwrap());
        assert_eq!(
            Host::of_url("http://2130706433:9000"),
            Some(ip("127.0.0.1"))
        );
        assert_eq!(Host::of_url("http://0x7f000001/"), Some(ip("127.0.0.1")));
        assert_eq!(Host::of_bare("127.1"), Some(ip("127.0.0.1")));
        assert_eq!(Host::of_bare("[::1]"), Some(ip("::1")));
        assert_eq!(
            Host::of_url("https://Blob.Example.TEST./x"),
            Some(Host::Name("blob.example.test".into()))
        );
        assert_eq!(Host::of_bare(""), None);
        assert!(Host::of_bare("api.localhost").unwrap().is_localhost());
    }

    #[test]
    fn urls_carry_their_default_port_and_subdomains_their_label() {
        let e = Endpoint::url("/config/url", "https://hooks.example.com/x").unwrap();
        assert_eq!(e.to_string(), "hooks.example.com:443");
        let v = Endpoint::subdomain(
            "/config/endpoint_url",
            "bucket",
            "http://s3.example.com:9000",
        )
        .unwrap();
        assert_eq!(v.to_string(), "bucket.s3.example.com:9000");
        assert!(Endpoint::subdomain("/x", "b", "http://10.0.0.1/").is_none());
        assert!(Endpoint::url("/x", "not a url").is_none());
    }

    proptest::proptest! {
        #[test]
        fn any_text_reads_without_panicking(s in "\\PC{0,60}") {
            let _ = Host::of_bare(&s);
            let _ = Endpoint::url("/x", &format!("http://{s}/"));
            let _ = Endpoint::subdomain("/x", &s, "http://example.com/");
        }
    }
}
