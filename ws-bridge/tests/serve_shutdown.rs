//! SIGTERM: the bridge stops taking sessions, tells running ones why (on
//! `/ws` and on each connection of an audit socket), and exits.

use std::time::Duration;

use relay_core::wire::WsQuery;
use relay_core::{BridgeEvent, ErrorCode};
use relaycheck_tests::audit_socket::{AuditSocket, SocketFrame};
use relaycheck_tests::bridge::Bridge;
use relaycheck_tests::ws::WsSession;

const BIN: &str = env!("CARGO_BIN_EXE_ws-bridge");

#[tokio::test(flavor = "multi_thread")]
async fn sessions_get_a_closing_event_and_the_bridge_exits() {
    let mut bridge = Bridge::spawn(BIN, &["--lab"]);
    let (closed, _) = bridge.lab.unwrap();
    let mut ws = WsSession::open(bridge.addr, "127.0.0.1", closed.port(), Some(&bridge.origin())).await;
    assert!(matches!(ws.next_event(Duration::from_secs(5)).await, BridgeEvent::Connected { .. }));
    ws.read_until("220 ", Duration::from_secs(5)).await;

    let status = tokio::task::block_in_place(|| bridge.terminate(Duration::from_secs(10)));
    match ws.next_event(Duration::from_secs(5)).await {
        BridgeEvent::Closed { code, .. } => assert_eq!(code, ErrorCode::ShuttingDown),
        other => panic!("expected a closing event, got {other:?}"),
    }
    let status = status.expect("the bridge did not exit within 10 s of SIGTERM");
    assert!(status.success(), "exit status {status}: {}", bridge.log());
    assert!(bridge.log().contains("relaycheck bridge stopped"), "{}", bridge.log());
}

#[tokio::test(flavor = "multi_thread")]
async fn each_connection_of_an_audit_socket_hears_why_then_the_socket_closes() {
    let mut bridge = Bridge::spawn(BIN, &["--lab"]);
    let (closed, open) = bridge.lab.unwrap();
    let mut socket = AuditSocket::open(bridge.addr, Some(&bridge.origin())).await;
    for (n, server) in [(1, closed), (2, open)] {
        let target = WsQuery { host: "127.0.0.1".into(), port: server.port(), implicit_tls: false, tls_name: None };
        socket.open_connection(n, &target).await;
        assert!(matches!(socket.next_event(n, Duration::from_secs(5)).await, BridgeEvent::Connected { .. }));
        socket.read_until(n, "220 ", Duration::from_secs(5)).await;
    }

    let status = tokio::task::block_in_place(|| bridge.terminate(Duration::from_secs(10)));
    for n in [1, 2] {
        match socket.next_event(n, Duration::from_secs(5)).await {
            BridgeEvent::Closed { code, .. } => assert_eq!(code, ErrorCode::ShuttingDown, "connection {n}"),
            other => panic!("connection {n}: expected a closing event, got {other:?}"),
        }
    }
    // What is left: SMTP bytes read while waiting for the other connection's
    // event (the lab servers say 421 as they stop, which may reach the
    // bridge before its own event does); the socket's own shutting_down, when
    // its connections had ended before it heard of the shutdown itself; then
    // the close.
    loop {
        match socket.next(Duration::from_secs(5)).await {
            Some(SocketFrame::Bytes(..)) => continue,
            Some(SocketFrame::Event(None, BridgeEvent::Closed { code: ErrorCode::ShuttingDown, .. })) => continue,
            Some(SocketFrame::Closed) => break,
            None => panic!("the socket stays open 5 s after its connections ended"),
            Some(other) => panic!("the socket goes on after its connections ended: {other:?}"),
        }
    }
    let status = status.expect("the bridge did not exit within 10 s of SIGTERM");
    assert!(status.success(), "exit status {status}: {}", bridge.log());
}
