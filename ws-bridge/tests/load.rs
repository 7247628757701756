//! A bounded load test, loopback only: 750 audits at once through one
//! bridge (about 9,000 websocket sessions, each a file descriptor in this
//! process, in the bridge and in the sink: this machine allows 20,000 a
//! process), then the limits under a burst.
//! Every count and wait is bounded, and it stops by itself. It prints its
//! figures (bridge RSS, audit times under load beside one audit alone);
//! the assertions are about correctness, never speed.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use relay_core::{BridgeEvent, Config, ErrorCode, Verdict};
use relaycheck_tests::bridge::Bridge;
use relaycheck_tests::sink::Sink;
use relaycheck_tests::ws::{audit, WsSession};

const BIN: &str = env!("CARGO_BIN_EXE_ws-bridge");
/// How many audits run at once; `LOAD_AUDITS` overrides it. Each opens up
/// to 12 websocket sessions, and each session holds a descriptor in this
/// process and two in the bridge: 750 stay under a limit of 20,000.
const AUDITS: usize = 750;

fn rss_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundreds_of_audits_at_once_through_one_bridge() {
    let audits: usize = std::env::var("LOAD_AUDITS").ok().and_then(|v| v.parse().ok()).unwrap_or(AUDITS);
    let sink = Sink::start().await;
    let target = sink.addr.to_string();
    let bridge = Bridge::spawn(
        BIN,
        &[
            "--allow-target",
            &target,
            "--max-sessions",
            "20000",
            "--max-sessions-per-ip",
            "20000",
            "--connects-per-ip",
            "1000000",
            "--connects-per-destination",
            "1000000",
            "--connections-per-destination",
            "1000000",
            "--timeout",
            "60",
        ],
    );
    let config = Config { reply_timeout: Duration::from_secs(60), ..Config::default() };
    let origin = bridge.origin();

    // One audit alone, for comparison.
    let alone = Instant::now();
    let report = audit(bridge.addr, &origin, "127.0.0.1", sink.addr.port(), config.clone()).await;
    let alone_ms = alone.elapsed().as_secs_f64() * 1000.0;
    assert_eq!(report.verdict, Verdict::Closed, "{}", report.reason);
    let rss_before = rss_kib(bridge.pid(), "VmRSS:");

    let started = Instant::now();
    let tasks: Vec<_> = (0..audits)
        .map(|_| {
            let (origin, config) = (origin.clone(), config.clone());
            let (addr, port) = (bridge.addr, sink.addr.port());
            tokio::spawn(async move {
                let t = Instant::now();
                let report = audit(addr, &origin, "127.0.0.1", port, config).await;
                (report, t.elapsed().as_secs_f64() * 1000.0)
            })
        })
        .collect();
    let mut times = Vec::with_capacity(audits);
    let mut errors = Vec::new();
    for task in tasks {
        let (report, ms) = tokio::time::timeout(Duration::from_secs(240), task)
            .await
            .expect("every audit ends within 240 s")
            .expect("audit task");
        if report.verdict != Verdict::Closed {
            errors.push(report.reason.clone());
        }
        times.push(ms);
    }
    let wall = started.elapsed();
    let peak = rss_kib(bridge.pid(), "VmHWM:");
    times.sort_by(f64::total_cmp);
    println!(
        "load: {audits} audits at once in {:.1} s: p50 {:.0} ms, p99 {:.0} ms per audit (alone: {alone_ms:.0} ms); \
         bridge RSS {} KiB before, peak {} KiB; sink accepted {} connections",
        wall.as_secs_f64(),
        percentile(&times, 0.5),
        percentile(&times, 0.99),
        rss_before,
        peak,
        sink.accepted.load(Ordering::SeqCst),
    );
    assert!(errors.is_empty(), "{} of {audits} audits were not closed; first: {}", errors.len(), errors[0]);
    assert!(sink.accepted.load(Ordering::SeqCst) >= audits * 6, "every audit used its connections");

    // Nothing is left open: every server connection was closed with its session.
    let until = Instant::now() + Duration::from_secs(10);
    while sink.open.load(Ordering::SeqCst) > 0 && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(sink.open.load(Ordering::SeqCst), 0, "server connections left open after the load");
    let (_, health) = relaycheck_tests::bridge::http_get(&bridge.url("/healthz"));
    assert!(health.contains("\"sessions\":0"), "{health}");
}

