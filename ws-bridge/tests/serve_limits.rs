//! The bridge's limits, each answered with an event in words.

use std::time::Duration;

use relay_core::{BridgeEvent, ErrorCode};
use relaycheck_tests::bridge::Bridge;
use relaycheck_tests::ws::{Frame, WsSession};

const BIN: &str = env!("CARGO_BIN_EXE_ws-bridge");
const WAIT: Duration = Duration::from_secs(10);

async fn open_lab(bridge: &Bridge, origin: Option<&str>) -> WsSession {
    let (closed, _) = bridge.lab.unwrap();
    WsSession::open(bridge.addr, "127.0.0.1", closed.port(), origin).await
}

async fn expect_error(ws: &mut WsSession, want: ErrorCode) -> String {
    match ws.next_event(WAIT).await {
        BridgeEvent::Error { code, message } if code == want => message,
        other => panic!("expected error {want:?}, got {other:?}"),
    }
}

async fn expect_closed(ws: &mut WsSession, want: ErrorCode) -> String {
    loop {
        match ws.next_event(WAIT).await {
            BridgeEvent::Closed { code, message } if code == want => return message,
            BridgeEvent::Connected { .. } | BridgeEvent::Refused { .. } => continue,
            other => panic!("expected closed {want:?}, got {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sessions_per_client_address_are_bounded() {
    let bridge = Bridge::spawn(BIN, &["--lab", "--max-sessions-per-ip", "1"]);
    let mut first = open_lab(&bridge, Some(&bridge.origin())).await;
    assert!(matches!(first.next_event(WAIT).await, BridgeEvent::Connected { .. }));
    let mut second = open_lab(&bridge, Some(&bridge.origin())).await;
    let message = expect_error(&mut second, ErrorCode::TooManySessionsFromYou).await;
    assert!(message.contains("wait for one to finish"), "{message}");
    // The place comes back when the first session ends.
    first.close().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut third = open_lab(&bridge, Some(&bridge.origin())).await;
    assert!(matches!(third.next_event(WAIT).await, BridgeEvent::Connected { .. }));
}

#[tokio::test(flavor = "multi_thread")]
async fn sessions_in_all_are_bounded() {
    let bridge = Bridge::spawn(BIN, &["--lab", "--max-sessions", "1"]);
    let mut first = open_lab(&bridge, Some(&bridge.origin())).await;
    assert!(matches!(first.next_event(WAIT).await, BridgeEvent::Connected { .. }));
    let mut second = open_lab(&bridge, Some(&bridge.origin())).await;
    expect_error(&mut second, ErrorCode::TooManySessions).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn other_sites_pages_are_refused() {
    let bridge = Bridge::spawn(BIN, &["--lab"]);
    let mut ws = open_lab(&bridge, Some("https://evil.example")).await;
    expect_error(&mut ws, ErrorCode::OriginNotAllowed).await;

    let bridge = Bridge::spawn(BIN, &["--lab", "--origin", "https://relaycheck.example"]);
    let mut ws = open_lab(&bridge, Some("https://relaycheck.example")).await;
    assert!(matches!(ws.next_event(WAIT).await, BridgeEvent::Connected { .. }));
    let mut ws = open_lab(&bridge, Some(&bridge.origin())).await;
    expect_error(&mut ws, ErrorCode::OriginNotAllowed).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn connect_rate_per_client_is_bounded() {
    let bridge = Bridge::spawn(BIN, &["--lab", "--connects-per-ip", "2"]);
    for _ in 0..2 {
        let mut ws = open_lab(&bridge, Some(&bridge.origin())).await;
        assert!(matches!(ws.next_event(WAIT).await, BridgeEvent::Connected { .. }));
        ws.close().await;
    }
    let mut ws = open_lab(&bridge, Some(&bridge.origin())).await;
    expect_error(&mut ws, ErrorCode::RateLimited).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn connect_rate_per_destination_is_bounded() {
    let bridge = Bridge::spawn(BIN, &["--lab", "--connects-per-destination", "1"]);
    let mut ws = open_lab(&bridge, Some(&bridge.origin())).await;
    assert!(matches!(ws.next_event(WAIT).await, BridgeEvent::Connected { .. }));
    let mut ws = open_lab(&bridge, Some(&bridge.origin())).await;
    expect_error(&mut ws, ErrorCode::DestinationRateLimited).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_sessions_are_ended() {
    let bridge = Bridge::spawn(BIN, &["--lab", "--idle-timeout", "1"]);
    let mut ws = open_lab(&bridge, Some(&bridge.origin())).await;
    let started = std::time::Instant::now();
    let message = expect_closed(&mut ws, ErrorCode::IdleTimeout).await;
    assert!(message.contains("too long"), "{message}");
    assert!(started.elapsed() >= Duration::from_millis(900), "ended after {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread")]
async fn session_lifetime_is_bounded() {
    let bridge = Bridge::spawn(BIN, &["--lab", "--session-lifetime", "1", "--idle-timeout", "30"]);
    let mut ws = open_lab(&bridge, Some(&bridge.origin())).await;
    expect_closed(&mut ws, ErrorCode::SessionTooLong).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bytes_per_session_are_bounded() {
    let bridge = Bridge::spawn(BIN, &["--lab", "--max-bytes-up", "100"]);
    let mut ws = open_lab(&bridge, Some(&bridge.origin())).await;
    assert!(matches!(ws.next_event(WAIT).await, BridgeEvent::Connected { .. }));
    for _ in 0..20 {
        ws.send(b"NOOP\r\n").await;
    }
    expect_closed(&mut ws, ErrorCode::ByteLimit).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn frames_are_bounded() {
    let bridge = Bridge::spawn(BIN, &["--lab", "--max-frame", "64"]);
    let mut ws = open_lab(&bridge, Some(&bridge.origin())).await;
    assert!(matches!(ws.next_event(WAIT).await, BridgeEvent::Connected { .. }));
    ws.send(&b"NOOP\r\n".repeat(20)).await;
    expect_closed(&mut ws, ErrorCode::FrameTooLarge).await;
}

/// Finding 4: the mail server's connection slots are shared by everyone,
/// up to `--connections-per-destination`.
#[tokio::test(flavor = "multi_thread")]
async fn connections_to_one_destination_are_capped() {
    let bridge = Bridge::spawn(BIN, &["--lab", "--connections-per-destination", "2"]);
    let mut first = open_lab(&bridge, Some(&bridge.origin())).await;
    assert!(matches!(first.next_event(WAIT).await, BridgeEvent::Connected { .. }));
    let mut second = open_lab(&bridge, Some(&bridge.origin())).await;
    assert!(matches!(second.next_event(WAIT).await, BridgeEvent::Connected { .. }));
    let mut third = open_lab(&bridge, Some(&bridge.origin())).await;
    let message = expect_error(&mut third, ErrorCode::DestinationBusy).await;
    assert!(message.ends_with('.'), "{message}");
    first.close().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut fourth = open_lab(&bridge, Some(&bridge.origin())).await;
    assert!(
        matches!(fourth.next_event(WAIT).await, BridgeEvent::Connected { .. }),
        "a closed session gives its place back"
    );
}

/// Finding 4: only SMTP bytes keep a session alive; websocket pings and
/// text frames do not.
#[tokio::test(flavor = "multi_thread")]
async fn pings_and_text_frames_do_not_keep_a_session_alive() {
    let bridge = Bridge::spawn(BIN, &["--lab", "--idle-timeout", "1"]);
    let mut ws = open_lab(&bridge, Some(&bridge.origin())).await;
    let until = std::time::Instant::now() + Duration::from_secs(6);
    while std::time::Instant::now() < until {
        ws.ping().await;
        ws.send_text("still here").await;
        match ws.next(Duration::from_millis(200)).await {
            Some(Frame::Event(BridgeEvent::Closed { code: ErrorCode::IdleTimeout, .. })) => return,
            Some(Frame::Closed) => panic!("closed without saying why"),
            _ => continue,
        }
    }
    panic!("pings and text frames kept an idle session alive past its idle timeout");
}
