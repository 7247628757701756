//! The audit socket (`GET /ws/audit`): every connection of an audit on one
//! websocket, each as safe as a `/ws` session of its own (the same guard,
//! limits and destination checks), and nothing left open toward a server
//! once the page ends a connection or the socket.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use relay_core::wire::audit_socket::{tag, Frame, PageCommand, BATCH};
use relay_core::wire::WsQuery;
use relay_core::{BridgeEvent, Config, ErrorCode, Verdict};
use relaycheck_tests::audit_socket::{audit, audit_batched, AuditSocket, SocketFrame};
use relaycheck_tests::bridge::Bridge;
use relaycheck_tests::postfix::{Policy, Postfix};
use relaycheck_tests::sink::Sink;
use relaycheck_tests::ws;

const BIN: &str = env!("CARGO_BIN_EXE_ws-bridge");
const WAIT: Duration = Duration::from_secs(5);

fn target(addr: SocketAddr) -> WsQuery {
    WsQuery { host: addr.ip().to_string(), port: addr.port(), implicit_tls: false, tls_name: None }
}

fn to(host: &str, port: u16) -> WsQuery {
    WsQuery { host: host.into(), port, implicit_tls: false, tls_name: None }
}

/// Opens connection `n` toward `addr` and reads its banner.
async fn connect(socket: &mut AuditSocket, n: u32, addr: SocketAddr) {
    socket.open_connection(n, &target(addr)).await;
    match socket.next_event(n, WAIT).await {
        BridgeEvent::Connected { port, .. } => assert_eq!(port, addr.port()),
        other => panic!("connection {n}: expected connected, got {other:?}"),
    }
    socket.read_until(n, "220 ", WAIT).await;
}

async fn expect_error(socket: &mut AuditSocket, n: u32, want: ErrorCode) -> String {
    match socket.next_event(n, WAIT).await {
        BridgeEvent::Error { code, message } if code == want => message,
        other => panic!("connection {n}: expected error {want:?}, got {other:?}"),
    }
}

/// The socket's own event (no connection number), skipping what its
/// connections still say; then the socket must close.
async fn expect_whole_then_close(socket: &mut AuditSocket, want: ErrorCode) -> String {
    let message = loop {
        match socket.next(WAIT).await {
            Some(SocketFrame::Event(None, BridgeEvent::Error { code, message })) if code == want => break message,
            Some(SocketFrame::Event(Some(_), _) | SocketFrame::Bytes(..)) => continue,
            other => panic!("expected a whole-socket error {want:?}, got {other:?}"),
        }
    };
    loop {
        match socket.next(WAIT).await {
            Some(SocketFrame::Closed) => return message,
            Some(SocketFrame::Event(Some(_), _) | SocketFrame::Bytes(..)) => continue,
            other => panic!("expected the socket to close after {want:?}, got {other:?}"),
        }
    }
}

