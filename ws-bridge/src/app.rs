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
        let Some(origin) = headers.get(ORIGIN).and_then(|v| v.to_str().ok()) else {
            // Browsers always send Origin on websockets; a request without it
            // is not from a page another site could have planted.
            return true;
        };
        let origin = origin.trim_end_matches('/');
        if !self.origins.is_empty() {
            return self.origins.iter().any(|o| o.trim_end_matches('/').eq_ignore_ascii_case(origin));
        }
        let Some(host) = headers.get(HOST).and_then(|v| v.to_str().ok()) else { return false };
        origin.split_once("://").is_some_and(|(scheme, rest)| {
            matches!(scheme, "http" | "https") && rest.eq_ignore_ascii_case(host)
        })
    }

    /// The client's address: the peer, or behind a proxy the last address
    /// it added to X-Forwarded-For (the only one the proxy vouches for).
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.behind_proxy {
            return peer;
        }
        headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|s| s.trim().parse::<IpAddr>().ok())
            .last()
            .unwrap_or(peer)
    }
}
