//! The store of one bridge, in its own memory: the default, and the
//! fallback of [`super::redis::RedisStore`] while Redis cannot be reached.
//!
//! One lock makes each operation atomic. Tables are bounded: full rate
//! buckets and expired cache entries are forgotten once a table is large,
//! and a cache that is still full takes no more entries.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::store::{Cached, DestinationLimit, Lease, OptOut, Rate, Refusal, Store, StoreError, StoreState};

/// Beyond this many keys, a table forgets what it can: a full bucket is what
/// a new key gets anyway, and an expired entry is gone anyway.
const PRUNE_AT: usize = 10_000;

#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    open: HashMap<String, usize>,
    buckets: Buckets,
    cache: HashMap<String, (String, Instant, Instant)>,
    optout: BTreeSet<OptOut>,
    next_lease: u64,
}

/// Token buckets by key: each holds its tokens and when they were counted.
#[derive(Default)]
struct Buckets(HashMap<String, (f64, Instant)>);

impl Buckets {
    fn refill(tokens: f64, at: Instant, now: Instant, rate: Rate) -> f64 {
        let capacity = f64::from(rate.count);
        let per_second = capacity / rate.period.as_secs_f64().max(0.001);
        (tokens + now.saturating_duration_since(at).as_secs_f64() * per_second).min(capacity)
    }

    fn take(&mut self, key: &str, rate: Rate, now: Instant) -> bool {
        if self.0.len() >= PRUNE_AT {
            // A bucket untouched for a whole period is full again.
            self.0.retain(|_, (_, at)| now.saturating_duration_since(*at) < rate.period);
        }
        let (tokens, at) = self.0.entry(key.to_string()).or_insert((f64::from(rate.count), now));
        *tokens = Self::refill(*tokens, *at, now, rate);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

impl MemoryStore {
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("memory store")
    }

    pub(crate) fn admit_now(&self, key: &str, limit: DestinationLimit) -> Result<Lease, Refusal> {
        let mut inner = self.inner();
        let open = inner.open.get(key).copied().unwrap_or(0);
        if open >= limit.max_open {
            return Err(Refusal::Busy);
        }
        if !inner.buckets.take(key, limit.rate, Instant::now()) {
            return Err(Refusal::RateLimited);
        }
        *inner.open.entry(key.to_string()).or_insert(0) += 1;
        inner.next_lease += 1;
        Ok(Lease { key: key.to_string(), id: inner.next_lease.to_string(), local: true })
    }

    pub(crate) fn release_now(&self, lease: &Lease) {
        let mut inner = self.inner();
        if let Some(n) = inner.open.get_mut(&lease.key) {
            *n -= 1;
            if *n == 0 {
                inner.open.remove(&lease.key);
            }
        }
    }

    pub(crate) fn take_now(&self, key: &str, rate: Rate) -> bool {
        self.inner().buckets.take(key, rate, Instant::now())
    }

    pub(crate) fn cache_get_now(&self, key: &str) -> Option<Cached> {
        let now = Instant::now();
        let inner = self.inner();
        let (value, stored, expires) = inner.cache.get(key)?;
        (now < *expires).then(|| Cached { value: value.clone(), age: now.saturating_duration_since(*stored) })
    }

    pub(crate) fn cache_put_now(&self, key: &str, value: &str, ttl: Duration) {
        let now = Instant::now();
        let mut inner = self.inner();
        if inner.cache.len() >= PRUNE_AT {
            inner.cache.retain(|_, (_, _, expires)| now < *expires);
            if inner.cache.len() >= PRUNE_AT && !inner.cache.contains_key(key) {
                return;
            }
        }
        inner.cache.insert(key.to_string(), (value.to_string(), now, now + ttl));
    }

    /// Replaces the opt-out list (the fallback keeps the last one Redis gave).
    pub(crate) fn set_optout(&self, list: &[OptOut]) {
        self.inner().optout = list.iter().cloned().collect();
    }

    pub(crate) fn optout_now(&self) -> Vec<OptOut> {
        self.inner().optout.iter().cloned().collect()
    }

    /// Connections held open now to `key`.
    pub fn open(&self, key: &str) -> usize {
        self.inner().open.get(key).copied().unwrap_or(0)
    }
}

#[async_trait::async_trait]
impl Store for MemoryStore {
    fn state(&self) -> StoreState {
        StoreState::Memory
    }

    async fn admit(&self, key: &str, limit: DestinationLimit) -> Result<Lease, Refusal> {
        self.admit_now(key, limit)
    }

    fn release(&self, lease: Lease) {
        self.release_now(&lease);
    }

    async fn take(&self, key: &str, rate: Rate) -> bool {
        self.take_now(key, rate)
    }

    async fn cache_get(&self, key: &str) -> Option<Cached> {
        self.cache_get_now(key)
    }

    async fn cache_put(&self, key: &str, value: &str, ttl: Duration) {
        self.cache_put_now(key, value, ttl);
    }

    async fn optout_add(&self, entry: &OptOut) -> Result<bool, StoreError> {
        Ok(self.inner().optout.insert(entry.clone()))
    }

    async fn optout_remove(&self, entry: &OptOut) -> Result<bool, StoreError> {
        Ok(self.inner().optout.remove(entry))
    }

    async fn optout_list(&self) -> Result<Vec<OptOut>, StoreError> {
        Ok(self.optout_now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_refill_over_time_and_stay_bounded() {
        let mut buckets = Buckets::default();
        let rate = Rate::per_minute(60);
        let t0 = Instant::now();
        for _ in 0..60 {
            assert!(buckets.take("a", rate, t0));
        }
        assert!(!buckets.take("a", rate, t0), "the 61st within the minute is refused");
        assert!(buckets.take("b", rate, t0), "other keys have their own bucket");
        assert!(buckets.take("a", rate, t0 + Duration::from_millis(1100)), "one token back after a second");
        for i in 0..(PRUNE_AT + 10) {
            buckets.take(&i.to_string(), rate, t0);
        }
        buckets.take("c", rate, t0 + Duration::from_secs(61));
        assert!(buckets.0.len() < 100, "{} buckets kept", buckets.0.len());
    }

    #[test]
    fn the_cache_stays_bounded() {
        let store = MemoryStore::new();
        for i in 0..(PRUNE_AT + 10) {
            store.cache_put_now(&i.to_string(), "x", Duration::from_secs(60));
        }
        assert!(store.inner().cache.len() <= PRUNE_AT);
        assert!(store.cache_get_now("0").is_some());
    }
}