/// Opens `n` sessions at once from this one address and keeps them open;
/// counts those connected and those refused with `refusal`, each of which
/// must have said why in a sentence.
async fn burst(bridge: &Bridge, sink: &Sink, n: usize, refusal: ErrorCode) -> (usize, usize, Vec<WsSession>) {
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (origin, addr, port) = (bridge.origin(), bridge.addr, sink.addr.port());
            tokio::spawn(async move {
                let mut ws = WsSession::open(addr, "127.0.0.1", port, Some(&origin)).await;
                let event = ws.next_event(Duration::from_secs(30)).await;
                (ws, event)
            })
        })
        .collect();
    let (mut connected, mut refused, mut keep) = (0, 0, Vec::new());
    for task in tasks {
        let (ws, event) = task.await.expect("session task");
        match event {
            BridgeEvent::Connected { .. } => connected += 1,
            BridgeEvent::Error { code, message } if code == refusal => {
                assert!(message.ends_with('.'), "{message}");
                refused += 1;
            }
            other => panic!("unexpected event {other:?}"),
        }
        keep.push(ws);
    }
    (connected, refused, keep)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_hold_under_a_burst_and_every_refusal_gets_its_event() {
    let sink = Sink::start().await;
    let target = sink.addr.to_string();
    let bridge = Bridge::spawn(
        BIN,
        &[
            "--allow-target",
            &target,
            "--max-sessions-per-ip",
            "50",
            "--connects-per-ip",
            "1000000",
            "--max-sessions",
            "80",
            "--connections-per-destination",
            "1000",
        ],
    );
    let (connected, refused, sessions) = burst(&bridge, &sink, 200, ErrorCode::TooManySessionsFromYou).await;
    println!(
        "burst: 200 sessions from one address with a per-address limit of 50: {connected} connected, {refused} refused"
    );
    assert_eq!((connected, refused), (50, 150), "exactly the per-address limit got through; the rest heard why");
    drop(sessions);

    // The global limit: with the per-address limit out of the way, 150
    // sessions at once meet a bridge that takes 80 in all.
    let bridge = Bridge::spawn(
        BIN,
        &[
            "--allow-target",
            &target,
            "--max-sessions-per-ip",
            "1000",
            "--connects-per-ip",
            "1000000",
            "--max-sessions",
            "80",
            "--connections-per-destination",
            "1000",
        ],
    );
    let (connected, refused, _sessions) = burst(&bridge, &sink, 150, ErrorCode::TooManySessions).await;
    println!("burst: 150 sessions with a global limit of 80: {connected} connected, {refused} refused");
    assert_eq!((connected, refused), (80, 70));
}

/// Many hosted audits of one server at once, from many client addresses
/// (told by a trusted proxy): counted at the server, never more
/// connections at once than `--connections-per-destination`, nor in all
/// than `--connects-per-destination` allows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosted_audits_of_one_server_from_many_clients_stay_within_its_limits() {
    let sink = Sink::start().await;
    let target = sink.addr.to_string();
    let bridge = Bridge::spawn(
        BIN,
        &[
            "--allow-target",
            &target,
            "--behind-proxy",
            "--connections-per-destination",
            "4",
            "--connects-per-destination",
            "40",
            // Every audit runs: this is about the limits, not the cache.
            "--cache-ttl",
            "0",
        ],
    );
    let body = format!(r#"{{"host":"127.0.0.1","port":{}}}"#, sink.addr.port());
    let tasks: Vec<_> = (0..12)
        .map(|i| {
            let (url, body) = (bridge.url("/api/check"), body.clone());
            tokio::task::spawn_blocking(move || {
                let client = format!("198.51.100.{}", i + 1);
                relaycheck_tests::bridge::http_request(
                    "POST",
                    &url,
                    &[("Content-Type", "application/json"), ("X-Forwarded-For", &client)],
                    &body,
                )
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.expect("request").0);
    }
    let (peak, accepted) = (sink.peak.load(Ordering::SeqCst), sink.accepted.load(Ordering::SeqCst));
    println!("hosted: 12 audits at once from 12 clients: statuses {statuses:?}; the server saw {accepted} connections, at most {peak} at once");
    // The server notices a closed connection a moment after the bridge
    // gave its place back, so it may count one or two more at an instant;
    // without the cap it would be about 96 (12 audits of up to 8).
    assert!(peak <= 4 + 2, "{peak} connections at once to one server, with a cap of 4");
    assert!(accepted <= 40, "{accepted} connections in all, with a rate of 40 a minute");
    assert!(accepted > 0 && statuses.iter().all(|s| matches!(s, 200 | 429)), "{statuses:?}");
}
