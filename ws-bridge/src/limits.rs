//! The bridge's limits on who may use it how much: concurrent sessions (all
//! together and per client address), connect rates (per client and per
//! destination), and the numbers a session is held to while it runs.
//!
//! Refusals are returned as [`ErrorCode`]s so that the page hears a sentence.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use relay_core::ErrorCode;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Every limit, as a self-hoster sets them (see `ws-bridge serve --help`).
#[derive(Clone, Debug)]
pub struct LimitConfig {
    pub max_sessions: usize,
    pub max_sessions_per_ip: usize,
    /// New sessions per client address per minute.
    pub connects_per_ip_per_minute: u32,
    /// New connections to one destination address per minute, from everyone.
    pub connects_per_destination_per_minute: u32,
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
            max_sessions_per_ip: 8,
            connects_per_ip_per_minute: 60,
            connects_per_destination_per_minute: 120,
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
    sessions: Arc<Semaphore>,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
    ip_rate: Mutex<RateTable>,
    destination_rate: Mutex<RateTable>,
}

/// Held for as long as a session runs; gives its places back when dropped.
pub struct SessionPermit {
    _global: OwnedSemaphorePermit,
    ip: IpAddr,
    limits: Arc<Limits>,
}

impl Drop for SessionPermit {
    fn drop(&mut self) {
        let mut per_ip = self.limits.per_ip.lock().expect("per-ip table");
        if let Some(n) = per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                per_ip.remove(&self.ip);
            }
        }
    }
}

impl Limits {
    pub fn new(config: LimitConfig) -> Arc<Limits> {
        Arc::new(Limits {
            sessions: Arc::new(Semaphore::new(config.max_sessions)),
            per_ip: Mutex::new(HashMap::new()),
            ip_rate: Mutex::new(RateTable::new(config.connects_per_ip_per_minute)),
            destination_rate: Mutex::new(RateTable::new(config.connects_per_destination_per_minute)),
            config,
        })
    }

    /// A place for one more session of `client`, or why not. The rate is
    /// counted first, so that a client hammering a full bridge stays limited.
    pub fn admit(self: &Arc<Self>, client: IpAddr) -> Result<SessionPermit, ErrorCode> {
        if !self.ip_rate.lock().expect("rate table").allow(client, Instant::now()) {
            return Err(ErrorCode::RateLimited);
        }
        let global = self.sessions.clone().try_acquire_owned().map_err(|_| ErrorCode::TooManySessions)?;
        let mut per_ip = self.per_ip.lock().expect("per-ip table");
        let n = per_ip.entry(client).or_insert(0);
        if *n >= self.config.max_sessions_per_ip {
            return Err(ErrorCode::TooManySessionsFromYou);
        }
        *n += 1;
        Ok(SessionPermit { _global: global, ip: client, limits: Arc::clone(self) })
    }

    /// Whether one more connection to `destination` is allowed now.
    pub fn allow_destination(&self, destination: IpAddr) -> bool {
        self.destination_rate.lock().expect("rate table").allow(destination, Instant::now())
    }

    pub fn active_sessions(&self) -> usize {
        self.config.max_sessions - self.sessions.available_permits()
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
