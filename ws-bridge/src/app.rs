//! What every request handler of `ws-bridge serve` shares.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::http::header::{HOST, ORIGIN};
use axum::http::HeaderMap;
use relay_core::GuardLimits;
use tokio::sync::watch;

use crate::lab::LabPolicy;
use crate::limits::Limits;
use crate::metrics::Metrics;
use crate::policy::Policy;
use crate::resolve::Resolver;

pub struct App {
    pub policy: Policy,
    pub limits: Arc<Limits>,
    pub metrics: Metrics,
    pub resolver: Resolver,
    /// Origins allowed to open sessions; empty means the page's own origin.
    pub origins: Vec<String>,
    /// Take the client's address from X-Forwarded-For (set by a reverse proxy).
    pub behind_proxy: bool,
    pub connect_timeout: Duration,
    /// How long hosted audits wait for each reply.
    pub reply_timeout: Duration,
    pub guard_limits: GuardLimits,
    /// Flips to true when the bridge is shutting down.
    pub shutdown: watch::Receiver<bool>,
    /// The built-in lab's servers, when `--lab` is on.
    pub lab_targets: Vec<(LabPolicy, std::net::SocketAddr)>,
}

impl App {
    /// Whether the request's Origin may use the bridge: one of `--origin`,
    /// or, by default, the origin the page itself was served from.
    pub fn origin_allowed(&self, headers: &HeaderMap) -> bool {
        origin_allowed(&self.origins, headers)
    }

    /// The client's address: the peer, or behind a proxy the last address
    /// it added to X-Forwarded-For (the only one the proxy vouches for).
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        client_ip(self.behind_proxy, peer, headers)
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

fn client_ip(behind_proxy: bool, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
    if !behind_proxy {
        return peer;
    }
    // Only the last entry: everything before it came from the client.
    headers
        .get_all("x-forwarded-for")
        .iter()
        .next_back()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .and_then(|s| s.trim().parse::<IpAddr>().ok())
        .unwrap_or(peer)
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
    fn forwarded_for_is_read_only_behind_a_proxy_and_only_its_last_entry() {
        let peer: IpAddr = "127.0.0.1".parse().unwrap();
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 198.51.100.9")]);
        assert_eq!(client_ip(false, peer, &h), peer);
        assert_eq!(client_ip(true, peer, &h), "198.51.100.9".parse::<IpAddr>().unwrap());
        let forged = headers(&[("x-forwarded-for", "198.51.100.9, not-an-ip")]);
        assert_eq!(client_ip(true, peer, &forged), peer, "a garbled last entry never falls back to an earlier one");
    }
}
