//! Faults: a bridge that goes away mid-session, a mail server killed
//! mid-audit, a page that vanishes. Nothing may hang, and nothing may leak:
//! the bridge's open file descriptors are counted before and after.

use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use relay_core::{BridgeEvent, ErrorCode, ProbeVerdict, Verdict};
use relaycheck_tests::bridge::Bridge;
use relaycheck_tests::sink::Sink;
use relaycheck_tests::ws::{Frame, WsSession};

const BIN: &str = env!("CARGO_BIN_EXE_ws-bridge");
const WAIT: Duration = Duration::from_secs(10);

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map(|d| d.count()).unwrap_or(0)
}

async fn wait_until(what: &str, within: Duration, mut done: impl FnMut() -> bool) {
    let until = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < until, "{what} did not happen within {within:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_page_that_vanishes_frees_its_server_connection_at_once_and_nothing_leaks() {
    let sink = Sink::start().await;
    let bridge = Bridge::spawn(BIN, &["--allow-target", &sink.addr.to_string(), "--connects-per-ip", "100000"]);
    // Warm up, so that lazily opened descriptors (resolver, runtime) exist.
    let mut ws = WsSession::open(bridge.addr, "127.0.0.1", sink.addr.port(), Some(&bridge.origin())).await;
    assert!(matches!(ws.next_event(WAIT).await, BridgeEvent::Connected { .. }));
    ws.close().await;
    wait_until("the warm-up session to end", WAIT, || sink.open.load(Ordering::SeqCst) == 0).await;
    let fds_before = open_fds(bridge.pid());

    for round in 0..20 {
        let mut ws = WsSession::open(bridge.addr, "127.0.0.1", sink.addr.port(), Some(&bridge.origin())).await;
        assert!(matches!(ws.next_event(WAIT).await, BridgeEvent::Connected { .. }), "round {round}");
        ws.read_until("220 ", WAIT).await;
        assert_eq!(sink.open.load(Ordering::SeqCst), 1);
        // The page's tab is closed: its TCP connection just goes, no close frame.
        drop(ws);
        let gone = Instant::now();
        wait_until("the server connection to close", Duration::from_secs(2), || sink.open.load(Ordering::SeqCst) == 0)
            .await;
        assert!(gone.elapsed() < Duration::from_secs(2));
    }
    wait_until("the bridge to count no session", WAIT, || {
        relaycheck_tests::bridge::http_get(&bridge.url("/healthz")).1.contains("\"sessions\":0")
    })
    .await;
    assert!(fds_before > 0);
    // The last /healthz request's socket may take a moment to go; a leaked
    // session's sockets never do.
    let until = Instant::now() + WAIT;
    let mut fds_after = open_fds(bridge.pid());
    while fds_after > fds_before && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(50)).await;
        fds_after = open_fds(bridge.pid());
    }
    assert!(fds_after <= fds_before, "the bridge holds {fds_after} descriptors after 20 sessions, {fds_before} before");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bridge_restarted_mid_session_tells_the_page_and_comes_back() {
    let sink = Sink::start().await;
    let target = sink.addr.to_string();
    let mut bridge = Bridge::spawn(BIN, &["--allow-target", &target]);
    let addr = bridge.addr;
    let mut ws = WsSession::open(addr, "127.0.0.1", sink.addr.port(), Some(&bridge.origin())).await;
    assert!(matches!(ws.next_event(WAIT).await, BridgeEvent::Connected { .. }));
    ws.read_until("220 ", WAIT).await;

    let status = tokio::task::block_in_place(|| bridge.terminate(WAIT)).expect("the bridge exits on SIGTERM");
    assert!(status.success());
    match ws.next_event(WAIT).await {
        BridgeEvent::Closed { code, message } => {
            assert_eq!(code, ErrorCode::ShuttingDown);
            assert!(message.contains("shutting down"), "{message}");
        }
        other => panic!("expected a closing event, got {other:?}"),
    }
    wait_until("the server connection to close", WAIT, || sink.open.load(Ordering::SeqCst) == 0).await;

    // The same address serves again after the restart.
    let out = Command::new(BIN)
        .args(["serve", "--listen", &addr.to_string(), "--allow-target", &target])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    let mut child = out.expect("restart the bridge");
    let origin = format!("http://{addr}");
    let mut reconnected = None;
    for _ in 0..100 {
        if std::net::TcpStream::connect(addr).is_ok() {
            reconnected = Some(WsSession::open(addr, "127.0.0.1", sink.addr.port(), Some(&origin)).await);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut ws = reconnected.expect("the restarted bridge listens again");
    assert!(matches!(ws.next_event(WAIT).await, BridgeEvent::Connected { .. }));
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bridge_killed_outright_closes_the_page_s_socket_without_hanging() {
    let sink = Sink::start().await;
    let bridge = Bridge::spawn(BIN, &["--allow-target", &sink.addr.to_string()]);
    let mut ws = WsSession::open(bridge.addr, "127.0.0.1", sink.addr.port(), Some(&bridge.origin())).await;
    assert!(matches!(ws.next_event(WAIT).await, BridgeEvent::Connected { .. }));
    Command::new("kill").args(["-KILL", &bridge.pid().to_string()]).status().unwrap();
    // No event can come from a dead process; the socket must still end.
    loop {
        match ws.next(WAIT).await {
            Some(Frame::Closed) => break,
            Some(_) => continue,
            None => panic!("the page's socket hung after the bridge died"),
        }
    }
}

#[test]
fn a_mail_server_killed_mid_audit_is_inconclusive_with_the_reason() {
    // It greets one connection, answers EHLO, then dies: the socket closes
    // and the port refuses every new connection.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        use std::io::{BufRead, BufReader, Write};
        let (mut stream, _) = listener.accept().unwrap();
        drop(listener);
        stream.write_all(b"220 dying.relaycheck.test ESMTP\r\n").unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        stream.write_all(b"250-dying.relaycheck.test\r\n250 PIPELINING\r\n").unwrap();
        // Killed: both directions shut, nothing more is said.
        let _ = stream.shutdown(std::net::Shutdown::Both);
    });
    let started = Instant::now();
    let out = Command::new(BIN)
        .args(["check", "127.0.0.1", "--port", &port.to_string(), "--json", "--timeout", "5"])
        .output()
        .expect("run ws-bridge check");
    server.join().unwrap();
    let report: relay_core::Report = serde_json::from_slice(&out.stdout).expect("a JSON report");
    assert!(started.elapsed() < Duration::from_secs(20), "took {:?}", started.elapsed());
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(report.verdict, Verdict::Inconclusive, "{}", report.reason);
    assert!(report.reason.contains("lost") || report.reason.contains("connect"), "{}", report.reason);
    assert!(report.probes.iter().all(|p| p.verdict == ProbeVerdict::Inconclusive));
}
