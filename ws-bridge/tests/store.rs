//! One behavioural suite, two stores: what a bridge shares through its
//! store (per-destination limits, the result cache, the opt-out list) holds
//! the same in process memory and in a real Redis (a private
//! `redis-server` on loopback). Then what only a shared store does: two
//! bridges' stores share one cap, a dead bridge's places lapse, and a Redis
//! that goes away leaves each bridge with stricter local limits, never none,
//! until it comes back.

use std::future::Future;
use std::time::Duration;

use relaycheck_tests::redis::Redis;
use ws_bridge::store::memory::MemoryStore;
use ws_bridge::store::redis::RedisStore;
use ws_bridge::store::{DestinationLimit, Lease, OptOut, Rate, Refusal, Store, StoreState};

fn limit(per_minute: u32, max_open: usize) -> DestinationLimit {
    DestinationLimit { rate: Rate::per_minute(per_minute), max_open, lease: Duration::from_secs(60) }
}

/// Every store call must answer; none may hang (the bound is generous: it
/// is not a speed test).
async fn bounded<T>(call: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(5), call).await.expect("a store call hung")
}

/// Admits once the place given back is there again: a shared store gives
/// places back in the background.
async fn admit_when_free(store: &dyn Store, key: &str, limit: DestinationLimit) -> Result<Lease, Refusal> {
    for _ in 0..200 {
        match bounded(store.admit(key, limit)).await {
            Err(Refusal::Busy) => tokio::time::sleep(Duration::from_millis(10)).await,
            other => return other,
        }
    }
    Err(Refusal::Busy)
}

async fn the_cap_and_the_rate_hold(store: &dyn Store) {
    let l = limit(4, 2);
    let a = bounded(store.admit("dest:192.0.2.1", l)).await.expect("first place");
    let b = bounded(store.admit("dest:192.0.2.1", l)).await.expect("second place");
    assert_eq!(bounded(store.admit("dest:192.0.2.1", l)).await, Err(Refusal::Busy), "the cap is two");
    assert!(bounded(store.admit("dest:192.0.2.2", l)).await.is_ok(), "another destination has its own");
    store.release(a);
    let c = admit_when_free(store, "dest:192.0.2.1", l).await.expect("a place given back is taken again");
    store.release(b);
    store.release(c);
    // Three tokens of four are spent (a busy destination was not charged).
    assert!(admit_when_free(store, "dest:192.0.2.1", l).await.is_ok());
    assert_eq!(admit_when_free(store, "dest:192.0.2.1", l).await, Err(Refusal::RateLimited), "four a minute");
}

async fn buckets_run_dry(store: &dyn Store) {
    let rate = Rate { count: 2, period: Duration::from_secs(3600) };
    assert!(bounded(store.take("fresh:192.0.2.1", rate)).await);
    assert!(bounded(store.take("fresh:192.0.2.1", rate)).await);
    assert!(!bounded(store.take("fresh:192.0.2.1", rate)).await, "two an hour");
    assert!(bounded(store.take("fresh:192.0.2.2", rate)).await, "each key its own bucket");
}

async fn the_cache_answers_until_it_expires(store: &dyn Store) {
    assert_eq!(bounded(store.cache_get("audit:a")).await, None);
    bounded(store.cache_put("audit:a", r#"{"verdict":"closed"}"#, Duration::from_secs(600))).await;
    let hit = bounded(store.cache_get("audit:a")).await.expect("a hit");
    assert_eq!(hit.value, r#"{"verdict":"closed"}"#);
    assert!(hit.age < Duration::from_secs(600));
    assert_eq!(bounded(store.cache_get("audit:b")).await, None, "another audit is not a hit");
    bounded(store.cache_put("audit:short", "x", Duration::from_millis(100))).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(bounded(store.cache_get("audit:short")).await, None, "an expired result is gone");
}

async fn the_optout_list_is_kept(store: &dyn Store) {
    let domain: OptOut = "example.org".parse().unwrap();
    let block: OptOut = "192.0.2.0/24".parse().unwrap();
    assert!(bounded(store.optout_list()).await.unwrap().is_empty());
    assert!(bounded(store.optout_add(&block)).await.unwrap());
    assert!(bounded(store.optout_add(&domain)).await.unwrap());
    assert!(!bounded(store.optout_add(&domain)).await.unwrap(), "added once");
    assert_eq!(bounded(store.optout_list()).await.unwrap(), vec![domain.clone(), block.clone()]);
    assert!(bounded(store.optout_remove(&domain)).await.unwrap());
    assert!(!bounded(store.optout_remove(&domain)).await.unwrap(), "removed once");
    assert_eq!(bounded(store.optout_list()).await.unwrap(), vec![block]);
}

macro_rules! suite {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test]
                async fn $name() {
                    let store = super::MemoryStore::new();
                    assert_eq!(super::Store::state(&store), super::StoreState::Memory);
                    super::$name(&store).await;
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test]
                async fn $name() {
                    let redis = super::Redis::start();
                    let store = super::RedisStore::connect(&redis.url(), 1).unwrap();
                    super::$name(&store).await;
                    assert_eq!(super::Store::state(&store), super::StoreState::Redis, "Redis answered throughout");
                }
            )*
        }
    };
}

