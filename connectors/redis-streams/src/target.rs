//! The Redis server a config's `url` names: plain or TLS, host, port and database number, read
//! once by validation, `endpoints` and `connect` alike.

use std::fmt;

use url::{Host, Url};

/// Redis' port when the URL names none.
pub const DEFAULT_PORT: u16 = 6379;

/// Where the connector connects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `rediss://`: TLS, with the server's certificate verified.
    pub tls: bool,
    /// The host as written (a name, or an address without brackets).
    pub host: String,
    /// The port (6379 unless the URL says otherwise).
    pub port: u16,
    /// The database number (`SELECT`), 0 unless the URL's path names one.
    pub db: i64,
}

impl Target {
    /// Reads `raw`, or says what is wrong with it (never quoting it: a user may have pasted a
    /// password into it).
    pub fn parse(raw: &str) -> Result<Target, &'static str> {
        let url = Url::parse(raw.trim())
            .map_err(|_| "must be a URL such as redis://redis.example.com:6379/0")?;
        let tls = match url.scheme() {
            "redis" => false,
            "rediss" => true,
            _ => return Err("must start with redis:// or rediss:// (TLS)"),
        };
        if !url.username().is_empty() || url.password().is_some() {
            return Err(
                "must not hold credentials: set username and password in auth_config instead",
            );
        }
        let host = match url.host() {
            Some(Host::Domain(d)) if !d.is_empty() => d.to_string(),
            Some(Host::Ipv4(a)) => a.to_string(),
            Some(Host::Ipv6(a)) => a.to_string(),
            _ => return Err("must name a host, as in redis://redis.example.com:6379"),
        };
        if url.query().is_some() || url.fragment().is_some() {
            return Err("must not have a query or a fragment (`?`, `#`)");
        }
        let db = match url.path() {
            "" | "/" => 0,
            path => path[1..]
                .parse::<u32>()
                .ok()
                .filter(|n| *n <= i32::MAX as u32)
                .map(i64::from)
                .ok_or("may have a database number as its only path, as in redis://host:6379/2")?,
        };
        Ok(Target {
            tls,
            host,
            port: url.port().unwrap_or(DEFAULT_PORT),
            db,
        })
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { "rediss" } else { "redis" };
        if self.host.contains(':') {
            write!(f, "{scheme}://[{}]:{}/{}", self.host, self.port, self.db)
        } else {
            write!(f, "{scheme}://{}:{}/{}", self.host, self.port, self.db)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_host_port_database_and_tls() {
        let t = Target::parse("rediss://cache.example.com:6380/3").unwrap();
        assert_eq!(
            t,
            Target {
                tls: true,
                host: "cache.example.com".into(),
                port: 6380,
                db: 3
            }
        );
        let t = Target::parse("redis://[::1]").unwrap();
        assert_eq!((t.host.as_str(), t.port, t.db), ("::1", 6379, 0));
        assert_eq!(t.to_string(), "redis://[::1]:6379/0");
    }

    #[test]
    fn refuses_credentials_other_schemes_and_paths() {
        for bad in [
            "redis://user:pw@host:6379",
            "redis://:pw@host",
            "http://host:6379",
            "host:6379",
            "redis://host/abc",
            "redis://host/1/2",
            "redis://host/?protocol=resp3",
            "redis://host/#insecure",
            "redis:///0",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
        let message = Target::parse("redis://u:secret-pw@h").unwrap_err();
        assert!(message.contains("auth_config") && !message.contains("secret-pw"));
    }
}
