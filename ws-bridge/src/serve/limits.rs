//! The bridge's limits on who may use it how much: concurrent sessions (all
//! together and per client address), connect rates (per client and per
//! destination), and the numbers a session is held to while it runs.
//!
//! Refusals are returned as [`ErrorCode`]s so that the page hears a sentence.
//!
//! The per-destination limits live in the bridge's [`Store`]: its own
//! memory, or Redis shared by a fleet of bridges, so that they hold for the
//! fleet and not for each bridge.
//!
//! Addresses are grouped before they are counted ([`group`]): an IPv4
//! address stands for itself (an IPv4-mapped IPv6 address for its IPv4
//! address), an IPv6 address for its /64, the smallest block a single
//! subscriber or server is given. So a client with a /64 is one client, and a
//! mail server with a /64 is one destination.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use relay_core::ErrorCode;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::store::memory::MemoryStore;
use crate::store::{DestinationLimit, Lease, Rate, Refusal, Store};

/// Every limit, as a self-hoster sets them (see `ws-bridge serve --help`).
#[derive(Clone, Debug)]
pub struct LimitConfig {
    pub max_sessions: usize,
    pub max_sessions_per_ip: usize,
    /// New sessions per client address per minute.
    pub connects_per_ip_per_minute: u32,
    /// New connections to one destination address per minute, from everyone.
    pub connects_per_destination_per_minute: u32,
    /// Connections open at once to one destination address, from everyone.
    pub max_connections_per_destination: usize,
    pub idle_timeout: Duration,
    pub session_lifetime: Duration,
    /// Bytes the page may send toward the server in one session.
    pub max_bytes_up: u64,
    /// Bytes the server may send toward the page in one session.
    pub max_bytes_down: u64,
    /// Largest websocket frame (and message) the bridge accepts.
    pub max_frame: usize,
}

impl Default for LimitConfig {
    fn default() -> Self {
        LimitConfig {
            max_sessions: 256,
            // One page audit: 11 probing connections and one reading the
            // server's TLS.
            max_sessions_per_ip: 12,
            connects_per_ip_per_minute: 60,
            connects_per_destination_per_minute: 120,
            // An audit opens up to 12 at once; two audits of one server fit.
            max_connections_per_destination: 24,
            idle_timeout: Duration::from_secs(60),
            session_lifetime: Duration::from_secs(300),
            max_bytes_up: 64 * 1024,
            max_bytes_down: 1024 * 1024,
            max_frame: 16 * 1024,
        }
    }
}

/// Shared by every session of one bridge.
pub struct Limits {
    pub config: LimitConfig,
    sessions: Arc<Places>,
    /// Audit sockets (`/ws/audit`) open at once: each connection inside one
    /// is a session of its own, but an empty socket is held too, and must
    /// not be free to open by the thousand.
    sockets: Arc<Places>,
    ip_rate: Mutex<RateTable>,
    /// Where the per-destination limits are kept (shared by a fleet).
    pub store: Arc<dyn Store>,
}

/// The key an address is counted under: an IPv4 address itself (also when
/// written as `::ffff:a.b.c.d`), an IPv6 address its /64.
pub fn group(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !((1u128 << 64) - 1))),
        },
    }
}

/// The store's key for a destination's limits.
pub fn destination_key(destination: IpAddr) -> String {
    format!("dest:{}", group(destination))
}

/// Held for as long as one TCP connection to a destination is open.
pub struct DestinationPermit {
    lease: Option<Lease>,
    store: Arc<dyn Store>,
}

impl Drop for DestinationPermit {
    fn drop(&mut self) {
        if let Some(lease) = self.lease.take() {
            self.store.release(lease);
        }
    }
}

/// Places held at once, by everyone and by each client.
struct Places {
    global: Arc<Semaphore>,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
    per_ip_max: usize,
}

impl Places {
    fn new(global: usize, per_ip_max: usize) -> Arc<Places> {
        Arc::new(Places { global: Arc::new(Semaphore::new(global)), per_ip: Mutex::default(), per_ip_max })
    }

    /// A place for `client` (already grouped), or which limit is full.
    fn take(self: &Arc<Self>, client: IpAddr) -> Result<Permit, ErrorCode> {
        let global = self.global.clone().try_acquire_owned().map_err(|_| ErrorCode::TooManySessions)?;
        let mut per_ip = self.per_ip.lock().expect("per-ip table");
        let n = per_ip.entry(client).or_insert(0);
        if *n >= self.per_ip_max {
            return Err(ErrorCode::TooManySessionsFromYou);
        }
        *n += 1;
        Ok(Permit { _global: global, ip: client, places: Arc::clone(self) })
    }
}

