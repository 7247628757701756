//! A fleet on loopback: a private `redis-server` and three `ws-bridge
//! serve` processes sharing it (`--redis`), in front of one mail server (a
//! sink that counts the connections it accepts). What one bridge knows,
//! the others know: the destination's rate holds for the fleet, a result
//! cached by one answers at another, an opt-out holds everywhere at once;
//! and without Redis each bridge keeps to a share of the limits, never
//! none, until Redis is back. One bridge alone (the memory store) keeps
//! its own cache and `--optout-file`.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use relay_core::{BridgeEvent, ErrorCode};
use relaycheck_tests::bridge::{http_get, http_post_json, Bridge};
use relaycheck_tests::redis::Redis;
use relaycheck_tests::sink::Sink;
use relaycheck_tests::ws::WsSession;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_ws-bridge");
/// No request may take longer than this (a generous bound: not a speed test).
const NO_HANG: Duration = Duration::from_secs(30);

fn fleet(redis: &Redis, sink: &Sink, extra: &[&str]) -> Vec<Bridge> {
    let (url, target) = (redis.url(), sink.addr.to_string());
    (0..3)
        .map(|_| {
            let mut args = vec!["--redis", &url, "--fleet-size", "3", "--allow-target", &target];
            args.extend_from_slice(extra);
            Bridge::spawn(BIN, &args)
        })
        .collect()
}

