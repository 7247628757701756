//! SIGTERM: the bridge stops taking sessions, tells running ones why, and exits.

use std::time::Duration;

use relay_core::{BridgeEvent, ErrorCode};
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