suite!(the_cap_and_the_rate_hold, buckets_run_dry, the_cache_answers_until_it_expires, the_optout_list_is_kept);

#[tokio::test]
async fn bridges_sharing_redis_share_one_cap_and_a_dead_bridges_places_lapse() {
    let redis = Redis::start();
    let one = RedisStore::connect(&redis.url(), 3).unwrap();
    let two = RedisStore::connect(&redis.url(), 3).unwrap();
    let l = DestinationLimit { rate: Rate::per_minute(100), max_open: 2, lease: Duration::from_millis(300) };
    let _a = bounded(one.admit("dest:192.0.2.1", l)).await.unwrap();
    let _b = bounded(two.admit("dest:192.0.2.1", l)).await.unwrap();
    assert_eq!(bounded(one.admit("dest:192.0.2.1", l)).await, Err(Refusal::Busy));
    assert_eq!(bounded(two.admit("dest:192.0.2.1", l)).await, Err(Refusal::Busy), "one cap for both bridges");
    // Never given back (the bridge died): the places lapse with their lease.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(bounded(two.admit("dest:192.0.2.1", l)).await.is_ok());
    // Every key has a time to live.
    for key in ["relaycheck:open:dest:192.0.2.1", "relaycheck:rate:dest:192.0.2.1"] {
        let ttl = redis.command(&["PTTL", key]).unwrap();
        let ms: i64 = ttl.trim_start_matches(':').trim().parse().unwrap();
        assert!(ms > 0, "{key} has no TTL: {ttl}");
    }
}

#[tokio::test]
async fn without_redis_limits_are_local_and_divided_then_shared_again() {
    let mut redis = Redis::start();
    let store = RedisStore::connect(&redis.url(), 3).unwrap();
    let l = DestinationLimit { rate: Rate::per_minute(6), max_open: 6, lease: Duration::from_secs(60) };
    bounded(store.optout_add(&"example.org".parse().unwrap())).await.unwrap();
    assert_eq!(bounded(store.optout_list()).await.unwrap().len(), 1);
    drop(bounded(store.admit("dest:192.0.2.9", l)).await.unwrap());

    redis.kill();
    // Six a minute and six at once for the fleet: two of each for one of three bridges.
    let a = bounded(store.admit("dest:192.0.2.1", l)).await.expect("served without Redis");
    assert_eq!(store.state(), StoreState::RedisUnreachable);
    let b = bounded(store.admit("dest:192.0.2.1", l)).await.expect("second local place");
    assert_eq!(bounded(store.admit("dest:192.0.2.1", l)).await, Err(Refusal::Busy), "6 / 3 at once");
    store.release(a);
    store.release(b);
    assert_eq!(bounded(store.admit("dest:192.0.2.1", l)).await, Err(Refusal::RateLimited), "6 / 3 a minute");
    assert_eq!(bounded(store.cache_get("audit:x")).await, None);
    bounded(store.cache_put("audit:x", "kept locally", Duration::from_secs(60))).await;
    assert_eq!(bounded(store.cache_get("audit:x")).await.map(|c| c.value), Some("kept locally".into()));
    let list = bounded(store.optout_list()).await.expect("the last list seen");
    assert_eq!(list, vec!["example.org".parse::<OptOut>().unwrap()], "opt-outs still hold");
    assert!(bounded(store.optout_add(&"example.net".parse().unwrap())).await.is_err(), "a change says it failed");

    redis.restart();
    let mut back = false;
    for _ in 0..100 {
        if bounded(store.admit("dest:192.0.2.1", l)).await.is_ok() && store.state() == StoreState::Redis {
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(back, "the store went back to Redis by itself");
    assert!(redis.command(&["EXISTS", "relaycheck:open:dest:192.0.2.1"]).unwrap().starts_with(":1"));
}
