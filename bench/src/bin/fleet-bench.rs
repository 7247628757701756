//! A fleet's figures, loopback only: hosted audits per second through three
//! bridges sharing one Redis (`serve --redis`), beside one bridge alone
//! (its memory store), against the same sink, with every limit opened wide
//! and no cache (each audit runs); and the store's added latency per audit:
//! what one hosted audit waits for its store (the opt-out list and the
//! cache before it, 8 connections admitted side by side, each after its
//! opt-out check, their places given back, the report cached), in Redis
//! and in memory.
//!
//!     fleet-bench --ws-bridge target/release/ws-bridge --audits 600 --store-audits 2000
//!
//! Prints the figures and a RESULT line for bench-report.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use relaycheck_bench::percentile;
use relaycheck_tests::bridge::{http_post_json, Bridge};
use relaycheck_tests::redis::Redis;
use relaycheck_tests::sink::Sink;
use ws_bridge::store::memory::MemoryStore;
use ws_bridge::store::redis::RedisStore;
use ws_bridge::store::{DestinationLimit, Rate, Store};

#[derive(Parser, Debug)]
#[command(about = "Hosted audits per second through three bridges sharing Redis, and the store's latency per audit")]
struct Args {
    #[arg(long)]
    ws_bridge: PathBuf,
    /// Hosted audits through each setup.
    #[arg(long, default_value_t = 600)]
    audits: usize,
    /// Audits at once.
    #[arg(long, default_value_t = 12)]
    concurrency: usize,
    /// Simulated audits against each store, for its latency.
    #[arg(long, default_value_t = 2000)]
    store_audits: usize,
}

/// Every limit opened wide: the figure is the bridges' and the store's cost.
const WIDE: [&str; 14] = [
    "--cache-ttl",
    "0",
    "--max-sessions",
    "4096",
    "--max-sessions-per-ip",
    "4096",
    "--connects-per-ip",
    "100000000",
    "--connects-per-destination",
    "100000000",
    "--connections-per-destination",
    "100000",
    "--fleet-size",
    "3",
];

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let args = Args::parse();
    let sink = Sink::start().await;
    let redis = Redis::start();
    let target = sink.addr.to_string();
    let spawn = |extra: &[&str]| {
        let mut flags = vec!["--allow-target", &target];
        flags.extend_from_slice(&WIDE);
        flags.extend_from_slice(extra);
        Bridge::spawn(&args.ws_bridge, &flags)
    };

    let alone = vec![spawn(&[])];
    let (single, single_ok) = throughput(&alone, &sink, args.audits, args.concurrency).await;
    drop(alone);
    let url = redis.url();
    let fleet: Vec<Bridge> = (0..3).map(|_| spawn(&["--redis", &url])).collect();
    let (shared, shared_ok) = throughput(&fleet, &sink, args.audits, args.concurrency).await;
    drop(fleet);
    println!(
        "fleet: {shared:.1} hosted audits/s through 3 bridges sharing Redis ({shared_ok}/{n} answered 200), \
         {single:.1}/s through one bridge alone ({single_ok}/{n}); {c} at once, 2 cores",
        n = args.audits,
        c = args.concurrency
    );

    let (memory_p50, memory_p99) = store_latency(&MemoryStore::new(), args.store_audits).await;
    let store = RedisStore::connect(&url, 3).expect("a store for the Redis");
    let (redis_p50, redis_p99) = store_latency(&store, args.store_audits).await;
    println!(
        "fleet: the store's latency per audit: Redis p50 {redis_p50:.3} ms, p99 {redis_p99:.3} ms; \
         memory p50 {memory_p50:.3} ms, p99 {memory_p99:.3} ms ({} audits each)",
        args.store_audits
    );
    println!(
        "RESULT label=fleet audits_per_s={shared:.1} single_audits_per_s={single:.1} ok={shared_ok} single_ok={single_ok} \
         audits={} store_p50_ms={redis_p50:.3} store_p99_ms={redis_p99:.3} memory_p50_ms={memory_p50:.3} \
         memory_p99_ms={memory_p99:.3} store_audits={}",
        args.audits, args.store_audits
    );
    ExitCode::SUCCESS
}

/// `audits` hosted audits of the sink, `concurrency` at once, spread over
/// `bridges` in turn: audits per second, and how many answered 200.
async fn throughput(bridges: &[Bridge], sink: &Sink, audits: usize, concurrency: usize) -> (f64, usize) {
    let urls: Arc<Vec<String>> = Arc::new(bridges.iter().map(|b| b.url("/api/check")).collect());
    let body = format!(r#"{{"host":"127.0.0.1","port":{}}}"#, sink.addr.port());
    let next = Arc::new(AtomicUsize::new(0));
    let ok = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency.max(1))
        .map(|_| {
            let (urls, body, next, ok) = (urls.clone(), body.clone(), next.clone(), ok.clone());
            tokio::task::spawn_blocking(move || loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= audits {
                    break;
                }
                if http_post_json(&urls[i % urls.len()], &body).0 == 200 {
                    ok.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    for worker in workers {
        let _ = worker.await;
    }
    let ok = ok.load(Ordering::SeqCst);
    (ok as f64 / started.elapsed().as_secs_f64(), ok)
}

/// What one hosted audit waits for its store, `n` times: p50 and p99 in ms.
async fn store_latency(store: &dyn Store, n: usize) -> (f64, f64) {
    let limit =
        DestinationLimit { rate: Rate::per_minute(100_000_000), max_open: 100_000, lease: Duration::from_secs(360) };
    // About the size of a real report.
    let report = format!("{{\"verdict\":\"closed\",\"pad\":\"{}\"}}", "x".repeat(20_000));
    let mut times = Vec::with_capacity(n);
    for i in 0..n.max(1) {
        let (audit, dest) = (format!("audit:bench-{i}:25:a:b"), format!("dest:192.0.2.{}", i % 50));
        let started = Instant::now();
        let _ = store.optout_list().await;
        let _ = store.cache_get(&audit).await;
        let leases = futures_util::future::join_all((0..8).map(|_| async {
            let _ = store.optout_list().await;
            store.admit(&dest, limit).await
        }))
        .await;
        for lease in leases.into_iter().flatten() {
            store.release(lease);
        }
        store.cache_put(&audit, &report, Duration::from_secs(5)).await;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    (percentile(&times, 0.5), percentile(&times, 0.99))
}
