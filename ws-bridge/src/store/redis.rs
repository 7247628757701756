//! The store of a fleet: Redis (`serve --redis redis://HOST:PORT`), shared
//! by every bridge behind the load balancer.
//!
//! Keys (see docs/scale.md), each with a time to live:
//!
//! - `relaycheck:open:<dest>`: a sorted set of the connections open to one
//!   destination, each scored by when its lease ends (a bridge that dies
//!   never gives its places back; they lapse);
//! - `relaycheck:rate:<dest>`: a token bucket (`t` tokens at `at` ms),
//!   expiring after one period, when it would be full anyway;
//! - `relaycheck:cache:<audit>`: a result and when it was stored, expiring
//!   after `--cache-ttl`;
//! - `relaycheck:optout`: the set of opt-out entries (only an operator
//!   grows it).
//!
//! Admission is one Lua script (atomic in Redis, with Redis's own clock), so
//! two bridges can never both take the last place. Every call is bounded
//! by [`CALL_TIMEOUT`]; a call that fails or times out turns the store to
//! its local fallback (a [`MemoryStore`] held to the limits divided by the
//! fleet's size) for [`RETRY_AFTER`], then one call tries Redis again.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, Script};

use crate::store::memory::MemoryStore;
use crate::store::{Cached, DestinationLimit, Lease, OptOut, Rate, Refusal, Store, StoreError, StoreState};

/// The longest any one Redis call may take before the bridge stops waiting.
pub const CALL_TIMEOUT: Duration = Duration::from_millis(250);
/// The longest a change to the opt-out list may take (`ws-bridge optout`).
const CHANGE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long the fallback answers alone after a failed call.
pub const RETRY_AFTER: Duration = Duration::from_secs(1);

const OPTOUT_KEY: &str = "relaycheck:optout";

/// KEYS: open set, rate bucket. ARGV: hold (1: take a place under the cap,
/// 0: only a token), max open, tokens, period ms, lease id, lease ms.
/// Returns 0 (admitted), 1 (busy) or 2 (rate spent).
const ADMIT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local hold = ARGV[1] == '1'
if hold then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
  if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 1 end
end
local capacity = tonumber(ARGV[3])
local period = tonumber(ARGV[4])
local b = redis.call('HMGET', KEYS[2], 't', 'at')
local tokens = tonumber(b[1]) or capacity
local at = tonumber(b[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - at) * capacity / period)
local admitted = tokens >= 1
if admitted then tokens = tokens - 1 end
redis.call('HSET', KEYS[2], 't', tostring(tokens), 'at', now)
redis.call('PEXPIRE', KEYS[2], period)
if not admitted then return 2 end
if hold then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[6]), ARGV[5])
  redis.call('PEXPIRE', KEYS[1], ARGV[6])
end
return 0
";

pub struct RedisStore {
    /// The URL without its password, for logs and messages.
    shown: String,
    connection: ConnectionManager,
    fallback: MemoryStore,
    fleet_size: u32,
    health: Mutex<Health>,
    admit: Script,
    /// Lease ids: this bridge's own prefix and a counter.
    bridge_id: String,
    next_lease: AtomicU64,
    /// Whether Redis ever gave the opt-out list (the fallback keeps it).
    seen_list: AtomicBool,
}

struct Health {
    down: bool,
    retry_at: Instant,
}

