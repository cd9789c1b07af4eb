//! Which IP addresses are public, and names resolved once with every address checked: what
//! every outbound connection shares so a tenant's config cannot reach the operator's network
//! (the connectors' transports, the server's rules for endpoints).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

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
    Lookup {
        /// The name looked up.
        host: String,
        /// The resolver's error, or `no addresses`.
        detail: String,
    },
    /// It resolved, but (also) to a non-public address.
    Refused {
        /// The name or address as given.
        host: String,
        /// The first non-public address found.
        ip: IpAddr,
        /// What kind of address `ip` is (`a loopback address`).
        reason: &'static str,
    },
}

impl std::fmt::Display for ResolveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ResolveError::Lookup { host, detail } => {
                write!(f, "could not resolve {host}: {detail}")
            }
            // The address is not named: it would map the operator's network for a tenant.
            ResolveError::Refused { host, ip, reason } if host == &ip.to_string() => {
                write!(f, "{host} is {reason}; refused by the SSRF guard")
            }
            ResolveError::Refused { host, reason, .. } => {
                write!(f, "{host} resolves to {reason}; refused by the SSRF guard")
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

/// Refuses a URL whose host is a literal non-public address, unless `allow_private` (a name is
/// checked when it is resolved: see [`resolve_checked`]). Transports call this before each
/// request, because their resolvers never see an address spelled in the URL.
pub fn check_url_host(url: &url::Url, allow_private: bool) -> Result<(), ResolveError> {
    if allow_private {
        return Ok(());
    }
    let ip = match url.host() {
        Some(url::Host::Ipv4(a)) => IpAddr::V4(a),
        Some(url::Host::Ipv6(a)) => IpAddr::V6(a),
        _ => return Ok(()),
    };
    check_ip(ip).map_err(|reason| ResolveError::Refused {
        host: ip.to_string(),
        ip,
        reason,
    })
}