/// Waits (bounded) until `count` reads `want`.
async fn wait_for_count(count: &AtomicUsize, want: usize, what: &str) {
    let until = tokio::time::Instant::now() + WAIT;
    while count.load(Ordering::SeqCst) != want {
        assert!(
            tokio::time::Instant::now() < until,
            "{what}: {} after {WAIT:?}, expected {want}",
            count.load(Ordering::SeqCst)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits (bounded) until `log()` has `want` lines that `matching` picks.
fn wait_for_lines(log: impl Fn() -> String, want: usize, matching: impl Fn(&str) -> bool) -> Vec<String> {
    let until = std::time::Instant::now() + WAIT;
    loop {
        let text = log();
        let lines: Vec<String> = text.lines().filter(|l| matching(l)).map(str::to_string).collect();
        if lines.len() >= want {
            return lines;
        }
        assert!(std::time::Instant::now() < until, "{} of {want} lines within {WAIT:?}:\n{text}", lines.len());
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn whole_audits_over_one_socket_give_the_same_verdicts_as_one_websocket_each() {
    let postfix = Postfix::start(&[Policy::Closed, Policy::Open]);
    let (closed, open) = (postfix.addr(Policy::Closed), postfix.addr(Policy::Open));
    let bridge = Bridge::spawn(BIN, &["--allow-target", &closed.to_string(), "--allow-target", &open.to_string()]);
    let origin = bridge.origin();
    let mut sockets = 0;
    for (server, want) in [(closed, Verdict::Closed), (open, Verdict::Open)] {
        let one = audit(bridge.addr, &origin, "127.0.0.1", server.port(), Config::default()).await;
        sockets += 1;
        let each = ws::audit(bridge.addr, &origin, "127.0.0.1", server.port(), Config::default()).await;
        assert_eq!(one.verdict, want, "{}", one.reason);
        assert_eq!(each.verdict, want, "{}", each.reason);
        assert!(one.connections > 1, "one connection only: {one:?}");
        assert_eq!(one.connections, each.connections);
        let outcomes = |r: &relay_core::Report| r.probes.iter().map(|p| (p.verdict, p.code)).collect::<Vec<_>>();
        assert_eq!(outcomes(&one), outcomes(&each), "the probes differ");
        assert_eq!(one.server.address.as_deref(), Some("127.0.0.1"));
        // The socket's own log line counts the connections it carried.
        let line = wait_for_lines(|| bridge.log(), sockets, |l| l.contains("audit socket")).pop().unwrap();
        assert!(line.contains(&format!("connections={}", one.connections)), "{line}");
        assert!(line.contains("page_closed"), "{line}");
    }
    // And each connection has its session line, as on /ws.
    let log = bridge.log();
    let sessions =
        log.lines().filter(|l| l.contains(" session") && l.contains(&format!("destination={closed}"))).count();
    assert!(sessions >= 2, "{log}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_page_that_reads_batches_gets_the_same_audits() {
    let postfix = Postfix::start(&[Policy::Closed, Policy::Open]);
    let (closed, open) = (postfix.addr(Policy::Closed), postfix.addr(Policy::Open));
    let bridge = Bridge::spawn(BIN, &["--allow-target", &closed.to_string(), "--allow-target", &open.to_string()]);
    let origin = bridge.origin();
    for (server, want) in [(closed, Verdict::Closed), (open, Verdict::Open)] {
        let (batched, socket) =
            audit_batched(bridge.addr, &origin, "127.0.0.1", server.port(), Config::default()).await;
        assert!(socket.batches, "the bridge did not choose batches");
        // How many of the frames shared a message depends on timing; the
        // page's benchmark counts them (bench/page).
        eprintln!("{} frames in {} websocket messages", socket.frames, socket.messages);
        socket.close().await;
        let plain = audit(bridge.addr, &origin, "127.0.0.1", server.port(), Config::default()).await;
        assert_eq!(batched.verdict, want, "{}", batched.reason);
        assert_eq!(batched.connections, plain.connections);
        let outcomes = |r: &relay_core::Report| r.probes.iter().map(|p| (p.verdict, p.code)).collect::<Vec<_>>();
        assert_eq!(outcomes(&batched), outcomes(&plain), "the probes differ");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_batch_from_the_page_is_its_frames_in_order_and_only_under_batches() {
    let sink = Sink::start().await;
    let bridge = Bridge::spawn(BIN, &["--allow-target", &sink.addr.to_string()]);
    let open = |n| PageCommand::Open { connection: n, target: target(sink.addr) }.to_json();
    let (open_1, open_2) = (open(1), open(2));

    // Without the subprotocol a batch is bytes for connection 4294967295,
    // which is never open: dropped, and the socket goes on.
    let mut plain = AuditSocket::open(bridge.addr, Some(&bridge.origin())).await;
    assert!(!plain.batches);
    plain.send_batch(&[Frame::Text(&open_1), Frame::Text(&open_2)]).await;
    connect(&mut plain, 3, sink.addr).await;
    assert_eq!(sink.accepted.load(Ordering::SeqCst), 1, "a batch was read on a socket without batches");
    plain.close().await;
    wait_for_count(&sink.open, 0, "the plain socket's connection").await;

    let mut socket = AuditSocket::open_batched(bridge.addr, Some(&bridge.origin())).await;
    assert!(socket.batches);
    socket.send_batch(&[Frame::Text(&open_1), Frame::Text(&open_2)]).await;
    for n in [1, 2] {
        assert!(matches!(socket.next_event(n, WAIT).await, BridgeEvent::Connected { .. }));
        socket.read_until(n, "220 ", WAIT).await;
    }
    // Bytes for both, then the close of the first: in that order.
    let (noop_1, noop_2) = (tag(1, b"NOOP\r\n"), tag(2, b"NOOP\r\n"));
    let close_1 = PageCommand::Close { connection: 1 }.to_json();
    socket.send_batch(&[Frame::Binary(&noop_2), Frame::Binary(&noop_1), Frame::Text(&close_1)]).await;
    socket.read_until(2, "250 2.0.0", WAIT).await;
    wait_for_count(&sink.open, 1, "connection 1 still open toward the server").await;
    assert_eq!(sink.accepted.load(Ordering::SeqCst), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_guard_holds_for_each_connection_and_the_others_go_on() {
    let postfix = Postfix::start(&[Policy::Open]);
    let open = postfix.addr(Policy::Open);
    let bridge = Bridge::spawn(BIN, &["--allow-target", &open.to_string()]);
    let mut socket = AuditSocket::open(bridge.addr, Some(&bridge.origin())).await;
    connect(&mut socket, 1, open).await;
    connect(&mut socket, 2, open).await;

    // What a page bent on sending spam would try, pipelined, on connection 2.
    socket.send(2, b"EHLO spammer.example\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n").await;
    let (text, mut refused) = socket.read_until(2, "250 2.1.5", WAIT).await;
    assert!(text.contains("250 2.1.0"), "{text}");
    // Connection 1 goes on meanwhile.
    socket.send(1, b"EHLO page.example\r\n").await;
    socket.send(2, b"BDAT 10 LAST\r\nAUTH PLAIN AGFAYg==\r\n").await;
    let (text1, events1) = socket.read_until(1, "250 ", WAIT).await;
    assert!(text1.contains(postfix_name()), "{text1}");
    socket.send(2, b"QUIT\r\n").await;
    let (text, more) = socket.read_until(2, "221 ", WAIT).await;
    refused.extend(more);
    assert!(!text.contains("354"), "the server was asked for DATA: {text}");
    let verbs: Vec<String> = refused
        .iter()
        .filter_map(|e| match e {
            BridgeEvent::Refused { command, code, .. } => {
                Some(format!("{}:{code}", command.clone().unwrap_or_default()))
            }
            _ => None,
        })
        .collect();
    for verb in ["DATA", "BDAT", "AUTH"] {
        assert!(verbs.contains(&format!("{verb}:command_not_allowed")), "{verb} not refused on 2: {verbs:?}");
    }

    socket.send(1, b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nQUIT\r\n").await;
    let (text1, more1) = socket.read_until(1, "221 ", WAIT).await;
    assert!(text1.contains("250 2.1.5"), "{text1}");
    let all1: Vec<_> = events1.into_iter().chain(more1).collect();
    assert!(!all1.iter().any(|e| matches!(e, BridgeEvent::Refused { .. })), "connection 1 was refused: {all1:?}");

    // Postfix's own account of both sessions: the commands it saw, no DATA.
    let lines = wait_for_lines(|| postfix.log(), 2, |l| l.contains("disconnect from") && l.contains("rcpt="));
    for line in &lines {
        assert!(line.contains("ehlo=1") && line.contains("mail=1") && line.contains("rcpt=1"), "{line}");
        for verb in ["data=", "bdat=", "auth="] {
            assert!(!line.contains(verb), "Postfix saw {verb}: {line}");
        }
    }
}

fn postfix_name() -> &'static str {
    relaycheck_tests::postfix::HOSTNAME
}

#[tokio::test(flavor = "multi_thread")]
async fn another_sites_page_gets_one_event_then_the_close_and_no_connection() {
    let sink = Sink::start().await;
    let bridge = Bridge::spawn(BIN, &["--allow-target", &sink.addr.to_string()]);
    let mut socket = AuditSocket::open(bridge.addr, Some("https://evil.example")).await;
    // The page does not wait to be heard: its commands are already there.
    socket.open_connection(1, &target(sink.addr)).await;
    socket.send(1, b"EHLO x\r\n").await;
    match socket.next(WAIT).await {
        Some(SocketFrame::Event(None, BridgeEvent::Error { code: ErrorCode::OriginNotAllowed, .. })) => {}
        other => panic!("expected one whole-socket origin_not_allowed, got {other:?}"),
    }
    assert!(matches!(socket.next(WAIT).await, Some(SocketFrame::Closed)));

    // A page of the right origin connects next: the sink accepts connections
    // in order, so had the refused socket connected it would count 2.
    let mut good = AuditSocket::open(bridge.addr, Some(&bridge.origin())).await;
    connect(&mut good, 1, sink.addr).await;
    assert_eq!(sink.accepted.load(Ordering::SeqCst), 1, "the refused socket reached the server");
    let line = wait_for_lines(|| bridge.log(), 1, |l| l.contains("audit socket")).remove(0);
    assert!(line.contains("origin_not_allowed") && line.contains("connections=0"), "{line}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_per_client_limit_counts_each_connection() {
    let bridge = Bridge::spawn(BIN, &["--lab", "--max-sessions-per-ip", "2"]);
    let (closed, _) = bridge.lab.unwrap();
    let mut socket = AuditSocket::open(bridge.addr, Some(&bridge.origin())).await;
    connect(&mut socket, 1, closed).await;
    connect(&mut socket, 2, closed).await;
    socket.open_connection(3, &target(closed)).await;
    let message = expect_error(&mut socket, 3, ErrorCode::TooManySessionsFromYou).await;
    assert!(message.ends_with('.'), "{message}");
    // 1 and 2 still work.
    for n in [1, 2] {
        socket.send(n, b"NOOP\r\n").await;
        socket.read_until(n, "250 ", WAIT).await;
    }
    // The limit is the client's, not the socket's: a second socket from the
    // same address gets no more.
    let mut other = AuditSocket::open(bridge.addr, Some(&bridge.origin())).await;
    other.open_connection(1, &target(closed)).await;
    expect_error(&mut other, 1, ErrorCode::TooManySessionsFromYou).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_frame_the_bridge_cannot_read_ends_the_socket_and_its_connections() {
    let sink = Sink::start().await;
    let bridge = Bridge::spawn(BIN, &["--allow-target", &sink.addr.to_string()]);
    let mut cut_short = relay_core::wire::audit_socket::batch(&[Frame::Binary(&tag(1, b"NOOP\r\n"))]);
    cut_short.pop();
    let cases: [(&str, Vec<u8>); 7] = [
        ("an unreadable command", b"{\"type\":\"data\",\"connection\":1}".to_vec()),
        ("a command that is not JSON", b"hello".to_vec()),
        ("bytes without a number", vec![0, 0, 1]),
        ("connection 1 opened twice", Vec::new()),
        ("connection 4294967295 opened", Vec::new()),
        ("a batch cut short", cut_short),
        ("an unreadable command inside a batch", Vec::new()),
    ];
    for (what, frame) in cases {
        let mut socket = AuditSocket::open_batched(bridge.addr, Some(&bridge.origin())).await;
        assert!(socket.batches);
        connect(&mut socket, 1, sink.addr).await;
        connect(&mut socket, 2, sink.addr).await;
        wait_for_count(&sink.open, 2, what).await;
        match what {
            "bytes without a number" | "a batch cut short" => socket.send_binary(&frame).await,
            "connection 1 opened twice" => socket.open_connection(1, &target(sink.addr)).await,
            "connection 4294967295 opened" => socket.open_connection(BATCH, &target(sink.addr)).await,
            "an unreadable command inside a batch" => {
                let noop = tag(1, b"NOOP\r\n");
                socket.send_batch(&[Frame::Binary(&noop), Frame::Text("{\"type\":\"data\"}")]).await
            }
            _ => socket.send_text(std::str::from_utf8(&frame).unwrap()).await,
        }
        let message = expect_whole_then_close(&mut socket, ErrorCode::BadRequest).await;
        assert!(message.ends_with('.'), "{what}: {message}");
        wait_for_count(&sink.open, 0, &format!("{what}: connections left open toward the server")).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn closing_a_connection_ends_it_and_frees_its_number() {
    let sink = Sink::start().await;
    let bridge = Bridge::spawn(BIN, &["--allow-target", &sink.addr.to_string()]);
    let mut socket = AuditSocket::open(bridge.addr, Some(&bridge.origin())).await;
    connect(&mut socket, 1, sink.addr).await;
    connect(&mut socket, 2, sink.addr).await;
    wait_for_count(&sink.open, 2, "connections open").await;
    socket.close_connection(1).await;
    wait_for_count(&sink.open, 1, "connection 1 still open toward the server").await;

    // Bytes for a closed or an unknown number are dropped; the socket goes on.
    socket.send(1, b"NOOP\r\n").await;
    socket.send(77, b"NOOP\r\n").await;
    socket.close_connection(78).await;
    connect(&mut socket, 1, sink.addr).await;
    socket.send(1, b"NOOP\r\n").await;
    socket.read_until(1, "250 2.0.0", WAIT).await;
    socket.send(2, b"NOOP\r\n").await;
    socket.read_until(2, "250 2.0.0", WAIT).await;
    assert_eq!(sink.accepted.load(Ordering::SeqCst), 3);
    // The bridge answers in order: anything said of 77 or 78 came before.
    assert!(socket.next(Duration::ZERO).await.is_none(), "the bridge answered bytes of no connection");
}

#[tokio::test(flavor = "multi_thread")]
async fn ending_the_socket_ends_every_connection() {
    let sink = Sink::start().await;
    let bridge = Bridge::spawn(BIN, &["--allow-target", &sink.addr.to_string()]);
    // Closed properly, then dropped with no close frame.
    for graceful in [true, false] {
        let mut socket = AuditSocket::open(bridge.addr, Some(&bridge.origin())).await;
        for n in 1..=3 {
            connect(&mut socket, n, sink.addr).await;
        }
        wait_for_count(&sink.open, 3, "connections open").await;
        if graceful {
            socket.close().await;
        } else {
            drop(socket);
        }
        wait_for_count(&sink.open, 0, &format!("left open toward the server (graceful: {graceful})")).await;
    }
    let lines = wait_for_lines(|| bridge.log(), 2, |l| l.contains("audit socket"));
    assert!(lines.iter().all(|l| l.contains("connections=3") && l.contains("page_closed")), "{lines:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_destination_is_that_connections_error_only() {
    let bridge = Bridge::spawn(BIN, &["--lab"]);
    let (closed, _) = bridge.lab.unwrap();
    let mut socket = AuditSocket::open(bridge.addr, Some(&bridge.origin())).await;
    connect(&mut socket, 1, closed).await;
    let refusals = [
        (2, to("127.0.0.1", 25), ErrorCode::AddressDenied),
        (3, to("[::1]", 25), ErrorCode::AddressDenied),
        (4, to("127.0.0.1", 22), ErrorCode::PortNotAllowed),
    ];
    for (n, query, code) in &refusals {
        socket.open_connection(*n, query).await;
        expect_error(&mut socket, *n, *code).await;
    }
    // Connection 1 goes on, and a refused number is free again.
    socket.send(1, b"NOOP\r\n").await;
    socket.read_until(1, "250 ", WAIT).await;
    connect(&mut socket, 2, closed).await;
    socket.send(2, b"QUIT\r\n").await;
    socket.read_until(2, "221 ", WAIT).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_connection_over_its_limits_is_closed_alone() {
    let bridge = Bridge::spawn(BIN, &["--lab", "--max-bytes-up", "100", "--max-frame", "64"]);
    let (closed, _) = bridge.lab.unwrap();
    let mut socket = AuditSocket::open(bridge.addr, Some(&bridge.origin())).await;
    for n in 1..=3 {
        connect(&mut socket, n, closed).await;
    }
    // Connection 2 sends too much in all, connection 3 too much at once.
    for _ in 0..20 {
        socket.send(2, b"NOOP\r\n").await;
    }
    socket.send(3, &b"NOOP\r\n".repeat(20)).await;
    for (n, want) in [(2, ErrorCode::ByteLimit), (3, ErrorCode::FrameTooLarge)] {
        let code = loop {
            match socket.next_event(n, WAIT).await {
                BridgeEvent::Closed { code, .. } => break code,
                BridgeEvent::Refused { .. } => continue,
                other => panic!("connection {n}: expected closed {want:?}, got {other:?}"),
            }
        };
        assert_eq!(code, want, "connection {n}");
    }
    socket.send(1, b"NOOP\r\n").await;
    socket.read_until(1, "250 ", WAIT).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn empty_sockets_are_held_to_the_client_limit_too() {
    let bridge = Bridge::spawn(BIN, &["--lab", "--max-sessions-per-ip", "2"]);
    let (closed, _) = bridge.lab.unwrap();
    // Two sockets with no connection in them hold the client's two places
    // for sockets; a third is refused as a whole, before any connection.
    let first = AuditSocket::open(bridge.addr, Some(&bridge.origin())).await;
    let mut second = AuditSocket::open(bridge.addr, Some(&bridge.origin())).await;
    let mut third = AuditSocket::open(bridge.addr, Some(&bridge.origin())).await;
    let message = expect_whole_then_close(&mut third, ErrorCode::TooManySessionsFromYou).await;
    assert!(message.ends_with('.'), "{message}");
    // The sockets that were let in still carry connections.
    connect(&mut second, 1, closed).await;
    // Closing one gives its place back.
    first.close().await;
    let until = std::time::Instant::now() + WAIT;
    loop {
        let mut again = AuditSocket::open(bridge.addr, Some(&bridge.origin())).await;
        again.open_connection(1, &target(closed)).await;
        match again.next(WAIT).await {
            Some(SocketFrame::Event(Some(1), BridgeEvent::Connected { .. })) => break,
            Some(SocketFrame::Event(None, BridgeEvent::Error { code: ErrorCode::TooManySessionsFromYou, .. })) => {
                assert!(std::time::Instant::now() < until, "the closed socket's place never came back");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => panic!("expected connected or a refusal, got {other:?}"),
        }
    }
}
