//! SSRF guard: classifies addresses, and resolves host names for the HTTP client so that the
//! connection goes only to the checked addresses (no second lookup an attacker could rebind).

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};

use hyper_util::client::legacy::connect::dns::Name;
use url::{Host, Url};

/// The IP address a URL names literally, in any spelling the URL standard accepts
/// (`2130706433`, `0x7f000001` and `127.1` all parse to 127.0.0.1).
pub fn literal_ip(url: &Url) -> Option<IpAddr> {
    match url.host()? {
        Host::Ipv4(a) => Some(IpAddr::V4(a)),
        Host::Ipv6(a) => Some(IpAddr::V6(a)),
        Host::Domain(_) => None,
    }
}

/// `Ok` for a public unicast address; otherwise what kind of address it is.
pub fn check_ip(ip: IpAddr) -> Result<(), &'static str> {
    match ip {
        IpAddr::V4(a) => check_v4(a),
        IpAddr::V6(a) => check_v6(a),
    }
}

fn in_v4(a: Ipv4Addr, net: [u8; 4], prefix: u32) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    };
    (u32::from(a) & mask) == (u32::from(Ipv4Addr::from(net)) & mask)
}

fn check_v4(a: Ipv4Addr) -> Result<(), &'static str> {
    const RULES: &[([u8; 4], u32, &str)] = &[
        ([0, 0, 0, 0], 8, "an unspecified ('this network') address"),
        ([10, 0, 0, 0], 8, "a private address"),
        ([100, 64, 0, 0], 10, "a carrier-grade NAT (shared) address"),
        ([127, 0, 0, 0], 8, "a loopback address"),
        (
            [169, 254, 0, 0],
            16,
            "a link-local address (cloud metadata lives here)",
        ),
        ([172, 16, 0, 0], 12, "a private address"),
        ([192, 0, 0, 0], 24, "an IETF protocol-assignment address"),
        ([192, 0, 2, 0], 24, "a documentation address"),
        ([192, 88, 99, 0], 24, "a 6to4 relay address"),
        ([192, 168, 0, 0], 16, "a private address"),
        ([198, 18, 0, 0], 15, "a benchmarking address"),
        ([198, 51, 100, 0], 24, "a documentation address"),
        ([203, 0, 113, 0], 24, "a documentation address"),
        ([224, 0, 0, 0], 4, "a multicast address"),
        ([240, 0, 0, 0], 4, "a reserved or broadcast address"),
    ];
    match RULES
        .iter()
        .find(|(net, prefix, _)| in_v4(a, *net, *prefix))
    {
        Some((_, _, reason)) => Err(reason),
        None => Ok(()),
    }
}

fn check_v6(a: Ipv6Addr) -> Result<(), &'static str> {
    let s = a.segments();
    let embedded_v4 = |hi: u16, lo: u16| Ipv4Addr::from(((hi as u32) << 16) | lo as u32);
    if a.is_unspecified() {
        return Err("an unspecified address");
    }
    if a.is_loopback() {
        return Err("a loopback address");
    }
    if a.to_ipv4_mapped().is_some() {
        return Err("an IPv4-mapped IPv6 address");
    }
    if s[0..6] == [0, 0, 0, 0, 0, 0] {
        return Err("an IPv4-compatible IPv6 address");
    }
    if s[0..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        // NAT64 translates to the embedded IPv4 address: judge that one.
        return check_v4(embedded_v4(s[6], s[7]))
            .map_err(|_| "a NAT64 address of a non-public IPv4 address");
    }
    if s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1 {
        return Err("a local-use NAT64 address");
    }
    if s[0] == 0x2002 {
        return check_v4(embedded_v4(s[1], s[2]))
            .map_err(|_| "a 6to4 address of a non-public IPv4 address");
    }
    if s[0] == 0x2001 && s[1] == 0 {
        return Err("a Teredo tunnel address");
    }
    if s[0] == 0x2001 && s[1] == 0xdb8 {
        return Err("a documentation address");
    }
    if s[0] == 0x100 && s[1..4] == [0, 0, 0] {
        return Err("a discard-only address");
    }
    match s[0] {
        x if x & 0xfe00 == 0xfc00 => Err("a unique-local (private) address"),
        x if x & 0xffc0 == 0xfe80 => Err("a link-local address"),
        x if x & 0xffc0 == 0xfec0 => Err("a site-local address"),
        x if x & 0xff00 == 0xff00 => Err("a multicast address"),
        _ => Ok(()),
    }
}

