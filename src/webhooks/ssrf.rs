//! The SSRF guard: a partner-supplied URL must not make Premia call into its own network.
//! Live endpoints must be https and may not resolve to loopback, private, link-local,
//! shared (CGNAT), multicast or cloud-metadata addresses; the sandbox may use http and local
//! addresses (both configurable).
//!
//! Checked twice: when the endpoint is registered (a clear 400), and on every delivery by
//! the HTTP client's own resolver ([`GuardedResolver`]), which drops forbidden addresses, so
//! a name that later re-resolves to 127.0.0.1 (DNS rebinding) is refused too. Redirects are
//! never followed.

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::Url;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UrlPolicy {
    pub allow_http: bool,
    pub allow_private_addresses: bool,
}

const MAX_URL_LEN: usize = 2048;

/// Check a URL's shape against `policy`: scheme, host, and a literal IP's range. Returns the
/// parsed URL; names are resolved by [`check_resolved`].
/// The form of a webhook URL: http or https, a host name (its last label starting with a
/// letter) or an IPv4 address, then an optional port, path and query; no credentials,
/// fragment or IPv6 literal. The OpenAPI document states the very same pattern, so a URL the
/// schema admits is never refused for its form (a test keeps the two equal).
pub const URL_PATTERN: &str = r"^https?://(?:(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(?:\.(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])){3}|(?:[A-Za-z0-9-]+\.)*[A-Za-z][A-Za-z0-9-]*)(?::(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}))?(?:/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*)?(?:\?[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*)?$";

pub fn check_url(text: &str, policy: UrlPolicy) -> Result<Url, String> {
    if text.len() > MAX_URL_LEN {
        return Err(format!("url must be at most {MAX_URL_LEN} characters"));
    }
    static FORM: std::sync::LazyLock<regex_lite::Regex> =
        std::sync::LazyLock::new(|| regex_lite::Regex::new(URL_PATTERN).expect("a valid pattern"));
    if !FORM.is_match(text) {
        return Err(
            "url must be http(s)://host[:port][/path][?query] with a host name or IPv4 address"
                .into(),
        );
    }
    let url = Url::parse(text).map_err(|e| format!("url is not a valid URL: {e}"))?;
    match url.scheme() {
        "https" => {}
        "http" if policy.allow_http => {}
        "http" => return Err("url must use https in the live environment".into()),
        other => return Err(format!("url must be http or https, not {other}")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("url must not carry credentials".into());
    }
    let Some(host) = url.host_str().filter(|h| !h.is_empty()) else {
        return Err("url must name a host".into());
    };
    if !policy.allow_private_addresses {
        if let Some(ip) = literal_ip(host).filter(|ip| forbidden(*ip)) {
            return Err(format!(
                "url may not point to {ip}: loopback, private, link-local and metadata addresses are refused"
            ));
        }
    }
    Ok(url)
}

/// Resolve the URL's host now and refuse it if any address is forbidden.
pub async fn check_resolved(url: &Url, policy: UrlPolicy) -> Result<(), String> {
    if policy.allow_private_addresses {
        return Ok(());
    }
    let Some(name) = url.host_str().filter(|h| literal_ip(h).is_none()) else {
        return Ok(());
    };
    let port = url.port_or_known_default().unwrap_or(443);
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name, port))
        .await
        .map_err(|e| format!("url's host {name} does not resolve: {e}"))?
        .collect();
    match addrs.iter().find(|a| forbidden(a.ip())) {
        Some(a) => Err(format!(
            "url's host {name} resolves to {}: loopback, private, link-local and metadata addresses are refused",
            a.ip()
        )),
        None => Ok(()),
    }
}

/// The address of a host written as an IP literal (`[…]` around IPv6).
fn literal_ip(host: &str) -> Option<IpAddr> {
    host.trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

/// Addresses a webhook may never reach when private addresses are not allowed.
pub fn forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => forbidden_v4(v4),
            None => forbidden_v6(v6),
        },
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local() // 169.254/16: includes the cloud metadata address 169.254.169.254
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT; Alibaba's metadata)
        || (a == 192 && b == 0 && ip.octets()[2] == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240 // reserved
}

fn forbidden_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local (fd00:ec2::254 is AWS's metadata)
        || (first & 0xffc0) == 0xfe80 // link-local
        || ip.to_ipv4().is_some_and(forbidden_v4) // IPv4-compatible ::a.b.c.d
}

/// The delivery client's resolver: forbidden addresses are dropped before connecting.
pub struct GuardedResolver;

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let host = name.as_str().to_string();
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| !forbidden(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(format!("{host} resolves to no permitted address").into());
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIVE: UrlPolicy = UrlPolicy {
        allow_http: false,
        allow_private_addresses: false,
    };
    const SANDBOX: UrlPolicy = UrlPolicy {
        allow_http: true,
        allow_private_addresses: true,
    };

    #[test]
    fn live_urls_must_be_public_https() {
        for bad in [
            "http://example.com/hook",
            "ftp://example.com/hook",
            "https://127.0.0.1/hook",
            "https://10.1.2.3/hook",
            "https://172.16.0.1/hook",
            "https://192.168.1.1/hook",
            "https://169.254.169.254/latest/meta-data",
            "https://100.100.100.200/",
            "https://0.0.0.0/",
            "https://[::1]/hook",
            "https://[fe80::1]/hook",
            "https://[fd00:ec2::254]/",
            "https://[::ffff:127.0.0.1]/",
            "https://user:pw@example.com/",
            "not a url",
        ] {
            assert!(check_url(bad, LIVE).is_err(), "{bad}");
        }
        assert!(check_url("https://hooks.example.com/premia", LIVE).is_ok());
        assert!(check_url("https://93.184.216.34/premia", LIVE).is_ok());
    }

    #[test]
    fn the_sandbox_may_use_http_and_localhost() {
        assert!(check_url("http://127.0.0.1:9999/hook", SANDBOX).is_ok());
        assert!(check_url("http://localhost/hook", SANDBOX).is_ok());
        assert!(check_url("ftp://localhost/hook", SANDBOX).is_err());
    }

    #[tokio::test]
    async fn names_resolving_to_loopback_are_refused_for_live() {
        let url = check_url("https://localhost/hook", LIVE).unwrap();
        assert!(check_resolved(&url, LIVE).await.is_err());
        assert!(check_resolved(&url, SANDBOX).await.is_ok());
    }
}
