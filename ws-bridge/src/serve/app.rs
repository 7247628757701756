//! What every request handler of `ws-bridge serve` shares.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::http::header::{HOST, ORIGIN};
use axum::http::HeaderMap;
use relay_core::GuardLimits;
use tokio::sync::watch;

use crate::resolve::Resolver;
use crate::serve::lab::LabPolicy;
use crate::serve::limits::Limits;
use crate::serve::metrics::Metrics;
use crate::serve::policy::{Cidr, Policy};

pub struct App {
    pub policy: Policy,
    pub limits: Arc<Limits>,
    pub metrics: Metrics,
    pub resolver: Resolver,
    /// Origins allowed to open sessions; empty means the page's own origin.
    pub origins: Vec<String>,
    /// Take the client's address from X-Forwarded-For (set by a reverse
    /// proxy), when the peer is one of `trusted_proxies`.
    pub behind_proxy: bool,
    /// Whether `/metrics` is served by the main listener (not moved to
    /// `--metrics-listen`).
    pub metrics_on_main: bool,
    /// The proxies whose X-Forwarded-For is believed (default loopback).
    pub trusted_proxies: Vec<Cidr>,
    pub connect_timeout: Duration,
    /// How long hosted audits wait for each reply.
    pub reply_timeout: Duration,
    /// The operator's own outside domain, asked when a server refuses the
    /// recipient's domain (`--probe-domain`).
    pub probe_domain: Option<String>,
    pub guard_limits: GuardLimits,
    /// Flips to true when the bridge is shutting down.
    pub shutdown: watch::Receiver<bool>,
    /// The built-in lab's servers, when `--lab` is on.
    pub lab_targets: Vec<(LabPolicy, std::net::SocketAddr)>,
    /// A single bridge's opt-out list, besides the store's (`--optout-file`).
    pub optout_file: Option<std::path::PathBuf>,
    /// How long a hosted audit's result is answered from the cache (zero: never).
    pub cache_ttl: Duration,
    /// Fresh runs of a server whose result is in the cache, per destination.
    pub fresh_rate: crate::store::Rate,
}

impl App {
    /// Whether the request's Origin may use the bridge: one of `--origin`,
    /// or, by default, the origin the page itself was served from.
    pub fn origin_allowed(&self, headers: &HeaderMap) -> bool {
        origin_allowed(&self.origins, headers)
    }

    /// The client's address: the peer, or, when the peer is a trusted
    /// proxy, the address it added to X-Forwarded-For.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let trusted: &[Cidr] = if self.behind_proxy { &self.trusted_proxies } else { &[] };
        client_ip(trusted, peer, headers)
    }

    /// Whether the request's Host names this bridge: an IP address (a page
    /// served from an address is served by whoever has it), `localhost`,
    /// or the host of a configured `--origin`. Any other name is a page
    /// whose name was rebound to this bridge's address (DNS rebinding),
    /// which must not drive a developer's local bridge, lab and
    /// `--allow-target`s included.
    pub fn host_allowed(&self, headers: &HeaderMap) -> bool {
        host_allowed(&self.origins, headers)
    }
}

fn host_allowed(origins: &[String], headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(HOST).and_then(|v| v.to_str().ok()) else { return false };
    let name = host_name(host);
    if name.is_empty() {
        return false;
    }
    if name.parse::<IpAddr>().is_ok() || name.eq_ignore_ascii_case("localhost") {
        return true;
    }
    origins
        .iter()
        .filter_map(|o| o.split_once("://").map(|(_, rest)| rest.trim_end_matches('/')))
        .any(|authority| host_name(authority).eq_ignore_ascii_case(name))
}

/// The host of `host[:port]` or `[v6][:port]`, without brackets.
fn host_name(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split_once(']').map_or("", |(inside, _)| inside);
    }
    match authority.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => authority,
    }
}