impl RedisStore {
    /// A store for `url` (`redis://HOST:PORT`), whose fallback holds each
    /// destination to its limits divided by `fleet_size`. Nothing is
    /// connected yet: the first call connects, and a Redis that is down at
    /// start is a store in fallback until it answers.
    pub fn connect(url: &str, fleet_size: u32) -> Result<RedisStore, StoreError> {
        let shown = redact(url);
        let client = redis::Client::open(url)
            .map_err(|e| StoreError::Unreachable { url: shown.clone(), detail: e.to_string() })?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CALL_TIMEOUT))
            .set_response_timeout(Some(CALL_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let connection = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| StoreError::Unreachable { url: shown.clone(), detail: e.to_string() })?;
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos();
        Ok(RedisStore {
            shown,
            connection,
            fallback: MemoryStore::new(),
            fleet_size: fleet_size.max(1),
            health: Mutex::new(Health { down: false, retry_at: Instant::now() }),
            admit: Script::new(ADMIT),
            bridge_id: format!("{}-{nanos:x}", std::process::id()),
            next_lease: AtomicU64::new(0),
            seen_list: AtomicBool::new(false),
        })
    }

    /// Whether this call should ask Redis: always while it answers; once a
    /// [`RETRY_AFTER`] while it does not (the other calls use the fallback).
    fn should_try(&self) -> bool {
        let mut health = self.health.lock().expect("store health");
        if !health.down {
            return true;
        }
        let now = Instant::now();
        if now >= health.retry_at {
            health.retry_at = now + RETRY_AFTER;
            return true;
        }
        false
    }

    fn mark(&self, result: Result<(), String>) {
        let mut health = self.health.lock().expect("store health");
        match result {
            Ok(()) if health.down => {
                health.down = false;
                tracing::info!(redis = %self.shown, "redis answers again: limits, cache and opt-outs are shared again");
            }
            Err(detail) if !health.down => {
                health.down = true;
                health.retry_at = Instant::now() + RETRY_AFTER;
                tracing::warn!(
                    redis = %self.shown,
                    %detail,
                    fleet_size = self.fleet_size,
                    "redis unreachable: serving with local limits divided by the fleet size until it answers"
                );
            }
            Err(_) => health.retry_at = Instant::now() + RETRY_AFTER,
            Ok(()) => {}
        }
    }

    /// One Redis call, bounded in time; `None` when Redis did not answer
    /// (or is known not to, for now).
    async fn call<T>(&self, call: impl std::future::Future<Output = redis::RedisResult<T>>) -> Option<T> {
        if !self.should_try() {
            return None;
        }
        self.call_or_fail(CALL_TIMEOUT, call).await.ok()
    }

    /// Like [`RedisStore::call`], for what must not silently fall back.
    async fn call_or_fail<T>(
        &self,
        within: Duration,
        call: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, StoreError> {
        let unreachable = |detail: String| StoreError::Unreachable { url: self.shown.clone(), detail };
        match tokio::time::timeout(within, call).await {
            Ok(Ok(value)) => {
                self.mark(Ok(()));
                Ok(value)
            }
            Ok(Err(e)) => {
                self.mark(Err(e.to_string()));
                Err(unreachable(e.to_string()))
            }
            Err(_) => {
                let detail = format!("no answer within {} ms", within.as_millis());
                self.mark(Err(detail.clone()));
                Err(unreachable(detail))
            }
        }
    }

    async fn run_admit(&self, key: &str, hold: bool, limit: DestinationLimit, lease_id: &str) -> Option<i64> {
        let mut connection = self.connection.clone();
        let mut invocation = self.admit.prepare_invoke();
        invocation
            .key(format!("relaycheck:open:{key}"))
            .key(format!("relaycheck:rate:{key}"))
            .arg(if hold { "1" } else { "0" })
            .arg(limit.max_open)
            .arg(limit.rate.count)
            .arg(limit.rate.period.as_millis().max(1) as u64)
            .arg(lease_id)
            .arg(limit.lease.as_millis().max(1) as u64);
        self.call(invocation.invoke_async::<i64>(&mut connection)).await
    }
}

/// `redis://user:secret@host:port/0` → `redis://host:port/0`.
fn redact(url: &str) -> String {
    match (url.split_once("://"), url.rsplit_once('@')) {
        (Some((scheme, _)), Some((_, rest))) => format!("{scheme}://{rest}"),
        _ => url.to_string(),
    }
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as u64
}

#[async_trait::async_trait]
impl Store for RedisStore {
    fn state(&self) -> StoreState {
        if self.health.lock().expect("store health").down {
            StoreState::RedisUnreachable
        } else {
            StoreState::Redis
        }
    }

    async fn probe(&self) -> StoreState {
        let mut connection = self.connection.clone();
        self.call(redis::cmd("PING").query_async::<()>(&mut connection)).await;
        self.state()
    }

