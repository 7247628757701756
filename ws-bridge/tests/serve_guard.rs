//! The guard, through the bridge, in front of an open Postfix: what an audit
//! needs passes; DATA and its kin never reach the server.

use std::time::Duration;

use relay_core::{BridgeEvent, ErrorCode};
use relaycheck_tests::bridge::Bridge;
use relaycheck_tests::postfix::{Policy, Postfix};
use relaycheck_tests::ws::{Frame, WsSession};

const BIN: &str = env!("CARGO_BIN_EXE_ws-bridge");
const WAIT: Duration = Duration::from_secs(10);

fn refused_verbs(events: &[BridgeEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            BridgeEvent::Refused { command, code, .. } => {
                Some(format!("{}:{code}", command.clone().unwrap_or_default()))
            }
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn data_never_reaches_an_open_relay() {
    let postfix = Postfix::start(&[Policy::Open]);
    let open = postfix.addr(Policy::Open);
    let bridge = Bridge::spawn(BIN, &["--allow-target", &open.to_string()]);
    let mut ws = WsSession::open(bridge.addr, "127.0.0.1", open.port(), Some(&bridge.origin())).await;
    assert!(matches!(ws.next_event(WAIT).await, BridgeEvent::Connected { .. }));
    ws.read_until("220 ", WAIT).await;

    // What a page bent on sending spam would try, pipelined in one frame.
    ws.send(b"EHLO spammer.example\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n").await;
    let (text, mut events) = ws.read_until("250 2.1.5", WAIT).await;
    assert!(text.contains("250 2.1.0"), "{text}");
    ws.send(b"BDAT 10 LAST\r\nAUTH PLAIN AGFAYg==\r\nVRFY root\r\nEXPN staff\r\n").await;
    ws.send(b"QUIT\r\n").await;
    let (text, more) = ws.read_until("221 ", WAIT).await;
    events.extend(more);
    assert!(!text.contains("354"), "the server was asked for DATA: {text}");
    let refused = refused_verbs(&events);
    for verb in ["DATA", "BDAT", "AUTH", "VRFY", "EXPN"] {
        assert!(refused.contains(&format!("{verb}:command_not_allowed")), "{verb} not refused: {refused:?}");
    }

    // Postfix's own account of the session: the commands it saw, no DATA.
    let until = std::time::Instant::now() + WAIT;
    let line = loop {
        let log = postfix.log();
        if let Some(l) = log.lines().find(|l| l.contains("disconnect from") && l.contains("rcpt=")) {
            break l.to_string();
        }
        assert!(std::time::Instant::now() < until, "no disconnect line in:\n{log}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(line.contains("ehlo=1") && line.contains("mail=1") && line.contains("rcpt=1"), "{line}");
    for verb in ["data=", "bdat=", "auth=", "vrfy=", "expn="] {
        assert!(!line.contains(verb), "Postfix saw {verb}: {line}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn unreadable_bytes_end_the_session_and_are_never_forwarded() {
    let bridge = Bridge::spawn(BIN, &["--lab", "--max-rcpts", "2"]);
    let (_, open) = bridge.lab.unwrap();
    let mut ws = WsSession::open(bridge.addr, "127.0.0.1", open.port(), Some(&bridge.origin())).await;
    assert!(matches!(ws.next_event(WAIT).await, BridgeEvent::Connected { .. }));
    ws.read_until("220 ", WAIT).await;
    ws.send(b"EHLO x\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nRCPT TO:<c@example.net>\r\nRCPT TO:<d@example.net>\r\n").await;
    let (_, events) = ws.read_until("250 2.1.5 Ok\r\n250 2.1.5 Ok", WAIT).await;
    let mut all = events;
    // A bare LF would let a line end where the guard and the server disagree.
    ws.send(b"NOOP\nDATA\r\n").await;
    let closed = loop {
        match ws.next_event(WAIT).await {
            BridgeEvent::Closed { code, message } => break (code, message),
            other => all.push(other),
        }
    };
    assert!(refused_verbs(&all).contains(&"RCPT:too_many_recipients".to_string()), "{all:?}");
    assert_eq!(closed.0, relay_core::ErrorCode::GuardClosed, "{}", closed.1);
}

/// Finding 8: by default 8 RCPTs a session (an audit needs 4 a
/// connection), and nothing after QUIT; MAIL parameters are vetted.
#[tokio::test(flavor = "multi_thread")]
async fn eight_recipients_a_session_by_default_and_nothing_after_quit() {
    let bridge = Bridge::spawn(BIN, &["--lab"]);
    let (_, open) = bridge.lab.unwrap();
    let mut ws = WsSession::open(bridge.addr, "127.0.0.1", open.port(), Some(&bridge.origin())).await;
    assert!(matches!(ws.next_event(WAIT).await, BridgeEvent::Connected { .. }));
    ws.read_until("220 ", WAIT).await;
    let mut batch = String::from("EHLO x\r\nMAIL FROM:<a@example.com> NOTIFY=NEVER\r\nMAIL FROM:<a@example.com>\r\n");
    for i in 0..9 {
        batch.push_str(&format!("RCPT TO:<u{i}@example.net>\r\n"));
    }
    ws.send(batch.as_bytes()).await;
    let (text, mut all) = ws.read_until(&"250 2.1.5 Ok\r\n".repeat(8), WAIT).await;
    ws.send(b"QUIT\r\nNOOP\r\n").await;
    let closed = loop {
        match ws.next(WAIT).await {
            Some(Frame::Event(BridgeEvent::Closed { code, message })) => break (code, message),
            Some(Frame::Event(other)) => all.push(other),
            Some(Frame::Bytes(_)) => continue,
            Some(Frame::Closed) | None => panic!("closed without an event: {all:?}"),
        }
    };
    let refused = refused_verbs(&all);
    assert!(refused.contains(&"RCPT:too_many_recipients".to_string()), "{all:?}");
    assert!(refused.contains(&"MAIL:parameter_not_allowed".to_string()), "{all:?}");
    assert_eq!(text.matches("2.1.5").count(), 8, "{text}");
    // The server closed after QUIT, or the guard refused the NOOP that followed.
    assert!(matches!(closed.0, ErrorCode::ServerClosed | ErrorCode::GuardClosed), "{closed:?}");
}