/// Held for as long as a session (or an audit socket) runs; gives its
/// places back when dropped.
pub struct Permit {
    _global: OwnedSemaphorePermit,
    ip: IpAddr,
    places: Arc<Places>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut per_ip = self.places.per_ip.lock().expect("per-ip table");
        if let Some(n) = per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                per_ip.remove(&self.ip);
            }
        }
    }
}

impl Limits {
    /// Limits kept in this bridge's memory.
    pub fn new(config: LimitConfig) -> Arc<Limits> {
        Limits::with_store(config, Arc::new(MemoryStore::new()))
    }

    /// Limits whose per-destination part is kept in `store`.
    pub fn with_store(config: LimitConfig, store: Arc<dyn Store>) -> Arc<Limits> {
        Arc::new(Limits {
            sessions: Places::new(config.max_sessions, config.max_sessions_per_ip),
            // A page holds one socket per audit: a client gets as many as
            // it may run sessions, everyone as many as the bridge runs.
            sockets: Places::new(config.max_sessions, config.max_sessions_per_ip),
            ip_rate: Mutex::new(RateTable::new(config.connects_per_ip_per_minute)),
            store,
            config,
        })
    }

    /// What one destination is held to, from the whole fleet.
    pub fn destination_limit(&self) -> DestinationLimit {
        DestinationLimit {
            rate: Rate::per_minute(self.config.connects_per_destination_per_minute),
            max_open: self.config.max_connections_per_destination,
            // Longer than any connection lasts: a place whose bridge died lapses.
            lease: self.config.session_lifetime + std::time::Duration::from_secs(60),
        }
    }

    /// A place for one more session of `client`, or why not. The rate is
    /// counted first, so that a client hammering a full bridge stays limited.
    pub fn admit(&self, client: IpAddr) -> Result<Permit, ErrorCode> {
        let client = group(client);
        if !self.ip_rate.lock().expect("rate table").allow(client, Instant::now()) {
            return Err(ErrorCode::RateLimited);
        }
        self.sessions.take(client)
    }

    /// A place for one more audit socket of `client`, or why not. Its
    /// connections are admitted one by one, as sessions.
    pub fn admit_socket(&self, client: IpAddr) -> Result<Permit, ErrorCode> {
        self.sockets.take(group(client))
    }

    /// Charges one more connection of `client` to its rate, for hosted
    /// audits, whose connections do not each come with a session.
    pub fn charge_client(&self, client: IpAddr) -> Result<(), ErrorCode> {
        if self.ip_rate.lock().expect("rate table").allow(group(client), Instant::now()) {
            Ok(())
        } else {
            Err(ErrorCode::RateLimited)
        }
    }

    /// A place for one more TCP connection to `destination`, from anyone:
    /// charged to the destination's rate, and held against its concurrency
    /// cap until the permit is dropped. A busy destination is not charged.
    pub async fn admit_destination(&self, destination: IpAddr) -> Result<DestinationPermit, ErrorCode> {
        match self.store.admit(&destination_key(destination), self.destination_limit()).await {
            Ok(lease) => Ok(DestinationPermit { lease: Some(lease), store: Arc::clone(&self.store) }),
            Err(Refusal::Busy) => Err(ErrorCode::DestinationBusy),
            Err(Refusal::RateLimited) => Err(ErrorCode::DestinationRateLimited),
        }
    }

    pub fn active_sessions(&self) -> usize {
        self.config.max_sessions - self.sessions.global.available_permits()
    }

    /// Audit sockets open now (their connections count as sessions).
    pub fn active_sockets(&self) -> usize {
        self.config.max_sessions - self.sockets.global.available_permits()
    }
}

/// Token buckets keyed by address: `per_minute` tokens, refilled evenly.
struct RateTable {
    per_minute: u32,
    buckets: HashMap<IpAddr, (f64, Instant)>,
}

/// Beyond this many addresses, full buckets are forgotten: a full bucket is
/// what a new address gets anyway, so forgetting one changes nothing.
const RATE_TABLE_PRUNE_AT: usize = 10_000;

impl RateTable {
    fn new(per_minute: u32) -> Self {
        RateTable { per_minute, buckets: HashMap::new() }
    }