    async fn admit(&self, key: &str, limit: DestinationLimit) -> Result<Lease, Refusal> {
        let id = format!("{}-{}", self.bridge_id, self.next_lease.fetch_add(1, Ordering::Relaxed));
        match self.run_admit(key, true, limit, &id).await {
            Some(0) => Ok(Lease { key: key.to_string(), id, local: false }),
            Some(1) => Err(Refusal::Busy),
            Some(_) => Err(Refusal::RateLimited),
            None => self.fallback.admit_now(key, limit.divided(self.fleet_size)),
        }
    }

    fn release(&self, lease: Lease) {
        if lease.local {
            self.fallback.release_now(&lease);
            return;
        }
        let mut connection = self.connection.clone();
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        // A release that cannot be made lapses with its lease.
        runtime.spawn(async move {
            let key = format!("relaycheck:open:{}", lease.key);
            let _ = tokio::time::timeout(CALL_TIMEOUT, connection.zrem::<_, _, i64>(key, lease.id)).await;
        });
    }

    async fn take(&self, key: &str, rate: Rate) -> bool {
        let limit = DestinationLimit { rate, max_open: 0, lease: rate.period };
        match self.run_admit(key, false, limit, "").await {
            Some(code) => code == 0,
            None => self.fallback.take_now(key, rate.divided(self.fleet_size)),
        }
    }

    async fn cache_get(&self, key: &str) -> Option<Cached> {
        let mut connection = self.connection.clone();
        let key = format!("relaycheck:cache:{key}");
        let Some(found) = self.call(connection.get::<_, Option<String>>(&key)).await else {
            return self.fallback.cache_get_now(&key);
        };
        let (stored, value) = found?.split_once(' ').map(|(s, v)| (s.parse::<u64>().ok(), v.to_string()))?;
        let age = Duration::from_millis(now_ms().saturating_sub(stored?));
        Some(Cached { value, age })
    }

    async fn cache_put(&self, key: &str, value: &str, ttl: Duration) {
        let mut connection = self.connection.clone();
        let key = format!("relaycheck:cache:{key}");
        let stored = format!("{} {value}", now_ms());
        let ttl_ms = ttl.as_millis().max(1) as u64;
        let set = connection.pset_ex::<_, _, ()>(&key, stored, ttl_ms);
        if self.call(set).await.is_none() {
            self.fallback.cache_put_now(&key, value, ttl);
        }
    }

    async fn optout_add(&self, entry: &OptOut) -> Result<bool, StoreError> {
        let mut connection = self.connection.clone();
        self.call_or_fail(CHANGE_TIMEOUT, connection.sadd::<_, _, i64>(OPTOUT_KEY, entry.to_string()))
            .await
            .map(|n| n > 0)
    }

    async fn optout_remove(&self, entry: &OptOut) -> Result<bool, StoreError> {
        let mut connection = self.connection.clone();
        self.call_or_fail(CHANGE_TIMEOUT, connection.srem::<_, _, i64>(OPTOUT_KEY, entry.to_string()))
            .await
            .map(|n| n > 0)
    }

    async fn optout_list(&self) -> Result<Vec<OptOut>, StoreError> {
        let mut connection = self.connection.clone();
        let result = if self.should_try() {
            self.call_or_fail(CALL_TIMEOUT, connection.smembers::<_, Vec<String>>(OPTOUT_KEY)).await
        } else {
            Err(StoreError::Unreachable { url: self.shown.clone(), detail: "it did not answer lately".into() })
        };
        match result {
            Ok(members) => {
                // Entries are checked when added; one that is not an entry
                // (written by hand) is skipped rather than stopping the list.
                let mut list: Vec<OptOut> = members.iter().filter_map(|m| m.parse().ok()).collect();
                list.sort();
                self.fallback.set_optout(&list);
                self.seen_list.store(true, Ordering::Relaxed);
                Ok(list)
            }
            Err(e) if self.fallback_has_seen_list() => {
                tracing::debug!(error = %e, "opt-out list from the last answer");
                Ok(self.fallback.optout_now())
            }
            Err(e) => Err(e),
        }
    }
}

impl RedisStore {
    fn fallback_has_seen_list(&self) -> bool {
        self.seen_list.load(Ordering::Relaxed)
    }
}