/// Why a host could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolveError {
    /// The name did not resolve.
    Lookup { host: String, detail: String },
    /// It resolved, but (also) to a non-public address.
    Refused {
        host: String,
        ip: IpAddr,
        reason: &'static str,
    },
}

impl std::fmt::Display for ResolveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ResolveError::Lookup { host, detail } => {
                write!(f, "could not resolve {host}: {detail}")
            }
            ResolveError::Refused { host, ip, reason } => {
                write!(
                    f,
                    "{host} resolves to {ip}, {reason}; refused by the SSRF guard"
                )
            }
        }
    }
}

impl std::error::Error for ResolveError {}

/// Resolves `host` and checks every address. One non-public answer refuses the whole name:
/// a mixed answer is how DNS-rebinding attacks look.
pub async fn resolve_checked(
    host: &str,
    port: u16,
    allow_private: bool,
) -> Result<Vec<SocketAddr>, ResolveError> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| ResolveError::Lookup {
            host: host.to_string(),
            detail: e.to_string(),
        })?
        .collect();
    if addrs.is_empty() {
        return Err(ResolveError::Lookup {
            host: host.to_string(),
            detail: "no addresses".to_string(),
        });
    }
    if !allow_private {
        for a in &addrs {
            if let Err(reason) = check_ip(a.ip()) {
                return Err(ResolveError::Refused {
                    host: host.to_string(),
                    ip: a.ip(),
                    reason,
                });
            }
        }
    }
    Ok(addrs)
}

/// The HTTP client's resolver: every lookup goes through `resolve_checked`, and the client
/// connects only to the addresses returned here.
#[derive(Debug, Clone, Copy)]
pub struct GuardedResolver {
    pub allow_private: bool,
}

impl tower_service::Service<Name> for GuardedResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = ResolveError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, ResolveError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), ResolveError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let allow = self.allow_private;
        Box::pin(async move {
            let addrs = resolve_checked(name.as_str(), 0, allow).await?;
            Ok(addrs.into_iter())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url_ip(s: &str) -> IpAddr {
        literal_ip(&Url::parse(s).unwrap()).unwrap()
    }

    #[test]
    fn odd_spellings_parse_to_loopback() {
        for s in [
            "http://2130706433/",
            "http://0x7f000001/",
            "http://127.1/",
            "http://0177.0.0.1/",
        ] {
            let ip = url_ip(s);
            assert_eq!(ip, IpAddr::V4(Ipv4Addr::LOCALHOST), "{s}");
            assert!(check_ip(ip).is_err());
        }
    }

    #[test]
    fn refuses_non_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "224.0.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "::1",
            "::",
            "::ffff:127.0.0.1",
            "::ffff:8.8.8.8",
            "fc00::1",
            "fd12::1",
            "fe80::1",
            "ff02::1",
            "64:ff9b::a00:1",
            "2002:7f00:1::",
            "2001:db8::1",
            "2001::1",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert!(check_ip(ip).is_err(), "{ip} should be refused");
        }
    }

    #[test]
    fn allows_public() {
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "93.184.216.34",
            "2606:4700:4700::1111",
            "64:ff9b::808:808",
            "2002:808:808::",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert!(check_ip(ip).is_ok(), "{ip} should be allowed");
        }
    }

    #[tokio::test]
    async fn localhost_name_is_refused_unless_allowed() {
        let err = resolve_checked("localhost", 80, false).await.unwrap_err();
        assert!(matches!(err, ResolveError::Refused { .. }), "{err}");
        assert!(resolve_checked("localhost", 80, true).await.is_ok());
    }

    proptest::proptest! {
        #[test]
        fn any_v4_mapped_is_refused(a: u32) {
            let v6 = Ipv4Addr::from(a).to_ipv6_mapped();
            proptest::prop_assert!(check_ip(IpAddr::V6(v6)).is_err());
        }

        #[test]
        fn url_parsing_never_panics(s in "\\PC{0,60}") {
            if let Ok(u) = Url::parse(&format!("http://{s}/"))
                && let Some(ip) = literal_ip(&u)
            {
                let _ = check_ip(ip);
            }
        }
    }
}