    fn allow(&mut self, key: IpAddr, now: Instant) -> bool {
        let capacity = f64::from(self.per_minute);
        let per_second = capacity / 60.0;
        if self.buckets.len() >= RATE_TABLE_PRUNE_AT {
            self.buckets
                .retain(|_, (tokens, at)| *tokens + now.duration_since(*at).as_secs_f64() * per_second < capacity);
        }
        let (tokens, at) = self.buckets.entry(key).or_insert((capacity, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * per_second).min(capacity);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn per_ip_and_global_session_limits() {
        let limits = Limits::new(LimitConfig { max_sessions: 3, max_sessions_per_ip: 2, ..LimitConfig::default() });
        let a1 = limits.admit(ip("192.0.2.1")).unwrap();
        let _a2 = limits.admit(ip("192.0.2.1")).unwrap();
        assert_eq!(limits.admit(ip("192.0.2.1")).err(), Some(ErrorCode::TooManySessionsFromYou));
        let _b1 = limits.admit(ip("192.0.2.2")).unwrap();
        assert_eq!(limits.admit(ip("192.0.2.3")).err(), Some(ErrorCode::TooManySessions));
        assert_eq!(limits.active_sessions(), 3);
        drop(a1);
        assert!(limits.admit(ip("192.0.2.1")).is_ok(), "a finished session gives its places back");
    }

    #[test]
    fn ipv6_clients_count_by_their_64_and_mapped_ipv4_as_ipv4() {
        let limits = Limits::new(LimitConfig { max_sessions_per_ip: 1, ..LimitConfig::default() });
        let _a = limits.admit(ip("2001:db8:1:2::1")).unwrap();
        assert_eq!(
            limits.admit(ip("2001:db8:1:2:ffff:ffff:ffff:ffff")).err(),
            Some(ErrorCode::TooManySessionsFromYou),
            "another address of the same /64 is the same client"
        );
        assert!(limits.admit(ip("2001:db8:1:3::1")).is_ok(), "the next /64 is another client");
        let _b = limits.admit(ip("192.0.2.7")).unwrap();
        assert_eq!(limits.admit(ip("::ffff:192.0.2.7")).err(), Some(ErrorCode::TooManySessionsFromYou));

        let limits = Limits::new(LimitConfig { connects_per_ip_per_minute: 2, ..LimitConfig::default() });
        drop(limits.admit(ip("2001:db8::1")).unwrap());
        drop(limits.admit(ip("2001:db8::2")).unwrap());
        assert_eq!(limits.admit(ip("2001:db8::3")).err(), Some(ErrorCode::RateLimited), "one rate per /64");
        assert_eq!(group(ip("::ffff:10.1.2.3")), ip("10.1.2.3"));
        assert_eq!(group(ip("2001:db8:a:b:c:d:e:f")), ip("2001:db8:a:b::"));
    }

    #[tokio::test]
    async fn connections_per_destination_are_capped_and_given_back() {
        let store = Arc::new(MemoryStore::new());
        let config = LimitConfig { max_connections_per_destination: 2, ..LimitConfig::default() };
        let limits = Limits::with_store(config, store.clone());
        let a = limits.admit_destination(ip("2001:db8::25")).await.unwrap();
        let _b = limits.admit_destination(ip("2001:db8::26")).await.unwrap();
        assert_eq!(
            limits.admit_destination(ip("2001:db8::27")).await.err(),
            Some(ErrorCode::DestinationBusy),
            "one mail server's /64 is one destination"
        );
        assert!(limits.admit_destination(ip("2001:db8:0:1::25")).await.is_ok());
        assert_eq!(store.open(&destination_key(ip("2001:db8::1"))), 2);
        drop(a);
        assert!(limits.admit_destination(ip("2001:db8::27")).await.is_ok(), "a closed connection gives its place back");

        let store = Arc::new(MemoryStore::new());
        let config = LimitConfig { connects_per_destination_per_minute: 1, ..LimitConfig::default() };
        let limits = Limits::with_store(config, store.clone());
        drop(limits.admit_destination(ip("192.0.2.25")).await.unwrap());
        assert_eq!(
            limits.admit_destination(ip("::ffff:192.0.2.25")).await.err(),
            Some(ErrorCode::DestinationRateLimited)
        );
        assert_eq!(store.open(&destination_key(ip("192.0.2.25"))), 0);
    }

    #[test]
    fn rates_refill_over_time() {
        let mut table = RateTable::new(60);
        let t0 = Instant::now();
        for _ in 0..60 {
            assert!(table.allow(ip("192.0.2.9"), t0));
        }
        assert!(!table.allow(ip("192.0.2.9"), t0), "the 61st connect within the minute is refused");
        assert!(table.allow(ip("192.0.2.10"), t0), "other addresses have their own bucket");
        assert!(table.allow(ip("192.0.2.9"), t0 + Duration::from_millis(1100)), "one token back after a second");
    }

    #[test]
    fn rate_table_stays_bounded() {
        let mut table = RateTable::new(60);
        let t0 = Instant::now();
        for i in 0..(RATE_TABLE_PRUNE_AT as u32 + 10) {
            table.allow(IpAddr::from(i.to_be_bytes()), t0);
        }
        // One minute later every bucket is full again and can be forgotten.
        table.allow(ip("192.0.2.1"), t0 + Duration::from_secs(61));
        assert!(table.buckets.len() < 100, "{} buckets kept", table.buckets.len());
    }
}