/// `POST /api/check` for the sink through `bridge`, answered within [`NO_HANG`].
async fn audit(bridge: &Bridge, sink: &Sink, extra: &str) -> (u16, Value) {
    let body = format!(r#"{{"host":"127.0.0.1","port":{}{extra}}}"#, sink.addr.port());
    let url = bridge.url("/api/check");
    let call = tokio::task::spawn_blocking(move || http_post_json(&url, &body));
    let (status, text) = tokio::time::timeout(NO_HANG, call).await.expect("a hosted audit hung").unwrap();
    (status, serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}")))
}

async fn store_of(bridge: &Bridge) -> String {
    let url = bridge.url("/healthz");
    let call = tokio::task::spawn_blocking(move || http_get(&url));
    let (status, text) = tokio::time::timeout(NO_HANG, call).await.expect("/healthz hung").unwrap();
    assert_eq!(status, 200, "{text}");
    let health: Value = serde_json::from_str(&text).unwrap();
    health["store"].as_str().unwrap_or_default().to_string()
}

/// What a token bucket of `per_minute` lets through in `elapsed`: all of it
/// at once, then its refill.
fn bucket_allows(per_minute: usize, elapsed: Duration) -> usize {
    per_minute + (elapsed.as_secs_f64() * per_minute as f64 / 60.0).ceil() as usize
}

fn optout(redis: &Redis, args: &[&str]) -> String {
    let url = redis.url();
    let out = std::process::Command::new(BIN).arg("optout").args(args).args(["--redis", &url]).output().unwrap();
    assert!(out.status.success(), "optout {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn audits_spread_over_three_bridges_keep_to_one_rate_for_the_fleet() {
    let redis = Redis::start();
    let sink = Sink::start().await;
    // No cache here: every audit runs. Twelve connections a minute to the
    // sink for the whole fleet; each bridge on its own would allow twelve.
    let bridges = fleet(&redis, &sink, &["--connects-per-destination", "12", "--cache-ttl", "0"]);
    let started = Instant::now();
    let mut statuses = Vec::new();
    for i in 0..9 {
        let (status, answer) = audit(&bridges[i % 3], &sink, "").await;
        if status != 200 {
            assert_eq!(answer["error"]["code"], "destination_rate_limited", "{answer}");
        }
        statuses.push(status);
    }
    let accepted = sink.accepted.load(Ordering::SeqCst);
    let allowed = bucket_allows(12, started.elapsed());
    println!("9 audits over 3 bridges: statuses {statuses:?}; the server saw {accepted} connections (fleet allows {allowed})");
    assert!(accepted > 0, "{statuses:?}");
    assert!(accepted <= allowed, "{accepted} connections, with a fleet-wide rate of 12 a minute: {statuses:?}");
    assert!(statuses.contains(&429), "9 audits of about 8 connections each cannot all fit: {statuses:?}");
    for bridge in &bridges {
        assert_eq!(store_of(bridge).await, "redis");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_audit_through_another_bridge_is_a_cache_hit() {
    let redis = Redis::start();
    let sink = Sink::start().await;
    let bridges = fleet(&redis, &sink, &["--fresh-per-destination", "1"]);
    let (status, first) = audit(&bridges[0], &sink, "").await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["cached"], false);
    let seen = sink.accepted.load(Ordering::SeqCst);
    assert!(seen > 0);

    let (status, second) = audit(&bridges[1], &sink, "").await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["cached"], true, "{second}");
    assert!(second["age_s"].as_u64().is_some_and(|age| age < 600), "{second}");
    assert_eq!(second["verdict"], first["verdict"]);
    assert_eq!(second["probes"], first["probes"]);
    assert_eq!(sink.accepted.load(Ordering::SeqCst), seen, "a cache hit never reaches the server");

    // Other options are another audit.
    let (_, other) = audit(&bridges[2], &sink, r#","to_domain":"example.com""#).await;
    assert_eq!(other["cached"], false, "{other}");
    let seen = sink.accepted.load(Ordering::SeqCst);

    // A fresh run goes to the server, within its own stricter limit.
    let (status, fresh) = audit(&bridges[2], &sink, r#","fresh":true"#).await;
    assert_eq!((status, &fresh["cached"]), (200, &Value::Bool(false)), "{fresh}");
    assert!(sink.accepted.load(Ordering::SeqCst) > seen);
    let (status, again) = audit(&bridges[0], &sink, r#","fresh":true"#).await;
    assert_eq!(status, 429, "one fresh run an hour: {again}");
    assert_eq!(again["error"]["code"], "destination_rate_limited");
    assert!(again["error"]["message"].as_str().unwrap().contains("afresh"), "{again}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_optout_holds_at_every_bridge_at_once() {
    let redis = Redis::start();
    let sink = Sink::start().await;
    let bridges = fleet(&redis, &sink, &[]);
    let (status, _) = audit(&bridges[0], &sink, "").await;
    assert_eq!(status, 200);

    assert!(optout(&redis, &["add", "127.0.0.1"]).contains("added"));
    assert_eq!(optout(&redis, &["list"]), "127.0.0.1/32\n");
    let seen = sink.accepted.load(Ordering::SeqCst);
    for bridge in &bridges {
        let (status, answer) = audit(bridge, &sink, "").await;
        assert_eq!(status, 403, "{answer}");
        assert_eq!(answer["error"]["code"], "opted_out");
        assert_eq!(
            answer["error"]["message"], "The owner of this server has asked not to be tested from this service.",
            "refused in words, never from the cache"
        );
        let mut ws = WsSession::open(bridge.addr, "127.0.0.1", sink.addr.port(), Some(&bridge.origin())).await;
        match ws.next_event(Duration::from_secs(10)).await {
            BridgeEvent::Error { code, message } => {
                assert_eq!(code, ErrorCode::OptedOut);
                assert!(message.contains("asked not to be tested"), "{message}");
            }
            other => panic!("expected the opt-out in words, got {other:?}"),
        }
    }
    assert_eq!(sink.accepted.load(Ordering::SeqCst), seen, "nothing reached an opted-out server");

    assert!(optout(&redis, &["remove", "127.0.0.1"]).contains("removed"));
    let (status, answer) = audit(&bridges[2], &sink, r#","fresh":true"#).await;
    assert_eq!(status, 200, "{answer}");
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_killed_mid_run_leaves_limits_bounded_and_the_fleet_recovers() {
    let mut redis = Redis::start();
    let sink = Sink::start().await;
    let bridges = fleet(&redis, &sink, &["--connects-per-destination", "12", "--cache-ttl", "0"]);
    assert_eq!(audit(&bridges[0], &sink, "").await.0, 200);

    redis.kill();
    let before = sink.accepted.load(Ordering::SeqCst);
    let started = Instant::now();
    let mut statuses = Vec::new();
    for i in 0..9 {
        statuses.push(audit(&bridges[i % 3], &sink, "").await.0);
    }
    let during = sink.accepted.load(Ordering::SeqCst) - before;
    // Each of three bridges keeps to 12 / 3 a minute on its own.
    let allowed = 3 * bucket_allows(4, started.elapsed());
    println!("without Redis: statuses {statuses:?}; the server saw {during} connections (allowed {allowed})");
    assert!(during > 0, "the bridges kept serving: {statuses:?}");
    assert!(during <= allowed, "{during} connections without Redis, allowed {allowed}: {statuses:?}");
    for bridge in &bridges {
        assert_eq!(store_of(bridge).await, "redis-unreachable-local-fallback");
        assert!(bridge.log().contains("redis unreachable"), "{}", bridge.log());
    }

    redis.restart();
    for bridge in &bridges {
        let mut state = String::new();
        for _ in 0..100 {
            state = store_of(bridge).await;
            if state == "redis" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(state, "redis", "the bridge went back to Redis by itself");
        assert!(bridge.log().contains("redis answers again"), "{}", bridge.log());
    }
    // Shared again: the new Redis holds the whole fleet to one rate.
    let before = sink.accepted.load(Ordering::SeqCst);
    let started = Instant::now();
    for i in 0..6 {
        audit(&bridges[i % 3], &sink, "").await;
    }
    let after = sink.accepted.load(Ordering::SeqCst) - before;
    assert!(after > 0);
    assert!(after <= bucket_allows(12, started.elapsed()), "{after} connections once Redis was back");
}

#[tokio::test(flavor = "multi_thread")]
async fn one_bridge_alone_caches_in_memory_and_reads_its_optout_file() {
    let sink = Sink::start().await;
    let dir = std::env::temp_dir().join(format!("relaycheck-fleet-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("optout.txt");
    std::fs::write(&file, "# owners who asked\nexample.org\n").unwrap();
    let target = sink.addr.to_string();
    let bridge = Bridge::spawn(BIN, &["--allow-target", &target, "--optout-file", file.to_str().unwrap()]);
    assert_eq!(store_of(&bridge).await, "memory");
    let (_, first) = audit(&bridge, &sink, "").await;
    assert_eq!(first["cached"], false, "{first}");
    let (_, second) = audit(&bridge, &sink, "").await;
    assert_eq!(second["cached"], true, "{second}");

    let out = std::process::Command::new(BIN)
        .args(["optout", "add", "127.0.0.0/8", "--file", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (status, answer) = audit(&bridge, &sink, "").await;
    assert_eq!(status, 403, "the file is read at every audit: {answer}");
    assert_eq!(answer["error"]["code"], "opted_out");
    std::fs::remove_dir_all(&dir).unwrap();
}