fn origin_allowed(origins: &[String], headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(ORIGIN).and_then(|v| v.to_str().ok()) else {
        // Browsers always send Origin on websockets; a request without it
        // is not from a page another site could have planted.
        return true;
    };
    let origin = origin.trim_end_matches('/');
    if !origins.is_empty() {
        return origins.iter().any(|o| o.trim_end_matches('/').eq_ignore_ascii_case(origin));
    }
    let Some(host) = headers.get(HOST).and_then(|v| v.to_str().ok()) else { return false };
    origin
        .split_once("://")
        .is_some_and(|(scheme, rest)| matches!(scheme, "http" | "https") && rest.eq_ignore_ascii_case(host))
}

fn client_ip(trusted: &[Cidr], peer: IpAddr, headers: &HeaderMap) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    // From the right: each trusted proxy vouches for the entry before it;
    // the first address that is not a trusted proxy is the client.
    // Everything further left came from the client and proves nothing.
    let entries: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for entry in entries.iter().rev() {
        let Ok(ip) = entry.parse::<IpAddr>() else { return client };
        client = ip;
        if !is_trusted(ip) {
            break;
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn origin_defaults_to_the_pages_own() {
        let own = headers(&[("host", "relay.example:8025"), ("origin", "http://relay.example:8025")]);
        assert!(origin_allowed(&[], &own));
        let other = headers(&[("host", "relay.example:8025"), ("origin", "https://evil.example")]);
        assert!(!origin_allowed(&[], &other));
        let sneaky = headers(&[("host", "relay.example"), ("origin", "http://relay.example.evil.example")]);
        assert!(!origin_allowed(&[], &sneaky));
        let listed = ["https://relaycheck.example".to_string()];
        assert!(origin_allowed(&listed, &headers(&[("origin", "https://relaycheck.example/")])));
        assert!(!origin_allowed(&listed, &own));
    }

    #[test]
    fn forwarded_for_is_read_only_from_trusted_proxies_and_only_their_entries() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let loopback = Cidr::loopback();
        let peer = ip("127.0.0.1");
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 198.51.100.9")]);
        assert_eq!(client_ip(&[], peer, &h), peer, "not behind a proxy");
        assert_eq!(client_ip(&loopback, peer, &h), ip("198.51.100.9"));
        let forged = headers(&[("x-forwarded-for", "198.51.100.9, not-an-ip")]);
        assert_eq!(
            client_ip(&loopback, peer, &forged),
            peer,
            "a garbled last entry never falls back to an earlier one"
        );
        // Finding 5: a peer that is not a trusted proxy cannot claim an address.
        assert_eq!(client_ip(&loopback, ip("203.0.113.5"), &h), ip("203.0.113.5"));
        assert_eq!(client_ip(&loopback, ip("::ffff:127.0.0.1"), &h), ip("198.51.100.9"));
        // A chain of trusted proxies: the first untrusted entry from the right.
        let chain = vec!["10.0.0.0/8".parse().unwrap(), loopback[0]];
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 198.51.100.9, 10.1.1.1")]);
        assert_eq!(client_ip(&chain, peer, &h), ip("198.51.100.9"));
    }

    #[test]
    fn only_hosts_that_name_this_bridge_are_answered() {
        let ok = |host: &str, origins: &[&str]| {
            let origins: Vec<String> = origins.iter().map(|o| o.to_string()).collect();
            host_allowed(&origins, &headers(&[("host", host)]))
        };
        for host in ["127.0.0.1:8025", "[::1]:8025", "localhost:8025", "192.0.2.7", "LOCALHOST"] {
            assert!(ok(host, &[]), "{host}");
        }
        // Finding 7: a rebound name is not this bridge.
        assert!(!ok("rebind.example:8025", &[]));
        assert!(!ok("localhost.evil.example", &[]));
        assert!(!ok("", &[]));
        assert!(ok("relaycheck.example", &["https://relaycheck.example"]));
        assert!(ok("relaycheck.example:443", &["https://Relaycheck.example/"]));
        assert!(!ok("other.example", &["https://relaycheck.example"]));
        assert!(!host_allowed(&[], &HeaderMap::new()), "no Host, no answer");
    }
}
