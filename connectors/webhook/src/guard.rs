//! SSRF guard: classifies addresses, and resolves host names for the HTTP client so that the
//! connection goes only to the checked addresses (no second lookup an attacker could rebind).

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
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

pub use courier_core::net::{ResolveError, check_ip, resolve_checked};

/// The HTTP client's resolver: every lookup goes through `resolve_checked`, and the client
/// connects only to the addresses returned here.
#[derive(Debug, Clone, Copy)]
pub struct GuardedResolver {
    /// Whether non-public addresses (loopback, private, link-local, ...) may be returned.
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

/// What to do about a refused private address.
pub const PRIVATE_NETWORK_HINT: &str = "use a public endpoint; for a trusted internal receiver, set allow_private_network: true on the destination, or allow private networks in the host (courier serve --allow-private-destinations)";

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

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
        let message = err.to_string();
        assert!(
            !message.contains("127.0.0.1") && !message.contains("::1"),
            "{message}"
        );
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
