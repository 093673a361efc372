//! Where webhooks may go. In strict mode (`WEBHOOK_STRICT_URLS`) only `https` URLs whose host resolves to
//! public addresses are accepted, when an endpoint is saved and again at every send: the HTTP client
//! resolves through [`PublicResolver`], so a name that later points inside the network (DNS rebinding)
//! is refused at connect time, and a literal private address is refused before any request.

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Longest URL accepted.
pub const MAX_URL_CHARS: usize = 2048;

/// Whether `ip` is reachable on the public internet (not loopback, private, link-local, shared,
/// documentation, multicast, unspecified or reserved).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_unspecified()
        || ip.is_multicast()
        || a == 0
        || a >= 240
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (18..20).contains(&b)))
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        || first == 0x2001 && ip.segments()[1] == 0xdb8
        || first == 0x0064)
}

/// Why a URL is refused, for the caller.
pub type Refusal = String;

/// Checks an endpoint URL: `http(s)`, a host, at most [`MAX_URL_CHARS`]; in strict mode `https` only and
/// every address the host resolves to public.
pub async fn check_url(raw: &str, strict: bool) -> Result<reqwest::Url, Refusal> {
    if raw.chars().count() > MAX_URL_CHARS {
        return Err(format!("url must be at most {MAX_URL_CHARS} characters"));
    }
    let url = reqwest::Url::parse(raw).map_err(|e| format!("url is not a valid URL: {e}"))?;
    match url.scheme() {
        "https" => {}
        "http" if !strict => {}
        "http" => return Err("url must use https (WEBHOOK_STRICT_URLS is on)".into()),
        _ => return Err("url must be an http or https URL".into()),
    }
    let host = url.host_str().filter(|h| !h.is_empty()).ok_or("url must name a host")?.to_owned();
    if strict {
        let port = url.port_or_known_default().unwrap_or(443);
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
            .await
            .map_err(|_| "url's host does not resolve".to_owned())?
            .collect();
        if addrs.is_empty() || addrs.iter().any(|a| !is_public(a.ip())) {
            return Err("url must resolve to public addresses only (WEBHOOK_STRICT_URLS is on)".into());
        }
    }
    Ok(url)
}

/// A literal address in `url` that strict mode refuses (names are checked by [`PublicResolver`]).
pub fn literal_private_host(url: &reqwest::Url) -> bool {
    let host = url.host_str().unwrap_or_default().trim_start_matches('[').trim_end_matches(']');
    host.parse::<IpAddr>().is_ok_and(|ip| !is_public(ip))
}

/// The system resolver, keeping public addresses only; a name with none fails to resolve.
#[derive(Debug, Default)]
pub struct PublicResolver;

impl Resolve for PublicResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.filter(|a| is_public(a.ip())).collect();
            if found.is_empty() {
                return Err(format!("{host} resolves to no public address (WEBHOOK_STRICT_URLS is on)").into());
            }
            let addrs: Addrs = Box::new(found.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inner_addresses_are_not_public() {
        for inner in ["127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0"]
        {
            assert!(!is_public(inner.parse().unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))), "{inner}");
        }
        for inner in ["::1", "fd00::1", "fe80::1", "::ffff:127.0.0.1", "::"] {
            assert!(!is_public(inner.parse().unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))), "{inner}");
        }
        assert!(is_public(IpAddr::V4(Ipv4Addr::new(93, 184, 216, 34))));
        assert!(is_public("2606:4700::1111".parse().unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))));
    }

    #[tokio::test]
    async fn strict_mode_refuses_http_and_loopback() {
        assert!(check_url("http://example.com/hook", true).await.is_err());
        assert!(check_url("https://127.0.0.1/hook", true).await.is_err());
        assert!(check_url("https://localhost/hook", true).await.is_err());
        assert!(check_url("ftp://example.com", false).await.is_err());
        assert!(check_url("http://127.0.0.1:9/hook", false).await.is_ok());
        assert!(literal_private_host(&reqwest::Url::parse("https://10.0.0.1/").unwrap_or_else(|_| unreachable!())));
    }
}
