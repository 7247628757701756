//! Whole audits through `ws-bridge serve`, driven over websockets by
//! relay-core as the page drives them, to a real Postfix and to the lab.

use std::time::Duration;

use relay_core::{BridgeEvent, Config, ProbeVerdict, Verdict};
use relaycheck_tests::bridge::Bridge;
use relaycheck_tests::postfix::{Policy, Postfix};
use relaycheck_tests::ws::{audit, WsSession};

const BIN: &str = env!("CARGO_BIN_EXE_ws-bridge");

#[tokio::test(flavor = "multi_thread")]
async fn audits_of_a_real_postfix_through_the_bridge() {
    let postfix = Postfix::start(&[Policy::Closed, Policy::Open]);
    let (closed, open) = (postfix.addr(Policy::Closed), postfix.addr(Policy::Open));
    let bridge = Bridge::spawn(BIN, &["--allow-target", &closed.to_string(), "--allow-target", &open.to_string()]);

    let report = audit(bridge.addr, &bridge.origin(), "127.0.0.1", closed.port(), Config::default()).await;
    assert_eq!(report.verdict, Verdict::Closed, "{}", report.reason);
    assert!(report.probes.len() >= 20);
    assert!(report.probes.iter().all(|p| p.verdict == ProbeVerdict::Denied && p.code == Some(554)));
    assert_eq!(report.server.address.as_deref(), Some("127.0.0.1"));

    let report = audit(bridge.addr, &bridge.origin(), "127.0.0.1", open.port(), Config::default()).await;
    assert_eq!(report.verdict, Verdict::Open, "{}", report.reason);

    // One structured log line per session, with its outcome and bytes.
    let log = bridge.log();
    let sessions = log.lines().filter(|l| l.contains(" session") && l.contains("destination=127.0.0.1:")).count();
    assert!(sessions >= 2 * report.connections as usize - 1, "{log}");
    assert!(log.contains("bytes_up=") && log.contains("duration_ms="), "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_first_frame_is_a_connected_event_then_smtp_bytes() {
    let bridge = Bridge::spawn(BIN, &["--lab"]);
    let (closed, _) = bridge.lab.unwrap();
    let mut ws = WsSession::open(bridge.addr, "127.0.0.1", closed.port(), Some(&bridge.origin())).await;
    match ws.next_event(Duration::from_secs(5)).await {
        BridgeEvent::Connected { host, address, port, resolved, connect_ms } => {
            assert_eq!((host.as_str(), address.as_str(), port), ("127.0.0.1", "127.0.0.1", closed.port()));
            assert_eq!(resolved, vec!["127.0.0.1".to_string()]);
            assert!(connect_ms >= 0.0);
        }
        other => panic!("expected connected, got {other:?}"),
    }
    let (banner, _) = ws.read_until("\r\n", Duration::from_secs(5)).await;
    assert!(banner.starts_with("220 closed.lab.relaycheck.test"), "{banner}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_lab_shows_both_outcomes_through_the_bridge() {
    let bridge = Bridge::spawn(BIN, &["--lab"]);
    let (closed, open) = bridge.lab.unwrap();
    let report = audit(bridge.addr, &bridge.origin(), "127.0.0.1", closed.port(), Config::default()).await;
    assert_eq!(report.verdict, Verdict::Closed, "{}", report.reason);
    let report = audit(bridge.addr, &bridge.origin(), "127.0.0.1", open.port(), Config::default()).await;
    assert_eq!(report.verdict, Verdict::Open, "{}", report.reason);
}
